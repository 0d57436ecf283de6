"""The working tree and git's index, kept in step with the branch imlgit moves.

A commit moves the branch first and brings the checked-out files and git's
index up to it after. A process killed in between leaves the index at the old
commit: ``git status`` shows imlgit's new rule as a staged deletion, and a
person's next plain ``git commit`` would take it out of main. So before the
branch moves, :func:`begin` records the branch and the commit it moves from
(``<git dir>/imlgit/pending/``, with the owner's pid); :func:`end` removes the
record once the index is up to date. A record whose owner is gone is finished
by :func:`repair` (the next write does it, and ``imlgit doctor --repair``):
each path that changed since the recorded commit, and that git's index still
holds at that commit, is brought up to the branch. A path a person has changed
since is left alone and reported by :func:`unsynced`.

git's index is written under ``index.lock`` held the :mod:`imlgit.locking` way
(with an owner), so a kill there leaves a lock the next writer takes over,
and read under it, so a concurrent ``git add`` is not lost.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dulwich.objects import Blob

from .. import locking
from .refs import ref_name

if TYPE_CHECKING:
    from dulwich.index import Index

    from .repo import GitRepo

__all__ = ["Unsynced", "begin", "end", "repair", "sweep", "sync", "unsynced"]

KIND = "worktree"
_FILE_MODE = 0o100644
_DEAD_SIBLING = re.compile(r"^\.(?P<lock>.+\.lock)\.[a-z]+\.(?P<pid>\d+)\.")


def _pending_dir(git: GitRepo) -> Path:
    return git.derived_dir / "pending"


def keeps_worktree(git: GitRepo, branch: str) -> bool:
    """True when ``branch`` is checked out in a working tree imlgit keeps in step."""
    return git.worktree_path() is not None and git.refs.checked_out() == ref_name(branch)


def begin(git: GitRepo, branch: str, base: str | None) -> Path | None:
    """Record that ``branch`` may move from ``base``; None when it is not checked out."""
    if base is None or not keeps_worktree(git, branch):
        return None
    return locking.write_record(_pending_dir(git), KIND, {"branch": branch, "base": base})


def end(record: Path | None) -> None:
    """The index is up to date: remove the record :func:`begin` wrote."""
    if record is not None:
        record.unlink(missing_ok=True)


def _on_disk(wt: Path, path: str) -> bytes | None:
    f = wt / path
    return Blob.from_string(f.read_bytes()).id if f.is_file() else None


def _indexed(index: Index, path: str) -> bytes | None:
    key = path.encode()
    return getattr(index[key], "sha", None) if key in index else None


def _write_file(git: GitRepo, wt: Path, path: str, want: bytes | None) -> None:
    """Make ``path`` in the working tree the blob ``want`` (None: absent)."""
    f = wt / path
    if want is None:
        if f.exists():
            f.unlink()
            prune_empty_dirs(f.parent, wt)
        return
    data = git.objects.read_blob(want.decode("ascii"))
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.imlgit-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, f)


def _set_entry(index: Index, wt: Path, path: str, want: bytes | None) -> None:
    from dulwich.index import index_entry_from_stat

    key = path.encode()
    if want is None:
        if key in index:
            del index[key]
    else:
        index[key] = index_entry_from_stat(os.stat(wt / path), want, _FILE_MODE)


def _update(git: GitRepo, wt: Path, tree: bytes, paths: Iterable[str]) -> None:
    """The files first, then git's index, for ``paths`` as ``tree`` has them.

    The index is locked only for its own update, so a kill among the files
    leaves no ``index.lock`` in a person's way.
    """
    wanted = {}
    for path in paths:
        found = git.objects.lookup(tree, path)
        wanted[path] = found[1] if found else None
        _write_file(git, wt, path, wanted[path])
    git.fault("worktree")
    with _index(git) as index:
        for path, want in wanted.items():
            _set_entry(index, wt, path, want)


@contextmanager
def _index(git: GitRepo) -> Iterator[Index]:
    """git's index, read and written under ``index.lock`` held with an owner.

    dulwich would take ``index.lock`` itself, with nothing in it to say whose it
    is; here the lock is ours, the index is copied beside it, changed and
    renamed over the old one, and the lock goes last.
    """
    from dulwich.index import Index

    target = git.index_path()
    lock = target.with_name(target.name + ".lock")
    # stale_after=None: an index.lock with no owner may be a `git commit` waiting
    # for its editor; it is never taken over, only named.
    locking.acquire(lock, wait=git.lock_wait, stale_after=None, what="git's index")
    tmp = target.with_name(f".{lock.name}.index.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        exists = target.exists()
        if exists:
            shutil.copyfile(target, tmp)
        index = Index(str(tmp), read=exists)
        yield index
        git.fault("index-lock")
        index.write()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        locking.release(lock)


def sync(git: GitRepo, branch: str, paths: Iterable[str]) -> None:
    """Bring the working tree and index up to the head of ``branch`` for ``paths``."""
    wt = git.worktree_path()
    if wt is None or not keeps_worktree(git, branch):
        return
    with locking.exclusive(git.derived_dir / "worktree.lock"):
        head = git.refs.head(branch)
        if head is None:
            return
        _update(git, wt, git.objects.commit(head).tree, paths)


@dataclass(frozen=True)
class Unsynced:
    """A path where git's index is behind the branch because an imlgit process died."""

    path: str
    branch: str
    base: str  # the commit the index still holds for this path
    head: str
    deleted: bool  # True: the index still has the path, the branch has it no more
    repairable: bool  # False: a person changed it since; left alone
    record: Path

    def detail(self) -> str:
        what = "revert" if self.deleted else "deletion or revert"
        fix = (
            "imlgit doctor --repair (or imlgit's next write) brings the index up to date"
            if self.repairable
            else "changed by hand since; check it with git status and git diff --cached"
        )
        return (
            f"git's index is at {self.base[:12]} here, {self.branch} at {self.head[:12]}: a plain "
            f"git commit would {what} imlgit's change; {fix}"
        )


def _plan(git: GitRepo, record: Path, payload: Mapping[str, Any] | None) -> list[Unsynced]:
    if payload is None:
        return []
    branch, base = payload.get("branch"), payload.get("base")
    if not isinstance(branch, str) or not isinstance(base, str):
        return []
    wt = git.worktree_path()
    head = git.refs.head(branch)
    if wt is None or head is None or head == base or not keeps_worktree(git, branch):
        return []
    try:
        base_tree = git.objects.commit(base).tree
    except Exception:  # noqa: BLE001 - a record naming a lost commit has nothing to repair
        return []
    head_tree = git.objects.commit(head).tree
    index = git.repo.open_index()
    out = []
    for path in git.objects.diff_trees(base_tree, head_tree):
        was = git.objects.lookup(base_tree, path)
        now = git.objects.lookup(head_tree, path)
        was_blob, want = (was[1] if was else None), (now[1] if now else None)
        indexed = _indexed(index, path)
        if indexed == want:
            continue  # up to date (this process synced it, or another did)
        disk = _on_disk(wt, path)
        ok = indexed == was_blob and disk in (was_blob, want)
        out.append(Unsynced(path, branch, base, head, want is None, ok, record))
    return out


def unsynced(git: GitRepo) -> list[Unsynced]:
    """Paths where git's index lags a branch because an imlgit process died mid-commit."""
    out: list[Unsynced] = []
    for record, _owner, payload in locking.orphans(_pending_dir(git), KIND):
        out += _plan(git, record, payload)
    return out


def repair(git: GitRepo) -> list[str]:
    """Finish the index updates of imlgit processes that died; returns the paths fixed.

    Cheap when there is nothing to do (one directory listing), so every write
    calls it first, whatever branch it writes.
    """
    fixed: list[str] = []
    orphans = locking.orphans(_pending_dir(git), KIND)
    if orphans:
        wt = git.worktree_path()
        with locking.exclusive(git.derived_dir / "worktree.lock"):
            for record, _owner, payload in orphans:
                plan = [u for u in _plan(git, record, payload) if u.repairable]
                if plan and wt is not None:
                    _update(git, wt, git.objects.commit(plan[0].head).tree, [u.path for u in plan])
                    fixed += [u.path for u in plan]
                if not any(not u.repairable for u in _plan(git, record, payload)):
                    end(record)  # a person's change stays reported until they settle it
        if fixed:
            locking.logger.warning(
                "brought git's index up to date with imlgit's last commit for %s "
                "(an imlgit process had died before it could)",
                ", ".join(fixed),
            )
    return fixed


def sweep(git: GitRepo) -> list[locking.LockInfo]:
    """Take over the stale lock files in the repository; return the ones taken over.

    Looks at ``index.lock``, ``packed-refs.lock``, ``HEAD.lock`` and every
    ``refs/**.lock``, and removes the dot-file leftovers (new values, index
    copies) of processes on this host that died before renaming them.
    """
    taken = []
    for info in stale_locks(git):
        if info.stale and locking.take_over(info.path, info):
            taken.append(info)
    for leftover in _dead_leftovers(git):
        leftover.unlink(missing_ok=True)
    return taken


def _lock_files(git: GitRepo) -> list[Path]:
    gitdir = git.gitdir
    found = [gitdir / n for n in ("index.lock", "packed-refs.lock", "HEAD.lock")]
    found = [p for p in found if p.exists()]
    refs = gitdir / "refs"
    if refs.is_dir():
        found += sorted(p for p in refs.rglob("*.lock") if not p.name.startswith("."))
    return found


def stale_locks(git: GitRepo) -> list[locking.LockInfo]:
    """Every lock file in the repository, with whether it is stale."""
    out = []
    for path in _lock_files(git):
        index_lock = path.name == "index.lock" and path.parent == git.gitdir
        info = locking.inspect(path, stale_after=None if index_lock else locking.STALE_AFTER)
        if info is not None:
            out.append(info)
    return out


def _dead_leftovers(git: GitRepo) -> list[Path]:
    me = locking.Owner.me()
    dirs = [git.gitdir]
    refs = git.gitdir / "refs"
    if refs.is_dir():
        dirs += [p for p in refs.rglob("*") if p.is_dir()]
        dirs.append(refs)
    out = []
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            m = _DEAD_SIBLING.match(name)
            if m is None:
                continue
            if locking.Owner(int(m["pid"]), me.host).alive() is False:
                out.append(d / name)
    return out


def prune_empty_dirs(d: Path, stop: Path) -> None:
    """Remove ``d`` and its parents up to ``stop`` while they are empty."""
    while d != stop and d.is_dir() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent


def check_clean(
    git: GitRepo,
    branch: str,
    paths: Iterable[str],
    base: str | None,
    pending: Mapping[str, str],
) -> list[str]:
    """The paths a person has edited in the working tree, uncommitted, that a write
    of ``branch`` from ``base`` would overwrite (``pending``: paths written by a
    deferred batch, the working tree not brought up to them yet).

    A file that differs from the last commit is either a person's edit or a
    working tree that has not caught up with a commit yet (fine to update): it
    has caught up when the file matches git's index and the index holds a
    version of the file that some commit had.
    """
    wt = git.worktree_path()
    if wt is None or base is None or git.refs.checked_out() != ref_name(branch):
        return []
    base_tree = git.objects.commit(base).tree
    index = None
    dirty = []
    for path in paths:
        if path in pending:
            continue
        in_base = git.objects.lookup(base_tree, path)
        committed = in_base[1] if in_base else None
        on_disk = _on_disk(wt, path)
        if on_disk == committed:
            continue
        if index is None:
            index = git.repo.open_index()
        indexed = _indexed(index, path)
        if on_disk == indexed and _was_committed(git, path, indexed, base):
            continue
        dirty.append(path)
    return dirty


def _was_committed(git: GitRepo, path: str, blob: bytes | None, rev: str) -> bool:
    if blob is None:
        return True
    for sha in git.history().touching(path, rev):
        found = git.objects.lookup(git.objects.commit(sha).tree, path)
        if found is not None and found[1] == blob:
            return True
    return False
