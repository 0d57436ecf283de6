"""Upkeep: ``imlgit prune`` and ``doctor``."""

from __future__ import annotations

import click

from .common import (
    emit_json,
    gate_of,
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
    credit of the answers that cited the rule, and age (see README).
    """
    from .. import hygiene
    from .. import review as rv

    mem = open_memory(ctx)
    store = mem.store
    if max_rules is None:
        max_rules = mem.settings.get("prune", "max_rules") or None
    retrieved, cited = hygiene.usage_counts(store)
    right, wrong = hygiene.outcome_credit(hygiene.stored_experiences(store))
    from ..rulefiles import read_rules

    every = read_rules(store).require(what="prune")
    ranked = hygiene.importance(
        [store.with_git_dates(r) for r in every.values()],  # a hand-written rule's age
        retrieved=retrieved, cited=cited, right=right, wrong=wrong,
    )  # fmt: skip
    plan = hygiene.plan_prune(ranked, max_rules=max_rules, below=below)
    if dry_run or not plan:
        if as_json:
            emit_json({"dry_run": True, "retire": plan, "active": len(ranked)})
        else:
            click.echo(f"{len(plan)} of {len(ranked)} active rules would be retired", err=True)
            for imp in plan:
                click.echo(f"{imp.score:8.2f}  {imp.rule_id}  ({imp.figures()})")
        return
    name = propose or rv.new_proposal_name(store, "prune")
    created = store.head(rv.proposal_branch(name)) is None
    branch = rv.start_proposal(store, name)
    limit = f"The memory keeps at most {max_rules} active rules." if max_rules else ""
    floor = f"Rules scoring below {below} are retired." if below is not None else ""
    try:
        reason = f"{limit} {floor}".strip()
        commits = hygiene.commit_prune(store, plan, branch=branch, reason=reason)
    except BaseException:
        if created and store.head(branch) == store.head():
            store.delete_branch(branch)
        raise
    decision, approval = rv.conclude(
        store, name, mem.settings.get("review", "policy"), gate_of(mem)
    )
    if as_json:
        emit_json({"proposal": name, "commits": commits, "retire": plan,
                    "decision": decision, "approval": approval})
        return
    click.echo(f"proposal {name}: {len(commits)} rules to retire", err=True)
    if decision is not None:
        click.echo(f"policy {decision.summary()}", err=True)
    if approval is None:
        click.echo(f"review it: imlgit review {name}; then imlgit approve {name}", err=True)
    click.echo(approval.sha if approval else commits[-1] if commits else store.head())


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
