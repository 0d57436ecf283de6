"""A text environment: support tickets, escalated, refunded or routine.

Each ticket is a sentence or three assembled from word lists (customer tier,
region, product, problem, tone) in one of several templates. A hidden policy, a
seeded decision list of phrase conditions (``contains`` / ``lacks``), decides the
class; what the policy does not catch is ROUTINE. Same interface as
:class:`~imlgit.bench.truthtable.TruthTable`, but the input is a string.
"""

from __future__ import annotations

import random
from collections import Counter

from ..conditions import Condition, matches
from ..experience import Experience
from .truthtable import decision_list_to_rules, sample_experiences

SCOPE = "tickets"
ESCALATE, REFUND, ROUTINE = "ESCALATE", "REFUND", "ROUTINE"
CLASSES: tuple[str, ...] = (ESCALATE, REFUND, ROUTINE)
MAX_SHARE = 0.6

# slot -> (key phrase a condition tests, how a ticket says it)
SLOTS: dict[str, tuple[tuple[str, str], ...]] = {
    "tier": (
        ("free", "free"),
        ("basic", "basic"),
        ("premium", "premium"),
        ("enterprise", "enterprise"),
    ),
    "region": (
        ("Canada", "Canada"),
        ("Norway", "Norway"),
        ("Brazil", "Brazil"),
        ("Japan", "Japan"),
        ("Kenya", "Kenya"),
    ),
    "product": (
        ("router", "router"),
        ("mobile app", "mobile app"),
        ("invoice portal", "invoice portal"),
        ("thermostat", "thermostat"),
        ("headset", "headset"),
    ),
    "problem": (
        ("stopped working", "stopped working"),
        ("charged twice", "was charged twice"),
        ("damaged", "arrived damaged"),
        ("crashing", "keeps crashing"),
        ("slow", "is painfully slow"),
        ("lost", "lost all my files"),
    ),
    "tone": (
        ("thanks", "Thanks in advance."),
        ("please help", "Please help."),
        ("unacceptable", "This is unacceptable!"),
        ("lawyer", "My lawyer will hear about this."),
        ("whenever", "Whenever you can."),
    ),
}
_GREETINGS = ("Hi,", "Hello,", "Dear support,", "Hey there,", "Good morning,")
_TIER_FORMS = ("I am on the {} plan", "{} plan customer here", "we pay for the {} plan")
_REGION_FORMS = ("writing from {}", "based in {}", "located in {}")
_TEMPLATES = (
    "{greeting} {tier}, {region}. My {product} {problem}. {tone}",
    "{greeting} my {product} {problem}. {Tier}, {region}. {tone}",
    "{tone} {greeting} the {product} {problem} ({tier}, {region}).",
)

Clause = tuple[tuple[Condition, ...], str]


class Tickets:
    """Support tickets under a seeded hidden policy of phrase conditions.

    ``clauses`` phrase clauses (one or two conditions each, on different slots)
    lead to ESCALATE or REFUND, both used; other tickets are ROUTINE. The draw is
    repeated from the same seed until every clause decides some tickets and no
    class takes more than 60% of them.
    """

    def __init__(self, clauses: int = 3, seed: int = 0) -> None:
        if clauses < 2:
            raise ValueError("need at least two clauses (one ESCALATE, one REFUND)")
        self.seed = seed
        self.classes = CLASSES
        rng = random.Random(f"tickets:{seed}")
        probe = [self.random_text(rng) for _ in range(1500)]
        best: tuple[float, list[Clause]] | None = None
        for _ in range(300):
            drawn = self._draw(rng, clauses)
            share = self._check(drawn, probe)
            if share is not None and (best is None or share < best[0]):
                best = (share, drawn)
                if share <= MAX_SHARE:
                    break
        if best is None:
            raise ValueError("cannot draw a hidden policy with these parameters")
        self.clauses: list[Clause] = best[1]
        self.default = ROUTINE

    def _draw(self, rng: random.Random, clauses: int) -> list[Clause]:
        out: list[Clause] = []
        for i in range(clauses):
            slots = rng.sample(sorted(SLOTS), rng.choice((1, 2, 2)))
            conds: list[Condition] = []
            for j, slot in enumerate(slots):
                key = rng.choice(SLOTS[slot])[0]
                op = "lacks" if j == 1 and rng.random() < 0.3 else "contains"
                conds.append(Condition(None, op, key))
            out.append((tuple(conds), (ESCALATE, REFUND)[i % 2]))
        return out

    @staticmethod
    def _check(clauses: list[Clause], probe: list[str]) -> float | None:
        """The largest class share over the probe tickets, or None if a clause is idle."""
        used = [0] * len(clauses)
        counts: Counter[str] = Counter()
        n = len(probe)
        for text in probe:
            for i, (conds, then) in enumerate(clauses):
                if matches(conds, text):
                    used[i] += 1
                    counts[then] += 1
                    break
            else:
                counts[ROUTINE] += 1
        if min(used) < n // 50:
            return None
        return max(counts.values()) / n

    @staticmethod
    def random_text(rng: random.Random) -> str:
        """One ticket, its slots and template drawn from ``rng``."""
        tier = rng.choice(_TIER_FORMS).format(rng.choice(SLOTS["tier"])[1])
        parts = {
            "greeting": rng.choice(_GREETINGS),
            "tier": tier,
            "Tier": tier[0].upper() + tier[1:],
            "region": rng.choice(_REGION_FORMS).format(rng.choice(SLOTS["region"])[1]),
            "product": rng.choice(SLOTS["product"])[1],
            "problem": rng.choice(SLOTS["problem"])[1],
            "tone": rng.choice(SLOTS["tone"])[1],
        }
        return rng.choice(_TEMPLATES).format(**parts)

    def classify(self, input: str) -> str:
        """The class the hidden policy gives a ticket."""
        for conds, then in self.clauses:
            if matches(conds, input):
                return then
        return self.default

    def hidden_rules(self) -> list[tuple[tuple[Condition, ...], str]]:
        """The hidden policy as checkable rules that ``choose`` applies exactly."""
        return decision_list_to_rules(self.clauses, self.default)

    def sample(self, n: int, rng_seed: int, noise: float = 0.0) -> list[Experience]:
        """``n`` tickets; ``expected`` is flipped to another class with probability
        ``noise``; ``output`` is a naive agent's random guess, rewarded when right."""
        rng = random.Random(f"tickets:{self.seed}:sample:{rng_seed}")
        return sample_experiences(
            n,
            rng,
            self.random_text,
            self.classify,
            CLASSES,
            noise,
            prefix=f"tk-{rng_seed}",
            scope=SCOPE,
        )

    def train_test(
        self, n_train: int, n_test: int, seed: int, noise: float = 0.0
    ) -> tuple[list[Experience], list[Experience]]:
        """A training sample (with ``noise``) and a clean test sample, disjoint in ids."""
        return (
            self.sample(n_train, rng_seed=2 * seed, noise=noise),
            self.sample(n_test, rng_seed=2 * seed + 1),
        )
