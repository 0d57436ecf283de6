"""A library that never prints: no module of imlgit/ writes to stdout or stderr,
except the few whose job is to print, listed here with why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "imlgit"

# Whole modules that print on purpose: the command line and the tour it runs.
EXEMPT_MODULES = {
    "imlgit/cli.py": "the command line (click.echo is its output)",
    "imlgit/__main__.py": "python -m imlgit: the command line",
    "imlgit/tour.py": "make demo: a walk-through printed for a person",
    "imlgit/bench/__main__.py": "python -m imlgit.bench: a command line",
}
EXEMPT_PACKAGES = {
    "imlgit/cli/": "the command line as a package, one module per command group",
}
# Functions that are a command line inside a library module: they print the report
# the rest of the module returns as data.
EXEMPT_FUNCTIONS = {
    ("imlgit/bench/cli_support.py", "main"): "imlgit bench: the report and where it went",
    ("imlgit/bench/truthtable_bench.py", "main"): "the benchmark script: its report",
}

_STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}
_PRINTERS = {("click", "echo"), ("click", "secho"), ("traceback", "print_exc"),
             ("traceback", "print_exception"), ("traceback", "print_stack"),
             ("pprint", "pprint")}  # fmt: skip


def _prints(node: ast.AST) -> str | None:
    """What ``node`` does that prints, or None."""
    if isinstance(node, ast.Name) and node.id in ("print", "pprint"):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner, name = node.value.id, node.attr
        if owner == "sys" and name in _STREAMS:
            return f"sys.{name}"
        if (owner, name) in _PRINTERS:
            return f"{owner}.{name}"
    if isinstance(node, ast.ImportFrom) and node.module == "sys":
        named = [a.name for a in node.names if a.name in _STREAMS]
        if named:
            return f"from sys import {', '.join(named)}"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "write"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "os"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in (1, 2)
    ):
        return f"os.write({node.args[0].value}, ...)"
    return None


def printing_sites(rel: str, source: str) -> list[str]:
    """``path:line what`` for each place the module prints, outside its exempt functions."""
    tree = ast.parse(source, filename=rel)
    exempt: set[int] = set()
    for top in tree.body:
        if (
            isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (rel, top.name) in EXEMPT_FUNCTIONS
        ):
            exempt.update(id(n) for n in ast.walk(top))
    found = [
        (getattr(n, "lineno", 0), getattr(n, "col_offset", 0), what)
        for n in ast.walk(tree)
        if id(n) not in exempt and (what := _prints(n)) is not None
    ]
    return [f"{rel}:{line} {what}" for line, _, what in sorted(found)]


def library_modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in EXEMPT_MODULES or any(rel.startswith(p) for p in EXEMPT_PACKAGES):
            continue
        out.append(rel)
    return out


def test_no_library_module_prints() -> None:
    modules = library_modules()
    # every package of the library is scanned, not a chosen few
    for expected in ("imlgit/memory.py", "imlgit/store/__init__.py", "imlgit/git/repo.py",
                     "imlgit/index/core.py",
                     "imlgit/learners/covering.py", "imlgit/bench/harness.py",
                     "imlgit/mcp_server.py", "imlgit/llm/client.py"):  # fmt: skip
        assert expected in modules
    found = [s for rel in modules for s in printing_sites(rel, (ROOT / rel).read_text("utf-8"))]
    assert found == []


def test_the_check_finds_what_prints() -> None:
    """The detector can fail: the tour prints, and each way of printing is seen."""
    tour = printing_sites("imlgit/tour.py", (PACKAGE / "tour.py").read_text("utf-8"))
    assert any(s.endswith(" print") for s in tour)
    source = (
        "import sys, os, click, traceback\n"
        "from sys import stderr\n"
        "def f():\n"
        "    print('x')\n"
        "    sys.stdout.write('x')\n"
        "    log = print\n"
        "    click.echo('x')\n"
        "    traceback.print_exc()\n"
        "    os.write(2, b'x')\n"
        "    os.write(fd, b'x')\n"  # a file descriptor of its own: not a print
        "def main():\n"
        "    print('the report')\n"
    )
    sites = printing_sites("imlgit/bench/cli_support.py", source)
    assert [s.split(":", 1)[1] for s in sites] == [
        "2 from sys import stderr",
        "4 print",
        "5 sys.stdout",
        "6 print",
        "7 click.echo",
        "8 traceback.print_exc",
        "9 os.write(2, ...)",
    ]
    # main is exempt only where it is listed
    assert printing_sites("imlgit/memory.py", source)[-1].endswith(":12 print")
