"""doctor's checks of the rules themselves, without the index or a model: the rule
files read in one pass (``invalid-file``), ``duplicate`` groups (kept in a
union-find, so look-alike pairs are counted once a group) and checkable
``contradiction`` s. The kinds are described in :mod:`imlgit.doctor`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import RuleError
from ..identity import checkable_form, normalize_statement
from ..rules import RULES_DIR, Rule, parse_rule, rule_id_from_path
from ..store import check_rule_file
from .report import Finding

if TYPE_CHECKING:
    from ..conditions import Condition
    from ..store import Store


def _read(store: Store, commit: str) -> tuple[dict[str, Rule], list[Finding], int]:
    """Every valid rule at ``commit`` (first of a repeated id), the invalid files as
    findings, and the number of files: the checks of ``Store.check`` in one pass."""
    rules: dict[str, Rule] = {}
    findings: list[Finding] = []
    seen: dict[str, str] = {}
    files = store.files_under(RULES_DIR, commit)
    for path, blob in files:
        data = store.read_blob(blob)
        rid = rule_id_from_path(path)
        problems: list[RuleError] = []
        if rid is None:
            problems = check_rule_file(path, data, seen)
        else:
            try:
                rule = parse_rule(data, path=path)
            except RuleError as exc:
                problems = [exc]
            else:
                if rule.id in seen:
                    problems.append(
                        RuleError(
                            f"duplicate rule id {rule.id!r}, also in {seen[rule.id]}", path=path
                        )
                    )
                else:
                    rules[rule.id] = rule
                seen[rule.id] = path
        for problem in problems:
            findings.append(Finding("invalid-file", (rid,) if rid else (), str(problem), path=path))
    return rules, findings, len(files)


class _Groups:
    """Union-find over rule ids: which rules are one duplicate group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def same(self, a: str, b: str) -> bool:
        return a in self.parent and b in self.parent and self.find(a) == self.find(b)


def _conditions_text(conds: Iterable[Condition]) -> str:
    parts = sorted(f"{c.field or 'the text'} {c.op} {c.value}" for c in conds)
    return ", ".join(parts) if parts else "no conditions (always)"


def _keeper(rules: Sequence[Rule]) -> Rule:
    """The rule of a duplicate group to keep: most support, then oldest, then id."""
    return min(rules, key=lambda r: (-r.support, r.created, r.id))


def _duplicates(active: Sequence[Rule]) -> tuple[list[Finding], _Groups]:
    groups = _Groups()
    reasons: dict[tuple[str, str], set[str]] = defaultdict(set)  # pair -> what they share
    first: dict[tuple[Any, ...], str] = {}
    for r in active:
        keys: list[tuple[tuple[Any, ...], str]] = [
            (("s", r.scope, normalize_statement(r.statement)), "statement")
        ]
        form = checkable_form(r)
        if form is not None:
            keys.append((("f", r.scope, form), "form"))
        for key, reason in keys:
            other = first.setdefault(key, r.id)
            if other != r.id:
                groups.union(other, r.id)
                reasons[(other, r.id)].add(reason)
    members: dict[str, list[Rule]] = defaultdict(list)
    by_id = {r.id: r for r in active}
    for rid in groups.parent:
        members[groups.find(rid)].append(by_id[rid])
    why_of: dict[str, set[str]] = defaultdict(set)
    for (a, _), why in reasons.items():
        why_of[groups.find(a)] |= why
    findings = []
    for root in sorted(members):
        group = sorted(members[root], key=lambda r: r.id)
        why = why_of[root]
        said = []
        if "statement" in why:
            said.append("the same statement (ignoring case, spacing and punctuation)")
        if "form" in why:
            form = checkable_form(group[0]) or checkable_form(next(r for r in group if r.checkable))
            assert form is not None
            said.append(f"the same checkable form (when {_conditions_text(form[0])}: {form[1]})")
        keep = _keeper(group)
        findings.append(
            Finding(
                "duplicate",
                tuple(r.id for r in group),
                f"{len(group)} active rules of scope {group[0].scope!r} have "
                f"{' and '.join(said)}; keep {keep.id} (support {keep.support}) and retire "
                f"the other{'s' if len(group) > 2 else ''}",
            )
        )
    return findings, groups


def _contradictions(active: Sequence[Rule]) -> list[Finding]:
    """Checkable rules with the same conditions and different conclusions.

    Only equal condition sets: a rule with a subset of another's conditions is
    the general case of a decision list, which the more specific rule overrides.
    """
    by_conditions: dict[tuple[str, frozenset[Condition]], list[Rule]] = defaultdict(list)
    for r in active:
        if r.when is not None and r.then is not None:
            by_conditions[(r.scope, frozenset(r.when))].append(r)
    findings = []
    for (scope, conds), group in sorted(by_conditions.items(), key=lambda kv: kv[1][0].id):
        outcomes: dict[str, list[str]] = defaultdict(list)
        for r in sorted(group, key=lambda r: r.id):
            outcomes[r.then or ""].append(r.id)
        if len(outcomes) < 2:
            continue
        said = "; ".join(f"{then} ({', '.join(ids)})" for then, ids in sorted(outcomes.items()))
        findings.append(
            Finding(
                "contradiction",
                tuple(sorted(r.id for r in group)),
                f"the same conditions ({_conditions_text(conds)}) in scope {scope!r} conclude "
                f"{len(outcomes)} different outcomes: {said}; only the highest-ranked decides",
            )
        )
    return findings
