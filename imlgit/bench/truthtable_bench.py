"""The truth-table benchmark: learning curves per condition, several seeds.

    python -m imlgit.bench.truthtable_bench                 # 3 seeds, clean and 10% noise
    python -m imlgit.bench.truthtable_bench --quick         # 1 seed, fewer experiences

Prints a learning curve and a table (mean and spread over seeds), and writes
JSON (and a PNG when matplotlib is installed) with ``--out DIR``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..learners.rulelearner import CoveringLearner
from .harness import RunResult, run_condition
from .truthtable import TruthTable

DEFAULT_CONDITIONS = ("majority", "covering-no-momentum", "covering", "hidden-rules")


def run(
    *,
    seeds: Sequence[int],
    noise: float,
    n_train: int,
    n_test: int,
    batch: int,
    conditions: Sequence[str] = DEFAULT_CONDITIONS,
    attributes: int = 10,
    classes: int = 4,
    clauses: int = 3,
    literals: int = 2,
    window: int | None = None,
) -> list[RunResult]:
    results = []
    for seed in seeds:
        env = TruthTable(
            n_attributes=attributes,
            n_classes=classes,
            clauses=clauses,
            literals=literals,
            seed=seed,
        )
        train = env.sample(n_train, seed * 1000 + 1, noise=noise)
        test = env.sample(n_test, seed * 1000 + 2)
        for cond in conditions:
            learner = CoveringLearner(window=window)
            results.append(
                run_condition(
                    cond,
                    train,
                    test,
                    seed=seed,
                    batch=batch,
                    hidden=env.hidden_rules(),
                    learner=learner,
                )
            )
    return results


def _mean_sd(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0] * 100:5.1f}%"
    return f"{statistics.mean(values) * 100:5.1f}% ± {statistics.pstdev(values) * 100:4.1f}"


def table(results: Sequence[RunResult], title: str) -> str:
    conds = list(dict.fromkeys(r.condition for r in results))
    lines = [
        f"### {title}",
        "",
        "| condition | final accuracy | oscillations | rules |",
        "|---|---|---|---|",
    ]
    for c in conds:
        rs = [r for r in results if r.condition == c]
        osc = [r.oscillations for r in rs]
        rules = [r.iterations[-1].rules for r in rs]
        lines.append(
            f"| {c} | {_mean_sd([r.final for r in rs])} | "
            f"{statistics.mean(osc):.1f} | {statistics.mean(rules):.1f} |"
        )
    return "\n".join(lines)


def curve(results: Sequence[RunResult]) -> str:
    conds = list(dict.fromkeys(r.condition for r in results))
    seen = [it.seen for it in results[0].iterations]
    head = "experiences " + " ".join(f"{c[:22]:>22}" for c in conds)
    rows = [head]
    for i, n in enumerate(seen):
        cells = []
        for c in conds:
            accs = [r.iterations[i].accuracy for r in results if r.condition == c]
            cells.append(f"{statistics.mean(accs) * 100:21.1f}%")
        rows.append(f"{n:>11} " + " ".join(cells))
    return "\n".join(rows)


def plot(results: Sequence[RunResult], path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for c in dict.fromkeys(r.condition for r in results):
        rs = [r for r in results if r.condition == c]
        xs = [it.seen for it in rs[0].iterations]
        ys = [statistics.mean(r.iterations[i].accuracy for r in rs) * 100 for i in range(len(xs))]
        ax.plot(xs, ys, marker="o", markersize=3, label=c)
    ax.set_xlabel("experiences learned from")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="imlgit truth-table benchmark")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--noise", default="0,0.1", help="comma-separated shares of flipped outcomes")
    ap.add_argument("--quick", action="store_true", help="one seed, 100 experiences")
    ap.add_argument(
        "--window",
        type=int,
        help="the no-model learner induces from the batch and this many stored experiences "
        "(default: all of them); verification always counts over all",
    )
    ap.add_argument("--out", type=Path, help="write JSON, Markdown and PNG here")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    n_train = args.train
    if args.quick:
        seeds, n_train = seeds[:1], min(n_train, 100)
    report = [
        f"truth table: 10 yes/no attributes, 4 classes, hidden decision list of 3 clauses; "
        f"{n_train} training experiences in batches of {args.batch}, {args.test} held-out; "
        f"seeds {','.join(map(str, seeds))}; induction window "
        f"{'all stored evidence' if args.window is None else args.window}"
    ]
    all_results: dict[str, list[dict[str, object]]] = {}
    for noise in [float(x) for x in args.noise.split(",")]:
        t0 = time.perf_counter()
        results = run(
            seeds=seeds,
            noise=noise,
            n_train=n_train,
            n_test=args.test,
            batch=args.batch,
            window=args.window,
        )
        title = f"noise {noise:.0%} (outcomes flipped in training)"
        report += [
            "",
            curve(results),
            "",
            table(results, title),
            f"({time.perf_counter() - t0:.1f} s)",
        ]
        all_results[f"noise={noise}"] = [r.to_dict() for r in results]
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            plot(
                results,
                args.out / f"truthtable-noise{int(noise * 100)}.png",
                f"truth table, noise {noise:.0%}, mean of {len(seeds)} seeds",
            )
    text = "\n".join(report)
    sys.stdout.write(text + "\n")
    if args.out:
        (args.out / "truthtable.json").write_text(json.dumps(all_results, indent=1))
        (args.out / "truthtable.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
