"""``python -m imlgit.bench truth-table|tickets|shapes|scale ...``: the benchmarks
without the rest of the CLI (the group of ``imlgit bench``, imlgit.cli.bench: the
command line is the CLI's, so the options are one definition in one framework)."""

from __future__ import annotations

from ..cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
