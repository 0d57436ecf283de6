"""The truth-table benchmark under its first name, with its first options.

    python -m imlgit.bench.truthtable_bench [--seeds 0,1,2] [--train 200] [--test 1000]
        [--batch 20] [--noise 0,0.1] [--window N] [--quick] [--out DIR]

runs :func:`imlgit.bench.cli_support.run_benchmark` with the conditions it always
ran (majority, covering-no-momentum, covering, hidden-rules), the main results at
the first noise level, a noise table over all of them and no difficulty table.
``imlgit bench truth-table`` (``python -m imlgit.bench truth-table``) is the full
benchmark; this keeps commands already written down working.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .cli_support import BenchOptions, parse_floats, parse_ints, run_benchmark

CONDITIONS = ("majority", "covering-no-momentum", "covering", "hidden-rules")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="imlgit truth-table benchmark (first options)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--noise", default="0,0.1", help="comma-separated shares of flipped outcomes")
    ap.add_argument("--quick", action="store_true", help="one seed, 100 experiences")
    ap.add_argument("--window", type=int)
    ap.add_argument("--out", type=Path, default=Path("bench-results"))
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    seeds = parse_ints(args.seeds)
    train = args.train
    if args.quick:
        seeds, train = seeds[:1], min(train, 100)
    levels = parse_floats(args.noise) or (0.0,)
    options = BenchOptions(
        seeds=seeds,
        iterations=max(1, -(-train // args.batch)),
        batch=args.batch,
        test=args.test,
        noise=levels[0],
        noise_levels=levels,
        difficulty=(),
        conditions=CONDITIONS,
        window=args.window,
        out=args.out,
    )
    paths = run_benchmark(options)
    sys.stdout.write(paths["markdown"].read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
