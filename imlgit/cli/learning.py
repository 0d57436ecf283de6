"""Learning: ``imlgit learn``, ``forget``, ``evidence``, ``reindex``."""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import (
    emit_json,
    json_option,
    need_why,
    open_memory,
    open_store,
    person_of,
    why_option,
)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--batch", type=click.IntRange(1, 10_000), help="Experiences per batch.")
@click.option("--epochs", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option(
    "--learner",
    type=click.Choice(["auto", "model", "covering"]),
    help="auto: the model when an endpoint is configured, else the learner that needs none.",
)
@click.option(
    "--propose",
    "propose",
    metavar="NAME",
    help="Commit to proposal NAME (default: a new proposal named learn-<time>).",
)
@click.option(
    "--branch",
    metavar="BRANCH",
    help="Commit straight to BRANCH instead of a proposal (main only under policy auto).",
)
@click.option("--skip-invalid", is_flag=True, help="Skip malformed lines (and report them).")
@json_option
@click.pass_context
def learn(
    ctx: click.Context,
    file: str | None,
    batch: int | None,
    epochs: int,
    learner: str | None,
    propose: str | None,
    branch: str | None,
    skip_invalid: bool,
    as_json: bool,
) -> None:
    """Learn rules from experiences (JSONL) into a proposal: one commit per rule change.

    Without FILE, learns from the journal that agents record to (the MCP tool
    record_experience, Memory.record), and removes what it learned from it.
    The review policy of imlgit.toml then acts: manual leaves the proposal for a
    person (imlgit review / approve / reject); gated approves it when every check
    holds; auto approves it.
    """
    from ..experience import load_jsonl

    experiences = None
    if file is not None:
        loaded = load_jsonl(file, skip_invalid=skip_invalid)
        for line, why in loaded.skipped:
            click.echo(f"skipped {file}:{line}: {why}", err=True)
        experiences = loaded.experiences
    mem = open_memory(ctx)
    total = len(experiences if experiences is not None else mem.journal())
    size = batch or mem.settings.get("learn", "batch")
    batches = epochs * ((total + size - 1) // size)
    with click.progressbar(length=batches, label="learning", file=sys.stderr) as bar:

        def progress(result: Any) -> None:
            bar.update(1)
            click.echo(f"  {result.summary()}", err=True)
            for refusal in result.refused:
                click.echo(f"    refused {refusal}", err=True)

        done = mem.learn(
            experiences,
            batch=size,
            epochs=epochs,
            learner=learner,
            propose=propose,
            branch=branch,
            progress=progress,
        )
    if done.choice is not None:  # on stderr with --json too: the JSON has it as "learner"
        click.echo(done.choice.summary(), err=True)
        if done.choice.note:
            click.echo(f"  {done.choice.note}", err=True)
    if done.redacted:  # on stderr with --json too: the JSON has it as "redacted"
        click.echo(f"redacted before learning: {done.redacted} ([privacy] experiences = "
                   '"redact": typed placeholders are stored, not the data)', err=True)  # fmt: skip
    if as_json:
        emit_json(done)
        return
    if done.note is not None:
        click.echo(done.note, err=True)
    elif done.proposal is None:
        where = "nothing new to propose" if done.branch.startswith("proposals/") else done.branch
        click.echo(f"learned into {where}", err=True)
    else:
        click.echo(f"proposal {done.proposal}: {done.decision.summary() if done.decision else ''}"
                   .rstrip(": "), err=True)
        if done.approval is not None:
            click.echo(f"merged into main as {done.approval.sha[:12]}", err=True)
        else:
            click.echo(
                f"review it: imlgit review {done.proposal}; then imlgit approve "
                f"{done.proposal} or imlgit reject {done.proposal} --why ...",
                err=True,
            )
    if done.note is not None:
        click.echo(mem.store.head(done.branch))  # nothing was written: main as it is
        return
    click.echo(done.approval.sha if done.approval else done.head or mem.store.head(done.branch))


@click.command()
@click.argument("ids", nargs=-1, required=True, metavar="EXPERIENCE_ID...")
@why_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def forget(ctx: click.Context, ids: tuple[str, ...], why: str | None, as_json: bool) -> None:
    """Erase experiences from this copy for good; `imlgit push` carries it to the remote.

    Their lines on refs/imlgit/evidence become "erased on DATE: WHY" in every commit
    of it; main's commits and the ids they cite stay."""
    rationale = need_why(why)
    mem = open_memory(ctx)
    done = mem.forget(list(ids), why=rationale, person=person_of(mem.store))
    if as_json:
        emit_json(done.to_dict())
        return
    if done.ids:
        click.echo(f"erased {len(done.ids)} experience{'s' if len(done.ids) != 1 else ''} "
                   f"({done.rewritten} evidence commits rewritten, {done.removed} objects "
                   "removed); push to erase them from the remote too", err=True)  # fmt: skip
    if done.already:
        click.echo(f"already erased, nothing to do: {', '.join(done.already)}", err=True)
    click.echo(done.head)


@click.command()
@click.argument("ids", nargs=-1, required=True, metavar="EXPERIENCE_ID...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def evidence(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """What this copy holds of each experience id a rationale cites."""
    from ..evidence import locate

    found = locate(open_store(ctx), list(ids))
    if as_json:
        emit_json([f.to_dict() for f in found.values()])
        return
    for f in found.values():
        click.echo(str(f))


@click.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the retrieval index from the repository (it is derived data)."""
    import shutil

    mem = open_memory(ctx)
    shutil.rmtree(mem.store.derived_dir / "index", ignore_errors=True)
    index = mem.index()
    click.echo(f"indexed {len(index)} rules at {mem.store.resolve('main')[:12]}", err=True)
