"""``python -m imlgit.bench truth-table|tickets|scale ...``: the benchmarks without the
CLI (the same options as ``imlgit bench``)."""

from __future__ import annotations

from .cli_support import main

if __name__ == "__main__":
    raise SystemExit(main())
