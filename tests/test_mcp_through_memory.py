"""The MCP server reaches the memory only through Memory's own methods.

tests/test_architecture.py keeps its imports to Memory (and the value types and
validators it shows); this keeps it from walking past Memory to the objects
behind it (``self.memory.store``, ``mem.store``: the store, and through it git).
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "imlgit"
SERVER = [PKG / "mcp_server.py", PKG / "mcp_tools.py"]


def test_mcp_server_goes_through_memory_only() -> None:
    reached = []
    for path in SERVER:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        reached += sorted(
            f"{path.name} line {node.lineno}: .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "store"
        )
    assert reached == [], "the MCP server reaches past Memory: " + ", ".join(reached)
