"""Inference: answer with the relevant rules, and say which rules answered.

Order of paths:

1. **checked**: when the question is an input the active checkable rules of its
   scope can be checked against, code answers: among the matching rules, the most
   specific wins, then the highest precision (support / (support +
   contradictions)), then the highest support (:func:`imlgit.conditions.choose`);
2. **model**: otherwise the language model answers with the top-k retrieved rules
   in its prompt, and must cite the ids it used (only ids it was given);
3. **none**: no checkable rule applies and no model is available.

Which rules were retrieved and cited is appended to ``<git dir>/imlgit/usage.jsonl``
(local statistics for pruning; never committed).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .conditions import ScoredRule, checkable, choose
from .rules import Rule

__all__ = ["Answer", "Evaluation", "answer", "checked_answer", "evaluate", "record_usage"]

Input = str | Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    answer: str | None
    path: str  # checked | model | none
    rules: tuple[str, ...]
    commit: str
    scope: str | None
    retrieved: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "path": self.path,
            "rules": list(self.rules),
            "commit": self.commit,
            "scope": self.scope,
            "retrieved": list(self.retrieved),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


def _precision(rule: Rule) -> float:
    n = rule.support + rule.contradictions
    return rule.support / n if n else 0.5


def checked_answer(rules: Sequence[Rule], question: Input) -> tuple[str, Rule] | None:
    """The checkable rules' answer for ``question``, or None when none applies.

    A question is checkable when some rule with conditions can be evaluated on it
    (structured rules need attributes, text rules need text); a rule without
    conditions (a default) never decides alone a question no other rule can check.
    """
    inp: Any = dict(question) if isinstance(question, Mapping) else question
    active = [r for r in rules if r.status == "active" and r.checkable]
    if not any(r.when and checkable(r.when, inp) for r in active):
        return None
    usable = [r for r in active if checkable(r.when or (), inp)]
    scored = [ScoredRule(r.when or (), r.then or "", _precision(r), r.support) for r in usable]
    hit = choose(scored, inp)
    if hit is None:
        return None
    return hit[0], usable[hit[1]]


def answer(
    question: Input,
    *,
    scope_rules: Sequence[Rule],
    retrieved: Sequence[Rule],
    commit: str,
    scope: str | None,
    model: Callable[[Input, Sequence[Rule]], tuple[str, Sequence[str], int, int]] | None = None,
) -> Answer:
    """Answer ``question``: checked by code where the rules allow it, else by the model.

    ``scope_rules`` are the checkable candidates (the scope's active rules),
    ``retrieved`` the top-k rules for the model's prompt; ``model`` returns
    (answer, cited ids, prompt tokens, completion tokens).
    """
    hit = checked_answer(scope_rules, question)
    retrieved_ids = tuple(r.id for r in retrieved)
    if hit is not None:
        return Answer(hit[0], "checked", (hit[1].id,), commit, scope, retrieved_ids)
    if model is None:
        return Answer(None, "none", (), commit, scope, retrieved_ids)
    text, cited, pt, ct = model(question, retrieved)
    allowed = set(retrieved_ids)
    return Answer(
        text,
        "model",
        tuple(c for c in cited if c in allowed),
        commit,
        scope,
        retrieved_ids,
        pt,
        ct,
    )


@dataclass(frozen=True)
class Evaluation:
    """Checked answers against experiences whose correct outcome is known."""

    correct: int
    answered: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "answered": self.answered,
            "total": self.total,
        }


def evaluate(rules: Sequence[Rule], experiences: Sequence[Any]) -> Evaluation:
    """Accuracy of checked inference on labelled experiences (no answer counts as wrong)."""
    correct = answered = total = 0
    for exp in experiences:
        if exp.label is None:
            continue
        total += 1
        hit = checked_answer([r for r in rules if r.scope == exp.scope], exp.input)
        if hit is not None:
            answered += 1
            correct += hit[0] == exp.label
    return Evaluation(correct, answered, total)


def record_usage(directory: os.PathLike[str] | str, ans: Answer) -> None:
    """Append which rules were retrieved and cited (local, never committed)."""
    line = json.dumps(
        {
            "t": int(time.time()),
            "commit": ans.commit,
            "path": ans.path,
            "retrieved": list(ans.retrieved),
            "cited": list(ans.rules),
        },
        separators=(",", ":"),
    )
    try:
        with open(os.path.join(directory, "usage.jsonl"), "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass  # statistics are a convenience; an answer never fails for them
