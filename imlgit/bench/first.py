"""The options of the truth-table benchmark's first command line
(``python -m imlgit.bench.truthtable_bench``, :mod:`imlgit.bench.truthtable_bench`)."""

from __future__ import annotations

from pathlib import Path

from .options import BenchOptions, parse_floats, parse_ints

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
