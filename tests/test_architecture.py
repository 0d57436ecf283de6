"""Layering, checked by parsing imports (never by convention alone)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "imlgit"

# module -> imlgit modules it must never import
FORBIDDEN = {
    "store": {"index", "embed", "llm", "learn", "infer", "review", "cli"},
    "history": {"index", "embed", "llm", "learn", "infer", "review", "cli"},
    "rules": {"store", "index", "embed", "llm", "learn", "infer", "review", "cli"},
    "commits": {"store", "index", "embed", "llm", "learn", "cli"},
    "index": {"store", "llm", "learn", "cli"},
    "embed": {"store", "llm", "learn", "cli"},
    "llm": {"store", "index", "learn", "cli"},
}
HEAVY = {"torch", "sentence_transformers", "faiss", "openai", "xllamacpp", "transformers"}


def imports(path: Path) -> list[tuple[str, bool]]:
    """(module, at top level?) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = "imlgit." + mod if mod else "imlgit"
                if not node.module:
                    out += [("imlgit." + a.name, id(node) in top) for a in node.names]
                    continue
            out.append((mod, id(node) in top))
    return out


def modules() -> list[Path]:
    return [p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts]


def test_layering() -> None:
    for path in modules():
        name = path.stem
        banned = FORBIDDEN.get(name, set())
        for mod, _ in imports(path):
            parts = mod.split(".")
            if parts[0] == "imlgit" and len(parts) > 1:
                assert parts[1] not in banned, f"{path.name} imports imlgit.{parts[1]}"


def test_click_only_in_cli() -> None:
    for path in modules():
        if path.name == "cli.py":
            continue
        for mod, _ in imports(path):
            assert mod.split(".")[0] != "click", f"{path} imports click"


def test_heavy_libraries_imported_inside_functions() -> None:
    """So `imlgit log` starts fast: torch and friends load only when used."""
    for path in modules():
        for mod, top in imports(path):
            if mod.split(".")[0] in HEAVY:
                assert not top, f"{path.relative_to(PKG.parent)} imports {mod} at module level"


def test_log_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom imlgit import cli, store, rules, commits, config\nfrom imlgit.git import history\n"
        "print(sorted(m for m in ('torch','faiss','sentence_transformers','openai') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
