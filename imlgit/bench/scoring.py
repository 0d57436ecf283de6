"""Scoring a held-out experience of either kind, the way ``imlgit eval`` says it does.

- with an expected answer: is the condition's answer right;
- reward-only, with the action taken (``output``): does the condition predict the
  reward (works: reward >= 0.5; fails: below).

Rules predict a reward in two ways: an *outcome* rule (``then`` is ``works`` or
``fails``, its conditions may test the field ``output``, the action) that
decides the context, else a *policy* rule (``then`` an action) that decides it:
the action works when it is the one the policy recommends. Rules are evaluated
on a flat view of the input (dotted paths into nested objects, an array as the
set of its elements and ``path.length``, ``output`` the action); an array is
tested for membership with ``=`` or ``contains``. Until :mod:`imlgit.verify`
gives the engine's own judgement, this view is the benchmark's reading of the
contract in issue 15.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..conditions import Condition, holds
from ..embed import Embedder
from ..experience import Experience
from ..rules import Rule
from .chat import input_text

__all__ = [
    "FAILS",
    "WORKS",
    "RewardVote",
    "flat_view",
    "held_out_accuracy",
    "predicted_works",
    "reward_scored",
    "split_held_out",
    "view_holds",
]

WORKS, FAILS = "works", "fails"
MAX_VIEW_DEPTH = 32


def reward_scored(e: Experience) -> bool:
    """Whether ``e`` is scored by its reward: no expected answer, a reward and an action."""
    return e.outcome.expected is None and e.outcome.reward is not None and e.output is not None


def flat_view(inp: str | Mapping[str, Any], output: str | None = None) -> dict[str, Any]:
    """The input as one flat mapping: dotted paths, arrays as tuples of their scalar
    elements plus ``path.length``, text under ``text``; ``output`` the action (an
    input's own top-level ``output`` becomes ``input.output``)."""
    out: dict[str, Any] = {}
    if isinstance(inp, str):
        out["text"] = inp
    else:
        _flatten(inp, "", out, 0)
        if "output" in out:
            out["input.output"] = out.pop("output")
    if output is not None:
        out["output"] = output
    return out


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, Any], depth: int) -> None:
    if depth > MAX_VIEW_DEPTH:
        return
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, path + ".", out, depth + 1)
        elif isinstance(value, list):
            out[path] = tuple(v for v in value if isinstance(v, (str, int, float, bool)))
            out[f"{path}.length"] = len(value)
        elif value is not None:
            out[path] = value


def view_holds(cond: Condition, view: Mapping[str, Any]) -> bool:
    """Whether ``cond`` holds on a :func:`flat_view` (an array: membership)."""
    value = view.get(cond.field) if cond.field is not None else None
    if isinstance(value, tuple):
        member = str(cond.value) in {str(v) for v in value}
        if cond.op in ("=", "contains"):
            return member
        if cond.op in ("!=", "lacks"):
            return not member
        return False
    return holds(cond, view)


def _precision(rule: Rule) -> float:
    n = rule.support + rule.contradictions
    return rule.support / n if n else 0.5


def _decides(rules: Sequence[Rule], view: Mapping[str, Any]) -> Rule | None:
    """The rule that decides ``view``: most conditions, then precision, then support."""
    best: Rule | None = None
    best_key: tuple[int, float, int] | None = None
    for r in rules:
        when = r.when or ()
        if not all(view_holds(c, view) for c in when):
            continue
        key = (len(when), _precision(r), r.support)
        if best_key is None or key > best_key:
            best, best_key = r, key
    return best


def predicted_works(rules: Sequence[Rule], e: Experience) -> bool | None:
    """Whether the checkable ``rules`` predict that ``e.output`` works in ``e.input``;
    None when no rule decides (an outcome rule first, else a policy rule)."""
    checkable = [r for r in rules if r.status == "active" and r.checkable]
    outcome = [r for r in checkable if r.then in (WORKS, FAILS)]
    view = flat_view(e.input, e.output)
    hit = _decides(outcome, view)
    if hit is not None:
        return hit.then == WORKS
    policy = [r for r in checkable if r.then not in (WORKS, FAILS)]
    if not any(r.when for r in policy):
        return None  # a default alone (like checked inference) decides nothing
    hit = _decides(policy, flat_view(e.input))
    if hit is not None:
        return hit.then == e.output
    return None


class RewardVote:
    """Episodic memory of rewards: for an action in a context, the commonest result
    (works / fails) among the k most similar past experiences of that action."""

    def __init__(self, embedder: Embedder, k: int = 8) -> None:
        self.embedder = embedder
        self.k = k
        self.kept: dict[str, tuple[list[np.ndarray], list[bool]]] = defaultdict(lambda: ([], []))

    def add(self, experiences: Sequence[Experience]) -> None:
        kept = [e for e in experiences if e.output is not None and e.right is not None]
        if not kept:
            return
        vectors = self.embedder.embed([input_text(e.input) for e in kept])
        for e, v in zip(kept, vectors, strict=True):
            assert e.output is not None
            self.kept[e.output][0].append(np.asarray(v, dtype=np.float32))
            self.kept[e.output][1].append(bool(e.right))

    def predict(self, experiences: Sequence[Experience]) -> list[bool | None]:
        if not experiences:
            return []
        queries = self.embedder.embed([input_text(e.input) for e in experiences])
        out: list[bool | None] = []
        for e, q in zip(experiences, queries, strict=True):
            vectors, rights = self.kept.get(e.output or "", ([], []))
            if not vectors:
                out.append(None)
                continue
            sims = np.stack(vectors) @ np.asarray(q, dtype=np.float32)
            order = np.argsort(-sims, kind="stable")[: self.k]
            votes = Counter(rights[int(i)] for i in order)
            out.append(votes[True] >= votes[False])
        return out


def split_held_out(test: Sequence[Experience]) -> tuple[list[Experience], list[Experience]]:
    """The held-out experiences scored by their answer, and those scored by their reward."""
    return [e for e in test if not reward_scored(e)], [e for e in test if reward_scored(e)]


def held_out_accuracy(
    by_answer: Sequence[Experience],
    answers: Sequence[str | None],
    by_reward: Sequence[Experience] = (),
    predictions: Sequence[bool | None] = (),
) -> float:
    """The share scored right: ``answers[i]`` equals ``by_answer[i]``'s expected answer,
    ``predictions[i]`` (works?) equals whether ``by_reward[i]``'s reward says it
    worked. No answer or prediction (None) is wrong."""
    n = len(by_answer) + len(by_reward)
    if not n:
        return 0.0
    right = sum(a is not None and a == e.label for a, e in zip(answers, by_answer, strict=True))
    right += sum(
        p is not None and p == e.right for p, e in zip(predictions, by_reward, strict=True)
    )
    return right / n
