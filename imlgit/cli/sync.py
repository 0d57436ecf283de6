"""Remotes: ``imlgit clone``, ``pull``, ``push``."""

from __future__ import annotations

import click

from .common import (
    emit_json,
    json_option,
    open_store,
    person_of,
)


@click.command()
@click.argument("url")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--no-hooks", is_flag=True, help="Do not install the git hooks.")
def clone(url: str, path: str, no_hooks: bool) -> None:
    """Clone the memory at URL (any git URL or path) into PATH."""
    from ..proposals import track_proposals
    from ..sync import clone as clone_
    from ..sync import fetch

    store = clone_(url, path, install_hooks=not no_hooks)
    opened = track_proposals(store, fetch(store))
    click.echo(f"cloned {url} into {path}: main at {store.head()}", err=True)
    if opened:
        click.echo(f"open proposals: {', '.join(opened)}", err=True)


@click.command()
@click.option("--remote", default="origin", show_default=True)
@json_option
@click.pass_context
def pull(ctx: click.Context, remote: str, as_json: bool) -> None:
    """Fetch REMOTE and merge its main, rule file by rule file; open its proposals here.

    The same rule changed on both sides is a conflict showing both versions, and
    nothing is merged.
    """
    from ..proposals import track_proposals
    from ..sync import pull as pull_

    store = open_store(ctx)
    result = pull_(store, author=person_of(store), remote=remote)
    opened = track_proposals(store, result.fetched)
    if as_json:
        emit_json({**result.to_dict(), "proposals": opened})
        return
    if result.up_to_date:
        click.echo("main is up to date", err=True)
    else:
        from ..approvals import person_only_paths

        how = "fast-forward" if result.fast_forward else "merge commit"
        others = person_only_paths(result.changed)
        evidence = len(result.changed) - len(result.rules) - len(others)
        if others:  # the configuration, hooks, the README...: shown first, by name
            click.echo(f"! {len(others)} file{'s' if len(others) != 1 else ''} outside the "
                       f"rules and the evidence changed: {', '.join(others[:10])}"
                       f"{' and more' if len(others) > 10 else ''}", err=True)  # fmt: skip
        click.echo(f"{how}: {len(result.rules)} rules changed "
                   f"({', '.join(result.rules[:10]) or '-'}); {evidence} evidence "
                   f"file{'s' if evidence != 1 else ''}", err=True)  # fmt: skip
    if opened:
        click.echo(f"proposals from {remote}: {', '.join(opened)} (imlgit review NAME)", err=True)
    click.echo(result.sha)


@click.command()
@click.option("--remote", default="origin", show_default=True)
@click.option("--proposals", "with_proposals", is_flag=True,
              help="Push every proposals/* branch too (on a forge: pull requests).")
@click.pass_context
def push(ctx: click.Context, remote: str, with_proposals: bool) -> None:
    """Push main (and proposals) to REMOTE; only ever a fast-forward."""
    from ..sync import push as push_

    updated = push_(open_store(ctx), remote=remote, proposals=with_proposals)
    click.echo(f"pushed {', '.join(updated)}" if updated else "everything was up to date",
               err=True)
