"""Which commits touched which rule: a derived index for fast per-rule history.

``git log -- path`` walks every commit and diffs its trees; on a long history that
takes seconds. This index records, once per commit, the paths it changed, in
``<git dir>/imlgit/history.jsonl`` (one JSON line a commit). Commits imlgit writes
are recorded as they are made; any others (written with the git CLI, fetched) are
found by walking back from the requested revision to the first known commit.
The file is derived: delete it and it is rebuilt from git.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import Store

__all__ = ["HistoryIndex"]


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


class HistoryIndex:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.derived_dir / "history.jsonl"
        self._parents: dict[str, list[str]] = {}
        self._time: dict[str, int] = {}
        self._paths: dict[str, list[str]] = {}
        self._info: dict[str, tuple[str, str, str]] = {}  # sha -> (author, committer, message)
        self._size = -1

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if st.st_size == self._size:
            return
        start = max(self._size, 0)
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read()
        # Only whole lines count: a line still being appended is read next time.
        end = data.rfind(b"\n") + 1
        lines = [line for line in data[:end].splitlines() if line.strip()]
        try:  # one decode of the whole file is several times faster than one a line
            records = json.loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a damaged line: that commit is re-read from git
        for rec in records:
            try:
                sha, parents, t, paths = rec["c"], rec["p"], rec["t"], rec["f"]
            except (KeyError, TypeError):
                continue
            self._parents[sha] = parents
            self._time[sha] = t
            self._paths[sha] = paths
            if "m" in rec:
                self._info[sha] = (rec["a"], rec["k"], rec["m"])
        self._size = start + end

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
        rec: dict[str, object] = {"c": sha, "p": parents, "t": t, "f": paths}
        if info is not None:
            rec["a"], rec["k"], rec["m"] = info
        line = json.dumps(rec, separators=(",", ":"), ensure_ascii=False)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
        finally:
            os.close(fd)

    def _catch_up(self, start: str) -> None:
        self._load()
        stack, missing = [start], []
        seen: set[str] = set()
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            if sha in self._parents:
                stack.extend(self._parents[sha])
                continue
            c = self.store._commit(sha)
            parents = [p.decode("ascii") for p in c.parents]
            text = (
                c.author.decode("utf-8", "replace"),
                c.committer.decode("utf-8", "replace"),
                c.message.decode("utf-8", "replace"),
            )
            missing.append((sha, parents, c.commit_time, text))
            stack.extend(parents)
        for sha, parents, t, text in missing:
            paths = self.store.changed_paths(sha)
            self._parents[sha], self._time[sha], self._paths[sha] = parents, t, paths
            self._info[sha] = text
            self.record(sha, parents, t, paths, text)

    def info(self, sha: str) -> tuple[str, str, str] | None:
        """(author, committer, message) of a recorded commit, or None."""
        return self._info.get(sha)

    def parents(self, sha: str) -> list[str]:
        return self._parents.get(sha, [])

    def time(self, sha: str) -> int:
        return self._time.get(sha, 0)

    def touching(self, path: str, start: str) -> list[str]:
        """Commits reachable from ``start`` that changed ``path``, newest first."""
        with _no_gc():
            return self._touching(path, start)

    def _touching(self, path: str, start: str) -> list[str]:
        self._catch_up(start)
        order: list[str] = []
        seen: set[str] = set()
        stack = [start]
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            order.append(sha)
            stack.extend(self._parents.get(sha, []))
        # Generation numbers make the order topological where times tie.
        gen: dict[str, int] = {}
        for sha in reversed(order):
            pending = [sha]
            while pending:
                cur = pending[-1]
                if cur in gen:
                    pending.pop()
                    continue
                todo = [p for p in self._parents.get(cur, []) if p not in gen]
                if todo:
                    pending.extend(todo)
                else:
                    gen[cur] = 1 + max((gen[p] for p in self._parents.get(cur, [])), default=0)
                    pending.pop()
        hits = [s for s in order if path in self._paths.get(s, ())]
        hits.sort(key=lambda s: (self._time[s], gen[s]), reverse=True)
        return hits
