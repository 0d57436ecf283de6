"""``imlgit check``: what the git hooks and a forge's CI call."""

from __future__ import annotations

import os

import click

from ..errors import ImlgitError
from .common import at_option, emit_json, json_option, open_store


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
    from .. import checking

    if history:
        done = checking.check_history(open_store(ctx), history)
        _verdict(done.problems, as_json, f"every commit imlgit wrote in {history}'s history "
                 "is inside an approval that counts")  # fmt: skip
        return
    quarantine = os.environ.get("GIT_QUARANTINE_PATH")  # pre-receive: pushed objects wait there
    if move:
        old, new = move
        problems: list[str] = []
        if not checking.no_commit(new):  # main deleted: not a move this check judges
            problems = checking.check_move(
                open_store(ctx), None if checking.no_commit(old) else old, new,
                quarantine=quarantine,
            ).problems  # fmt: skip
        if problems and not as_json and not quarantine:
            # git reset, merge and checkout update the working tree before the ref
            click.echo("note: git may have changed the working tree already; `git reset "
                       "--hard` (main as it is) puts it back", err=True)  # fmt: skip
        _verdict(problems, as_json, "main may move; every commit imlgit wrote is inside an "
                 "approval")  # fmt: skip
        return
    if commit_msg is not None:
        done = checking.check_commit_msg(commit_msg)
    elif staged:
        try:
            store = open_store(ctx)
        except ImlgitError:  # not in a memory: git's index alone
            store = None
        done = checking.check_staged(store)
    elif paths:
        done = checking.check_paths(paths)
    else:
        done = checking.check_memory(open_store(ctx), at)
    problems = done.problems
    if as_json:
        emit_json(done)
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
