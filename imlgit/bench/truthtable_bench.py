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

from collections.abc import Sequence
from pathlib import Path

from .cli_support import BenchOptions, parse_floats, parse_ints

CONDITIONS = ("majority", "covering-no-momentum", "covering", "hidden-rules")


def first_options(
    *,
    seeds: str = "0,1,2",
    train: int = 200,
    test: int = 1000,
    batch: int = 20,
    noise: str = "0,0.1",
    quick: bool = False,
    window: int | None = None,
    out: Path = Path("bench-results"),
) -> BenchOptions:
    """The BenchOptions the first command's options stand for: ``train`` experiences
    in batches of ``batch``, the main results at the first ``noise`` level and a
    noise table over them all (comma-separated); ``quick``: one seed, at most 100
    experiences. ValueError names what is wrong."""
    seed_list = parse_ints(seeds)
    if quick:
        seed_list, train = seed_list[:1], min(train, 100)
    levels = parse_floats(noise) or (0.0,)
    return BenchOptions(
        seeds=seed_list,
        iterations=max(1, -(-train // batch)),
        batch=batch,
        test=test,
        noise=levels[0],
        noise_levels=levels,
        difficulty=(),
        conditions=CONDITIONS,
        window=window,
        out=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The first command line (:func:`imlgit.cli.bench.first`, the CLI's framework)."""
    from ..cli.bench import first_main

    return first_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
