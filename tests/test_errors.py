"""One error tree (issue 19): the tree drawn in errors.py is the classes' hierarchy,
every error is exported and raised somewhere, the bare root is never raised, and
bad parameters at the public boundaries are ConfigError, never ValueError."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PERSON

import imlgit
from imlgit import errors

PACKAGE = Path(imlgit.__file__).parent
CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type)
    and issubclass(cls, errors.ImlgitError)
    and cls.__module__ == errors.__name__
}


def _drawn() -> dict[str, str | None]:
    """Each class the docstring draws, with the parent it is drawn under (the last
    class drawn to its left)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^(.*?── |\s*)(ImlgitError|[A-Z]\w+)(\s|$)", line)
        if not m or ("── " not in line and m.group(2) != "ImlgitError"):
            continue
        column, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((column, name))
    return parents


def test_the_drawn_tree_is_the_class_hierarchy() -> None:
    drawn = _drawn()
    public = {n for n in CLASSES if not n.startswith("_")}
    assert set(drawn) == public, "every error drawn once, and only errors that exist"
    for name, parent in drawn.items():
        base = next(b for b in CLASSES[name].__mro__[1:] if not b.__name__.startswith("_"))
        expected = None if name == "ImlgitError" else base.__name__
        assert parent == expected, f"{name} is drawn under {parent}, derives from {expected}"


def test_every_error_is_exported() -> None:
    for name in CLASSES:
        if not name.startswith("_"):
            assert name in imlgit.__all__ and getattr(imlgit, name) is CLASSES[name]


def _calls() -> tuple[set[str], list[str]]:
    """Names called anywhere in imlgit outside errors.py, and where the root is raised."""
    called: set[str] = set()
    bare: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called.add(node.func.id)
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                if isinstance(func, ast.Name) and func.id == "ImlgitError":
                    bare.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return called, bare


def test_every_error_is_raised_somewhere_and_the_root_never() -> None:
    called, bare = _calls()
    assert bare == [], "raise a specific error, not the root"
    never = sorted(n for n in CLASSES if n not in called and n not in ("ImlgitError", "_Located"))
    assert never == [], f"exported but never raised: {never}"


def test_bad_parameters_are_config_errors_not_value_errors(tmp_path: Path) -> None:
    from imlgit.commits import CommitMessage, Identity, parse_identity
    from imlgit.hygiene import plan_prune
    from imlgit.learn import LearnSettings
    from imlgit.learners.covering import induce_rules
    from imlgit.scan import scan_text

    cases = [
        lambda: scan_text("x", allow=["(unclosed"]),
        lambda: induce_rules([], max_conditions=0),
        lambda: LearnSettings(momentum=-1),
        lambda: LearnSettings(batch=0),
        lambda: plan_prune([]),
        lambda: Identity("", "a@b"),
        lambda: parse_identity("no brackets"),
    ]
    for case in cases:
        with pytest.raises(errors.ConfigError):
            case()
    with pytest.raises(errors.MessageError, match="one line"):
        CommitMessage.make("add", "two\nlines", "Why.")
    with pytest.raises(errors.MessageError, match="trailer"):
        CommitMessage("add: x", "Why.", (("bad key", "v"),)).validate()


def test_restoring_an_active_rule_is_an_outcome(tmp_path: Path) -> None:
    """A restore of an active rule: exit 0, a note, nothing written (a StoreError
    before; Store.restore returns None)."""
    from imlgit.cli import cli
    from imlgit.store import Store

    repo = tmp_path / "m"
    store = Store.init(repo, author=PERSON)
    runner = CliRunner()
    rid = "r-example-rationale"
    base = ["--repo", str(repo)]
    why = ["--why", "Checking what an unchanged write does."]
    head = store.head()
    restore = runner.invoke(cli, [*base, "restore", rid, *why])
    assert restore.exit_code == 0 and "is active; nothing to restore" in restore.output
    assert Store.open(repo).head() == head


def test_retiring_a_retired_rule_is_an_outcome(tmp_path: Path) -> None:
    from imlgit.cli import cli
    from imlgit.store import Store

    store = Store.init(tmp_path / "m", author=PERSON)
    head = store.head()
    runner = CliRunner()
    argv = ["--repo", str(tmp_path / "m"), "rule", "retire", "r-example-rationale", "--why",
            "It was never a rule of this memory."]  # fmt: skip
    first = runner.invoke(cli, argv)
    assert first.exit_code == 0, first.output
    retired = Store.open(tmp_path / "m").head()
    assert retired != head
    again = runner.invoke(cli, argv)
    assert again.exit_code == 0 and "already retired; nothing to commit" in again.output
    assert Store.open(tmp_path / "m").head() == retired  # nothing written
