"""``imlgit bench``: the benchmarks of :mod:`imlgit.bench`, one subcommand each.

The options are those of :class:`~imlgit.bench.BenchOptions` (truth-table, tickets),
:class:`~imlgit.bench.shapes_run.ShapesOptions` and
:class:`~imlgit.bench.ScaleOptions`, with their defaults; lists are comma-separated
text. Each command writes its results into ``--out``, prints the Markdown on
stdout and the files written on stderr. ``python -m imlgit.bench`` is this group.
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import click

from .common import CONTEXT

__all__ = ["bench", "main"]

_PATH = click.Path(path_type=Path)


def _progress(text: str) -> None:
    click.echo(text, err=True)


def _finish(run: Callable[[], dict[str, Path]]) -> None:
    """Run a benchmark; a bad option value (ValueError) is a usage error naming it."""
    try:
        paths = run()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(paths["markdown"].read_text(encoding="utf-8"), nl=False)
    for kind, path in paths.items():
        click.echo(f"wrote {kind}: {path}", err=True)


class _Benchmarks(click.Group):
    """The group whose subcommands are made when first asked for: their defaults
    come from the option classes of imlgit.bench, which import numpy, so that every
    other command starts without it (``imlgit log`` stays fast)."""

    def _made(self) -> MutableMapping[str, click.Command]:
        if not self.commands:
            for command in _commands():
                self.add_command(command)
        return self.commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._made())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._made().get(cmd_name)


@click.group(cls=_Benchmarks, context_settings=CONTEXT)
def bench() -> None:
    """Benchmarks: truth-table, tickets, shapes, scale (imlgit bench shapes --help).

    Writes JSON, a Markdown table and a PNG learning curve; --quick for a smoke
    test; --base-url/--model to run the language-model conditions on an endpoint.
    """


def _learning_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of the truth-table and tickets benchmarks (BenchOptions)."""
    from ..bench.options import BenchOptions

    d = BenchOptions()
    options = [
        click.option("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)"),
        click.option("--iterations", type=int, default=d.iterations, show_default=True),
        click.option("--batch", type=int, default=d.batch, show_default=True),
        click.option("--test", type=int, default=d.test, show_default=True,
                     help="held-out experiences"),
        click.option("--noise", type=float, default=d.noise, show_default=True,
                     help="noise of the main results"),
        click.option("--noise-levels", default="0,0.1,0.2", show_default=True,
                     help="columns of the noise table"),
        click.option("--attributes", type=int, default=d.attributes, show_default=True),
        click.option("--classes", type=int, default=d.classes, show_default=True),
        click.option("--clauses", type=int, default=d.clauses, show_default=True),
        click.option("--literals", type=int, default=d.literals, show_default=True),
        click.option("--difficulty",
                     help="CLAUSESxLITERALSxATTRIBUTES,... (the difficulty table)"),
        click.option("--conditions", help="comma-separated names, or all, no-model, with-model"),
        click.option("--sweep-conditions", help="conditions of the noise and difficulty tables"),
        click.option("--momentum", type=float, default=d.momentum, show_default=True),
        click.option("--window", type=int),
        click.option("--k", type=int, default=d.k, show_default=True),
        click.option("--embedder", help="minilm (default) or hash (default with --quick)"),
        click.option("--base-url"),
        click.option("--model"),
        click.option("--api-key"),
        click.option("--model-test", type=int, default=d.model_test, show_default=True),
        click.option("--model-timeout", type=float, help="seconds per model request"),
        click.option("--model-batch", type=int),
        click.option("--model-seeds", type=int),
        click.option("--act-with-model", is_flag=True),
        click.option("--quick", is_flag=True),
        click.option("--out", type=_PATH, default=d.out, show_default=True),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _shapes_options(f: Callable[..., Any]) -> Callable[..., Any]:
    from ..bench.shapes_run import ShapesOptions

    d = ShapesOptions()
    options = [
        click.option("--envs", default=",".join(d.envs), help="comma-separated (default all)"),
        click.option("--seeds", default="0,1,2", show_default=True),
        click.option("--train", type=int, default=d.train, show_default=True),
        click.option("--test", type=int, default=d.test, show_default=True),
        click.option("--batch", type=int, default=d.batch, show_default=True),
        click.option("--conditions", default=",".join(d.conditions), show_default=True),
        click.option("--momentum", type=float, default=d.momentum, show_default=True),
        click.option("--k", type=int, default=d.k, show_default=True),
        click.option("--embedder", default=d.embedder, help="minilm (default) or hash"),
        click.option("--out", type=_PATH, default=d.out, show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f

def _shapes_help() -> str:
    from ..bench import shapes_run

    return shapes_run.__doc__ or ""

def _scale_options(f: Callable[..., Any]) -> Callable[..., Any]:
    from ..bench.scale import ScaleOptions

    d = ScaleOptions()
    options = [
        click.option("--sizes", default=",".join(map(str, d.sizes)), show_default=True),
        click.option("--k", type=int, default=d.k, show_default=True),
        click.option("--seed", type=int, default=d.seed, show_default=True),
        click.option("--test", type=int, default=d.test, show_default=True),
        click.option("--embedder", default=d.embedder, show_default=True),
        click.option("--base-url"),
        click.option("--model"),
        click.option("--api-key"),
        click.option("--model-test", type=int, default=d.model_test, show_default=True),
        click.option("--out", type=_PATH, default=d.out, show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _commands() -> list[click.Command]:
    """The subcommands, with the defaults of the option classes."""

    @click.command("truth-table", help="the truth-table learning benchmark")
    @_learning_options
    def truth_table(**values: Any) -> None:
        from ..bench.cli_support import run_benchmark
        from ..bench.options import bench_options

        _finish(lambda: run_benchmark(bench_options("truth-table", **values), progress=_progress))

    @click.command("tickets", help="the same benchmark on support tickets (text)")
    @_learning_options
    def tickets(**values: Any) -> None:
        from ..bench.cli_support import run_benchmark
        from ..bench.options import bench_options

        _finish(lambda: run_benchmark(bench_options("tickets", **values), progress=_progress))

    @click.command(
        "shapes",
        short_help="environments shaped like agent logs (text, attributes, nested, reward-only)",
        help=_shapes_help(),
    )
    @_shapes_options
    def shapes(**values: Any) -> None:
        from ..bench.shapes_run import run_shapes, shapes_options

        _finish(lambda: run_shapes(shapes_options(values), progress=_progress))

    @click.command("scale", help="accuracy and prompt tokens as distractor rules grow")
    @_scale_options
    def scale(**values: Any) -> None:
        from ..bench.options import scale_options
        from ..bench.scale import run_scale

        _finish(lambda: run_scale(scale_options(**values), progress=_progress))

    return [truth_table, tickets, shapes, scale]


@click.command(context_settings=CONTEXT)
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--train", type=int, default=200, show_default=True)
@click.option("--test", type=int, default=1000, show_default=True)
@click.option("--batch", type=int, default=20, show_default=True)
@click.option("--noise", default="0,0.1", show_default=True,
              help="comma-separated shares of flipped outcomes")  # fmt: skip
@click.option("--quick", is_flag=True, help="one seed, 100 experiences")
@click.option("--window", type=int)
@click.option("--out", type=_PATH, default=Path("bench-results"), show_default=True)
def first(**values: Any) -> None:
    """imlgit truth-table benchmark (first options)"""
    from ..bench.cli_support import run_benchmark
    from ..bench.first import first_options

    try:
        options = first_options(**values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    paths = run_benchmark(options)
    click.echo(paths["markdown"].read_text(encoding="utf-8"), nl=False)


def first_main(argv: Sequence[str] | None = None) -> int:
    """``python -m imlgit.bench.truthtable_bench``: :func:`first` alone."""
    return _run(first, argv, "python -m imlgit.bench.truthtable_bench")


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m imlgit.bench") -> int:
    """``python -m imlgit.bench truth-table|tickets|shapes|scale ...``: this group
    alone (``prog`` names the command in usage messages). Returns the exit code;
    a usage error is shown and exits 2, as the whole CLI does."""
    return _run(bench, argv, prog)


def _run(command: click.Command, argv: Sequence[str] | None, prog: str) -> int:
    from ..config import PROCESS_ENV

    for name, value in PROCESS_ENV.items():
        os.environ.setdefault(name, value)
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name=prog,
                     standalone_mode=False)  # fmt: skip
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    return 0
