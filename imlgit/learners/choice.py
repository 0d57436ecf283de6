"""Which learner learns a set of experiences, and why (``learner = "auto"``).

The evidence decides, counted once: an experience with an expected answer, or
with the agent's output and a reward for it, is evidence the learner that needs
no model can read. ``auto`` uses the language-model learner when a model
endpoint is configured; without one, the no-model learner whenever it can read
some of the experiences. The embedded 135M model is used to learn only when it
is asked for by name (``learner = "model"``): measured here, it cannot learn.

Experiences no learner here can check a rule against (only a text outcome, or a
reward with no output saying what it rewards) are counted and reported, never
silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, LearnError
from ..experience import Experience
from .base import Learner

__all__ = ["EvidenceCounts", "LearnerChoice", "choose_learner", "readable"]

NAMES = ("auto", "model", "covering")
_LABELS = {"covering": "no-model rule learner", "model": "language-model learner"}


def readable(e: Experience) -> bool:
    """Whether the no-model learner can read ``e``: an expected answer, or an
    output with a reward for it."""
    return e.outcome.expected is not None or (
        e.output is not None and e.outcome.reward is not None
    )


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True)
class EvidenceCounts:
    """How many experiences carry each kind of outcome."""

    total: int = 0
    expected: int = 0  # an expected answer
    reward_only: int = 0  # the agent's output and a reward, no expected answer
    text_only: int = 0  # only a text outcome
    reward_without_output: int = 0  # a reward, but no output saying what it rewards

    @classmethod
    def of(cls, experiences: Iterable[Experience]) -> EvidenceCounts:
        total = expected = reward_only = text_only = no_output = 0
        for e in experiences:
            total += 1
            if e.outcome.expected is not None:
                expected += 1
            elif e.outcome.reward is not None:
                if e.output is not None:
                    reward_only += 1
                else:
                    no_output += 1
            else:
                text_only += 1
        return cls(total, expected, reward_only, text_only, no_output)

    @property
    def readable(self) -> int:
        return self.expected + self.reward_only

    @property
    def unusable(self) -> int:
        return self.text_only + self.reward_without_output

    def readable_phrase(self) -> str:
        return (
            f"{self.readable} of {_n(self.total, 'experience', 'experiences')} "
            f"{'carries' if self.total == 1 else 'carry'} an expected answer or a reward for "
            "the action taken"
        )

    def unusable_note(self, *, model: bool = False) -> str | None:
        """One sentence on the experiences no rule can be checked against, or None."""
        parts = []
        if self.text_only:
            parts.append(
                f"{_n(self.text_only, 'experience has', 'experiences have')} only a text outcome"
            )
        if self.reward_without_output:
            parts.append(
                f"{_n(self.reward_without_output, 'experience has', 'experiences have')} a "
                "reward but no output saying which action it rewards"
            )
        if not parts:
            return None
        tail = (
            "the model reads them, but no rule can be checked against them"
            if model
            else "no learner here can use them"
        )
        return f"{'; '.join(parts)}: {tail}"

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "expected": self.expected,
            "reward_only": self.reward_only,
            "text_only": self.text_only,
            "reward_without_output": self.reward_without_output,
        }


@dataclass(frozen=True)
class LearnerChoice:
    """The learner chosen for a learn, what was asked for, and why (one sentence)."""

    name: str  # "covering", "model", or "given" (a Learner object passed in)
    learner: Learner
    reason: str
    counts: EvidenceCounts
    asked: str = "auto"

    @property
    def label(self) -> str:
        if self.name == "model":
            return f"{_LABELS['model']} ({self.learner.identity.removeprefix('model:')})"
        return _LABELS.get(self.name, self.learner.identity)

    @property
    def note(self) -> str | None:
        """What the experiences this learner cannot use are, or None."""
        return self.counts.unusable_note(model=self.name == "model")

    def summary(self) -> str:
        """``learner: <label> — <reason>`` (the line ``imlgit learn`` prints)."""
        return f"learner: {self.label} — {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "asked": self.asked,
            "identity": self.learner.identity,
            "reason": self.reason,
            "experiences": self.counts.to_dict(),
            "unusable": self.note,
        }


def choose_learner(
    experiences: Iterable[Experience],
    asked: str | Learner,
    *,
    endpoint: bool,
    model: Callable[[], Learner],
    covering: Callable[[], Learner],
) -> LearnerChoice:
    """The learner for ``experiences`` when ``asked`` is auto, model or covering
    (or a Learner, used as it is).

    ``endpoint`` says whether a model endpoint is configured (the embedded model
    does not count); ``model`` and ``covering`` build the learners, so a model is
    started only when it is chosen. Raises LearnError when the choice would have
    nothing it can learn from, ConfigError for an unknown name.
    """
    counts = EvidenceCounts.of(experiences)
    if not isinstance(asked, str):
        return LearnerChoice("given", asked, "passed in by the caller", counts, "given")
    if asked not in NAMES:
        raise ConfigError(f"unknown learner {asked!r}; use one of {', '.join(NAMES)}")
    if asked == "model":
        how = (
            "a model endpoint is configured"
            if endpoint
            else "no model endpoint is configured, so it is the embedded model, which shows "
            "the mechanism but learns little"
        )
        return LearnerChoice(
            "model", model(), f'asked for by name (learner = "model"); {how}', counts, asked
        )
    if asked == "auto" and endpoint:
        return LearnerChoice(
            "model",
            model(),
            f"a model endpoint is configured; {counts.readable_phrase()}",
            counts,
            asked,
        )
    if not counts.readable:
        why = counts.unusable_note() or "there are no experiences"
        if asked == "covering":
            raise LearnError(
                f"the no-model learner (learner = \"covering\") can read none of the "
                f"{_n(counts.total, 'experience', 'experiences')}: {why}; give outcomes with "
                '"expected", or an "output" with a "reward"'
            )
        raise LearnError(
            f"learner auto has nothing to learn from: {why}, and no model endpoint is "
            "configured. Give outcomes with \"expected\", or an \"output\" with a \"reward\" "
            "for it; or configure a model that can read text outcomes ([model] base_url in "
            "imlgit.toml, or IMLGIT_BASE_URL)"
        )
    why = counts.readable_phrase()
    if asked == "covering":
        reason = f'asked for by name (learner = "covering"); {why}'
    else:
        reason = f"{why}; no model endpoint is configured"
    return LearnerChoice("covering", covering(), reason, counts, asked)
