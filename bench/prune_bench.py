"""Pruning benchmark: remove half the rules by importance, and see what accuracy costs.

    python bench/prune_bench.py                  # seeds 0,1,2
    python bench/prune_bench.py --seeds 0 --noise 0.2

A memory holds the rules of the agent's current task (the learner that needs no
model, with its defaults, on a noisy truth table) and the rules of two tasks it
no longer does (other truth tables, learned the same way two years earlier).
(`--scenario in-use`: only a careless learner's narrow rules of the current task,
every one of them in use.) Then an agent works: it answers a stream of questions
with checked inference; each answer is logged the way `ask` logs it (usage.jsonl)
and recorded as an experience naming the rules it cited, with the environment's
verdict (outcome credit). imlgit's importance ranks the
rules from those files, the lower half is retired, and held-out accuracy is
measured before and after, beside two controls: retiring a random half, and
retiring the half with the least support alone.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imlgit import hygiene  # noqa: E402
from imlgit.bench.truthtable import TruthTable  # noqa: E402
from imlgit.commits import CommitMessage, Identity  # noqa: E402
from imlgit.conditions import matches  # noqa: E402
from imlgit.experience import Experience  # noqa: E402
from imlgit.infer import checked_answer, evaluate  # noqa: E402
from imlgit.learn import Learning, LearnSettings  # noqa: E402
from imlgit.learners.rulelearner import CoveringLearner  # noqa: E402
from imlgit.rules import Rule, render_rule  # noqa: E402
from imlgit.store import Store  # noqa: E402

BENCH = Identity("imlgit bench", "bench@bench.example")  # a person's stand-in


def accuracy(rules: list[Rule], test: list[Experience]) -> float:
    return evaluate([r for r in rules if r.status == "active"], test).accuracy


def run(
    seed: int, noise: float, n_train: int, n_work: int, n_test: int, scenario: str = "stale"
) -> dict[str, object]:
    env = TruthTable(seed=seed)
    train = env.sample(n_train, seed * 1000 + 1, noise=noise)
    work = env.sample(n_work, seed * 1000 + 2)
    test = env.sample(n_test, seed * 1000 + 3)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.init(Path(tmp) / "m", author=BENCH, install_hooks=False)
        if scenario == "in-use":
            # every rule in use: a careless learner's narrow rules, each deciding a little
            careless = CoveringLearner(min_coverage=1, min_precision=0.99, max_conditions=6)
            settings = LearnSettings(batch=20, momentum=0.0, min_coverage=1, min_precision=0.5)
            Learning(store, careless, settings=settings).learn(train)
        else:
            # the rules that matter: the learner that needs no model, with its defaults
            Learning(store, CoveringLearner(), settings=LearnSettings(batch=20)).learn(train)
        for k in (1, 2) if scenario == "stale" else ():
            old_env = TruthTable(seed=seed + 100 * k)
            old_train = [
                Experience.from_dict({**e.to_dict(), "scope": f"truth-table-v{k}"})
                for e in old_env.sample(n_train, seed * 1000 + 3 + k, noise=noise)
            ]
            Learning(store, CoveringLearner(), settings=LearnSettings(batch=20)).learn(old_train)
        aged = {
            r.path: render_rule(r.with_changes(updated="2024-11-01T00:00:00Z")).encode()
            for r in store.read_rules().values()
            if r.scope.startswith("truth-table-v")
        }
        if aged:
            store.commit(aged, CommitMessage.make("edit", "age", "Two years old."), author=BENCH)
        rules = [r for r in store.read_rules().values() if r.status == "active"]
        # the agent at work: usage log and experiences that name the cited rules
        usage, recorded = [], []
        for i, exp in enumerate(work):
            mine = [r for r in rules if r.scope == exp.scope]  # as `ask --scope` does
            hit = checked_answer(mine, exp.input)
            cited = [hit[1].id] if hit else []
            considered = [r.id for r in mine if matches(r.when or (), exp.input)]
            usage.append({"retrieved": considered[:8], "cited": cited})
            d = {"id": f"w-{i}", "scope": exp.scope, "input": exp.input,
                 "outcome": {"expected": exp.label}, "rules": cited}
            if hit:
                d["output"] = hit[0]
            recorded.append(Experience.from_dict(d))
        (store.derived_dir / "usage.jsonl").write_text(
            "".join(json.dumps(u) + "\n" for u in usage)
        )
        store.commit(
            {"experiences/wk/work.jsonl": "".join(e.to_json() + "\n" for e in recorded).encode()},
            CommitMessage.make("experiences", "the agent's answers", "Outcome credit."),
            author=BENCH,
        )
        retrieved, cited = hygiene.usage_counts(store)
        right, wrong = hygiene.outcome_credit(hygiene.stored_experiences(store))
        ranked = hygiene.importance(rules, retrieved=retrieved, cited=cited, right=right,
                                    wrong=wrong)
        half = len(rules) // 2
        by_importance = {i.rule_id for i in hygiene.plan_prune(ranked, max_rules=len(rules) - half)}
        by_support = {r.id for r in sorted(rules, key=lambda r: (r.support, r.id))[:half]}
        rng = random.Random(seed)
        at_random = set(rng.sample([r.id for r in rules], half))

        def without(ids: set[str]) -> float:
            return accuracy([r for r in rules if r.id not in ids], test)

        gone = by_importance
        return {
            "seed": seed,
            "rules": len(rules),
            "current": sum(r.scope == "truth-table" for r in rules),
            "current_retired": sum(1 for r in rules if r.id in gone and r.scope == "truth-table"),
            "retired": half,
            "before": accuracy(rules, test),
            "importance": without(by_importance),
            "support_only": without(by_support),
            "random": without(at_random),
        }


@click.command(help=__doc__.split("\n")[0])
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--noise", type=float, default=0.1, show_default=True)
@click.option("--train", type=int, default=400, show_default=True)
@click.option(
    "--work",
    type=int,
    default=1000,
    show_default=True,
    help="questions the agent answers",
)
@click.option("--test", type=int, default=1000, show_default=True)
@click.option(
    "--scenario",
    type=click.Choice(("stale", "in-use")),
    default="stale",
    show_default=True,
    help="stale: rules of two tasks no longer done beside the current one; in-use: "
        "only a careless learner's narrow rules of the current task, all of them used",
)
def main(seeds: str, noise: float, train: int, work: int, test: int, scenario: str) -> None:
    t0 = time.perf_counter()
    print(f"scenario {scenario}: truth table, {train} training experiences with "
          f"{noise:.0%} noise; the agent answers {work}; held-out {test}")
    print("| seed | active rules (current task) | retired by importance (current task) | "
          "before | importance half | least support half | random half |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for seed in [int(s) for s in seeds.split(",")]:
        r = run(seed, noise, train, work, test, scenario)
        rows.append(r)
        print(f"| {seed} | {r['rules']} ({r['current']}) | {r['retired']} "
              f"({r['current_retired']}) | {r['before']:.1%} | "
              f"{r['importance']:.1%} | {r['support_only']:.1%} | {r['random']:.1%} |")
    drop = max(float(r["before"]) - float(r["importance"]) for r in rows)  # type: ignore[arg-type]
    print(f"largest accuracy drop from pruning half by importance: {drop * 100:.1f} points "
          f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
