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

from .first import CONDITIONS, first_options

__all__ = ["CONDITIONS", "first_options", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The first command line (:func:`imlgit.cli.bench.first`, the CLI's framework)."""
    from ..cli.bench import first_main

    return first_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
