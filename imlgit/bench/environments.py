"""The registry of benchmark environments of other shapes: a name, a seed, an environment.

Apart from :mod:`imlgit.bench.shapes` so the environments defined elsewhere
(:mod:`imlgit.bench.shapes_text`) can build on its base class without a cycle.
"""

from __future__ import annotations

from typing import Any

from .shapes import AttrEnv, MixedObject
from .shapes_reward import Bandit, BanditReward, NestedReward
from .shapes_text import SupportText

__all__ = ["ENVIRONMENTS", "make_environment"]

ENVIRONMENTS = (
    "support-text", "attr-text", "attr-flat", "nested-reward", "bandit", "bandit-reward",
    "mixed-object",
)  # fmt: skip


def make_environment(name: str, seed: int) -> Any:
    """The environment ``name`` drawn from ``seed``."""
    if name == "support-text":
        return SupportText(seed)
    if name in ("attr-text", "attr-flat"):
        return AttrEnv(seed, text=name == "attr-text")
    if name == "nested-reward":
        return NestedReward(seed)
    if name == "bandit":
        return Bandit(seed)
    if name == "bandit-reward":
        return BanditReward(seed)
    if name == "mixed-object":
        return MixedObject(seed)
    raise ValueError(f"unknown environment {name!r}; known: {', '.join(ENVIRONMENTS)}")
