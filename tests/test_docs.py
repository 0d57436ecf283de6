"""Docs that cannot drift: every CLI command has help text and is shown in the README."""

from __future__ import annotations

from pathlib import Path

import click

from imlgit.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def commands(group: click.Group, prefix: str = "imlgit") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out.extend(commands(cmd, path))
    return out


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = []
    for path, cmd in commands(cli):
        assert cmd.help and cmd.help.strip(), f"{path} has no help text"
        words = path.split()
        # "imlgit rule add" may be documented as "imlgit rule add | edit | ..." too
        if path not in readme and not (
            len(words) == 3 and f"imlgit {words[1]} " in readme and f" {words[2]}" in readme
        ):
            missing.append(path)
    assert not missing, f"not in README.md: {missing}"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_rule_format_spec_matches_the_parser() -> None:
    from imlgit.rules import _KEYS  # the fields the parser knows

    spec = (ROOT / "RULE-FORMAT.md").read_text(encoding="utf-8")
    for key in _KEYS:
        assert f"| `{key}` |" in spec, f"RULE-FORMAT.md does not document {key}"
