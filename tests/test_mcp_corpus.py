"""`imlgit mcp` over raw stdio: every malformed line of tests/corpus/mcp gets an answer.

One server process for the module, driven line by line (not through the SDK's
client, which would refuse to send most of these). After each message the
server must still answer a ping, and the memory must be as it was.
"""

from __future__ import annotations

import gzip
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import PERSON
from test_mcp import snapshot

from imlgit.store import Store

pytestmark = pytest.mark.slow  # one real MCP server process for the corpus: ~10 s to start
CORPUS = Path(__file__).parent / "corpus" / "mcp"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text())
HANG = 60  # seconds without an answer that count as a hang (a guard, not a speed test)


def message(name: str) -> bytes:
    data = (CORPUS / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


@dataclass
class Wire:
    """A running `imlgit mcp` and its stdout, line by line."""

    path: Path
    proc: subprocess.Popen[bytes]
    lines: queue.Queue[bytes]

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line if line.endswith(b"\n") else line + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=HANG)
        except queue.Empty:
            pytest.fail(f"no answer within {HANG} s")
        got: dict[str, Any] = json.loads(line)
        return got

    def request(self, rid: object, method: str, params: dict[str, Any] | None = None) -> Any:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(json.dumps(msg).encode())
        got = self.answer()
        assert got.get("id") == rid and "result" in got, got
        return got["result"]


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    root = tmp_path_factory.mktemp("mcp-wire")
    path = root / "mem"
    Store.init(path, author=PERSON).close()
    home = root / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "IMLGIT_AUTHOR": str(PERSON),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    with open(root / "server.log", "wb") as errlog:
        proc = subprocess.Popen(
            [sys.executable, "-m", "imlgit", "--repo", str(path), "mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            env=env,
        )
        lines: queue.Queue[bytes] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout
        reader = threading.Thread(target=lambda: [lines.put(b) for b in out], daemon=True)
        reader.start()
        w = Wire(path, proc, lines)
        try:
            init = w.request(
                "init",
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "corpus", "version": "1"},
                },
            )
            assert init["serverInfo"]["name"] == "imlgit"
            w.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
            yield w
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=HANG)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(timeout=HANG)
            out.close()
        log = (root / "server.log").read_text(encoding="utf-8", errors="replace")
        assert proc.returncode == 0, log
        assert "Traceback" not in log, log


def test_the_corpus_is_complete() -> None:
    files = {p.name for p in CORPUS.iterdir()} - {"expected.json", "README.md"}
    assert files == set(EXPECTED)
    assert len(files) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_malformed_message_is_answered_and_changes_nothing(wire: Wire, name: str) -> None:
    expected = EXPECTED[name]
    before = snapshot(wire.path)
    wire.send(message(name))
    got = wire.answer()
    assert got["jsonrpc"] == "2.0"
    assert got["id"] == expected["id"]
    if "tool_error" in expected:
        result = got["result"]
        assert result["isError"] is True
        text = result["content"][0]["text"]
        assert expected["tool_error"] in text
        assert "pydantic" not in text and "http" not in text
    else:
        assert got["error"]["code"] == expected["code"], got
        assert got["error"]["message"]
    assert wire.request(f"after-{name}", "ping") == {}
    assert snapshot(wire.path) == before


def test_a_valid_tool_call_still_works_after_the_corpus(wire: Wire) -> None:
    for name in sorted(EXPECTED):
        wire.send(message(name))
        wire.answer()
    got = wire.request(
        "last",
        "tools/call",
        {"name": "record_experience", "arguments": {"input": "a", "outcome": 1.0, "id": "ok-1"}},
    )
    assert got["isError"] is False and got["structuredContent"] == {"id": "ok-1", "journal": 1}
