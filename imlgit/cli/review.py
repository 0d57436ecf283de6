"""Review: ``imlgit proposals``, ``review``, ``approve``, ``reject``."""

from __future__ import annotations

import click

from .common import (
    emit_json,
    gate_of,
    json_option,
    need_why,
    open_memory,
    open_store,
    person_of,
    why_option,
)


@click.command()
@json_option
@click.pass_context
def proposals(ctx: click.Context, as_json: bool) -> None:
    """Open proposals: rules touched, operations, evidence."""
    from ..proposals import list_proposals

    found = list_proposals(open_store(ctx))
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no open proposals", err=True)
    for p in found:
        ops = ", ".join(f"{n} {op}" for op, n in sorted(p.ops.items()))
        behind = " (main has moved since)" if p.behind else ""
        if p.person_only:
            behind += (f"; ! changes {', '.join(p.person_only[:3])}"
                       f"{' and more' if len(p.person_only) > 3 else ''}: only a person approves")
        click.echo(f"{p.name}\t{len(p.commits)} commits: {ops}; rules: "
                   f"{', '.join(p.rules) or '-'}; experiences cited: {p.evidence}{behind}")


@click.command()
@click.argument("name")
@click.option("--diff/--no-diff", default=True, show_default=True, help="Show each rule diff.")
@click.option("--head", metavar="REV", help="The proposal is at REV, not its branch (CI).")
@click.option("--main", "main_rev", metavar="REV", help="Main is at REV (CI: origin/main).")
@click.option("--strict", is_flag=True, help="Exit 1 unless the gated policy would approve.")
@click.option("--commits", "each_commit", is_flag=True,
              help="Each commit's rationale, evidence and rule diff after the net change.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text",
              show_default=True, help="markdown: the same as a pull-request comment.")
@click.option("--eval", "eval_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Accuracy before and after on these held-out experiences (a JSONL).")
@json_option
@click.pass_context
def review(
    ctx: click.Context,
    name: str,
    diff: bool,
    head: str | None,
    main_rev: str | None,
    strict: bool,
    each_commit: bool,
    fmt: str,
    eval_file: str | None,
    as_json: bool,
) -> None:
    """Review proposal NAME; `imlgit review stats`: approvals, rejections, what gated would do."""
    from .. import review as rv

    mem = open_memory(ctx)
    gate = gate_of(mem)
    if name == "stats":
        st = rv.stats(mem.store, gate)
        if as_json:
            emit_json(st)
            return
        click.echo(
            f"approved {st.approved} ({st.approved_by_policy} by the policy), rejected "
            f"{st.rejected}, open {st.open}"
            + (f"; {st.void} approvals that do not count (imlgit doctor)" if st.void else "")
        )
        decided = st.gated_agrees + st.gated_disagrees
        if decided:
            click.echo(
                f"gated would have decided as people did on {st.gated_agrees} of {decided} "
                "proposals people decided"
            )
        for row in st.rows:
            if "why" in row and row["gated"] is None:
                click.echo(f"  {row['proposal']}: {row['decided']}: {row['why']}")
                continue
            verdict = {True: "would approve", False: "would not approve", None: "-"}[row["gated"]]
            failed = "; ".join(f"{f['check']}: {f['detail']}" for f in row.get("failed", []))
            click.echo(f"  {row['proposal']}: {row['decided']}; gated {verdict}"
                       + (f" ({failed})" if failed else ""))
        return
    from .. import reviewtext

    evaluation = None
    if eval_file is not None:
        from ..experience import load_jsonl

        evaluation = (load_jsonl(eval_file).experiences, eval_file)
    r = rv.review(
        mem.store, name, gate, mem.settings.get("review", "policy"), head=head, main=main_rev,
        evaluation=evaluation,
    )
    if as_json:
        emit_json(r)
    elif fmt == "markdown":
        click.echo(reviewtext.markdown(r, commits=each_commit, diff=diff), nl=False)
    else:
        for line in reviewtext.text(r, commits=each_commit, diff=diff):
            click.echo(line)
    if strict and not r.decision.gated_ok:
        raise SystemExit(1)


@click.command()
@click.argument("name")
@click.option("--why", metavar="TEXT", help="The approval's rationale (default: who reviewed).")
@click.pass_context
def approve(ctx: click.Context, name: str, why: str | None) -> None:
    """Approve proposal NAME: merge it into main as a person (never the learner)."""
    from ..proposals import approve as approve_

    store = open_store(ctx)
    done = approve_(store, name, approver=person_of(store), why=why or "")
    click.echo(f"approved {name}: main is {done.sha[:12]}", err=True)
    if done.signature:
        click.echo(f"signed: {done.signature}", err=True)
    click.echo(done.sha)


@click.command()
@click.argument("name")
@why_option
@click.pass_context
def reject(ctx: click.Context, name: str, why: str | None) -> None:
    """Reject proposal NAME: the branch goes, the rejection is recorded on main."""
    from ..proposals import reject as reject_

    rationale = need_why(why)
    store = open_store(ctx)
    sha = reject_(store, name, person=person_of(store), why=rationale)
    click.echo(f"rejected {name}; later learning will not propose it again unchanged", err=True)
    click.echo(sha)
