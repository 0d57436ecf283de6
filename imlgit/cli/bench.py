"""``imlgit bench``: the benchmarks of imlgit.bench."""

from __future__ import annotations

import click


@click.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args: tuple[str, ...]) -> None:
    """Benchmarks: truth-table, tickets, shapes, scale (imlgit bench shapes --help).

    Writes JSON, a Markdown table and a PNG learning curve; --quick for a smoke
    test; --base-url/--model to run the language-model conditions on an endpoint.
    """
    from ..bench.cli_support import main as bench_main

    raise SystemExit(bench_main(list(args), prog="imlgit bench"))

