"""The command line: thin wrappers over :class:`imlgit.Memory` and the library below it.
The only package importing click.

One module per command group: ``rule`` (add, edit, retire, show, list), ``audit``
(log, history, diff, rollback, restore), ``learning`` (learn, forget, evidence,
reindex), ``asking`` (ask, recall, eval), ``review`` (proposals, review, approve,
reject), ``branches``, ``upkeep`` (prune, doctor), ``checks`` (check), ``sync``
(clone, pull, push) and ``bench``; ``common`` holds what they share. This module
holds the root group, ``init``, ``mcp`` and :func:`main`.

Data goes to stdout, progress and diagnostics to stderr. ``--json`` on every read
command. Exit 1 for errors, 2 for usage. An unexpected exception is one line
unless IMLGIT_RAISE_ERRORS is set.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import ImlgitError
from . import asking, audit, bench, branches, checks, learning, review, rule, sync, upkeep
from .common import CONTEXT, find_repo

__all__ = ["cli", "main"]


@click.group(context_settings=CONTEXT)
@click.option(
    "--repo",
    "-C",
    metavar="PATH",
    help="The memory repository (default: IMLGIT_REPO, else the git repo around the cwd).",
)
@click.version_option(package_name="imlgit")
@click.pass_context
def cli(ctx: click.Context, repo: str | None) -> None:
    """imlgit: an agent's learned rules, kept in a git repository."""
    ctx.ensure_object(dict)
    ctx.obj["repo"] = repo


@click.command()
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--no-hooks", is_flag=True, help="Do not install the git hooks.")
def init(path: str, no_hooks: bool) -> None:
    """Create a new memory repository at PATH."""
    from ..config import person_identity
    from ..store import Store

    store = Store.init(path, author=person_identity(os.environ), install_hooks=not no_hooks)
    store.checkout_worktree()
    click.echo(f"Initialised imlgit memory in {store.path}", err=True)
    click.echo(store.head())


# ---------------------------------------------------------------------- MCP


@click.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve this memory to MCP clients (agents) over stdio.

    Tools: recall, record_experience, propose_rule, learn; resources: a rule and
    its history. There is no approve tool: what an agent proposes waits for a
    person (or the review policy).
    """
    from ..mcp_server import serve

    serve(find_repo(ctx.obj.get("repo")))


for _command in (
    init,
    rule.rule,
    audit.log,
    audit.history,
    audit.diff,
    audit.rollback,
    audit.restore,
    learning.learn,
    learning.forget,
    learning.evidence,
    learning.reindex,
    asking.ask,
    asking.recall,
    asking.eval_,
    review.proposals,
    review.review,
    review.approve,
    review.reject,
    branches.branch,
    upkeep.prune,
    upkeep.doctor,
    bench.bench,
    mcp,
    sync.clone,
    sync.pull,
    sync.push,
    checks.check,
):
    cli.add_command(_command)


# ---------------------------------------------------------------------- main


def _repo_here(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """``--repo`` given after the subcommand: the same as before it."""
    if value is not None:
        root = ctx.find_root()
        root.ensure_object(dict)
        root.obj["repo"] = value


def _repo_everywhere(group: click.Group) -> None:
    """Every command takes ``--repo`` / ``-C`` after its name too (``imlgit log -C PATH``)."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _repo_everywhere(command)
        elif not any("--repo" in getattr(p, "opts", ()) for p in command.params):
            command.params.append(
                click.Option(
                    ["--repo", "-C", "repo_here"],
                    metavar="PATH",
                    expose_value=False,
                    callback=_repo_here,
                    help="The memory repository (as before the command).",
                )
            )


_repo_everywhere(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: library errors become one line on stderr and exit 1."""
    from ..config import PROCESS_ENV

    for name, value in PROCESS_ENV.items():
        os.environ.setdefault(name, value)

    import logging

    log = logging.getLogger("imlgit")
    if not log.handlers:  # the library's warnings (a stale lock taken over) go to stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("imlgit: %(levelname)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        log.addHandler(handler)
    try:
        cli.main(args=argv, prog_name="imlgit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ImlgitError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("IMLGIT_RAISE_ERRORS"):
            raise
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
