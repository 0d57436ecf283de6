"""The audit: ``imlgit log``, ``history``, ``diff``, ``rollback``, ``restore``."""

from __future__ import annotations

from typing import Any

import click

from .common import (
    at_option,
    echo_written,
    emit_json,
    json_option,
    need_why,
    open_store,
    person_of,
    print_commits,
    why_option,
)


@click.command()
@click.argument("rev", required=False)
@click.option("-n", "--limit", type=int, default=None, help="At most N commits.")
@click.option("--full", is_flag=True, help="Show each rationale and its trailers.")
@json_option
@click.pass_context
def log(ctx: click.Context, rev: str | None, limit: int | None, full: bool, as_json: bool) -> None:
    """Memory changes, newest first."""
    store = open_store(ctx)
    commits = store.log(rev, limit=limit)
    if as_json:
        emit_json([c.to_dict() for c in commits])
    else:
        print_commits(commits, full=full)


@click.command()
@click.argument("rule_id")
@at_option
@click.option("-n", "--limit", type=int, default=None)
@click.option("--verify", is_flag=True,
              help="Recompute the history from git, say what the index had wrong, repair it.")
@json_option
@click.pass_context
def history(
    ctx: click.Context, rule_id: str, at: str | None, limit: int | None, verify: bool,
    as_json: bool,
) -> None:
    """One rule's audit: every commit that changed it, with its rationale."""
    from ..rules import validate_rule_id

    validate_rule_id(rule_id)
    store = open_store(ctx)
    if verify:
        _print_history_check(store.verify_history(rule_id, at))
    commits = store.history(rule_id, at, limit=limit)
    if as_json:
        emit_json([c.to_dict() for c in commits])
    else:
        if not commits:
            click.echo(f"no commit changed {rule_id}", err=True)
        print_commits(commits, full=True)


def _print_history_check(check: Any) -> None:
    """What ``history --verify`` found, on stderr (the history itself follows on stdout)."""
    if check.ok:
        click.echo(f"verified: the history index agrees with git ({len(check.actual)} commits)",
                   err=True)
        return
    if check.problem:
        click.echo(f"the history index was damaged: {check.problem}", err=True)
    for label, shas in (("missing from the index", check.missing),
                        ("reported, but did not change the rule", check.extra),
                        ("recorded with another author or message", check.changed)):
        for sha in shas:
            click.echo(f"{label}: {sha[:12]}", err=True)
    if set(check.indexed) == set(check.actual) and check.indexed != check.actual:
        click.echo("the index had the commits in another order", err=True)
    click.echo(f"repaired: rebuilt from git ({len(check.actual)} commits)", err=True)


@click.command()
@click.argument("a")
@click.argument("b", required=False)
@json_option
@click.pass_context
def diff(ctx: click.Context, a: str, b: str | None, as_json: bool) -> None:
    """How the rules differ between revisions A and B (default: HEAD)."""
    store = open_store(ctx)
    changes = store.diff(a, b)
    if as_json:
        emit_json([c.to_dict() for c in changes])
        return
    for c in changes:
        click.echo(c.unified(), nl=False)


@click.command()
@click.argument("rev")
@why_option
@click.pass_context
def rollback(ctx: click.Context, rev: str, why: str | None) -> None:
    """Undo the change made by commit REV, as a new commit with your rationale."""
    rationale = need_why(why)
    store = open_store(ctx)
    target = store.resolve(rev)
    sha = store.revert(target, rationale, author=person_of(store))
    short = target[:12]
    echo_written(sha, f"reverted {short}", f"{short} has nothing to undo; nothing to commit")


@click.command()
@click.argument("rule_id")
@why_option
@click.pass_context
def restore(ctx: click.Context, rule_id: str, why: str | None) -> None:
    """Bring back a retired rule (its last active version)."""
    rationale = need_why(why)
    store = open_store(ctx)
    sha = store.restore(rule_id, rationale, author=person_of(store))
    echo_written(sha, f"restored {rule_id}", f"{rule_id} is active; nothing to restore")
