"""Commits written atomically: objects first, the branch moved last by compare-and-swap.

When the branch moved meanwhile, a change that touches other paths is re-applied
on the new head; one that touches a path changed meanwhile is a
:class:`ConflictError` naming the rule, and nothing is written. A path a person
edited in the working tree, uncommitted, is never overwritten. The working tree
and git's index follow each commit (or, in a deferred batch, once at its end).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..commits import CommitMessage, Identity
from ..errors import ConflictError, StoreError
from ..git import worktree as _worktree
from ..git.objects import Commit, hexsha
from ..git.refs import ref_name
from ..git.repo import GitRepo
from ..rules import rule_id_from_path
from .rulefiles import RuleFiles

__all__ = ["Prepared", "Steps", "Writer"]

_MAX_CAS_ATTEMPTS = 10_000

Steps = Sequence[tuple[Mapping[str, bytes | None], CommitMessage]]
Prepared = list[tuple[dict[str, bytes | None], bytes, str]]  # (blobs, message, subject)


class Writer:
    """The write path of one :class:`imlgit.store.Store`."""

    def __init__(self, git: GitRepo, rules: RuleFiles) -> None:
        self.git = git
        self.rules = rules
        self._defer = False
        self._pending: dict[str, str] = {}  # path -> branch, written while deferred
        self._deferred_record: Path | None = None  # see imlgit.git.worktree

    def commit_many(self, steps: Steps, *, author: Identity, committer: Identity,
                    branch: str, base: str | None, sync_worktree: bool) -> list[str]:  # fmt: skip
        """Commit a chain of changes on ``base``, one commit each, moving ``branch`` once;
        the shas made. A step whose files already hold what it writes makes no commit:
        when none changes anything, the result is empty and the branch does not move."""
        if not steps:
            raise StoreError("nothing to commit")
        prepared: Prepared = []
        touched: dict[str, bytes | None] = {}
        for changes, message in steps:
            if not changes:
                raise StoreError("nothing to commit")
            blobs = self.git.objects.blobs(changes)
            prepared.append((blobs, message.render().encode("utf-8"), message.subject))
            touched.update(blobs)
        _worktree.repair(self.git)  # the index updates of a process that died, first
        keeps = (sync_worktree or self._defer) and _worktree.keeps_worktree(self.git, branch)
        self.refuse_dirty(branch, touched, base)
        record = self.begin_sync(branch) if keeps else None
        try:
            return self._move(branch, prepared, touched, base, author, committer, sync_worktree)
        finally:
            _worktree.end(record)

    def _move(self, branch: str, prepared: Prepared, touched: dict[str, bytes | None],
              base: str | None, author: Identity, committer: Identity,
              sync_worktree: bool) -> list[str]:  # fmt: skip
        ref, prepared_on, objects = ref_name(branch), base, self.git.objects
        for attempt in range(_MAX_CAS_ATTEMPTS):
            parent = base
            base_tree = objects.commit(base).tree if base else None
            self.rules.refuse_twins(base_tree, touched)
            made: list[tuple[Commit, list[str]]] = []
            for blobs, text, _subject in prepared:
                parent_tree = objects.commit(parent).tree if parent else None
                tree = objects.write_tree_or_empty(parent_tree, blobs)
                if parent_tree == tree:
                    continue  # the files already hold this: no commit, an outcome
                c = objects.new_commit(tree, [parent] if parent else [], text, author,
                                       committer, self.git.clock())  # fmt: skip
                made.append((c, sorted(blobs)))
                parent = hexsha(c.id)
            if not made:
                return []  # nothing changes: the branch stays where it is
            last = made[-1][0]
            subject = prepared[-1][2] if len(prepared) == 1 else f"{len(prepared)} commits"
            self.git.fault("objects")
            if self.git.refs.cas(ref, base, hexsha(last.id), committer, last.commit_time,
                                 subject):  # fmt: skip
                for c, paths in made:
                    self.record_commit(c, paths)
                self.rules.after(base_tree, last.tree, touched)
                if self._defer:
                    self._pending.update(dict.fromkeys(touched, branch))
                elif sync_worktree:
                    _worktree.sync(self.git, branch, touched)
                return [hexsha(c.id) for c, _ in made]
            current = self.git.refs.head(branch)
            if current is None:
                raise ConflictError(f"branch {branch} was deleted meanwhile", [])
            if current != base:
                self._check_unchanged(prepared_on, current, touched)
                base = current
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise StoreError(f"could not move {branch}: too much contention")

    def rewrite(self, branch: str, base: str, steps: Steps, *, expected_head: str,
                author: Identity) -> list[str]:  # fmt: skip
        """Replace ``base..expected_head`` of ``branch`` by ``steps``, which must end at
        the tree ``expected_head`` has (see :meth:`imlgit.store.Store.rewrite`)."""
        if not steps:
            raise StoreError("nothing to commit")
        objects = self.git.objects
        want = objects.commit(expected_head).tree
        parent = base
        made: list[tuple[Commit, list[str]]] = []
        for changes, message in steps:
            blobs = objects.blobs(changes)
            parent_tree = objects.commit(parent).tree
            tree = objects.write_tree(parent_tree, blobs)
            if tree is None or tree == parent_tree:
                raise StoreError(f"no change in the rewritten commit {message.subject!r}")
            c = objects.new_commit(tree, [parent], message.render().encode("utf-8"), author,
                                   author, self.git.clock())  # fmt: skip
            made.append((c, sorted(blobs)))
            parent = hexsha(c.id)
        if made[-1][0].tree != want:
            raise StoreError(
                f"rewriting {branch} would change its files: the new history does not end "
                f"at the tree of {expected_head[:12]}; nothing was changed"
            )
        last = made[-1][0]
        if not self.git.refs.cas(ref_name(branch), expected_head, hexsha(last.id), author,
                                 last.commit_time, f"rewrite: {len(made)} commits"):  # fmt: skip
            raise ConflictError(f"branch {branch} moved while its history was rewritten", [])
        for c, paths in made:
            self.record_commit(c, paths)
        return [hexsha(c.id) for c, _ in made]

    def _check_unchanged(self, old: str | None, new: str, paths: Iterable[str]) -> None:
        objects = self.git.objects
        old_tree = objects.commit(old).tree if old else None
        new_tree = objects.commit(new).tree
        conflicts = [p for p in paths if objects.lookup(old_tree, p) != objects.lookup(new_tree, p)]
        if conflicts:
            ids = [rule_id_from_path(p) or p for p in conflicts]
            raise ConflictError(
                "changed by someone else since this change was prepared: "
                + ", ".join(ids)
                + "; nothing was written — read the rule again and redo the change",
                ids,
            )

    def record_commit(self, c: Commit, paths: list[str]) -> None:
        """Note a commit just written in the history index (derived data)."""
        try:
            self.git.history().record_commit(c, paths)
        except OSError:
            pass  # derived data: the next history() call catches up from git

    # ------------------------------------------------------------------ worktree

    def dirty_paths(self, branch: str, paths: Iterable[str], base: str | None) -> list[str]:
        """The ``paths`` a person has edited in the working tree, uncommitted, that a
        write of ``branch`` from ``base`` would overwrite (empty: none, or not checked out)."""
        return _worktree.check_clean(self.git, branch, paths, base, self._pending)

    def refuse_dirty(self, branch: str, paths: Iterable[str], base: str | None) -> None:
        """Refuse to write a path a person has edited in the working tree, uncommitted."""
        dirty = self.dirty_paths(branch, paths, base)
        if dirty:
            ids = [rule_id_from_path(p) or p for p in dirty]
            raise ConflictError(
                "uncommitted edits in the working tree: "
                + ", ".join(dirty)
                + "; commit them with git (or discard them) first, nothing was written",
                ids,
            )

    def begin_sync(self, branch: str) -> Path | None:
        """Record, before the branch moves, that the index must follow it (see
        :mod:`imlgit.git.worktree`); a deferred batch keeps one record to its end."""
        if not self._defer:
            return _worktree.begin(self.git, branch, self.git.refs.head(branch))
        if self._deferred_record is None:
            self._deferred_record = _worktree.begin(self.git, branch, self.git.refs.head(branch))
        return None

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Commit many changes, then bring the working tree up to date once."""
        outer = self._defer
        self._defer = True
        try:
            yield
        finally:
            self._defer = outer
            if not outer:
                pending, self._pending = self._pending, {}
                record, self._deferred_record = self._deferred_record, None
                by_branch: dict[str, list[str]] = {}
                for path, branch in pending.items():
                    by_branch.setdefault(branch, []).append(path)
                for branch, paths in by_branch.items():
                    _worktree.sync(self.git, branch, paths)
                _worktree.end(record)
