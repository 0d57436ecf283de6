"""The command line: thin wrappers over the library. The only module importing click.

Data goes to stdout, progress and diagnostics to stderr. ``--json`` on every read
command. Exit 1 for errors, 2 for usage. An unexpected exception is one line
unless IMLGIT_RAISE_ERRORS is set.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from ..errors import ImlgitError

if TYPE_CHECKING:
    from ..memory import Memory
    from ..store import Store

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _emit_json(data: Any) -> None:
    """The one serializer every ``--json`` shares."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _find_repo(start: str | None) -> str:
    if start:
        return start
    env = os.environ.get("IMLGIT_REPO")
    if env:
        return env
    here = Path.cwd()
    for d in (here, *here.parents):
        if (d / ".git").exists():
            return str(d)
    return str(here)


def _store(ctx: click.Context) -> Store:
    from ..store import Store

    return Store.open(_find_repo(ctx.obj.get("repo")))


def _person(store: Any) -> Any:
    from ..config import person_identity

    return person_identity(os.environ, str(store.path))


def _refuse_duplicate(store: Any, rule: Any, head: str) -> None:
    """The same rule twice in a scope is refused at write (imlgit doctor finds the rest)."""
    from ..errors import RuleError
    from ..identity import active_rules, duplicate_of

    dup = duplicate_of(rule, active_rules(store, head, scope=rule.scope))
    if dup is not None:
        raise RuleError(
            f"the same rule is already active in scope {rule.scope!r}: {dup} (the same "
            "statement, ignoring case, spacing and punctuation, or the same when/then); "
            f"edit {dup} instead",
            path=rule.path,
            field="statement",
        )


def _refuse_secrets(store: Any, rule: Any) -> None:
    """A rule write carrying a secret or personal data is refused, with where."""
    from ..errors import RuleError
    from ..rules import render_rule
    from ..scan import scan_text

    found = scan_text(render_rule(rule), path=rule.path, allow=_scan_allow(store))
    if found:
        listed = "; ".join(str(f) for f in found[:5])
        raise RuleError(
            f"refused: {listed}. Rules may not keep secrets or personal data; if this is "
            "fine, add a pattern to [scan] allow in imlgit.toml",
            path=rule.path,
            line=found[0].line,
        )


def _scan_allow(store: Any) -> tuple[str, ...]:
    from ..store import CONFIG_FILE

    data = store.read_file(CONFIG_FILE)
    return _allow_from(data.decode("utf-8") if data else None)


def _allow_from(toml_text: str | None) -> tuple[str, ...]:
    from ..config import load_settings

    return tuple(load_settings(toml_text, env={}).get("scan", "allow"))


def _why(why: str | None) -> str:
    """The rationale given with --why: required, and refused when it carries a secret
    or personal data (it is committed to history; imlgit.privacy)."""
    from ..errors import ImlgitError, RationaleRequired
    from ..privacy import check_rationale

    if why is None or not why.strip():
        raise RationaleRequired('a rationale is required: pass --why "..." saying why')
    ctx = click.get_current_context(silent=True)
    try:
        allow = _scan_allow(_store(ctx)) if ctx is not None else ()
    except ImlgitError:  # no memory here (yet): the scan without an allowlist
        allow = ()
    check_rationale(why.strip(), allow, what="--why")
    return why.strip()


def _when(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d %H:%M")


def _print_commits(commits: Iterable[Any], *, full: bool) -> None:
    for c in commits:
        click.echo(f"{c.sha[:12]} {_when(c.time)} {c.subject}")
        if full:
            for line in c.rationale.splitlines():
                click.echo(f"    {line}" if line else "")
            for k, v in c.trailers:
                click.echo(f"    {k}: {v}")
            click.echo("")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
at_option = click.option("--at", "at", metavar="REV", help="Read memory as it was at REV.")
why_option = click.option("--why", metavar="TEXT", help="The rationale (required).")


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


@cli.command()
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


# ---------------------------------------------------------------------- rules


@cli.group()
def rule() -> None:
    """Add, edit, retire, show and list rules."""


def _read_text(value: str | None, file: str | None, what: str) -> str | None:
    if file is not None:
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{file}: cannot read the {what}: {exc}") from None
    return value


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
    from ..commits import CommitMessage
    from ..errors import RuleError
    from ..rules import Rule, now_utc, slugify

    rationale = _why(why)
    statement = _read_text(statement, statement_file, "statement")
    if not statement:
        raise click.UsageError("give the rule's statement with --statement or --statement-file")
    store = _store(ctx)
    rid = rule_id or slugify(title)
    head = store.resolve("main")
    if store.locate(rid, head) is not None:
        raise RuleError(f"a rule with id {rid!r} exists; edit it, or choose another --id")
    now = now_utc()
    new = Rule(
        id=rid,
        title=title,
        statement=statement.strip(),
        scope=scope,
        created=now,
        updated=now,
        sources=tuple(sources),
        evidence=evidence.strip(),
        tags=tuple(tags),
    )
    _refuse_secrets(store, new)
    _refuse_duplicate(store, new, head)
    msg = CommitMessage.make("add", f"add {rid}", rationale, rules=[rid])
    sha = store.put_rule(new, msg, author=_person(store), expected_head=head)
    click.echo(f"added {rid}", err=True)
    click.echo(sha)


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
    from ..commits import CommitMessage
    from ..errors import RuleError
    from ..rules import now_utc, parse_rule

    rationale = _why(why)
    store = _store(ctx)
    head = store.resolve("main")
    old = store.read_rule(rule_id, head)
    if file is not None:
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        except OSError as exc:
            raise click.ClickException(f"{file}: cannot read the rule: {exc.strerror}") from None
        try:  # read as the file it replaces: its id, scope and place are the defaults
            new = parse_rule(data, path=old.path)
        except RuleError as exc:
            raise RuleError(exc.message, path=file, line=exc.line, field=exc.field) from None
        if new.id != rule_id:
            raise RuleError(f"the file's id is {new.id!r}, not {rule_id!r}", path=file, field="id")
        new = new.with_changes(updated=now_utc())
    else:
        statement = _read_text(statement, statement_file, "statement")
        changes: dict[str, Any] = {
            k: v
            for k, v in {
                "title": title,
                "statement": statement.strip() if statement else None,
                "scope": scope,
                "evidence": evidence.strip() if evidence is not None else None,
            }.items()
            if v is not None
        }
        if not changes:
            raise click.UsageError("nothing to change: give --title, --statement, ... or --file")
        new = old.with_changes(updated=now_utc(), **changes)
    _refuse_secrets(store, new)
    _refuse_duplicate(store, new, head)
    msg = CommitMessage.make("edit", f"edit {rule_id}", rationale, rules=[rule_id])
    sha = store.put_rule(new, msg, author=_person(store), expected_head=head)
    click.echo(f"edited {rule_id}", err=True)
    click.echo(sha)


@rule.command("retire")
@click.argument("rule_id")
@why_option
@click.pass_context
def rule_retire(ctx: click.Context, rule_id: str, why: str | None) -> None:
    """Retire a rule: it stays in the repo, but is no longer used (one commit)."""
    from ..commits import CommitMessage
    from ..rules import now_utc

    rationale = _why(why)
    store = _store(ctx)
    head = store.resolve("main")
    old = store.read_rule(rule_id, head)
    if old.status == "retired":  # what was asked is already so: an outcome, not an error
        click.echo(f"{rule_id} is already retired; nothing to commit", err=True)
        return
    msg = CommitMessage.make("retire", f"retire {rule_id}", rationale, rules=[rule_id])
    new = old.with_changes(status="retired", updated=now_utc())
    sha = store.put_rule(new, msg, author=_person(store), expected_head=head)
    click.echo(f"retired {rule_id}", err=True)
    click.echo(sha)


@rule.command("show")
@click.argument("rule_id")
@at_option
@json_option
@click.pass_context
def rule_show(ctx: click.Context, rule_id: str, at: str | None, as_json: bool) -> None:
    """Print a rule (its Markdown file, or JSON)."""
    from ..rules import render_rule

    store = _store(ctx)
    r = store.with_git_dates(store.read_rule(rule_id, at), at)
    if as_json:
        _emit_json(r)
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

    store = _store(ctx)
    found = read_rules(store, at)
    rules = [
        r
        for r in found.rules.values()
        if (status == "all" or r.status == status) and (scope is None or r.scope == scope)
    ]
    if as_json:
        _emit_json([r.to_dict() for r in rules])
    else:
        for r in rules:
            click.echo(f"{r.id}\t{r.status}\t{r.support}/{r.contradictions}\t{r.scope}\t{r.title}")
    for problem in found.problems.values():
        click.echo(f"not listed: {problem}", err=True)
    if found.problems:
        raise SystemExit(1)


# ---------------------------------------------------------------------- audit


@cli.command()
@click.argument("rev", required=False)
@click.option("-n", "--limit", type=int, default=None, help="At most N commits.")
@click.option("--full", is_flag=True, help="Show each rationale and its trailers.")
@json_option
@click.pass_context
def log(ctx: click.Context, rev: str | None, limit: int | None, full: bool, as_json: bool) -> None:
    """Memory changes, newest first."""
    store = _store(ctx)
    commits = store.log(rev, limit=limit)
    if as_json:
        _emit_json([c.to_dict() for c in commits])
    else:
        _print_commits(commits, full=full)


@cli.command()
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
    store = _store(ctx)
    if verify:
        _print_history_check(store.verify_history(rule_id, at))
    commits = store.history(rule_id, at, limit=limit)
    if as_json:
        _emit_json([c.to_dict() for c in commits])
    else:
        if not commits:
            click.echo(f"no commit changed {rule_id}", err=True)
        _print_commits(commits, full=True)


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


@cli.command()
@click.argument("a")
@click.argument("b", required=False)
@json_option
@click.pass_context
def diff(ctx: click.Context, a: str, b: str | None, as_json: bool) -> None:
    """How the rules differ between revisions A and B (default: HEAD)."""
    store = _store(ctx)
    changes = store.diff(a, b)
    if as_json:
        _emit_json([c.to_dict() for c in changes])
        return
    for c in changes:
        click.echo(c.unified(), nl=False)


@cli.command()
@click.argument("rev")
@why_option
@click.pass_context
def rollback(ctx: click.Context, rev: str, why: str | None) -> None:
    """Undo the change made by commit REV, as a new commit with your rationale."""
    rationale = _why(why)
    store = _store(ctx)
    target = store.resolve(rev)
    sha = store.revert(target, rationale, author=_person(store))
    click.echo(f"reverted {target[:12]}", err=True)
    click.echo(sha)


@cli.command()
@click.argument("rule_id")
@why_option
@click.pass_context
def restore(ctx: click.Context, rule_id: str, why: str | None) -> None:
    """Bring back a retired rule (its last active version)."""
    rationale = _why(why)
    store = _store(ctx)
    sha = store.restore(rule_id, rationale, author=_person(store))
    click.echo(f"restored {rule_id}", err=True)
    click.echo(sha)


# ---------------------------------------------------------------------- learning


def _memory(ctx: click.Context) -> Memory:
    from ..memory import Memory

    return Memory.open(_find_repo(ctx.obj.get("repo")))


@cli.command()
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
    mem = _memory(ctx)
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
        _emit_json(done)
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


# ---------------------------------------------------------------------- review


def _gate(mem: Any) -> Any:
    from ..review import Gate

    return Gate.from_settings(mem.settings.section("review"), mem.settings.section("scan"))


@cli.command()
@json_option
@click.pass_context
def proposals(ctx: click.Context, as_json: bool) -> None:
    """Open proposals: rules touched, operations, evidence."""
    from ..review import list_proposals

    found = list_proposals(_store(ctx))
    if as_json:
        _emit_json(found)
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


@cli.command()
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

    mem = _memory(ctx)
    gate = _gate(mem)
    if name == "stats":
        st = rv.stats(mem.store, gate)
        if as_json:
            _emit_json(st)
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
        _emit_json(r)
    elif fmt == "markdown":
        click.echo(reviewtext.markdown(r, commits=each_commit, diff=diff), nl=False)
    else:
        for line in reviewtext.text(r, commits=each_commit, diff=diff):
            click.echo(line)
    if strict and not r.decision.gated_ok:
        raise SystemExit(1)


@cli.command()
@click.argument("name")
@click.option("--why", metavar="TEXT", help="The approval's rationale (default: who reviewed).")
@click.pass_context
def approve(ctx: click.Context, name: str, why: str | None) -> None:
    """Approve proposal NAME: merge it into main as a person (never the learner)."""
    from ..review import approve as approve_

    store = _store(ctx)
    done = approve_(store, name, approver=_person(store), why=why or "")
    click.echo(f"approved {name}: main is {done.sha[:12]}", err=True)
    if done.signature:
        click.echo(f"signed: {done.signature}", err=True)
    click.echo(done.sha)


@cli.command()
@click.argument("name")
@why_option
@click.pass_context
def reject(ctx: click.Context, name: str, why: str | None) -> None:
    """Reject proposal NAME: the branch goes, the rejection is recorded on main."""
    from ..review import reject as reject_

    rationale = _why(why)
    store = _store(ctx)
    sha = reject_(store, name, person=_person(store), why=rationale)
    click.echo(f"rejected {name}; later learning will not propose it again unchanged", err=True)
    click.echo(sha)


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="EXPERIENCE_ID...")
@why_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def forget(ctx: click.Context, ids: tuple[str, ...], why: str | None, as_json: bool) -> None:
    """Erase experiences from this copy for good; `imlgit push` carries it to the remote.

    Their lines on refs/imlgit/evidence become "erased on DATE: WHY" in every commit
    of it; main's commits and the ids they cite stay."""
    rationale = _why(why)
    mem = _memory(ctx)
    done = mem.forget(list(ids), why=rationale, person=_person(mem.store))
    if as_json:
        _emit_json(done.to_dict())
        return
    if done.ids:
        click.echo(f"erased {len(done.ids)} experience{'s' if len(done.ids) != 1 else ''} "
                   f"({done.rewritten} evidence commits rewritten, {done.removed} objects "
                   "removed); push to erase them from the remote too", err=True)  # fmt: skip
    if done.already:
        click.echo(f"already erased, nothing to do: {', '.join(done.already)}", err=True)
    click.echo(done.head)


@cli.command()
@click.argument("ids", nargs=-1, required=True, metavar="EXPERIENCE_ID...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def evidence(ctx: click.Context, ids: tuple[str, ...], as_json: bool) -> None:
    """What this copy holds of each experience id a rationale cites."""
    from ..evidence import locate

    found = locate(_store(ctx), list(ids))
    if as_json:
        _emit_json([f.to_dict() for f in found.values()])
        return
    for f in found.values():
        click.echo(str(f))


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


@cli.command()
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
    mem = _memory(ctx)
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
        _emit_json(ans)
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


@cli.command()
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
    mem = _memory(ctx)
    hits = mem.recall(query, k=k, scope=scope, tags=tags, at=at)
    if as_json:
        _emit_json([h.to_dict() for h in hits])
        return
    for h in hits:
        click.echo(f"{h.score:.3f}\t{h.rule.id}\t{h.rule.title}")


@cli.command("eval")
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
    store = _store(ctx)
    every = read_rules(store, at).require(what="eval")
    rules = [r for r in every.values() if r.status == "active"]
    result = evaluate(rules, exps)
    if as_json:
        _emit_json(result)
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


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the retrieval index from the repository (it is derived data)."""
    import shutil

    mem = _memory(ctx)
    shutil.rmtree(mem.store.derived_dir / "index", ignore_errors=True)
    index = mem.index()
    click.echo(f"indexed {len(index)} rules at {mem.store.resolve('main')[:12]}", err=True)


# ---------------------------------------------------------------------- branches


@cli.group()
def branch() -> None:
    """Create, list and delete branches of the memory."""


@branch.command("list")
@json_option
@click.pass_context
def branch_list(ctx: click.Context, as_json: bool) -> None:
    """Branches and their heads."""
    branches = _store(ctx).branches()
    if as_json:
        _emit_json(branches)
        return
    for name, sha in branches.items():
        click.echo(f"{sha[:12]} {name}")


@branch.command("create")
@click.argument("name")
@click.option("--at", "at", metavar="REV", help="Start the branch at REV (default main).")
@click.pass_context
def branch_create(ctx: click.Context, name: str, at: str | None) -> None:
    """Create a branch."""
    click.echo(_store(ctx).create_branch(name, at))


@branch.command("delete")
@click.argument("name")
@click.pass_context
def branch_delete(ctx: click.Context, name: str) -> None:
    """Delete a branch."""
    _store(ctx).delete_branch(name)
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

    rationale = _why(why)
    short = name.removeprefix("refs/").removeprefix("heads/")
    if short.startswith("proposals/"):
        raise click.UsageError(f"{name} is a proposal: approve it (imlgit approve {short[10:]})")
    store = _store(ctx)
    msg = CommitMessage.make("merge", f"merge {name}", rationale)
    result = store.merge(name, msg, author=_person(store), fast_forward=False)
    click.echo("fast-forward" if result.fast_forward else "merge commit", err=True)
    click.echo(result.sha)


# ---------------------------------------------------------------------- hygiene


@cli.command()
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

    mem = _memory(ctx)
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
            _emit_json({"dry_run": True, "retire": plan, "active": len(ranked)})
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
        store, name, mem.settings.get("review", "policy"), _gate(mem)
    )
    if as_json:
        _emit_json({"proposal": name, "commits": commits, "retire": plan,
                    "decision": decision, "approval": approval})
        return
    click.echo(f"proposal {name}: {len(commits)} rules to retire", err=True)
    if decision is not None:
        click.echo(f"policy {decision.summary()}", err=True)
    if approval is None:
        click.echo(f"review it: imlgit review {name}; then imlgit approve {name}", err=True)
    click.echo(approval.sha if approval else commits[-1] if commits else store.head())


@cli.command()
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
        fixed, locks = _memory(ctx).store.repair()
        for path in fixed:
            click.echo(f"repaired git's index for {path}", err=True)
        for lock in locks:
            click.echo(f"removed the stale lock {lock}", err=True)
    report = _memory(ctx).diagnose(
        similarity=similarity, stale_days=stale_days, confirm=not no_confirm
    )
    if as_json:
        _emit_json(report)
    else:
        click.echo(report.summary())
    if any(f.kind not in ("stale-index", "index-mismatch") for f in report.findings):
        raise SystemExit(1)


# ---------------------------------------------------------------------- bench


@cli.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args: tuple[str, ...]) -> None:
    """Benchmarks: truth-table, tickets, shapes, scale (imlgit bench shapes --help).

    Writes JSON, a Markdown table and a PNG learning curve; --quick for a smoke
    test; --base-url/--model to run the language-model conditions on an endpoint.
    """
    from ..bench.cli_support import main as bench_main

    raise SystemExit(bench_main(list(args), prog="imlgit bench"))


# ---------------------------------------------------------------------- MCP


@cli.command()
@click.pass_context
def mcp(ctx: click.Context) -> None:
    """Serve this memory to MCP clients (agents) over stdio.

    Tools: recall, record_experience, propose_rule, learn; resources: a rule and
    its history. There is no approve tool: what an agent proposes waits for a
    person (or the review policy).
    """
    from ..mcp_server import serve

    serve(_find_repo(ctx.obj.get("repo")))


# ---------------------------------------------------------------------- remotes


@cli.command()
@click.argument("url")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--no-hooks", is_flag=True, help="Do not install the git hooks.")
def clone(url: str, path: str, no_hooks: bool) -> None:
    """Clone the memory at URL (any git URL or path) into PATH."""
    from ..review import track_proposals
    from ..sync import clone as clone_
    from ..sync import fetch

    store = clone_(url, path, install_hooks=not no_hooks)
    opened = track_proposals(store, fetch(store))
    click.echo(f"cloned {url} into {path}: main at {store.head()}", err=True)
    if opened:
        click.echo(f"open proposals: {', '.join(opened)}", err=True)


@cli.command()
@click.option("--remote", default="origin", show_default=True)
@json_option
@click.pass_context
def pull(ctx: click.Context, remote: str, as_json: bool) -> None:
    """Fetch REMOTE and merge its main, rule file by rule file; open its proposals here.

    The same rule changed on both sides is a conflict showing both versions, and
    nothing is merged.
    """
    from ..review import track_proposals
    from ..sync import pull as pull_

    store = _store(ctx)
    result = pull_(store, author=_person(store), remote=remote)
    opened = track_proposals(store, result.fetched)
    if as_json:
        _emit_json({**result.to_dict(), "proposals": opened})
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


@cli.command()
@click.option("--remote", default="origin", show_default=True)
@click.option("--proposals", "with_proposals", is_flag=True,
              help="Push every proposals/* branch too (on a forge: pull requests).")
@click.pass_context
def push(ctx: click.Context, remote: str, with_proposals: bool) -> None:
    """Push main (and proposals) to REMOTE; only ever a fast-forward."""
    from ..sync import push as push_

    updated = push_(_store(ctx), remote=remote, proposals=with_proposals)
    click.echo(f"pushed {', '.join(updated)}" if updated else "everything was up to date",
               err=True)


# ---------------------------------------------------------------------- check


@cli.command()
@at_option
@click.option("--staged", is_flag=True, help="Check the rule files staged in git's index.")
@click.option("--commit-msg", "commit_msg", metavar="FILE", help="Check a commit message file.")
@click.option("--path", "paths", multiple=True, help="Check rule files on disk.")
@click.option("--move", "move", nargs=2, metavar="OLD NEW",
              help="Check that main may move from OLD to NEW: every commit imlgit wrote that "
              "it brings is inside an approval (the reference-transaction and pre-receive "
              "hooks call this).")  # fmt: skip
@click.option("--history", "history", metavar="REV",
              help="Check that every commit imlgit wrote in REV's history is inside an "
              "approval that counts (a forge's CI on main calls this).")  # fmt: skip
@json_option
@click.pass_context
def check(
    ctx: click.Context,
    at: str | None,
    staged: bool,
    commit_msg: str | None,
    paths: tuple[str, ...],
    move: tuple[str, str] | None,
    history: str | None,
    as_json: bool,
) -> None:
    """Validate the memory's rule files, reporting every problem (the git hooks call this).

    With no option: the working tree, as a linter would (files not committed yet
    too), and the last commit; --staged: git's index; --at REV: that revision;
    --move OLD NEW: whether main may move so; --history REV: whether every approval
    in REV's history counts."""
    from ..scan import scan_text
    from ..store import check_rule_file

    problems: list[str] = []
    if history:
        store = _store(ctx)
        problems = [str(u) for u in store.uncovered(store.resolve(history))]
        _verdict(problems, as_json, f"every commit imlgit wrote in {history}'s history is "
                 "inside an approval that counts")  # fmt: skip
        return
    if move:
        old, new = (None if set(x) == {"0"} else x for x in move)
        if new is not None:  # main deleted: not a move this check judges
            store = _store(ctx)
            if os.environ.get("GIT_QUARANTINE_PATH"):  # pre-receive: pushed objects wait there
                store.see_objects(os.environ["GIT_QUARANTINE_PATH"])
            from ..errors import UnapprovedChange

            if old is None:  # git gives no old value when the caller named none: main's now
                old = store.head()
            try:
                store.check_main_move(store.resolve(old) if old else None, store.resolve(new))
            except UnapprovedChange as exc:
                problems.append(str(exc))
        if problems and not as_json and not os.environ.get("GIT_QUARANTINE_PATH"):
            # git reset, merge and checkout update the working tree before the ref
            click.echo("note: git may have changed the working tree already; `git reset "
                       "--hard` (main as it is) puts it back", err=True)  # fmt: skip
        _verdict(problems, as_json, "main may move; every commit imlgit wrote is inside an "
                 "approval")  # fmt: skip
        return

    def scan(path: str, data: bytes, allow: tuple[str, ...]) -> None:
        text = data.decode("utf-8", errors="replace")
        problems.extend(f"{f} (secret scan)" for f in scan_text(text, path=path, allow=allow))

    if commit_msg is not None:
        problems.extend(_check_commit_msg(commit_msg))
    elif staged:
        try:
            staged_toml = _git("show", ":imlgit.toml").decode("utf-8", errors="replace")
        except subprocess.CalledProcessError:
            staged_toml = None
        allow = _allow_from(staged_toml)
        staged_files = _staged_rule_files()
        seen = _other_indexed_ids({path for path, _ in staged_files})
        for path, data in staged_files:
            problems.extend(str(p) for p in check_rule_file(path, data, seen))
            scan(path, data, allow)
        problems.extend(_unsynced_index(ctx))
    elif paths:
        seen = {}
        for p in paths:
            rel = Path(p).as_posix()
            marker = rel.find("rules/")
            rel = rel[marker:] if marker >= 0 else rel
            try:
                data = Path(p).read_bytes()
            except OSError as exc:
                problems.append(f"{p}: {exc.strerror}")
                continue
            problems.extend(str(x) for x in check_rule_file(rel, data, seen))
            scan(rel, data, ())
    else:
        store = _store(ctx)
        allow = _scan_allow(store)
        # like a linter: the files as they are now, committed or not (each scanned)
        on_disk = (
            store.check_worktree(
                lambda path, data: scan(path, data, allow) if path.endswith(".md") else None
            )
            if at is None
            else None
        )
        if on_disk is not None:
            problems.extend(str(p) for p in on_disk)
        # the revision (HEAD without --at): what is committed, where it differs
        for problem in map(str, store.check(at)):
            if problem not in problems:
                problems.append(problem)
        if on_disk is None:
            for entry in store.rule_entries(at).values():
                scan(entry.path, store.read_blob(entry.blob), allow)
    if as_json:
        _emit_json({"ok": not problems, "problems": problems})
    else:
        for line in problems:
            click.echo(line, err=True)
        if not problems and commit_msg is None and not staged:
            click.echo("ok: the rule files are valid", err=True)
    if problems:
        raise SystemExit(1)


def _verdict(problems: list[str], as_json: bool, ok: str) -> None:
    """Print a check's problems (exit 1) or that it is ok."""
    if as_json:
        _emit_json({"ok": not problems, "problems": problems})
    for line in problems if not as_json else ():
        click.echo(f"refused: {line}", err=True)
    if problems:
        raise SystemExit(1)
    if not as_json:
        click.echo(f"ok: {ok}", err=True)


def _unsynced_index(ctx: click.Context) -> list[str]:
    """Paths where a killed imlgit left git's index behind main: committing would undo it."""
    try:
        found = _store(ctx).unsynced()
    except ImlgitError:
        return []
    return [
        f"{u.path}: {u.detail()}; run imlgit doctor --repair, then commit again" for u in found
    ]


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def _staged_rule_files() -> list[tuple[str, bytes]]:
    names = _git("diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z", "--", "rules/")
    out = []
    for raw in names.split(b"\0"):
        if raw:
            path = raw.decode("utf-8", errors="replace")
            out.append((path, _git("show", f":{path}")))
    return out


def _other_indexed_ids(staged: set[str]) -> dict[str, str]:
    """rule id -> path of the rule files in git's index that this commit leaves as they
    are: a staged file claiming one of those ids is a second file for it."""
    from ..rules import rule_id_from_path

    out: dict[str, str] = {}
    for raw in _git("ls-files", "-z", "--", "rules/").split(b"\0"):
        path = raw.decode("utf-8", errors="replace")
        rid = rule_id_from_path(path) if raw else None
        if rid is not None and path not in staged:
            out.setdefault(rid, path)
    return out


def _check_commit_msg(file: str) -> list[str]:
    names = _git("diff", "--cached", "--name-only", "-z", "--", "rules/")
    if not names.strip(b"\0"):
        return []
    gitdir = _git("rev-parse", "--git-dir").decode().strip()
    if Path(gitdir, "MERGE_HEAD").exists():
        return []
    from ..commits import CommitMessage

    text = Path(file).read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    msg = CommitMessage.parse("\n".join(lines))
    if not msg.rationale.strip():
        return [
            f"{file}: this commit changes rules/ but its message has no rationale: "
            "add a paragraph after the subject line saying why"
        ]
    return []


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
