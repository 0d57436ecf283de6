"""Memory reads what its settings say, on main unless told otherwise (issue 14).

HashEmbedder is the deterministic test embedder of tests/fakes.py, passed in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PERSON
from fakes import HashEmbedder

from imlgit.commits import CommitMessage
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store


def test_the_env_given_to_open_decides_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mem.chat read OPENAI_BASE_URL from os.environ although open(env=...) said otherwise."""
    Store.init(tmp_path / "m", author=PERSON)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://elsewhere.invalid/v1")
    monkeypatch.setenv("IMLGIT_MODEL", "from-the-process")
    mem = Memory.open(
        tmp_path / "m", env={"IMLGIT_BASE_URL": "http://127.0.0.1:9/v1", "IMLGIT_MODEL": "given"}
    )
    chat = mem.chat
    assert chat.settings.base_url == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert chat.settings.model == "given"  # type: ignore[attr-defined]
    assert not Memory.open(tmp_path / "m", env={}).model_configured()


def _rule(rid: str, statement: str) -> Rule:
    return Rule(
        id=rid,
        title=statement[:30],
        statement=statement,
        scope="ship",
        created="2026-11-01T00:00:00Z",
        updated="2026-11-01T00:00:00Z",
    )


def test_recall_and_ask_read_main_not_the_checked_out_branch(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "m", author=PERSON)
    msg = CommitMessage.make("add", "x", "A rule for the test.")
    main_rule = _rule("r-on-main", "Heavy parcels go by sea.")
    store.put_rule(main_rule, msg, author=PERSON)
    store.create_branch("other")
    store.put_rule(
        _rule("r-on-other", "Heavy parcels go by air."), msg, author=PERSON, branch="other"
    )
    store.repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/other")
    mem = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())
    got = [r.rule.id for r in mem.recall("heavy parcels", scope="ship")]
    assert "r-on-main" in got and "r-on-other" not in got
    assert mem.ask("heavy parcels", scope="ship", use_model=False).commit == store.head("main")
    at_other = [r.rule.id for r in mem.recall("heavy parcels", scope="ship", at="other")]
    assert "r-on-other" in at_other


def test_recall_takes_k_from_the_settings(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "m", author=PERSON)
    msg = CommitMessage.make("add", "x", "A rule for the test.")
    for i in range(6):
        store.put_rule(
            _rule(f"r-{i}", f"Parcel rule number {i} about parcels."), msg, author=PERSON
        )
    config = store.read_file("imlgit.toml").decode() + "\n"
    config = config.replace("[retrieval]\n# k = 8", "[retrieval]\nk = 2")
    store.commit({"imlgit.toml": config.encode()}, msg, author=PERSON)
    mem = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())
    assert len(mem.recall("parcels")) == 2


@pytest.mark.slow
def test_importing_and_using_the_library_leaves_the_environment_alone(tmp_path: Path) -> None:
    """Importing imlgit (and opening an index) set HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE
    and OMP_WAIT_POLICY for the whole host process."""
    Store.init(tmp_path / "m", author=PERSON)
    code = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "before = dict(os.environ)\n"
        "import imlgit\n"
        "from imlgit.memory import Memory\n"
        "from fakes import HashEmbedder\n"
        "mem = Memory.open(sys.argv[1], env={}, embedder=HashEmbedder())\n"
        "mem.recall('anything')\n"
        "keys = set(before) | set(os.environ)\n"
        "changed = {k for k in keys if before.get(k) != os.environ.get(k)}\n"
        "print(sorted(changed))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "OMP_WAIT_POLICY")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "m"), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_recall_command_leaves_k_to_the_settings() -> None:
    """`imlgit recall` passed -k 8 by default, so [retrieval] k was never read."""
    from imlgit.cli import cli

    recall = cli.commands["recall"]  # type: ignore[attr-defined]
    assert recall.make_context("recall", ["a query"]).params["k"] is None
