"""``imlgit rule add / edit / retire / show / list``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import (
    at_option,
    echo_written,
    emit_json,
    json_option,
    need_why,
    open_memory,
    open_store,
    person_of,
    read_text,
    why_option,
)


@click.group()
def rule() -> None:
    """Add, edit, retire, show and list rules."""


@rule.command("add")
@click.option("--title", required=True, help="One line naming the rule.")
@click.option("--statement", help="The rule, in a sentence or two.")
@click.option("--statement-file", metavar="FILE", help="Read the statement from FILE (- stdin).")
@click.option("--id", "rule_id", help="The rule id (default: made from the title).")
@click.option("--scope", default="general", show_default=True)
@click.option("--evidence", default="", help="The evidence section.")
@click.option("--source", "sources", multiple=True, help="An experience id (repeatable).")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@why_option
@click.pass_context
def rule_add(
    ctx: click.Context,
    title: str,
    statement: str | None,
    statement_file: str | None,
    rule_id: str | None,
    scope: str,
    evidence: str,
    sources: tuple[str, ...],
    tags: tuple[str, ...],
    why: str | None,
) -> None:
    """Add a rule (one commit). Prints the commit sha."""
    rationale = need_why(why)
    statement = read_text(statement, statement_file, "statement")
    if not statement:
        raise click.UsageError("give the rule's statement with --statement or --statement-file")
    mem = open_memory(ctx)
    done = mem.add_rule(
        title, statement, why=rationale, person=person_of(mem.store), rule_id=rule_id,
        scope=scope, evidence=evidence, sources=sources, tags=tags,
    )  # fmt: skip
    click.echo(f"added {done.rule_id}", err=True)
    click.echo(done.sha)


@rule.command("edit")
@click.argument("rule_id")
@click.option("--title")
@click.option("--statement")
@click.option("--statement-file", metavar="FILE", help="Read the statement from FILE (- stdin).")
@click.option("--scope")
@click.option("--evidence")
@click.option("--file", "file", metavar="FILE", help="Replace the whole rule file with FILE.")
@why_option
@click.pass_context
def rule_edit(
    ctx: click.Context,
    rule_id: str,
    title: str | None,
    statement: str | None,
    statement_file: str | None,
    scope: str | None,
    evidence: str | None,
    file: str | None,
    why: str | None,
) -> None:
    """Change a rule's fields or replace its file (one commit)."""
    rationale = need_why(why)
    text = None
    if file is not None:
        try:
            text = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise click.ClickException(f"{file}: cannot read the rule: {exc.strerror}") from None
    else:
        statement = read_text(statement, statement_file, "statement")
        if not any(v is not None for v in (title, statement or None, scope, evidence)):
            raise click.UsageError("nothing to change: give --title, --statement, ... or --file")
    mem = open_memory(ctx)
    done = mem.edit_rule(
        rule_id, why=rationale, person=person_of(mem.store), title=title, statement=statement,
        scope=scope, evidence=evidence, text=text, source=file or "the rule file",
    )  # fmt: skip
    echo_written(done.sha, f"edited {rule_id}", f"{rule_id} already says that; nothing to commit")


@rule.command("retire")
@click.argument("rule_id")
@why_option
@click.pass_context
def rule_retire(ctx: click.Context, rule_id: str, why: str | None) -> None:
    """Retire a rule: it stays in the repo, but is no longer used (one commit)."""
    rationale = need_why(why)
    mem = open_memory(ctx)
    done = mem.retire_rule(rule_id, why=rationale, person=person_of(mem.store))
    echo_written(done.sha, f"retired {rule_id}", f"{rule_id} is already retired; nothing to commit")


@rule.command("show")
@click.argument("rule_id")
@at_option
@json_option
@click.pass_context
def rule_show(ctx: click.Context, rule_id: str, at: str | None, as_json: bool) -> None:
    """Print a rule (its Markdown file, or JSON)."""
    from ..rules import render_rule

    store = open_store(ctx)
    r = store.with_git_dates(store.read_rule(rule_id, at), at)
    if as_json:
        emit_json(r)
    else:
        click.echo(render_rule(r), nl=False)


@rule.command("list")
@at_option
@click.option("--scope", help="Only rules of this scope.")
@click.option(
    "--status",
    type=click.Choice(["active", "retired", "all"]),
    default="active",
    show_default=True,
)
@json_option
@click.pass_context
def rule_list(
    ctx: click.Context, at: str | None, scope: str | None, status: str, as_json: bool
) -> None:
    """List rules: id, status, support/contradictions, title.

    A rule file that does not parse is named on stderr, the others listed, exit 1.
    """
    from ..rulefiles import read_rules

    store = open_store(ctx)
    found = read_rules(store, at)
    rules = [
        r
        for r in found.rules.values()
        if (status == "all" or r.status == status) and (scope is None or r.scope == scope)
    ]
    if as_json:
        emit_json([r.to_dict() for r in rules])
    else:
        for r in rules:
            click.echo(f"{r.id}\t{r.status}\t{r.support}/{r.contradictions}\t{r.scope}\t{r.title}")
    for problem in found.problems.values():
        click.echo(f"not listed: {problem}", err=True)
    if found.problems:
        raise SystemExit(1)
