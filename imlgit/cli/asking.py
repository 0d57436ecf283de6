"""Answers from memory: ``imlgit ask``, ``recall``, ``eval``."""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import click

from ..errors import ImlgitError
from .common import (
    at_option,
    emit_json,
    json_option,
    open_memory,
    open_store,
)


def _question(query: str) -> Any:
    from ..experience import decode_json_line

    text = query.strip()
    if text.startswith("{"):
        try:
            value = decode_json_line(text, path="QUERY", line=1)
        except ImlgitError as exc:
            why = str(exc).removeprefix("QUERY:1: ")
            raise click.BadParameter(why, param_hint="QUERY") from None
        if isinstance(value, dict):
            return value
    return query


@click.command()
@click.argument("query", required=False)
@click.option("--scope", help="Only rules of this scope.")
@at_option
@click.option(
    "-k", type=click.IntRange(1, 1000), help="Rules retrieved (default from imlgit.toml)."
)
@click.option("--no-model", is_flag=True, help="Answer only from checkable rules.")
@click.option(
    "--action",
    help="Instead of what to do: whether this action is predicted to work (works / fails).",
)
@click.option(
    "--file",
    "questions",
    type=click.File("rb"),
    help="Answer every question of this JSONL file ('-': stdin), one JSON answer a line. "
    'A line: {"input": TEXT or OBJECT, "id": ..., "scope": ..., "action": ...}.',
)
@json_option
@click.pass_context
def ask(
    ctx: click.Context,
    query: str | None,
    scope: str | None,
    at: str | None,
    k: int | None,
    no_model: bool,
    action: str | None,
    questions: BinaryIO | None,
    as_json: bool,
) -> None:
    """Answer QUERY (text, or a JSON object, nested or flat) with the relevant rules.

    With --file, answer a batch with one read of memory (every answer at the same
    commit); each output line is the answer with the question's id (or line number)."""
    if (query is None) == (questions is None):
        raise click.UsageError("give QUERY or --file QUESTIONS.jsonl (one of them)")
    mem = open_memory(ctx)
    if questions is not None:
        ids, batch = _questions_file(questions)
        answers = mem.ask_many(
            batch, scope=scope, at=at, k=k, use_model=not no_model, action=action
        )
        for qid, ans in zip(ids, answers, strict=True):
            click.echo(json.dumps({"id": qid, **ans.to_dict()}, ensure_ascii=False))
        return
    assert query is not None
    ans = mem.ask(
        _question(query), scope=scope, at=at, k=k, use_model=not no_model, action=action
    )
    if as_json:
        emit_json(ans)
        return
    click.echo(ans.answer if ans.answer is not None else "(no answer: no rule applies)")
    click.echo(
        f"path: {ans.path}; rules: {', '.join(ans.rules) or '-'}; commit: {ans.commit[:12]}",
        err=True,
    )


_ASK_KEYS = {"input", "id", "scope", "action"}


def _questions_file(stream: BinaryIO) -> tuple[list[Any], list[Any]]:
    """The questions of an ``ask --file`` JSONL file, every line checked before any
    is answered; a bad line is a usage error naming its line."""
    from ..experience import MAX_LINE_BYTES, decode_json_line
    from ..memory import MAX_ASK_MANY, Ask

    name = getattr(stream, "name", "QUESTIONS")
    where = "stdin" if name in ("<stdin>", "-") else str(name)
    ids: list[Any] = []
    batch: list[Any] = []
    for n, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 2), b""), 1):
        if not raw.strip():
            continue
        if len(ids) >= MAX_ASK_MANY:
            raise click.UsageError(f"{where}: more than {MAX_ASK_MANY:,} questions")
        try:
            line = decode_json_line(raw, path=where, line=n)
        except ImlgitError as exc:
            raise click.UsageError(str(exc)) from None
        if not isinstance(line, dict) or "input" not in line or set(line) - _ASK_KEYS:
            raise click.UsageError(
                f"{where}:{n}: a question is an object with \"input\" (text or an object) "
                f"and optionally \"id\", \"scope\", \"action\""
            )
        q = line["input"]
        if not isinstance(q, (str, dict)):
            raise click.UsageError(f"{where}:{n}: \"input\" is text or an object")
        for key in ("scope", "action"):
            if line.get(key) is not None and not isinstance(line[key], str):
                raise click.UsageError(f"{where}:{n}: \"{key}\" is text")
        ids.append(line.get("id", n))
        batch.append(Ask(q, line.get("scope"), line.get("action")))
    return ids, batch


@click.command()
@click.argument("query")
@click.option(
    "-k", type=click.IntRange(1, 1000), help="Rules retrieved (default: [retrieval] k, 8)."
)
@click.option("--scope", help="Only rules of this scope.")
@click.option("--tag", "tags", multiple=True, help="Only rules with this tag (repeatable).")
@at_option
@json_option
@click.pass_context
def recall(
    ctx: click.Context,
    query: str,
    k: int,
    scope: str | None,
    tags: tuple[str, ...],
    at: str | None,
    as_json: bool,
) -> None:
    """The rules most relevant to QUERY, with similarity scores."""
    mem = open_memory(ctx)
    hits = mem.recall(query, k=k, scope=scope, tags=tags, at=at)
    if as_json:
        emit_json([h.to_dict() for h in hits])
        return
    for h in hits:
        click.echo(f"{h.score:.3f}\t{h.rule.id}\t{h.rule.title}")


@click.command("eval")
@click.argument("file", type=click.Path(dir_okay=False))
@at_option
@json_option
@click.pass_context
def eval_(ctx: click.Context, file: str, at: str | None, as_json: bool) -> None:
    """Checked answers scored on held-out experiences (a JSONL), by what each carries:
    an expected answer (is the answer right), or a reward for the action taken (do
    the rules predict it); with the majority baseline of the same file."""
    from ..experience import load_jsonl
    from ..infer import KINDS, evaluate
    from ..rulefiles import read_rules

    exps = load_jsonl(file).experiences
    store = open_store(ctx)
    every = read_rules(store, at).require(what="eval")
    rules = [r for r in every.values() if r.status == "active"]
    result = evaluate(rules, exps)
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"{result.accuracy * 100:.1f}% ({result.correct} of {result.total} right; "
        f"{result.answered} answered by checked rules); majority baseline "
        f"{result.majority_baseline * 100:.1f}%"
    )
    for kind, scored in result.kinds.items():
        d = scored.to_dict()
        click.echo(
            f"  {kind}: {d['accuracy'] * 100:.1f}% ({scored.correct} of {scored.total}; "
            f"{scored.answered} answered; majority {d['majority_baseline'] * 100:.1f}%): "
            f"{KINDS[kind]}"
        )
    if result.unscored:
        click.echo(
            f"  {result.unscored} experiences carry neither an expected answer nor a reward "
            "for an action: not scored"
        )
