"""What the commands share: the common options, opening the memory, the one JSON
serializer (``--json``), the rationale a change needs (``--why``)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ImlgitError

if TYPE_CHECKING:
    from ..memory import Memory
    from ..store import Store

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def emit_json(data: Any) -> None:
    """The one serializer every ``--json`` shares."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def find_repo(start: str | None) -> str:
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


def open_store(ctx: click.Context) -> Store:
    from ..store import Store

    return Store.open(find_repo(ctx.obj.get("repo")))


def person_of(store: Any) -> Any:
    from ..config import person_identity

    return person_identity(os.environ, str(store.path))


def need_why(why: str | None) -> str:
    """The rationale given with --why: required, and refused when it carries a secret
    or personal data (it is committed to history; imlgit.privacy)."""
    from ..errors import RationaleRequired
    from ..privacy import check_rationale

    if why is None or not why.strip():
        raise RationaleRequired('a rationale is required: pass --why "..." saying why')
    ctx = click.get_current_context(silent=True)
    try:
        allow = open_store(ctx).guard.scan_allow() if ctx is not None else ()
    except ImlgitError:  # no memory here (yet): the scan without an allowlist
        allow = ()
    check_rationale(why.strip(), allow, what="--why")
    return why.strip()


def _when(ts: int) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d %H:%M")


def print_commits(commits: Iterable[Any], *, full: bool) -> None:
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


def echo_written(sha: str | None, done: str, unchanged: str) -> None:
    """A write's outcome: ``done`` on stderr and the commit on stdout; or, when
    nothing needed committing (``sha`` None: what was asked is so already, an
    outcome, not an error), ``unchanged`` on stderr alone."""
    if sha is None:
        click.echo(unchanged, err=True)
        return
    click.echo(done, err=True)
    click.echo(sha)


def open_memory(ctx: click.Context) -> Memory:
    from ..memory import Memory

    return Memory.open(find_repo(ctx.obj.get("repo")))


def gate_of(mem: Any) -> Any:
    from ..policy import Gate

    return Gate.from_settings(mem.settings.section("review"), mem.settings.section("scan"))


def read_text(value: str | None, file: str | None, what: str) -> str | None:
    if file is not None:
        try:
            data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{file}: cannot read the {what}: {exc}") from None
    return value

