"""Environments logged with reward only: a nested CI record whose one action works or
fails (:class:`NestedReward`), and a contextual bandit whose routes pay or not
(:class:`Bandit`, :class:`BanditReward` with rewards as numbers). The shared parts
(the facts view, the decision lists, :class:`~imlgit.bench.shapes.Environment`)
are in :mod:`imlgit.bench.shapes`."""

from __future__ import annotations

import random
from typing import Any

from ..conditions import FAILS, WORKS, Condition
from .shapes import (
    Environment,
    Rules,
    _decide,
    _draw_decision_list,
)

__all__ = ["ACTION", "Bandit", "BanditReward", "NestedReward"]
from .truthtable import decision_list_to_rules

# --------------------------------------------------------------------------- nested, reward only

TOOLS = ("grell", "mave", "torsk", "pindle")
BRANCHES = ("main", "trunk-vell", "feat-orin", "rel-qasp")
FILES = (
    "Quarnfile", "vell.lock", "src/orin.py", "README.md", "docs/qasp.md",
    "build.zeph", "src/mave/core.py", "tests/test_grell.py", "ci/pindle.yml",
)  # fmt: skip
CI_STATUS = ("green", "red", "pending")
CHECKS = ("lint", "unit", "e2e", "zeph-scan", "orin-audit")
TARGETS = ("staging-ost", "prod-ost", "sandbox")
ACTION = "kestrel ship --now"


class NestedReward(Environment):
    """A nested tool call; the agent always runs :data:`ACTION`; a reward says if it worked.

    A hidden list of failure contexts (nested paths, array membership and length)
    decides the reward; 5% of training rewards are flipped (flaky CI). Held-out
    experiences are reward-only too, never flaky: scored by whether the rules
    predict the reward.
    """

    name = "nested-reward"
    classes = (ACTION,)
    logged = True
    noise = 0.05
    scored_by = "do the rules predict the reward"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        rng = random.Random(f"nested-reward:{seed}")
        atoms = [
            Condition("repo.protected", "=", "yes"),
            Condition("tool.args.force", "=", "yes"),
            Condition("ci.status", "=", "red"),
            Condition("ci.status", "!=", "green"),
            Condition("ci.checks", "=", "orin-audit"),
            Condition("ci.checks", "!=", "unit"),
            Condition("repo.files", "=", "vell.lock"),
            Condition("repo.files.length", ">", 5),
            Condition("ci.checks.length", "<", 2),
            Condition("repo.branch", "=", rng.choice(BRANCHES[1:])),
            Condition("tool.name", "=", rng.choice(TOOLS)),
            Condition("tool.args.depth", ">=", 4),
            Condition("tool.args.target", "=", "prod-ost"),
        ]
        n = rng.choice((2, 3))
        # success about 80% of the time, as in a real agent's log
        self.fail_clauses, _ = _draw_decision_list(
            rng,
            atoms,
            [FAILS] * n,
            WORKS,
            self.random_facts,
            clauses=n,
            max_share=0.88,
            min_share=0.04,
            sizes=(2, 2, 1),
            default_share=(0.74, 0.88),
        )

    def random_facts(self, rng: random.Random) -> dict[str, Any]:
        args: dict[str, Any] = {"force": rng.random() < 0.3, "depth": rng.randint(1, 5)}
        if rng.random() < 0.8:
            args["target"] = rng.choice(TARGETS)
        files = rng.sample(FILES, rng.randint(1, 8))
        checks = [c for c in CHECKS if rng.random() < 0.5]
        return {
            "tool": {"name": rng.choice(TOOLS), "args": args},
            "repo": {
                "branch": rng.choice(BRANCHES),
                "protected": rng.random() < 0.35,
                "files": files,
            },
            "ci": {"status": rng.choice(CI_STATUS), "checks": checks},
        }

    def oracle(self, facts: Any, output: str | None = ACTION) -> str:
        if output != ACTION:
            return FAILS  # only the one action is ever taken
        return _decide(self.fail_clauses, WORKS, facts)

    def hidden_rules(self) -> Rules:
        """Outcome rules: each failure context with ``output = ACTION`` fails; the action
        alone (fewer conditions, so it decides only elsewhere) works."""
        act = Condition("output", "=", ACTION)
        out: Rules = [((act, *conds), FAILS) for conds, _ in self.fail_clauses]
        out.append(((act,), WORKS))
        return out

    def sample(self, n: int, rng_seed: int, noise: float = 0.0) -> list[dict[str, Any]]:
        """Reward-only experiences: ``output`` is always :data:`ACTION`, ``outcome`` only
        ``{"reward": 0 or 1}``, flipped with probability ``noise``."""
        rng = self._rng(rng_seed)
        out = []
        for i in range(n):
            inp = self.random_facts(rng)
            works = self.oracle(inp, ACTION) == WORKS
            self.truth[self._id(rng_seed, i)] = WORKS if works else FAILS
            if noise and rng.random() < noise:
                works = not works
            out.append(
                {
                    "id": self._id(rng_seed, i),
                    "scope": self.name,
                    "input": inp,
                    "output": ACTION,
                    "outcome": {"reward": 1 if works else 0},
                }
            )
        return out

    def describe(self) -> str:
        clauses = " or ".join(
            "(" + " and ".join(f"{c.field} {c.op} {c.value}" for c in conds) + ")"
            for conds, _ in self.fail_clauses
        )
        return (
            f"nested JSON (tool, repo, ci); the agent always runs {ACTION!r}; reward-only, "
            f"{self.noise:.0%} flaky in training; it fails when {clauses}"
        )


# --------------------------------------------------------------------------- bandit

ROUTES = ("korrin", "vashti", "oldmere", "pyle", "quist")
TIERS = ("ember", "slate", "opal")
CHANNELS = ("phone", "chat", "mail")
REGIONS = ("north-vell", "south-vell", "orinmark", "the-qasp")


class Bandit(Environment):
    """A flat context; the agent picks one of five routes uniformly at random and the
    environment answers only with a reward (1 for the hidden best route, else 0).

    Training is reward-only; held-out experiences carry the best route as
    ``expected``, so the policy is scored as "is the answer right".
    """

    name = "bandit"
    classes = ROUTES
    logged = True
    scored_by = "is the answer (the best route) right"

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        rng = random.Random(f"bandit:{seed}")
        order = list(ROUTES)
        rng.shuffle(order)
        atoms = [
            *(Condition("tier", "=", t) for t in TIERS),
            *(Condition("channel", "=", c) for c in CHANNELS),
            *(Condition("region", "=", r) for r in REGIONS[:2]),
            Condition("queue", ">", rng.choice((12, 18, 24))),
            Condition("hour", "<", rng.choice((9, 12))),
        ]
        self.clauses, self.default = _draw_decision_list(
            rng, atoms, order[:4], order[4], self.random_facts, clauses=4, max_share=0.45,
        )  # fmt: skip

    def random_facts(self, rng: random.Random) -> dict[str, Any]:
        return {
            "tier": rng.choice(TIERS),
            "channel": rng.choice(CHANNELS),
            "region": rng.choice(REGIONS),
            "queue": rng.randint(0, 40),
            "hour": rng.randint(0, 23),
        }

    def oracle(self, facts: Any, output: str | None = None) -> str:
        return _decide(self.clauses, self.default, facts)

    def hidden_rules(self) -> Rules:
        return decision_list_to_rules(self.clauses, self.default)

    def sample(self, n: int, rng_seed: int, noise: float = 0.0) -> list[dict[str, Any]]:
        """Reward-only: a random route as ``output``, ``{"reward": 1}`` when it was best."""
        rng = self._rng(rng_seed)
        out = []
        for i in range(n):
            inp = self.random_facts(rng)
            route = rng.choice(ROUTES)
            self.truth[self._id(rng_seed, i)] = self.oracle(inp)
            out.append(
                {
                    "id": self._id(rng_seed, i),
                    "scope": self.name,
                    "input": inp,
                    "output": route,
                    "outcome": {"reward": 1 if route == self.oracle(inp) else 0},
                }
            )
        return out

    def held_out(self, n: int, rng_seed: int) -> list[dict[str, Any]]:
        """The best route as ``expected`` (the policy is scored), a random route as output."""
        return Environment.sample(self, n, rng_seed)

    def describe(self) -> str:
        return (
            "a flat context (tier, channel, region, queue, hour); 5 routes picked at random, "
            "reward-only training (1 for the hidden best route); held-out: the best route"
        )


class BanditReward(Bandit):
    """The bandit scored the other way: held-out experiences are reward-only too (a
    random route and its reward), scored by whether the rules predict the reward.
    A random route is mostly wrong, so always predicting failure scores about 80%."""

    name = "bandit-reward"
    scored_by = "do the rules predict the reward"

    def held_out(self, n: int, rng_seed: int) -> list[dict[str, Any]]:
        return self.sample(n, rng_seed)

    def describe(self) -> str:
        return (
            "the bandit's contexts and reward-only training; held-out: a random route and "
            "its reward"
        )
