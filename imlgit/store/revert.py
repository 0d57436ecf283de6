"""Undoing a commit (``git revert``), judged rule by rule.

A later commit that changed only the figures of a rule the reverted commit
changed does not block it (the figures go back with the meaning they counted;
the next learning run recounts them). A later change of meaning does: the
refusal lists those commits, newest first, with what reverts each.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Protocol

from ..commits import CommitMessage, Identity
from ..errors import ConflictError, RevisionNotFound, RuleNotFound, StoreError
from ..git.objects import CommitInfo, Entry, Objects, hexsha
from ..rules import Rule, now_utc, rule_id_from_path, same_meaning
from .rulefiles import RuleFiles

__all__ = ["restore_rule", "revert_changes", "revert_commit"]


class _Store(Protocol):
    """What a revert and a restore need of :class:`imlgit.store.Store`."""

    objects: Objects
    rules: RuleFiles

    def head(self, branch: str = ...) -> str | None: ...
    def read_rule(self, rule_id: str, rev: str | None = ...) -> Rule: ...
    def history(self, rule_id: str, rev: str | None = ..., *,
                limit: int | None = ...) -> list[CommitInfo]: ...  # fmt: skip
    def commit(self, changes: Mapping[str, bytes | None], message: CommitMessage, *,
               author: Identity, branch: str = ...,
               expected_head: str) -> str | None: ...  # fmt: skip
    def put_rule(self, rule: Rule, message: CommitMessage, *, author: Identity,
                 branch: str = ..., expected_head: str) -> str | None: ...  # fmt: skip


def revert_commit(store: _Store, sha: str, rationale: str, *, author: Identity,
                  branch: str) -> str | None:  # fmt: skip
    """Undo commit ``sha`` on ``branch`` as a new commit carrying ``rationale``; None
    when there is nothing to undo (it changed nothing, or its changes are undone)."""
    head = store.head(branch)
    if head is None or not store.objects.is_ancestor(sha, head):
        raise StoreError(f"{sha[:12]} is not on {branch}")
    changes, paths = revert_changes(store.objects, store.rules, sha, head)
    if not changes:
        return None
    info = store.objects.info(sha)
    rules = sorted({rid for p in paths if (rid := rule_id_from_path(p))})
    what = "merge " if len(info.parents) > 1 else ""
    msg = CommitMessage.make("rollback", f"revert {what}{sha[:12]} ({clip(info.subject, 80)})",
                             rationale, rules=rules,
                             trailers=[("Imlgit-Reverts", sha)])  # fmt: skip
    return store.commit(changes, msg, author=author, branch=branch, expected_head=head)


def restore_rule(store: _Store, rule_id: str, rationale: str, *, author: Identity,
                 branch: str) -> str | None:  # fmt: skip
    """Bring back a retired or deleted rule: its last active version, active again;
    None when the rule is active (what was asked is so already: nothing is written)."""
    head = store.head(branch)
    if head is None:
        raise RevisionNotFound(branch)
    try:
        current: Rule | None = store.read_rule(rule_id, head)
    except RuleNotFound:
        current = None
    if current is not None and current.status == "active":
        return None
    last_active: Rule | None = None
    for info in store.history(rule_id, head):
        try:
            old = store.read_rule(rule_id, info.sha)
        except RuleNotFound:
            continue
        if old.status == "active":
            last_active = old
            break
    if last_active is None:
        raise RuleNotFound(rule_id, f"any active revision of {branch}")
    restored = last_active.with_changes(updated=now_utc())
    msg = CommitMessage.make("restore", f"restore {rule_id}", rationale, rules=[rule_id])
    return store.put_rule(restored, msg, author=author, branch=branch, expected_head=head)

_MAX_REVERT_WALK = 100_000  # commits a refused revert looks through for what blocks it
_MAX_LISTED = 20  # commits a refused revert lists


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def revert_changes(
    objects: Objects, rules: RuleFiles, sha: str, head: str
) -> tuple[dict[str, bytes | None], list[str]]:
    """The changes that undo commit ``sha`` on ``head`` (a merge against its first
    parent, as ``git revert -m 1``), and the paths it changed (both empty when it
    changed nothing); :class:`ConflictError` when a later commit changed what one of
    its rules says."""
    c = objects.commit(sha)
    if not c.parents:
        raise StoreError(f"{sha[:12]} is the first commit; it cannot be reverted")
    parent_tree = objects.commit(hexsha(c.parents[0])).tree
    paths = list(objects.diff_trees(parent_tree, c.tree))
    if not paths:
        return {}, []  # the commit changed nothing: nothing to revert, an outcome
    changes: dict[str, bytes | None] = {}
    head_tree = objects.commit(head).tree
    blocked = []
    for path in paths:
        mine, now = objects.lookup(c.tree, path), objects.lookup(head_tree, path)
        target = path
        rid = rule_id_from_path(path)
        if now is None and mine is not None and rid is not None:
            moved = rules.entry(head_tree, rid)  # a person moved the file since (git mv)
            if moved is not None:
                target, now = moved.path, objects.lookup(head_tree, moved.path)
        if now != mine and not _figures_only(rules, path, mine, now):
            blocked.append(path)
        before = objects.lookup(parent_tree, path)
        changes[target] = objects.read_blob(hexsha(before[1])) if before else None
    if blocked:
        raise _revert_first(objects, rules, sha, head, blocked)
    return changes, paths


def _figures_only(rules: RuleFiles, path: str, a: Entry | None, b: Entry | None) -> bool:
    """Whether two versions of a file are one rule saying the same thing."""
    ra, rb = rules.parse_entry(path, a), rules.parse_entry(path, b)
    return ra is not None and rb is not None and same_meaning(ra, rb)


def _changes_meaning(
    objects: Objects, rules: RuleFiles, a: bytes | None, b: bytes | None, ids: set[str]
) -> bool:
    """Whether going from tree ``a`` to ``b`` changes what one of the rules ``ids``
    (rule ids, or paths of other files) says. A rule is compared with itself
    wherever its file is, so a move (``git mv``) alone changes nothing."""
    touched: dict[str, list[str]] = {}
    for path in objects.diff_trees(a, b):
        key = rule_id_from_path(path) or path
        if key in ids:
            touched.setdefault(key, []).append(path)
    for paths in touched.values():
        old = next((x for p in paths if (x := objects.lookup(a, p)) is not None), None)
        new = next((x for p in paths if (x := objects.lookup(b, p)) is not None), None)
        if old != new and not _figures_only(rules, paths[0], old, new):
            return True
    return False


def _revert_first(
    objects: Objects, rules: RuleFiles, sha: str, head: str, blocked: list[str]
) -> ConflictError:
    """The refusal of a revert: the commits after ``sha`` that changed what the
    blocked rules say, newest first, each with what reverts it."""
    later: list[str] = []
    merges: list[str] = []  # merges that changed them (listed when nothing else is)
    proposals: dict[str, str] = {}  # commit -> the approval that merged it
    ids = {rule_id_from_path(p) or p for p in blocked}
    for commit in itertools.islice(objects.walk([head], [sha]), _MAX_REVERT_WALK):
        sha_c = hexsha(commit.id)
        if not commit.parents:
            continue
        parent_tree = objects.commit(hexsha(commit.parents[0])).tree
        changed = _changes_meaning(objects, rules, parent_tree, commit.tree, ids)
        if len(commit.parents) > 1:
            if changed:
                merges.append(sha_c)
            side = objects.walk(commit.parents[1:2], commit.parents[:1])
            for inner in itertools.islice(side, _MAX_REVERT_WALK):
                proposals.setdefault(hexsha(inner.id), sha_c)
        elif changed:
            later.append(sha_c)
    later = later or merges
    lines = []
    for x in later[:_MAX_LISTED]:
        info = objects.info(x)
        via = f" (merged by {proposals[x][:12]}: rolling that back undoes its proposal)" \
            if x in proposals else ""  # fmt: skip
        lines.append(f"  {x[:12]} {clip(info.subject, 70)}{via}")
    if len(later) > _MAX_LISTED:
        lines.append(f"  ... and {len(later) - _MAX_LISTED} more")
    names = [rule_id_from_path(p) or p for p in blocked]
    return ConflictError(
        f"later commits changed the meaning of {', '.join(names)} after {sha[:12]}; "
        "nothing was written. Roll these back first, newest first (imlgit rollback SHA "
        "--why ...):\n" + "\n".join(lines),
        names,
    )
