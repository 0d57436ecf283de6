"""Counting checkable rules against the evidence: which rule decides each experience,
and whether it is right there.

Two kinds of checkable rule answer two questions:

- a **class** rule (``then`` an answer or an action to take) is applied to the
  input alone, the way ``imlgit ask`` applies it;
- an **outcome** rule (``then`` ``works`` or ``fails``, with a condition that the
  output is a given action) is applied to the input together with what the agent
  did (the field ``output``).

Each experience is decided by at most one rule of each kind (the order of
:func:`imlgit.conditions.choose`), and :func:`judge` says whether that rule is
right there:

- with an expected answer: a class rule is right when it gives that answer;
- with only a reward for the action taken (the paper's setting): a success says
  the action was right there, a failure that it was not. A class rule that
  recommends the action taken is right on a success and **wrong on a failure**
  (a failure is a contradiction); one that recommends another action is wrong on
  a success and undecided on a failure (another action may have worked);
- an outcome rule is right when it says what happened: ``works`` on a success,
  ``fails`` on a failure (by the reward, or by the output against the expected
  answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from .conditions import WORKS, Condition, ScoredRule, choose, is_outcome_rule
from .experience import REWARD_RIGHT, Experience
from .rules import Rule, content_order

__all__ = [
    "CLASS",
    "OUTCOME",
    "Checkable",
    "Formed",
    "decisions",
    "judge",
    "kind_of",
    "precision",
    "scope_ranked",
    "scored",
]

CLASS = "class"
OUTCOME = "outcome"


class Formed(Protocol):
    """A rule's checkable form."""

    @property
    def when(self) -> tuple[Condition, ...] | None: ...

    @property
    def then(self) -> str | None: ...


class Checkable(Formed, Protocol):
    """What counting needs of a rule."""

    @property
    def support(self) -> int: ...

    @property
    def contradictions(self) -> int: ...


def kind_of(rule: Formed) -> str:
    """Which question a rule answers: CLASS (what to answer or do) or OUTCOME."""
    return OUTCOME if is_outcome_rule(rule.when or (), rule.then) else CLASS


def judge(exp: Experience, then: str, kind: str = CLASS) -> bool | None:
    """Whether a rule answering ``then`` is right on ``exp``; None when the
    experience cannot tell (see the module docstring)."""
    o = exp.outcome
    if kind == OUTCOME:
        worked = exp.right
        return None if worked is None else (then == WORKS) == worked
    if o.expected is not None:
        return then == o.expected
    if o.reward is None or exp.output is None:
        return None
    success = o.reward >= REWARD_RIGHT
    if then == exp.output:
        return success
    return False if success else None


def precision(rule: Checkable) -> float:
    """support / (support + contradictions); 0.5 for a rule that decided nothing yet."""
    n = rule.support + rule.contradictions
    return rule.support / n if n else 0.5


def scored(rule: Checkable) -> ScoredRule:
    """The rule with the figures :func:`imlgit.conditions.choose` ranks it by."""
    return ScoredRule(rule.when or (), rule.then or "", precision(rule), rule.support)


def decisions(
    rules: Mapping[str, Checkable], evidence: Iterable[Experience]
) -> dict[tuple[str, str], tuple[str, bool]]:
    """(experience id, kind) -> (the rule that decides it, whether it is right),
    for the given checkable rules, in the order checked inference applies them.
    Experiences that cannot tell (:func:`judge` None) are left out."""
    by_kind: dict[str, list[str]] = {CLASS: [], OUTCOME: []}
    for rid in sorted(rules, key=lambda r: content_order(rules[r])):
        by_kind[kind_of(rules[rid])].append(rid)
    ranked = {kind: [scored(rules[r]) for r in ids] for kind, ids in by_kind.items()}
    out: dict[tuple[str, str], tuple[str, bool]] = {}
    for exp in evidence:
        for kind, ids in by_kind.items():
            if not ids:
                continue
            if kind == OUTCOME and exp.output is None:
                continue
            hit = choose(ranked[kind], exp.acted if kind == OUTCOME else exp.view)
            if hit is None:
                continue
            ok = judge(exp, hit[0], kind)
            if ok is not None:
                out[(exp.id, kind)] = (ids[hit[1]], ok)
    return out


def scope_ranked(rules: Mapping[str, Rule], scope: str) -> tuple[list[str], list[ScoredRule]]:
    """The scope's active checkable rules (in :func:`~imlgit.rules.content_order`:
    ties go to the first, as in checked inference) with the figures ``choose`` ranks
    them by."""
    ids = [
        rid
        for rid, r in sorted(rules.items(), key=lambda item: content_order(item[1]))
        if r.scope == scope and r.checkable and r.status == "active"
    ]
    return ids, [scored(rules[rid]) for rid in ids]
