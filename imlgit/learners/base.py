"""The interface every learner implements: induce candidates, then revise memory.

A learner proposes; it never writes. ``imlgit.learn`` validates, verifies,
damps (momentum) and commits what a learner proposes, the same way for the
language-model learner and for the learner that needs no model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..conditions import Condition
from ..experience import Experience
from ..rules import Rule

__all__ = [
    "OPS",
    "Candidate",
    "Operation",
    "RuleContext",
    "LearnContext",
    "Learner",
]

# The revision operations, as the paper names them.
OPS = ("ADD", "EDIT", "MERGE", "RETIRE", "AGREE")


@dataclass(frozen=True)
class Candidate:
    """A rule a learner proposes: the statement a person reads, and where the
    experiences allow it, the checkable form (``when`` / ``then``)."""

    title: str
    statement: str
    scope: str
    evidence: tuple[str, ...] = ()
    rationale: str = ""
    when: tuple[Condition, ...] | None = None
    then: str | None = None


@dataclass(frozen=True)
class Operation:
    """One revision step.

    - ADD: a new rule from ``candidate``.
    - EDIT: rule ``target`` becomes ``candidate`` (narrowed, widened, reworded).
    - MERGE: ``sources`` are retired into ``target``, which becomes ``candidate``.
    - RETIRE: rule ``target`` is wrong; ``contradicting`` shows why.
    - AGREE: the batch supports rule ``target`` (``evidence``); only counters change.
    """

    op: str
    rationale: str
    target: str | None = None
    candidate: Candidate | None = None
    sources: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    contradicting: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleContext:
    """An existing rule as a learner sees it: the rule, its counters, and the
    rationales of its last commits (the momentum the paper keeps in the prompt)."""

    rule: Rule
    recent: tuple[str, ...] = ()


@dataclass(frozen=True)
class LearnContext:
    """What a learner is shown besides the batch."""

    rules: tuple[RuleContext, ...] = ()
    refused: tuple[str, ...] = field(default=())  # why earlier proposals were refused
    rejected: tuple[str, ...] = field(default=())  # statements people rejected
    scope: str | None = None
    # Experiences stored in the memory repo before this batch (same scope), for
    # learners that count; the language-model learner sees only the batch.
    evidence: tuple[Experience, ...] = field(default=())


@runtime_checkable
class Learner(Protocol):
    """Induce candidates from a batch, then revise memory against them.

    A learner that does not read the rules retrieval finds for the batch (beyond the
    scope's checkable rules, always shown) says so with ``uses_retrieval = False``:
    :meth:`imlgit.memory.Memory.learn` then embeds and searches nothing."""

    identity: str

    def induce(self, batch: Sequence[Experience], context: LearnContext) -> list[Candidate]: ...

    def revise(
        self,
        batch: Sequence[Experience],
        candidates: Sequence[Candidate],
        context: LearnContext,
    ) -> list[Operation]: ...
