"""The truth-table environment of the In-Memory Learning paper.

Inputs are ``n`` yes/no attributes with invented names; a hidden decision list of
conjunctive clauses (plus a default) gives the class, also invented. The words
mean nothing, so a model cannot answer from prior knowledge: only rules learned
from the experiences help.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..conditions import Condition, Scalar, matches, negate
from ..experience import Experience, InputValue, Outcome

SCOPE = "truth-table"
ATTRIBUTE_WORDS: tuple[str, ...] = (
    "glimmer", "tansy", "marrow", "quillet", "brindle", "fennow", "sorrel", "wicket",
    "dapple", "thrum", "pellow", "cravel", "noddle", "skerry", "tolley", "umber",
    "cobble", "faddle", "mirkle", "spindrel",
)  # fmt: skip
CLASS_WORDS: tuple[str, ...] = (
    "LUMEN", "VESPER", "CINDER", "HALCYON", "NIMBUS", "ORRERY", "TALLOW", "ZEPHYR",
)  # fmt: skip
VALUES = ("yes", "no")
MAX_SHARE = 0.55
"""No class may take more than this share of inputs, so guessing one cannot do well."""

Clause = tuple[tuple[Condition, ...], str]


def _flip(cond: Condition) -> Condition:
    """The negation of ``attribute = yes`` is ``attribute = no``, and back."""
    return Condition(cond.field, "=", "no" if cond.value == "yes" else "yes")


class TruthTable:
    """A seeded hidden decision list over yes/no attributes.

    ``clauses`` conjunctions of ``literals`` attribute tests each map to a class;
    an input no clause matches gets the default class. The draw is repeated (from
    the same seed) until every clause decides some inputs, the clauses do not all
    share one class, the default differs from at least one clause, and no class
    takes more than 55% of inputs.
    """

    def __init__(
        self,
        n_attributes: int = 10,
        n_classes: int = 4,
        clauses: int = 3,
        literals: int = 2,
        seed: int = 0,
    ) -> None:
        if not 1 <= n_attributes <= len(ATTRIBUTE_WORDS):
            raise ValueError(f"n_attributes must be 1..{len(ATTRIBUTE_WORDS)}")
        if not 2 <= n_classes <= len(CLASS_WORDS):
            raise ValueError(f"n_classes must be 2..{len(CLASS_WORDS)}")
        if clauses < 1 or not 1 <= literals <= n_attributes:
            raise ValueError("need clauses >= 1 and 1 <= literals <= n_attributes")
        self.n_attributes = n_attributes
        self.n_classes = n_classes
        self.seed = seed
        self.attributes: tuple[str, ...] = ATTRIBUTE_WORDS[:n_attributes]
        self.classes: tuple[str, ...] = CLASS_WORDS[:n_classes]
        rng = random.Random(f"truth-table:{seed}")
        best: tuple[float, list[Clause], str] | None = None
        for _ in range(200):
            clause_list, default = self._draw(rng, clauses, literals)
            share = self._check(clause_list, default, rng)
            if share is not None and (best is None or share < best[0]):
                best = (share, clause_list, default)
                if share <= MAX_SHARE:
                    break
        if best is None:
            raise ValueError("cannot draw a hidden rule with these parameters")
        self.clauses: list[Clause] = best[1]
        self.default: str = best[2]

    def _draw(self, rng: random.Random, clauses: int, literals: int) -> tuple[list[Clause], str]:
        order = list(self.classes)
        rng.shuffle(order)
        out: list[Clause] = []
        for i in range(clauses):
            names = rng.sample(self.attributes, literals)
            conds = tuple(Condition(a, "=", rng.choice(VALUES)) for a in names)
            out.append((conds, order[i % len(order)]))
        default = order[clauses] if clauses < len(order) else order[-1]
        return out, default

    def _check(self, clauses: list[Clause], default: str, rng: random.Random) -> float | None:
        """The largest class share over sampled inputs, or None if the draw is unfit."""
        thens = {t for _, t in clauses}
        if len(clauses) > 1 and len(thens) == 1:
            return None
        if thens == {default}:
            return None
        probe = random.Random(rng.random())
        used = [0] * len(clauses)
        counts: Counter[str] = Counter()
        n = 4000
        for _ in range(n):
            inp = {a: probe.choice(VALUES) for a in self.attributes}
            for i, (conds, then) in enumerate(clauses):
                if matches(conds, inp):
                    used[i] += 1
                    counts[then] += 1
                    break
            else:
                counts[default] += 1
        if min(used) == 0:
            return None
        return max(counts.values()) / n

    def classify(self, input: Mapping[str, str | int | float | bool]) -> str:
        """The true class of an input (the hidden decision list)."""
        for conds, then in self.clauses:
            if matches(conds, input):
                return then
        return self.default

    def hidden_rules(self) -> list[tuple[tuple[Condition, ...], str]]:
        """The hidden rule as checkable rules that :func:`~imlgit.conditions.choose` applies
        exactly: each clause without the earlier clauses of other classes, then the default
        (no conditions)."""
        return decision_list_to_rules(self.clauses, self.default, negation=_flip)

    def random_input(self, rng: random.Random) -> dict[str, InputValue]:
        """Each attribute yes or no at random."""
        return {a: rng.choice(VALUES) for a in self.attributes}

    def sample(self, n: int, rng_seed: int, noise: float = 0.0) -> list[Experience]:
        """``n`` experiences with random inputs.

        ``outcome.expected`` is the true class, replaced by another class with
        probability ``noise``; ``output`` is a naive agent's random guess, rewarded
        1.0 when it equals ``expected``.
        """
        rng = random.Random(f"truth-table:{self.seed}:sample:{rng_seed}")
        return sample_experiences(
            n,
            rng,
            self.random_input,
            self.classify,
            self.classes,
            noise,
            prefix=f"tt-{rng_seed}",
            scope=SCOPE,
        )

    def train_test(
        self, n_train: int, n_test: int, seed: int, noise: float = 0.0
    ) -> tuple[list[Experience], list[Experience]]:
        """A training sample (with ``noise``) and a clean test sample, disjoint in ids."""
        train = self.sample(n_train, rng_seed=2 * seed, noise=noise)
        test = self.sample(n_test, rng_seed=2 * seed + 1)
        return train, test


def _contradicts(conds: Sequence[Condition]) -> bool:
    present = set(conds)
    if any(negate(c) in present for c in conds):
        return True
    equal: dict[str | None, Scalar] = {}
    for c in conds:
        if c.op == "=":
            if c.field in equal and equal[c.field] != c.value:
                return True
            equal[c.field] = c.value
    return False


def decision_list_to_rules(
    clauses: Sequence[tuple[Sequence[Condition], str]],
    default: str | None = None,
    *,
    negation: Callable[[Condition], Condition] = negate,
) -> list[tuple[tuple[Condition, ...], str]]:
    """Rewrite an ordered decision list as rules that :func:`choose` applies correctly.

    Clause ``i`` becomes one rule per way of failing each earlier clause of another
    class (a negated condition added), so rules of different classes never overlap
    on inputs that have every field; ``default`` becomes a rule with no conditions.
    ``negation`` maps a condition to its opposite (for yes/no attributes, pass one
    that turns ``a = yes`` into ``a = no``).
    """
    out: list[tuple[tuple[Condition, ...], str]] = []
    for i, (clause, then) in enumerate(clauses):
        pieces: list[tuple[Condition, ...]] = [tuple(clause)]
        for earlier, earlier_then in clauses[:i]:
            if earlier_then == then:
                continue
            grown: list[tuple[Condition, ...]] = []
            for piece in pieces:
                if _contradicts(tuple(piece) + tuple(earlier)):
                    grown.append(piece)
                    continue
                for cond in earlier:
                    if cond in piece:
                        continue
                    candidate = piece + (negation(cond),)
                    if not _contradicts(candidate):
                        grown.append(candidate)
            pieces = _minimal(grown)
        out.extend((piece, then) for piece in pieces)
    if default is not None:
        out.append(((), default))
    return out


def _minimal(pieces: list[tuple[Condition, ...]]) -> list[tuple[Condition, ...]]:
    kept: list[tuple[Condition, ...]] = []
    for piece in pieces:
        s = set(piece)
        if any(set(k) <= s for k in kept):
            continue
        kept = [k for k in kept if not s <= set(k)]
        kept.append(piece)
    return kept


def sample_experiences(
    n: int,
    rng: random.Random,
    make_input: Callable[[random.Random], Any],
    classify: Callable[[Any], str],
    classes: Sequence[str],
    noise: float,
    *,
    prefix: str,
    scope: str,
) -> list[Experience]:
    """``n`` experiences of an environment: a random input, the true class as
    ``outcome.expected`` (replaced by another class with probability ``noise``), and
    a naive agent's random guess as ``output``, rewarded 1.0 when it was right."""
    if not 0.0 <= noise <= 1.0:
        raise ValueError("noise is a probability")
    out: list[Experience] = []
    for i in range(n):
        inp = make_input(rng)
        expected = classify(inp)
        if noise and rng.random() < noise:
            expected = rng.choice([c for c in classes if c != expected])
        guess = rng.choice(list(classes))
        out.append(
            Experience(
                id=f"{prefix}-{i:05d}",
                scope=scope,
                input=inp,
                output=guess,
                outcome=Outcome(expected=expected, reward=1.0 if guess == expected else 0.0),
            )
        )
    return out
