"""Benchmarks: environments (truth table, tickets), the learning harness and scale.

Entry points: :func:`run_truth_table`, :func:`run_tickets` and :func:`run_scale`
(``imlgit bench ...`` and ``python -m imlgit.bench ...`` call them). Importing this
package imports no model library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BenchOptions", "ScaleOptions", "run_scale", "run_tickets", "run_truth_table"]

if TYPE_CHECKING:
    from .cli_support import BenchOptions, ScaleOptions, run_scale, run_tickets, run_truth_table


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import cli_support

        return getattr(cli_support, name)
    raise AttributeError(name)
