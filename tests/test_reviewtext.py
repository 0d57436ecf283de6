"""`imlgit review NAME`: the net change first, the policy, then the commits.

The CLI runs in-process (click's CliRunner) on memories made with real git objects;
learning uses the learner that needs no model (no embedder is needed to review).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PERSON, Clock

from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.cli import cli
from imlgit.commits import CommitMessage
from imlgit.rules import Rule, render_rule
from imlgit.store import Store

ENV = TruthTable(seed=0)


def run(*args: str) -> str:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def learned(tmp_path: Path) -> Path:
    mem = tmp_path / "m"
    run("init", str(mem))
    (tmp_path / "train.jsonl").write_text("".join(e.to_json() + "\n" for e in ENV.sample(200, 1)))
    (tmp_path / "test.jsonl").write_text("".join(e.to_json() + "\n" for e in ENV.sample(300, 2)))
    run("-C", str(mem), "learn", str(tmp_path / "train.jsonl"), "--batch", "20", "--propose",
        "tt", "--learner", "covering")
    return mem


def test_review_starts_with_the_net_change(learned: Path, tmp_path: Path) -> None:
    out = run("-C", str(learned), "review", "tt", "--eval", str(tmp_path / "test.jsonl"))
    lines = out.splitlines()
    assert lines[0].startswith("proposal tt: ") and "net change: " in lines[0]
    assert "200 experiences stored" in lines[0]
    store = Store.open(learned)
    main = store.read_rules("main")
    rules = {k: v for k, v in store.read_rules("proposals/tt").items() if k not in main}
    assert rules
    for rid, r in rules.items():
        at = next(i for i, ln in enumerate(lines) if f" {rid} (added;" in ln)
        assert lines[at + 1].strip() == " ".join(r.statement.split())
        assert lines[at + 2].strip().startswith(f"evidence: decides {r.support + r.contradictions}")
    acc = next(ln for ln in lines if ln.startswith("accuracy on "))
    assert "once approved (300 experiences" in acc
    assert lines.index(acc) < next(i for i, ln in enumerate(lines) if ln.startswith("policy "))
    assert len(lines) <= 60
    detailed = run("-C", str(learned), "review", "tt", "--commits").splitlines()
    assert len(detailed) > len(lines)
    assert any(ln.startswith("    +++ b/rules/") for ln in detailed)


def test_review_as_markdown_and_json(learned: Path) -> None:
    md = run("-C", str(learned), "review", "tt", "--format", "markdown")
    assert md.startswith("### imlgit review: `tt`")
    assert "| rule | change | before | after | evidence |" in md
    assert "<details><summary>Commits</summary>" in md
    data = json.loads(run("-C", str(learned), "review", "tt", "--json"))
    assert data["stored_experiences"] == 200
    assert {n["kind"] for n in data["net"]} == {"added"}
    assert all(n["before"] is None and n["after"]["statement"] for n in data["net"])


def _rule(rid: str, statement: str, **kw: object) -> Rule:
    return Rule(id=rid, title=rid, statement=statement, scope="general",
                created="2026-11-01T00:00:00Z", updated="2026-11-01T00:00:00Z",
                **kw)  # type: ignore[arg-type]


def _put(store: Store, r: Rule, branch: str) -> None:
    store.commit({r.path: render_rule(r).encode()},
                 CommitMessage.make("edit", f"write {r.id}", "Because.", rules=[r.id]),
                 author=PERSON, branch=branch)


def test_net_change_kinds_and_their_figures(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "m", author=PERSON, clock=Clock())
    for r in (_rule("kept", "Keep it.", support=3), _rule("gone", "Old news.", support=4),
              _rule("moved", "Counted again.", support=1)):
        _put(store, r, "main")
    branch = rv.start_proposal(store, "p")
    _put(store, _rule("kept", "Keep it, with care.", support=3), branch)
    _put(store, _rule("gone", "Old news.", support=4, status="retired"), branch)
    _put(store, _rule("moved", "Counted again.", support=7, contradictions=1), branch)
    _put(store, _rule("fresh", "A new one.", support=2), branch)
    net = {n.rule_id: n for n in rv.net_changes(store, rv.get_proposal(store, "p"))}
    assert {k: n.kind for k, n in net.items()} == {
        "kept": "changed", "gone": "retired", "moved": "figures", "fresh": "added"}
    assert net["moved"].before and net["moved"].before.support == 1
    assert net["moved"].after and net["moved"].after.support == 7
    out = run("-C", str(store.path), "review", "p")
    assert "      before: Keep it." in out and "      after:  Keep it, with care." in out
    assert "  - gone (retired;" in out and "= figures only (right/decided): moved 1/1 -> 7/8" in out
