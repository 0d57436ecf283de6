"""The learner that needs no model: sequential covering, behind the Learner interface.

It induces checkable rules from every labelled experience it can see (the batch
and the evidence stored in the memory repo), then revises memory against them:

- a candidate that is an existing rule (same conditions and outcome): AGREE;
- a candidate with the outcome of an existing rule whose conditions it narrows or
  widens (one set contains the other): EDIT that rule into it;
- any other candidate: ADD;
- an existing checkable rule of the scope that no candidate kept: RETIRE, with the
  batch experiences it gets wrong as the contradicting evidence.

``imlgit.learn`` then verifies, damps and commits, as for any learner: with
momentum, a rule that still gets most of what it decides right is not retired
just because this batch's induction drew the boundaries differently.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..conditions import Condition, matches
from ..experience import Experience
from ..rules import content_order
from ..statements import render_statement
from ..verify import CLASS, OUTCOME, decisions, judge, kind_of
from .base import Candidate, LearnContext, Operation
from .covering import InducedRule, induce_rules
from .synonyms import Related

__all__ = ["CoveringLearner"]


def _title(when: Sequence[Condition], then: str) -> str:
    if not when:
        return f"Otherwise {then}"
    parts = []
    for c in when:
        if c.op == "=":
            parts.append(f"{c.field} {c.value}")
        elif c.op in ("contains", "lacks"):
            parts.append(f"{'with' if c.op == 'contains' else 'without'} {c.value}")
        else:
            parts.append(f"{c.field} {c.op} {c.value}")
    title = f"{', '.join(parts)}: {then}"
    return title if len(title) <= 190 else title[:189] + "…"


REINDUCE_GROWTH = 1.25
"""A batch the rules already get right skips induction, until the evidence has grown
by this factor since the last one (so the work stays linear in the evidence, and more
evidence is still looked at again)."""


class CoveringLearner:
    """Sequential covering over attributes and text features; no language model."""

    identity = "no-model rule learner (sequential covering)"
    # revise reads only the scope's checkable rules, which learning shows it without
    # a search: embedding every experience for retrieval would change nothing
    uses_retrieval = False

    def __init__(
        self,
        *,
        max_conditions: int = 4,
        min_coverage: int = 2,
        min_precision: float = 0.9,
        window: int | None = None,
        related: Related | None = None,
    ) -> None:
        """``related`` suggests synonyms for ``mentions`` conditions (an
        :class:`~imlgit.learners.synonyms.EmbeddedRelated` over the embedder that
        retrieval uses); without it, every word costs the same to list."""
        self.window = window
        self.related = related
        self._induced_at: dict[str, int] = {}  # scope -> evidence size at its last induction
        self.max_conditions = max_conditions
        self.min_coverage = min_coverage
        self.min_precision = min_precision

    def induce(self, batch: Sequence[Experience], context: LearnContext) -> list[Candidate]:
        scope = context.scope or (batch[0].scope if batch else "general")
        size = len(context.evidence) + len(batch)
        if size < REINDUCE_GROWTH * self._induced_at.get(scope, 0):
            agreed = self._agreed(batch, context, scope)
            if agreed is not None:
                return agreed
        self._induced_at[scope] = size
        stored = list(context.evidence)
        if self.window is not None:
            stored = stored[-self.window :] if self.window else []
        seen = {e.id for e in stored}
        data = stored + [e for e in batch if e.id not in seen]
        learned = induce_rules(
            data,
            max_conditions=self.max_conditions,
            min_coverage=self.min_coverage,
            min_precision=self.min_precision,
            related=self.related,
        )
        batch_ids = {e.id for e in batch}
        return [self._candidate(r, scope, batch_ids) for r in learned]

    def _agreed(
        self, batch: Sequence[Experience], context: LearnContext, scope: str
    ) -> list[Candidate] | None:
        """The memory's rules as candidates when they already get the whole batch right
        (every experience that can tell is decided, and right; no failure is recommended
        again): nothing to induce. None otherwise."""
        rules = {
            rc.rule.id: rc.rule
            for rc in context.rules
            if rc.rule.checkable and rc.rule.status == "active" and rc.rule.scope == scope
        }
        if not rules:
            return None
        got = decisions(rules, batch)
        right: dict[str, list[str]] = {rid: [] for rid in rules}
        for e in batch:
            for kind in (CLASS, OUTCOME):
                hit = got.get((e.id, kind))
                if hit is not None and not hit[1]:
                    return None
                if hit is not None:
                    right[hit[0]].append(e.id)
            if e.label is not None and (e.id, CLASS) not in got:
                return None  # an answer known, and no rule gives it
        return [
            Candidate(
                title=r.title,
                statement=r.statement,
                scope=scope,
                evidence=tuple(right[rid]),
                rationale=(
                    "The rules in memory already decide every experience of this batch "
                    f"right; {len(right[rid])} of them by this rule."
                ),
                when=r.when,
                then=r.then,
            )
            for rid, r in sorted(rules.items())
        ]

    def _candidate(self, r: InducedRule, scope: str, batch_ids: set[str]) -> Candidate:
        return Candidate(
            title=_title(r.when, r.then),
            statement=render_statement(r.when, r.then),
            scope=scope,
            evidence=tuple(i for i in r.correct if i in batch_ids),
            rationale=(
                f"Sequential covering over all {scope} evidence so far. {r.rationale}"
            ).strip(),
            when=tuple(r.when),
            then=r.then,
        )

    def revise(
        self,
        batch: Sequence[Experience],
        candidates: Sequence[Candidate],
        context: LearnContext,
    ) -> list[Operation]:
        existing = sorted(
            (
                rc.rule
                for rc in context.rules
                if rc.rule.checkable
                and rc.rule.status == "active"
                and rc.rule.scope == context.scope
            ),
            key=content_order,
        )
        kept: set[str] = set()
        ops: list[Operation] = []
        for cand in candidates:
            form = (frozenset(cand.when or ()), cand.then)
            same = next((r for r in existing if (frozenset(r.when or ()), r.then) == form), None)
            if same is not None:
                kept.add(same.id)
                ops.append(
                    Operation(
                        "AGREE",
                        "The induced rule is this rule.",
                        target=same.id,
                        evidence=cand.evidence,
                    )
                )
                continue
            near = next(
                (
                    r
                    for r in existing
                    if r.id not in kept
                    and r.then == cand.then
                    and r.when
                    and cand.when
                    and (set(r.when) <= set(cand.when) or set(cand.when) <= set(r.when))
                ),
                None,
            )
            if near is not None:
                kept.add(near.id)
                narrower = len(cand.when or ()) > len(near.when or ())
                ops.append(
                    Operation(
                        "EDIT",
                        f"The evidence {'narrows' if narrower else 'widens'} {near.id}: "
                        f"{cand.rationale}",
                        target=near.id,
                        candidate=cand,
                        evidence=cand.evidence,
                    )
                )
                continue
            ops.append(Operation("ADD", cand.rationale, candidate=cand, evidence=cand.evidence))
        for r in existing:
            if r.id in kept:
                continue
            kind = kind_of(r)
            wrong = tuple(
                e.id
                for e in batch
                if matches(r.when or (), e.acted if kind == OUTCOME else e.view)
                and judge(e, r.then or "", kind) is False
            )
            ops.append(
                Operation(
                    "RETIRE",
                    f"Induction over the evidence so far no longer produces {r.id}; "
                    f"in this batch it gets {len(wrong)} experiences wrong.",
                    target=r.id,
                    contradicting=wrong,
                )
            )
        return ops
