"""The README's commands are the CLI's (issue 16): every ``$ imlgit ...`` line in a
console block parses with the real command line (command, options, arguments), and
the command-line tour (the first console block of "A 60-second tour", ``imlgit init``
through ``imlgit check``) is replayed in a fresh directory, each command's shown
output compared with what it prints now (commit ids and times masked: they differ on
every run)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import click
import pytest

from imlgit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
_BLOCK = re.compile(r"^ *```console\n(.*?)^ *```", re.S | re.M)
# The tour the replay runs: the first console block of "## A 60-second tour" (the one
# done by hand; the next one is `make demo`'s output, which tests/test_tour.py checks).
_TOUR_AT = README.index("## A 60-second tour")
TOUR = README[_TOUR_AT : README.index("\n## ", _TOUR_AT + 1)]


def console_blocks(text: str) -> list[list[tuple[str, list[str]]]]:
    """Each console block as (command line, the output lines shown after it)."""
    blocks = []
    for m in _BLOCK.finditer(text):
        steps: list[tuple[str, list[str]]] = []
        lines = [line.strip() if line.lstrip().startswith("$") else line
                 for line in m.group(1).splitlines()]  # fmt: skip
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    command = command[:-1] + " " + lines[i].strip()
                steps.append((command, []))
            elif steps:
                steps[-1][1].append(line.rstrip())
            i += 1
        blocks.append(steps)
    return blocks


def imlgit_args(command: str) -> list[str] | None:
    """The arguments of an ``imlgit`` command line (None for other commands)."""
    words = shlex.split(command, comments=True)
    if not words or words[0] != "imlgit":
        return None
    return words[1:]


def resolve(args: list[str]) -> click.Command:
    """Parse ``args`` as the CLI does, without running anything."""
    ctx = cli.make_context("imlgit", list(args))
    cmd: click.Command = cli
    while isinstance(cmd, click.Group):
        with warnings.catch_warnings():  # click 8.2 deprecates the name, not the value
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*ctx.protected_args, *ctx.args]
        if not rest:
            break
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    return cmd


ALL = [(cmd, out) for block in console_blocks(README) for cmd, out in block]


@pytest.mark.parametrize("command", sorted({c for c, _ in ALL if imlgit_args(c) is not None}))
def test_every_readme_command_parses(command: str) -> None:
    args = imlgit_args(command)
    assert args is not None
    try:
        resolve(args)
    except click.ClickException as exc:  # a renamed option, a missing argument
        pytest.fail(f"README.md: `{command}`: {exc.format_message()}")


_MASKS = [
    (re.compile(r"\b[0-9a-f]{40}\b"), "<sha>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<sha>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"), "<time>"),
    (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"), "<time>"),
]


def mask(text: str) -> str:
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text


@pytest.mark.slow
def test_the_command_line_tour_prints_what_the_readme_shows(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMLGIT_")}
    env["IMLGIT_AUTHOR"] = "Ada Reviewer <ada@example.org>"  # as the README says
    cwd = tmp_path
    steps = console_blocks(TOUR)[0]
    assert len(steps) >= 8
    for command, shown in steps:
        words = shlex.split(command, comments=True)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        args = imlgit_args(command)
        assert args is not None, f"the tour runs imlgit commands only: {command}"
        # each command in a second of its own, as when a person types them: an edit
        # then moves `updated`, as the README's diff shows
        time.sleep(1.0 - time.time() % 1.0)
        done = subprocess.run(
            [sys.executable, "-m", "imlgit", *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )  # fmt: skip
        printed = mask(done.stdout).rstrip("\n").split("\n") if done.stdout.strip() else []
        expected = mask("\n".join(shown)).rstrip("\n")
        assert printed == (expected.split("\n") if expected else []), (
            f"README.md: `{command}` printed:\n{done.stdout}"
        )
