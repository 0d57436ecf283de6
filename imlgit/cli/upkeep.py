"""Upkeep: ``imlgit prune`` and ``doctor``."""

from __future__ import annotations

import click

from .common import (
    emit_json,
    json_option,
    open_memory,
)


@click.command()
@click.option("--max-rules", type=click.IntRange(0), help="Keep at most N active rules "
              "(default: [prune] max_rules in imlgit.toml; 0 there means no limit).")
@click.option("--below", type=float, metavar="SCORE", help="Also retire rules scoring below.")
@click.option("--dry-run", is_flag=True, help="Show what would be retired; change nothing.")
@click.option("--propose", metavar="NAME", help="Name the proposal (default prune-<time>).")
@json_option
@click.pass_context
def prune(
    ctx: click.Context,
    max_rules: int | None,
    below: float | None,
    dry_run: bool,
    propose: str | None,
    as_json: bool,
) -> None:
    """Retire the least important rules, one commit each, on a proposal for review.

    Importance: support, contradictions, retrieval and citation counts, outcome
    credit of the answers that cited the rule, and age (docs/REFERENCE.md, imlgit prune).
    """
    done = open_memory(ctx).prune(
        max_rules=max_rules, below=below, dry_run=dry_run, propose=propose
    )
    if as_json:
        emit_json(done)
        return
    if done.proposal is None:
        click.echo(f"{len(done.retire)} of {done.active} active rules would be retired", err=True)
        for imp in done.retire:
            click.echo(f"{imp.score:8.2f}  {imp.rule_id}  ({imp.figures()})")
        return
    click.echo(f"proposal {done.proposal}: {len(done.commits)} rules to retire", err=True)
    if done.decision is not None:
        click.echo(f"policy {done.decision.summary()}", err=True)
    if done.approval is None:
        click.echo(f"review it: imlgit review {done.proposal}; then imlgit approve "
                   f"{done.proposal}", err=True)  # fmt: skip
    click.echo(done.head)

@click.command()
@click.option(
    "--similarity",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=0.9,
    show_default=True,
    help="Cosine similarity from which two plain rules count as look-alikes.",
)
@click.option(
    "--stale-days",
    type=click.FloatRange(min=0),
    default=14,
    show_default=True,
    help="An open proposal with no commit for this many days is forgotten.",
)
@click.option(
    "--no-confirm", is_flag=True, help="Do not ask the chat model about look-alike pairs."
)
@click.option(
    "--repair",
    is_flag=True,
    help="First remove stale locks and finish index updates a killed imlgit left.",
)
@json_option
@click.pass_context
def doctor(
    ctx: click.Context,
    similarity: float,
    stale_days: float,
    no_confirm: bool,
    repair: bool,
    as_json: bool,
) -> None:
    """Find duplicates, contradictions, invalid files, a stale index, forgotten proposals,
    stale locks and an index left behind by a killed imlgit.

    Exit 1 when it finds anything but a stale or lying index (derived data, repaired).
    """
    if repair:
        fixed, locks = open_memory(ctx).store.repair()
        for path in fixed:
            click.echo(f"repaired git's index for {path}", err=True)
        for lock in locks:
            click.echo(f"removed the stale lock {lock}", err=True)
    report = open_memory(ctx).diagnose(
        similarity=similarity, stale_days=stale_days, confirm=not no_confirm
    )
    if as_json:
        emit_json(report)
    else:
        click.echo(report.summary())
    if any(f.kind not in ("stale-index", "index-mismatch") for f in report.findings):
        raise SystemExit(1)
