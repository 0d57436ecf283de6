"""How rules differ between two trees, and what a merge did."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from ..git.objects import Objects, hexsha, utf8
from ..rules import rule_id_from_path

__all__ = ["RuleChange", "MergeResult", "diff_trees_of_rules"]


@dataclass(frozen=True)
class RuleChange:
    """How one rule differs between two revisions."""

    rule_id: str
    kind: str  # added | removed | modified
    old: str | None
    new: str | None
    path: str
    old_path: str | None = None  # where the file was, when it moved

    def unified(self) -> str:
        a = (self.old or "").splitlines(keepends=True)
        b = (self.new or "").splitlines(keepends=True)
        from_name = "a/" + (self.old_path or self.path) if self.old is not None else "/dev/null"
        to_name = "b/" + self.path if self.new is not None else "/dev/null"
        return "".join(difflib.unified_diff(a, b, from_name, to_name))

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule_id, "kind": self.kind, "path": self.path, "diff": self.unified()}


@dataclass(frozen=True)
class MergeResult:
    sha: str
    fast_forward: bool
    changed: tuple[str, ...] = field(default=())


def diff_trees_of_rules(objects: Objects, ta: bytes, tb: bytes) -> list[RuleChange]:
    """The rule files that differ between trees ``ta`` and ``tb``, a moved file
    (``git mv``) one change of its rule."""
    out = []
    for path in objects.diff_trees(ta, tb):
        rid = rule_id_from_path(path)
        if rid is None:
            continue
        fa, fb = objects.lookup(ta, path), objects.lookup(tb, path)
        old = utf8(objects.read_blob(hexsha(fa[1]))) if fa else None
        new = utf8(objects.read_blob(hexsha(fb[1]))) if fb else None
        kind = "added" if old is None else "removed" if new is None else "modified"
        out.append(RuleChange(rid, kind, old, new, path))
    return _pair_moves(out)


def _pair_moves(changes: list[RuleChange]) -> list[RuleChange]:
    """A rule file deleted at one path and added at another (``git mv``) is one
    change of that rule, not a removal and an addition of it."""
    removed = {c.rule_id: c for c in changes if c.kind == "removed"}
    added = {c.rule_id: c for c in changes if c.kind == "added"}
    moved = removed.keys() & added.keys()
    if not moved:
        return changes
    out = []
    for c in changes:
        if c.rule_id in moved and c.kind == "removed":
            continue
        if c.rule_id in moved and c.kind == "added":
            gone = removed[c.rule_id]
            c = RuleChange(c.rule_id, "modified", gone.old, c.new, c.path, gone.path)
        out.append(c)
    return out
