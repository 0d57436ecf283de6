"""Which commits touched which rule: a derived index for fast per-rule history.

``git log -- path`` walks every commit and diffs its trees; on a long history that
takes seconds. This index records, once per commit, the paths it changed, in
``<git dir>/imlgit/history.jsonl`` (one JSON line a commit). Commits imlgit writes
are recorded as they are made; any others (written with the git CLI, fetched) are
found by walking back from the requested revision to the first known commit.

The file is derived, and checked as it is read: every line carries a CRC of its
content (``"h"``, last), so a line edited by hand, truncated, not UTF-8, or not
written by this module is found; so are two different records of one commit, a
last record naming a commit the repository does not have, and a record whose
parent, or a reported commit, is not in the repository. Then the file is rebuilt
from git, with a warning on the ``imlgit`` logger, and the query answered. A
record that is well-formed and lies (its CRC recomputed) is only found by
:meth:`HistoryIndex.verify` (``imlgit history RULE --verify``), which recomputes
a rule's history from git, compares, and repairs.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..commits import CommitMessage
from .objects import CommitInfo, Objects

if TYPE_CHECKING:
    from dulwich.objects import Commit


__all__ = ["HistoryCheck", "HistoryIndex", "files_of"]

log = logging.getLogger("imlgit")

_SUFFIX = len(',"h":"00000000"}')  # what a line's CRC adds to its JSON


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while tens of thousands of small records are
    built: they hold no cycles, and full collections triggered by the allocations
    took most of a history query's time (0.15-0.5 s against 0.11 s without)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Damaged(Exception):
    """The file does not hold what this module wrote; the message says where."""


def _line(rec: dict[str, object]) -> bytes:
    body = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body[:-1] + b',"h":"%08x"}\n' % zlib.crc32(body)


def _sealed(line: bytes) -> bool:
    """The line ends with the CRC of the rest of it (see :func:`_line`)."""
    if len(line) <= _SUFFIX or not line.endswith(b'"}') or line[-_SUFFIX:-10] != b',"h":"':
        return False
    try:
        return zlib.crc32(line[:-_SUFFIX] + b"}") == int(line[-10:-2], 16)
    except ValueError:
        return False


@dataclass(frozen=True)
class HistoryCheck:
    """What :meth:`HistoryIndex.verify` found: the index's answer against git's."""

    path: str
    indexed: list[str]  # commits the index reported, newest first
    actual: list[str]  # commits git says changed the path, newest first
    changed: list[str] = field(default_factory=list)  # reported with another author or message
    problem: str | None = None  # damage found while reading the index, and repaired

    @property
    def missing(self) -> list[str]:
        """Commits that changed the path and the index did not report."""
        known = set(self.indexed)
        return [s for s in self.actual if s not in known]

    @property
    def extra(self) -> list[str]:
        """Commits the index reported that did not change the path."""
        real = set(self.actual)
        return [s for s in self.indexed if s not in real]

    @property
    def ok(self) -> bool:
        return self.indexed == self.actual and not self.changed and self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "missing": self.missing,
            "extra": self.extra,
            "changed": self.changed,
            "order_differs": set(self.indexed) == set(self.actual)
            and self.indexed != self.actual,
            "problem": self.problem,
        }


class HistoryIndex:
    def __init__(self, objects: Objects, derived_dir: Path) -> None:
        self.objects = objects
        self.path = derived_dir / "history.jsonl"
        self.last_problem: str | None = None  # damage the last query found, and repaired
        self._forget()

    def _forget(self) -> None:
        self._parents: dict[str, list[str]] = {}
        self._time: dict[str, int] = {}
        self._paths: dict[str, list[str]] = {}
        self._info: dict[str, tuple[str, str, str]] = {}  # sha -> (author, committer, message)
        self._seen: dict[str, bytes] = {}  # sha -> its line, to tell a repeat from a rival
        self._size = -1
        self._inode: int | None = None

    # ------------------------------------------------------------------ reading

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._size > 0:
                self._forget()  # deleted: everything is read from git again
            return
        if st.st_ino != self._inode or st.st_size < self._size:
            self._forget()  # replaced by a rebuild elsewhere: read it from the start
            self._inode = st.st_ino
        if st.st_size == self._size:
            return
        start = max(self._size, 0)
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read()
        # Only whole lines count: a line still being appended is read next time.
        end = data.rfind(b"\n") + 1
        lines = [line for line in data[:end].split(b"\n") if line.strip()]
        for line in lines:
            if not _sealed(line):
                raise _Damaged(f"a line does not match its checksum ({line[:60]!r})")
        try:  # one decode of the whole file is several times faster than one a line
            records = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError as exc:  # only a line whose checksum was forged gets here
            raise _Damaged(f"a line is not JSON ({exc})") from None
        last = None
        for line, rec in zip(lines, records, strict=True):
            try:
                sha, parents, t, paths = rec["c"], rec["p"], rec["t"], rec["f"]
                info = (rec["a"], rec["k"], rec["m"]) if "m" in rec else None
            except (KeyError, TypeError):
                raise _Damaged(f"a record lacks a field ({line[:60]!r})") from None
            if not (isinstance(sha, str) and isinstance(parents, list) and type(t) is int
                    and isinstance(paths, list)):
                raise _Damaged(f"a record has a field of the wrong type ({line[:60]!r})")
            if sha in self._seen:
                if self._seen[sha] != line:  # two processes may both record one commit
                    raise _Damaged(f"commit {str(sha)[:12]} is recorded twice, differently")
                continue
            self._seen[sha] = line
            self._parents[sha], self._time[sha], self._paths[sha] = parents, t, paths
            if info is not None:
                self._info[sha] = info
            last = sha
        if last is not None and not self._exists(last):
            raise _Damaged(f"its last record names commit {str(last)[:12]}, not in the repository")
        self._size = start + end

    def _exists(self, sha: object) -> bool:
        try:
            self.objects.commit(str(sha))
        except Exception:  # noqa: BLE001 - dulwich's error for a malformed sha varies
            return False
        return True

    def _guarded(self, step: Any, *args: Any) -> Any:
        """Run ``step``; if it finds the file damaged, rebuild from git and run it again."""
        try:
            return step(*args)
        except _Damaged as damage:
            log.warning("history index %s: %s; rebuilt from git", self.path, damage)
            self._rebuild()
            self.last_problem = str(damage)
            return step(*args)

    def _rebuild(self) -> None:
        """Start over: the next query reads every commit it needs from git."""
        self.path.unlink(missing_ok=True)
        self._forget()

    # ------------------------------------------------------------------ writing

    def record(
        self,
        sha: str,
        parents: list[str],
        t: int,
        paths: list[str],
        info: tuple[str, str, str] | None = None,
    ) -> None:
        """Append one commit's changed paths, and its author, committer and message
        (so a history is read without opening each commit)."""
        self._append([(sha, parents, t, paths, info)])

    def record_commit(self, c: Commit, paths: list[str]) -> None:
        """:meth:`record` of a commit object just written."""
        u = "utf-8"
        self.record(c.id.decode("ascii"), [p.decode("ascii") for p in c.parents], c.commit_time,
                    paths, (c.author.decode(u, "replace"), c.committer.decode(u, "replace"),
                            c.message.decode(u, "replace")))  # fmt: skip

    def _append(
        self, records: Iterable[tuple[str, list[str], int, list[str], tuple[str, str, str] | None]]
    ) -> None:
        out = []
        for sha, parents, t, paths, info in records:
            rec: dict[str, object] = {"c": sha, "p": parents, "t": t, "f": paths}
            if info is not None:
                rec["a"], rec["k"], rec["m"] = info
            out.append(_line(rec))
        if not out:
            return
        # One write in append mode: lines of concurrent writers never interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"".join(out))
        finally:
            os.close(fd)

    def _catch_up(self, start: str) -> None:
        self._load()
        stack: list[tuple[str, str | None]] = [(start, None)]  # (sha, the child naming it)
        missing = []
        seen: set[str] = set()
        while stack:
            sha, child = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            if sha in self._parents:
                stack.extend((p, sha) for p in self._parents[sha])
                continue
            if child is not None and child in self._parents and not self._exists(sha):
                raise _Damaged(f"commit {child[:12]} is recorded with parent {sha[:12]}, "
                               "which is not in the repository")
            c = self.objects.commit(sha)
            parents = [p.decode("ascii") for p in c.parents]
            text = (
                c.author.decode("utf-8", "replace"),
                c.committer.decode("utf-8", "replace"),
                c.message.decode("utf-8", "replace"),
            )
            missing.append((sha, parents, c.commit_time, text))
            stack.extend((p, sha) for p in parents)
        found = []
        for sha, parents, t, text in missing:
            paths = self.objects.changed_paths(sha)
            self._parents[sha], self._time[sha], self._paths[sha] = parents, t, paths
            self._info[sha] = text
            found.append((sha, parents, t, paths, text))
        try:
            self._append(found)
        except OSError:
            pass  # derived data: the next query reads these commits from git again

    # ------------------------------------------------------------------ queries

    def info(self, sha: str) -> tuple[str, str, str] | None:
        """(author, committer, message) of a recorded commit, or None."""
        return self._info.get(sha)

    def parents(self, sha: str) -> list[str]:
        return self._parents.get(sha, [])

    def time(self, sha: str) -> int:
        return self._time.get(sha, 0)

    def rule_log(self, rule_id: str, start: str, limit: int | None = None) -> list[CommitInfo]:
        """The commits reachable from ``start`` that changed rule ``rule_id``, newest
        first, as ``log`` shows them; recorded ones served from the index."""
        shas = self.touching_rule(rule_id, start)
        out = []
        for sha in shas[:limit] if limit is not None else shas:
            known = self.info(sha)
            if known is None:
                out.append(self.objects.info(sha))
                continue
            author, committer, text = known
            msg = CommitMessage.parse(text)
            out.append(CommitInfo(sha, msg.subject, msg.rationale, msg.trailers, author,
                                  committer, self.time(sha), tuple(self.parents(sha))))  # fmt: skip
        return out

    def touching(self, path: str, start: str) -> list[str]:
        """Commits reachable from ``start`` that changed ``path``, newest first."""
        self.last_problem = None
        with _no_gc():
            return list(self._guarded(self._touching, path, start))

    def touching_rule(self, rule_id: str, start: str) -> list[str]:
        """Commits reachable from ``start`` that changed a file of the rule, newest
        first: any ``rules/.../<id>.md``, so the history goes on across a move (``git
        mv``) and stays after the file is deleted."""
        self.last_problem = None
        with _no_gc():
            return list(self._guarded(self._touching, files_of(rule_id), start))

    def _touching(self, path: str | Callable[[str], bool], start: str) -> list[str]:
        self._catch_up(start)
        hits = _newest_first(start, self._parents, self._time, self._paths, path)
        for sha in hits:
            if not self._exists(sha):
                raise _Damaged(f"it names commit {sha[:12]}, not in the repository")
        return hits

    def verify(
        self, path: str | Callable[[str], bool], start: str, *, name: str | None = None
    ) -> HistoryCheck:
        """Recompute from git which commits reachable from ``start`` changed ``path``
        (or a path the predicate accepts; ``name`` says what it stands for), compare
        with what the index reports, and rebuild the index if they differ."""
        self.last_problem = None
        with _no_gc():
            indexed = list(self._guarded(self._touching, path, start))
        label = name if name is not None else str(path)
        problem = self.last_problem
        reported = {sha: self._info.get(sha) for sha in indexed}
        parents: dict[str, list[str]] = {}
        times: dict[str, int] = {}
        paths: dict[str, list[str]] = {}
        info: dict[str, tuple[str, str, str]] = {}
        stack = [start]
        with _no_gc():
            while stack:
                sha = stack.pop()
                if sha in parents:
                    continue
                c = self.objects.commit(sha)
                parents[sha] = [p.decode("ascii") for p in c.parents]
                times[sha] = c.commit_time
                paths[sha] = self.objects.changed_paths(sha)
                info[sha] = (
                    c.author.decode("utf-8", "replace"),
                    c.committer.decode("utf-8", "replace"),
                    c.message.decode("utf-8", "replace"),
                )
                stack.extend(parents[sha])
            actual = _newest_first(start, parents, times, paths, path)
        changed = [s for s in actual if s in reported and reported[s] not in (None, info[s])]
        check = HistoryCheck(label, indexed, actual, changed, problem)
        if indexed != actual or changed:
            log.warning(
                "history index %s: %s differs from git (%d missing, %d extra, %d changed); "
                "rebuilt from git", self.path, label, len(check.missing), len(check.extra),
                len(changed),
            )
            self._rebuild()
            self._append(
                (s, parents[s], times[s], paths[s], info[s]) for s in reversed(list(parents))
            )
        return check


def _newest_first(
    start: str,
    parents: dict[str, list[str]],
    times: dict[str, int],
    paths: dict[str, list[str]],
    path: str | Callable[[str], bool],
) -> list[str]:
    """Commits reachable from ``start`` (through ``parents``) that changed ``path``
    (or a path the predicate accepts), newest first; generation numbers make the
    order topological where times tie."""
    order: list[str] = []
    seen: set[str] = set()
    stack = [start]
    while stack:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        order.append(sha)
        stack.extend(parents.get(sha, []))
    gen: dict[str, int] = {}
    for sha in reversed(order):
        pending = [sha]
        while pending:
            cur = pending[-1]
            if cur in gen:
                pending.pop()
                continue
            todo = [p for p in parents.get(cur, []) if p not in gen]
            if todo:
                pending.extend(todo)
            else:
                gen[cur] = 1 + max((gen[p] for p in parents.get(cur, [])), default=0)
                pending.pop()
    if callable(path):
        wanted = path
        hits = [s for s in order if any(wanted(p) for p in paths.get(s, ()))]
    else:
        hits = [s for s in order if path in paths.get(s, ())]
    hits.sort(key=lambda s: (times.get(s, 0), gen[s]), reverse=True)
    return hits


def files_of(rule_id: str) -> Callable[[str], bool]:
    """Whether a path is a file of the rule (``rules/.../<id>.md``, wherever)."""
    from ..rules import rule_id_from_path

    return lambda path: rule_id_from_path(path) == rule_id
