"""The MCP server reaches the memory only through Memory's own methods.

tests/test_architecture.py keeps its imports to Memory (and the value types and
validators it shows); this keeps it from walking past Memory to the objects
behind it (``self.memory.store``, ``mem.store``: the store, and through it git).
"""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "imlgit" / "mcp_server.py"


def test_mcp_server_goes_through_memory_only() -> None:
    tree = ast.parse(SERVER.read_text(encoding="utf-8"), filename=str(SERVER))
    reached = sorted(
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "store"
    )
    assert reached == [], "the MCP server reaches past Memory: " + ", ".join(reached)
