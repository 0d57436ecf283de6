"""Refs: revisions read with ``dulwich.objectspec``, and moved by compare-and-swap.

A ref moves the way git moves it: hold ``<ref>.lock``, compare under the lock,
rename the new value over the ref, append to the reflog. The lock names its
owner, so one left by a killed process is taken over (:mod:`imlgit.locking`),
and a live holder is waited for briefly, then named in a :class:`StoreError`.
Like git's default it does not fsync.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from dulwich.file import FileLocked
from dulwich.objects import Commit
from dulwich.refs import Ref
from dulwich.repo import Repo

from .. import locking
from ..commits import Identity
from ..errors import RevisionNotFound, StoreError
from .objects import Objects, hexsha, oid, utf8

__all__ = ["Refs", "NO_REFLOG", "ref_name"]

NO_REFLOG = b"refs/imlgit/evidence"  # refs whose old values must not be kept (erasure)
_TMP_COUNTER = itertools.count()
_T = TypeVar("_T")


def ref_name(branch: str) -> Ref:
    """``refs/heads/<branch>``, or ``branch`` itself when it is a full ref name."""
    if branch.startswith("refs/"):
        return Ref(branch.encode())
    return Ref(b"refs/heads/" + branch.encode())


def _no_fault(point: str) -> None:
    pass


class Refs:
    """The refs of one repository."""

    def __init__(
        self,
        repo: Repo,
        objects: Objects,
        *,
        fault: Callable[[str], None] | None = None,
        lock_wait: float = locking.WAIT,
    ) -> None:
        self.repo = repo
        self.objects = objects
        self.fault = fault or _no_fault
        self.lock_wait = lock_wait
        self.gitdir = Path(repo.controldir())
        # Called before a ref in the keys moves from one commit to another (the
        # store's guard of main); raising stops the move.
        self.guards: dict[bytes, Callable[[str, str], None]] = {}
        self._peeled: dict[bytes, str] = {}  # ref target -> the commit it peels to

    # ------------------------------------------------------------------ read

    def head(self, branch: str) -> str | None:
        """The commit a branch points at, or None when it has no commits."""
        try:
            return hexsha(self.repo.refs[ref_name(branch)])
        except KeyError:
            return None

    def get(self, ref: bytes) -> str | None:
        """What ``ref`` points at, or None."""
        try:
            return hexsha(self.repo.refs[Ref(ref)])
        except KeyError:
            return None

    def exists(self, ref: bytes) -> bool:
        return Ref(ref) in self.repo.refs

    def names(self, base: bytes) -> list[bytes]:
        """The refs under ``base`` (``refs/heads/``), without that prefix."""
        return sorted(self.repo.refs.keys(base=Ref(base)))

    def heads_except(self, skip: bytes | None = None) -> list[bytes]:
        """What every ref but ``skip`` (and a detached HEAD) points at, each once."""
        heads: list[bytes] = []
        for name in self.repo.refs.allkeys():
            if name != skip:
                with suppress(KeyError):
                    heads.append(self.repo.refs[name])
        return list(dict.fromkeys(heads))

    def checked_out(self) -> bytes | None:
        """The ref HEAD names (None when HEAD is detached or missing)."""
        try:
            names, _ = self.repo.refs.follow(Ref(b"HEAD"))
        except (KeyError, IndexError):
            return None
        return names[-1] if names else None

    def resolve(self, rev: str) -> str:
        """A revision (sha, short sha, branch, tag, HEAD, ``X~n``, ``X^``) -> commit sha,
        as git reads a name (``dulwich.objectspec.parse_commit``): a full sha names
        its object first, then ``<rev>``, ``refs/<rev>``, ``refs/tags/``,
        ``refs/heads/``, ``refs/remotes/``, then a unique short sha of a commit. What
        a plain name or sha peels to is kept (objects never change; resolving main at
        every question read its head commit each time)."""
        base, steps = rev, 0
        while True:
            if base.endswith("^"):
                steps, base = steps + 1, base[:-1]
                continue
            head, tilde, n = base.rpartition("~")
            if tilde and (n.isdigit() or n == "") and len(n) < 10:
                steps, base = steps + (int(n) if n else 1), head
                continue
            break
        sha = self._named(base, rev)
        for _ in range(steps):
            parents = self.objects.commit(sha).parents
            if not parents:
                raise RevisionNotFound(rev)
            sha = hexsha(parents[0])
        return sha

    def _named(self, name: str, rev: str) -> str:
        from dulwich.objectspec import AmbiguousShortId, parse_commit

        if not name or len(name) > 1024:
            raise RevisionNotFound(rev)
        plain = self._plain(name)
        if plain is not None:
            return plain
        try:
            return hexsha(parse_commit(self.repo, name.encode("utf-8")).id)
        except AmbiguousShortId as exc:
            raise StoreError(
                f"revision {rev!r} is ambiguous: {len(exc.options)} commits match"
            ) from None
        except (KeyError, ValueError, UnicodeError):
            raise RevisionNotFound(rev) from None

    def _plain(self, name: str) -> str | None:
        """A full sha or a ref name, peeled through the cache; None: let objectspec
        read it (short shas, ranges of ancestry, reflogs)."""
        if len(name) == 40 and all(c in "0123456789abcdef" for c in name.lower()):
            key = name.lower().encode()
            if key in self._peeled or self.objects.has(key):
                return self._peel(key, name)
        refs = self.repo.refs
        for candidate in (name, "refs/" + name, "refs/tags/" + name, "refs/heads/" + name,
                          "refs/remotes/" + name):  # fmt: skip
            try:
                sha = refs[Ref(candidate.encode())]
            except (KeyError, ValueError):
                continue
            return self._peel(sha, name)
        return None

    def _peel(self, sha: bytes, rev: str) -> str:
        found = self._peeled.get(sha)
        if found is not None:
            return found
        obj = self.repo[sha]
        while not isinstance(obj, Commit):
            target = getattr(obj, "object", None)
            if target is None:
                raise RevisionNotFound(rev)
            obj = self.repo[target[1]]
        if len(self._peeled) >= 4096:
            self._peeled.clear()
        self._peeled[sha] = found = hexsha(obj.id)
        return found

    # ------------------------------------------------------------------ write

    def cas(self, ref: bytes, old: str | None, new: str, who: Identity, when: int,
            why: str) -> bool:  # fmt: skip
        """Move ``ref`` from ``old`` (None: must not exist) to ``new``, atomically;
        False when the ref is not at ``old`` (the caller retries)."""
        guard = self.guards.get(ref)
        if guard is not None and old is not None and old != new:
            guard(old, new)
        name = ref.decode()
        path = self.gitdir / name
        lock = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        locking.acquire(lock, wait=self.lock_wait, what=f"the ref {name}")
        try:
            self.fault("ref-lock")
            try:
                current: str | None = path.read_text().strip() or None
            except FileNotFoundError:
                packed = self.repo.refs.get_packed_refs().get(Ref(ref))
                current = hexsha(packed) if packed else None
            if current != old:
                return False
            # The new value goes in a file of its own, renamed over the ref while the
            # lock (with its owner) stays whole until the ref has moved.
            tmp = lock.with_name(f".{lock.name}.value.{os.getpid()}.{next(_TMP_COUNTER)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, (new + "\n").encode())
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self.fault("ref-moved")
        finally:
            locking.release(lock)
        if ref.startswith(NO_REFLOG):
            return True  # a reflog would keep what an erasure removes reachable
        log = self.gitdir / "logs" / name
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            line = f"{old or '0' * 40} {new} {who} {when} +0000\t{why}\n"
            with open(log, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            pass  # the reflog is a convenience; the ref itself has moved
        return True

    def set(self, ref: bytes, old: str | None, new: str) -> bool:
        """dulwich's compare-and-swap of ``ref`` (None ``old``: only when absent), through
        :meth:`update`'s handling of stale locks."""
        r = Ref(ref)
        if old is None:
            return bool(self.update(ref, self.repo.refs.add_if_new, r, oid(new)))
        return bool(self.update(ref, self.repo.refs.set_if_equals, r, oid(old), oid(new)))

    def force(self, ref: bytes, new: str) -> None:
        """Point ``ref`` at ``new`` whatever it holds (a remote-tracking ref)."""
        self.update(ref, self.repo.refs.set_if_equals, Ref(ref), None, oid(new))

    def remove(self, ref: bytes, old: str | None) -> bool:
        """Delete ``ref`` (when it still points at ``old``; None: whatever it holds)."""
        expected = oid(old) if old is not None else None
        return bool(self.update(ref, self.repo.refs.remove_if_equals, Ref(ref), expected))

    def update(self, ref: bytes, update: Callable[..., _T], *args: object) -> _T:
        """``update(*args)``: a dulwich update of ``ref`` (``set_if_equals``, ...).

        dulwich refuses a held lock with FileLocked; a stale lock (its owner gone,
        see :mod:`imlgit.locking`) is taken over and the update retried, and a held
        one waited for briefly, then named in a :class:`StoreError`.
        """
        locks = [self.gitdir / (ref.decode() + ".lock"), self.gitdir / "packed-refs.lock"]
        start = time.monotonic()
        while True:
            try:
                return update(*args)
            except FileLocked as exc:
                held = Path(os.fsdecode(exc.lockfilename))
                if held not in locks:
                    locks.append(held)
            infos = [i for i in map(locking.inspect, locks) if i is not None]
            if any([locking.take_over(i.path, i) for i in infos if i.stale]):
                continue
            if infos and time.monotonic() - start >= self.lock_wait:
                raise StoreError(
                    f"{infos[0].path} is locked: {infos[0].why}; "
                    "if no imlgit or git command is still running, remove that file"
                )
            time.sleep(0.01)

    def branches(self) -> dict[str, str]:
        """branch name -> head sha."""
        out = {}
        for ref in self.names(b"refs/heads/"):
            out[utf8(ref)] = hexsha(self.repo.refs[Ref(b"refs/heads/" + ref)])
        return dict(sorted(out.items()))

    @staticmethod
    def valid_name(ref: bytes) -> bool:
        from dulwich.refs import check_ref_format

        return bool(check_ref_format(Ref(ref)))

    def set_symbolic(self, ref: bytes, target: bytes) -> None:
        """Make ``ref`` a symbolic ref to ``target`` (``refs/remotes/origin/HEAD``, say)."""
        self.repo.refs.set_symbolic_ref(Ref(ref), Ref(target))
