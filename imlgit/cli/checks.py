"""``imlgit check``: what the git hooks and a forge's CI call."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from ..errors import ImlgitError
from .common import (
    allow_from,
    at_option,
    emit_json,
    json_option,
    open_store,
    scan_allow,
)


@click.command()
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
        store = open_store(ctx)
        problems = [str(u) for u in store.uncovered(store.resolve(history))]
        _verdict(problems, as_json, f"every commit imlgit wrote in {history}'s history is "
                 "inside an approval that counts")  # fmt: skip
        return
    if move:
        old, new = (None if set(x) == {"0"} else x for x in move)
        if new is not None:  # main deleted: not a move this check judges
            store = open_store(ctx)
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
        allow = allow_from(staged_toml)
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
        store = open_store(ctx)
        allow = scan_allow(store)
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
        emit_json({"ok": not problems, "problems": problems})
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
        emit_json({"ok": not problems, "problems": problems})
    for line in problems if not as_json else ():
        click.echo(f"refused: {line}", err=True)
    if problems:
        raise SystemExit(1)
    if not as_json:
        click.echo(f"ok: {ok}", err=True)


def _unsynced_index(ctx: click.Context) -> list[str]:
    """Paths where a killed imlgit left git's index behind main: committing would undo it."""
    try:
        found = open_store(ctx).unsynced()
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
