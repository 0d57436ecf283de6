"""Scoring a held-out experience of either kind, the way ``imlgit eval`` says it does.

- with an expected answer: is the condition's answer right;
- reward-only, with the action taken (``output``): does the condition predict the
  reward (works: reward >= 0.5; fails: below).

Rules predict a reward the way checked inference does when asked about an
action: an *outcome* rule (``then`` ``works`` or ``fails``, with a condition that
``output`` is the action) that decides the context, else a *class* rule (``then``
an action): the action works where it is the one recommended.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from ..conditions import WORKS
from ..embed import Embedder
from ..experience import Experience
from ..infer import checked_answer
from ..rules import Rule
from .chat import input_text

__all__ = [
    "RewardVote",
    "held_out_accuracy",
    "predicted_works",
    "reward_scored",
    "split_held_out",
]


def reward_scored(e: Experience) -> bool:
    """Whether ``e`` is scored by its reward: no expected answer, a reward and an action."""
    return e.outcome.expected is None and e.outcome.reward is not None and e.output is not None


def predicted_works(rules: Sequence[Rule], e: Experience) -> bool | None:
    """Whether the checkable ``rules`` predict that ``e.output`` works in ``e.input``,
    as ``imlgit ask`` with an action says (:func:`imlgit.infer.checked_answer`);
    None when no rule decides."""
    hit = checked_answer(rules, e.input, action=e.output)
    return None if hit is None else hit[0] == WORKS


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
