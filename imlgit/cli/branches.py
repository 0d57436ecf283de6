"""``imlgit branch list / create / delete / merge``."""

from __future__ import annotations

import click

from .common import (
    emit_json,
    json_option,
    need_why,
    open_store,
    person_of,
    why_option,
)


@click.group()
def branch() -> None:
    """Create, list and delete branches of the memory."""


@branch.command("list")
@json_option
@click.pass_context
def branch_list(ctx: click.Context, as_json: bool) -> None:
    """Branches and their heads."""
    branches = open_store(ctx).branches()
    if as_json:
        emit_json(branches)
        return
    for name, sha in branches.items():
        click.echo(f"{sha[:12]} {name}")


@branch.command("create")
@click.argument("name")
@click.option("--at", "at", metavar="REV", help="Start the branch at REV (default main).")
@click.pass_context
def branch_create(ctx: click.Context, name: str, at: str | None) -> None:
    """Create a branch."""
    click.echo(open_store(ctx).create_branch(name, at))


@branch.command("delete")
@click.argument("name")
@click.pass_context
def branch_delete(ctx: click.Context, name: str) -> None:
    """Delete a branch."""
    open_store(ctx).delete_branch(name)
    click.echo(f"deleted {name}", err=True)


@branch.command("merge")
@click.argument("name")
@why_option
@click.pass_context
def branch_merge(ctx: click.Context, name: str, why: str | None) -> None:
    """Merge branch NAME into main with a merge commit carrying the rationale.

    What imlgit wrote reaches main only through an approval: a proposal, or a copy
    of one, in any spelling (ref, sha), is refused here; approve it instead."""
    from ..commits import CommitMessage

    rationale = need_why(why)
    short = name.removeprefix("refs/").removeprefix("heads/")
    if short.startswith("proposals/"):
        raise click.UsageError(f"{name} is a proposal: approve it (imlgit approve {short[10:]})")
    store = open_store(ctx)
    msg = CommitMessage.make("merge", f"merge {name}", rationale)
    result = store.merge(name, msg, author=person_of(store), fast_forward=False)
    click.echo("fast-forward" if result.fast_forward else "merge commit", err=True)
    click.echo(result.sha)
