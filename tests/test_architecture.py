"""The layering, checked by parsing every import of every module (never by convention).

Each module of ``imlgit`` belongs to one layer of LAYERS (top first). A module may
import a module of a lower layer, and, inside its own layer, only a module of its
own package (``imlgit.git.refs`` may import ``imlgit.git.objects``). Every import
counts: at the top, inside a function, under ``TYPE_CHECKING``. A new module must
be placed in LAYERS before it can land, and no import cycle may exist anywhere.
Beside the layers: dulwich only inside ``imlgit/git/``, click only inside the CLI,
the MCP server reaching the library only through ``Memory`` (and the value types
and validators it shows its clients), heavy libraries imported inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "imlgit"

# Top first. An entry names a module or a package (a package covers its modules).
LAYERS: list[tuple[str, ...]] = [
    # python -m imlgit, python -m imlgit.bench, the truth-table benchmark's first command
    ("imlgit.__main__", "imlgit.bench.__main__", "imlgit.bench.truthtable_bench"),
    ("imlgit.cli", "imlgit.tour"),  # the command line, the demo
    ("imlgit.bench",),  # benchmarks: they drive Memory and the engines below
    ("imlgit.mcp_server",),  # the MCP server: the SDK wired to the tools
    ("imlgit.mcp_tools",),  # the MCP tools as plain Python over Memory
    ("imlgit",),  # the public API (imlgit/__init__.py)
    ("imlgit.memory",),  # the facade every interface uses
    ("imlgit.doctor", "imlgit.sync", "imlgit.reviewtext"),
    ("imlgit.learning_run", "imlgit.proposing"),  # a learning run; a rule an agent proposes
    ("imlgit.review",),  # the review a person reads
    ("imlgit.policy",),  # gates, decisions, the policy approving; review statistics
    ("imlgit.authoring", "imlgit.checking"),  # rules written by hand; imlgit check
    ("imlgit.learn", "imlgit.hygiene", "imlgit.infer", "imlgit.journal"),
    ("imlgit.revise",),  # one operation against the working rules: gates, momentum
    ("imlgit.proposals",),  # proposal branches, approve / reject, rejection records
    (
        "imlgit.fold",  # a learning run's proposal folded
        "imlgit.learners",
        "imlgit.identity",
        "imlgit.privacy",
        "imlgit.counting",
        "imlgit.checkindex",
        "imlgit.rulefiles",
    ),
    ("imlgit.evidence",),  # the stored experiences behind every rationale
    ("imlgit.retrieval",),  # the retrieval index wired to the store
    ("imlgit.verify",),
    ("imlgit.store", "imlgit.index", "imlgit.llm"),
    ("imlgit.embed", "imlgit.config"),  # config reads git's user.name through imlgit.git
    ("imlgit.git", "imlgit.approvals", "imlgit.parsecache", "imlgit.minilm"),
    ("imlgit.experience", "imlgit.bert_onnx"),
    ("imlgit.rules",),
    ("imlgit.frontmatter",),  # YAML front matter read safely (libyaml, bounded)
    ("imlgit.rulecheck",),  # a rule's fields checked
    ("imlgit.statements",),  # a rule's sentence against its form
    ("imlgit.conditions", "imlgit.ruleids"),
    ("imlgit.commits", "imlgit.locking", "imlgit.scan"),
    # dulwich's trailer parser (commits reads messages with it), importing nothing of imlgit
    ("imlgit.git.trailers",),
    ("imlgit.errors", "imlgit.inputs", "imlgit.resources", "imlgit.mcp_stdio"),
]

# What the MCP server may import from imlgit: Memory, the errors it turns into
# tool errors, and the validators and limits it states in its tool schemas.
MCP_ALLOWED = {
    "imlgit.memory",
    "imlgit.errors",
    "imlgit.experience",
    "imlgit.rules",
    "imlgit.mcp_stdio",
}

HEAVY = {"torch", "sentence_transformers", "faiss", "openai", "xllamacpp", "transformers"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts
    }


def imports(path: Path) -> list[tuple[str, bool, int]]:
    """(module, at module level?, line) for every import in a file, relative ones
    resolved (``from . import x`` names ``imlgit.x`` when that is a module)."""
    known = modules()
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    out: list[tuple[str, bool, int]] = []
    for node in ast.walk(tree):
        at_top = id(node) in top
        if isinstance(node, ast.Import):
            out += [(a.name, at_top, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{anchor}.{base}" if base else anchor
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub if sub in known else base, at_top, node.lineno))
    return out


def internal_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        deps = set()
        for mod, _, _ in imports(path):
            while mod and mod not in known:  # imlgit.store.Store -> imlgit.store
                mod = mod.rpartition(".")[0]
            if mod.startswith("imlgit") and mod != name:
                deps.add(mod)
        graph[name] = deps
    return graph


def placement(name: str) -> tuple[int, str] | None:
    """(layer, entry) of the most specific LAYERS entry covering module ``name``."""
    best: tuple[int, str] | None = None
    for i, layer in enumerate(LAYERS):
        for entry in layer:
            covers = name == entry or (entry != "imlgit" and name.startswith(entry + "."))
            if covers and (best is None or len(entry) > len(best[1])):
                best = (i, entry)
    return best


def test_every_module_has_a_place() -> None:
    unplaced = [m for m in modules() if placement(m) is None]
    assert not unplaced, f"place these modules in LAYERS: {unplaced}"


def test_every_layer_entry_exists() -> None:
    known = modules()
    stale = [e for layer in LAYERS for e in layer if e not in known]
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_imports_only_point_down() -> None:
    wrong = []
    for name, deps in internal_graph().items():
        mine = placement(name)
        assert mine is not None
        for dep in deps:
            theirs = placement(dep)
            assert theirs is not None
            if theirs[0] > mine[0]:
                continue  # a lower layer
            if theirs == mine and mine[1] != "imlgit":
                continue  # a module of the same package
            wrong.append(f"{name} (layer {mine[0]}) imports {dep} (layer {theirs[0]})")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    graph = internal_graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_dulwich_only_in_the_git_layer() -> None:
    found = [
        f"{name}:{line}"
        for name, path in modules().items()
        if not name.startswith("imlgit.git.")
        for mod, _, line in imports(path)
        if mod.split(".")[0] == "dulwich"
    ]
    assert not found, f"dulwich imported outside imlgit/git/: {found}"


def test_click_only_in_the_cli() -> None:
    found = [
        f"{name}:{line}"
        for name, path in modules().items()
        if name != "imlgit.cli" and not name.startswith("imlgit.cli.")
        for mod, _, line in imports(path)
        if mod.split(".")[0] == "click"
    ]
    assert not found, f"click imported outside the CLI: {found}"


def test_mcp_server_goes_through_memory() -> None:
    graph = internal_graph()
    for name, allowed in (("imlgit.mcp_server", MCP_ALLOWED | {"imlgit.mcp_tools"}),
                          ("imlgit.mcp_tools", MCP_ALLOWED)):  # fmt: skip
        assert graph[name] - allowed == set(), f"{name} imports {sorted(graph[name] - allowed)}"


def test_heavy_libraries_imported_inside_functions() -> None:
    """So `imlgit log` starts fast: torch and friends load only when used."""
    found = [
        f"{name}:{line} {mod}"
        for name, path in modules().items()
        for mod, top, line in imports(path)
        if top and mod.split(".")[0] in HEAVY
    ]
    assert not found, f"heavy libraries imported at module level: {found}"


def test_the_checker_sees_a_wrong_arrow(tmp_path: Path) -> None:
    """The parser under these tests finds each kind of import it must judge."""
    src = tmp_path / "imlgit" / "git" / "fake.py"
    src.parent.mkdir(parents=True)
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from .. import memory\n"
        "from ..store import Store\n"
        "if TYPE_CHECKING:\n    from ..index import RuleIndex\n"
        "def f():\n    import click\n",
        encoding="utf-8",
    )
    global PKG
    saved, PKG = PKG, tmp_path / "imlgit"
    try:
        for stub in ("memory.py", "store.py", "index.py"):
            (PKG / stub).write_text("", encoding="utf-8")
        found = {(m, top) for m, top, _ in imports(src)}
    finally:
        PKG = saved
    assert ("imlgit.memory", True) in found
    assert ("imlgit.store", True) in found
    assert ("imlgit.index", False) in found  # under TYPE_CHECKING: counted, not at top
    assert ("click", False) in found


def test_log_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom imlgit import cli, store, rules, commits, config\n"
        "from imlgit.git import history\n"
        "print(sorted(m for m in ('torch','faiss','sentence_transformers','openai') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_package_ships_in_the_wheel() -> None:
    """pyproject lists packages by hand: a new package left out breaks the wheel."""
    import tomllib

    listed = set(
        tomllib.loads((PKG.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
            "setuptools"
        ]["packages"]
    )
    packages = {module_name(p) for p in PKG.rglob("__init__.py") if "__pycache__" not in p.parts}
    assert packages - listed == set(), f"add to [tool.setuptools] packages: {packages - listed}"
