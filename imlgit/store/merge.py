"""Merging one branch into another, rule file by rule file."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from ..commits import CommitMessage, Identity
from ..errors import ConflictError, RevisionNotFound, StoreError
from ..git import worktree as _worktree
from ..git.objects import Commit, Objects, hexsha
from ..git.refs import Refs, ref_name
from ..git.repo import GitRepo
from ..rules import rule_id_from_path
from .changes import MergeResult
from .rulefiles import RuleFiles

__all__ = ["merge_into"]


class Writer(Protocol):
    """What a merge needs of the store."""

    git: GitRepo
    objects: Objects
    refs: Refs
    rules: RuleFiles

    def now(self) -> int: ...

    def refuse_dirty(self, branch: str, paths: Iterable[str], base: str | None) -> None: ...

    def record_commit(self, c: Commit, paths: list[str]) -> None: ...


def merge_into(
    store: Writer,
    src: str,
    source: str,
    message: CommitMessage,
    author: Identity,
    into: str,
    fast_forward: bool,
    sign: Callable[[bytes], bytes] | None,
    committer: Identity,
) -> MergeResult:
    """Merge commit ``src`` (branch ``source``) into branch ``into``: nothing when it
    is there already, a fast-forward when ``into`` has not moved since they parted
    (and ``fast_forward``), else a merge commit (``sign``: its signature)."""
    objects, refs, git = store.objects, store.refs, store.git
    lookup = objects.lookup
    for _ in range(100):
        dst = refs.head(into)
        if dst is None:
            raise RevisionNotFound(into)
        if objects.is_ancestor(src, dst):
            return MergeResult(dst, True, ())
        base = objects.merge_base(src, dst)
        base_tree = objects.commit(base).tree if base else None
        src_tree, dst_tree = objects.commit(src).tree, objects.commit(dst).tree
        ours = set(objects.diff_trees(base_tree, dst_tree))
        theirs = set(objects.diff_trees(base_tree, src_tree))
        both = sorted(p for p in ours & theirs if lookup(src_tree, p) != lookup(dst_tree, p))
        if both:
            ids = [rule_id_from_path(p) or p for p in both]
            raise ConflictError(
                f"{source} and {into} both changed {', '.join(ids)}; nothing was merged", ids
            )
        store.refuse_dirty(into, theirs, dst)
        if fast_forward and base == dst:
            changed = tuple(sorted(theirs))
            if refs.cas(ref_name(into), dst, src, author, store.now(), message.subject):
                _worktree.sync(git, into, changed)
                return MergeResult(src, True, changed)
            continue
        changes = {p: objects.file_blob(src_tree, p) for p in sorted(theirs)}
        store.rules.refuse_twins(dst_tree, changes)  # one id given a file on each side
        tree = objects.write_tree_or_empty(dst_tree, changes)
        c = objects.new_commit(tree, [dst, src], message.render().encode("utf-8"), author,
                               committer, store.now(), sign=sign)  # fmt: skip
        if refs.cas(ref_name(into), dst, hexsha(c.id), author, c.commit_time, message.subject):
            store.record_commit(c, objects.changed_paths(hexsha(c.id)))
            _worktree.sync(git, into, theirs)
            return MergeResult(hexsha(c.id), False, tuple(sorted(theirs)))
    raise StoreError(f"could not move {into}: too much contention")
