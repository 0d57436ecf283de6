"""A bad rule file on main (issue 14): committed with raw bytes, as a plain ``git
commit`` or a merge made with git would, it makes only the commands that need that
rule fail, naming the file; ``check`` and ``doctor`` list it with its error, and
everything else (log, history, show of another rule, recall, ask) still works."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PERSON
from fakes import HashEmbedder

from imlgit.commits import CommitMessage
from imlgit.memory import Memory
from imlgit.rules import Rule, new_rule_path, render_rule
from imlgit.store import Store

T = "2026-11-27T08:00:00Z"
BAD = "r-bad"
BAD_PATH = new_rule_path(BAD)
HEAD = f"---\nid: {BAD}\ntitle: A bad rule\n".encode()

# Files the parser refuses with a RuleError today, and files it fails on with another
# exception (a parser bug another change bounds): both kinds must be contained.
REFUSED = {
    "missing-field": HEAD + b"scope:\n---\nAn empty scope in the front matter.\n",
    "bad-yaml": HEAD + b"scope: [unclosed\n---\nBody.\n",
}
CRASHING = {
    "complex-key": HEAD + b"scope: general\n? [a, b]\n: c\n---\nBody.\n",
    "deep-nesting": HEAD + b"scope: general\nx: " + b"[" * 5000 + b"]" * 5000 + b"\n---\nB.\n",
    "huge-integer": HEAD + b"scope: general\nsupport: " + b"9" * 5000 + b"\n---\nBody.\n",
}
ALL = {**REFUSED, **CRASHING}

Cli = Callable[..., subprocess.CompletedProcess[str]]


def good(rid: str, statement: str) -> Rule:
    return Rule(id=rid, title=f"About {rid}", statement=statement, created=T, updated=T)


def make_memory(tmp_path: Path, data: bytes) -> Path:
    store = Store.init(tmp_path / "mem", author=PERSON, install_hooks=False)
    rules = [
        good("r-sea", "Heavy parcels to an overseas address ship by sea freight."),
        good("r-refund", "A refund for a damaged item needs the customer's receipt."),
    ]
    msg = CommitMessage.make("add", "add two rules", "They hold.", rules=[r.id for r in rules])
    store.commit({r.path: render_rule(r).encode() for r in rules}, msg, author=PERSON)
    raw = CommitMessage.make("add", f"add {BAD} by hand", "Written without imlgit's checks.")
    store.commit({BAD_PATH: data}, raw, author=PERSON)  # raw bytes: no validation
    store.close()
    return tmp_path / "mem"


@pytest.fixture(params=sorted(ALL))
def bad_memory(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    return make_memory(tmp_path, ALL[request.param]), request.param


@pytest.fixture(params=sorted(REFUSED))
def refused_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return make_memory(tmp_path, REFUSED[request.param])


def no_crash(out: subprocess.CompletedProcess[str]) -> None:
    assert "unexpected" not in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.slow
def test_commands_that_do_not_need_the_bad_rule_work(
    bad_memory: tuple[Path, str], imlgit_cli: Cli
) -> None:
    repo, _ = bad_memory
    for args in (["log"], ["history", "r-sea"], ["rule", "show", "r-sea"]):
        out = imlgit_cli(*args, repo=repo)
        no_crash(out)
        assert out.returncode == 0, (args, out.stderr)
    assert "sea freight" in imlgit_cli("rule", "show", "r-sea", repo=repo).stdout
    assert "add two rules" in imlgit_cli("history", "r-sea", repo=repo).stdout


def test_check_names_the_bad_file_with_its_error(
    bad_memory: tuple[Path, str], imlgit_cli: Cli
) -> None:
    repo, kind = bad_memory
    out = imlgit_cli("check", repo=repo)
    no_crash(out)
    assert out.returncode == 1 and BAD_PATH in out.stderr
    if kind == "missing-field":
        assert "scope" in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1  # the good files are not blamed


def test_rule_list_lists_the_others_and_names_the_bad_file(
    bad_memory: tuple[Path, str], imlgit_cli: Cli
) -> None:
    repo, _ = bad_memory
    out = imlgit_cli("rule", "list", repo=repo)
    no_crash(out)
    assert out.returncode == 1
    assert "r-sea" in out.stdout and "r-refund" in out.stdout and BAD not in out.stdout
    assert f"not listed: {BAD_PATH}" in out.stderr


@pytest.mark.slow
def test_commands_that_need_every_rule_fail_naming_the_file(
    refused_memory: Path, imlgit_cli: Cli, tmp_path: Path
) -> None:
    held_out = tmp_path / "held-out.jsonl"
    held_out.write_text(
        '{"id": "e1", "scope": "general", "input": {"a": "x"}, "outcome": {"expected": "y"}}\n'
    )
    for args in (["rule", "show", BAD], ["eval", str(held_out)], ["prune", "--dry-run"]):
        out = imlgit_cli(*args, repo=refused_memory)
        no_crash(out)
        assert out.returncode == 1 and BAD_PATH in out.stderr, (args, out.stderr)


def test_recall_and_ask_leave_the_bad_rule_out_with_a_warning(
    bad_memory: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    repo, _ = bad_memory
    mem = Memory.open(repo, env={}, embedder=HashEmbedder())
    hits = mem.recall("heavy parcels overseas sea freight", k=5)
    assert hits[0].rule.id == "r-sea" and BAD not in {h.rule.id for h in hits}
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "imlgit" and r.levelno == logging.WARNING
    ]
    assert any(BAD_PATH in w for w in warned)
    caplog.clear()
    again = Memory.open(repo, env={}, embedder=HashEmbedder())  # the index remembers it
    assert again.recall("refund receipt damaged", k=1)[0].rule.id == "r-refund"
    assert any(BAD_PATH in r.getMessage() for r in caplog.records)  # and still says so
    caplog.clear()
    answer = again.ask("refund receipt damaged", use_model=False)
    # only code may answer: nothing is retrieved (no embedding), the bad file is named
    assert answer.retrieved == () and answer.path == "none"
    assert any(BAD_PATH in r.getMessage() for r in caplog.records)
    past = again.recall("heavy parcels", k=5, at="main")
    assert BAD not in {h.rule.id for h in past}


def test_doctor_reports_the_bad_file_and_checks_the_rest(bad_memory: tuple[Path, str]) -> None:
    repo, _ = bad_memory
    report = Memory.open(repo, env={}, embedder=HashEmbedder()).diagnose(confirm=False)
    (invalid,) = report.of_kind("invalid-file")
    assert invalid.path == BAD_PATH and invalid.rules == (BAD,)
    assert report.active == 3 and report.index_note is None  # the index still serves
    assert BAD_PATH in report.summary()
