"""Importance and pruning; the secret and personal-data scan on every rule write."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from conftest import LEARNING, PERSON, Clock, git_available, learning_branch, run_git

from imlgit import hygiene
from imlgit.commits import CommitMessage
from imlgit.errors import ImlgitError
from imlgit.experience import Experience
from imlgit.rules import Rule, new_rule_path, render_rule
from imlgit.store import Store

Cli = Callable[..., CompletedProcess[str]]
NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
EMAIL = "jane.doe" + "@" + "gmail.com"  # built here so no scanner flags this file


def rule(
    rid: str,
    *,
    support: int = 0,
    contradictions: int = 0,
    updated: str = "2026-11-20T00:00:00Z",
    status: str = "active",
) -> Rule:
    return Rule(
        id=rid,
        title=rid,
        statement=f"The rule {rid}.",
        created=updated,
        updated=updated,
        support=support,
        contradictions=contradictions,
        status=status,
    )


def test_importance_orders_by_the_documented_score() -> None:
    rules = [
        rule("r-strong", support=20),
        rule("r-refuted", support=5, contradictions=6),
        rule("r-used", support=1),
        rule("r-old", support=1, updated="2024-11-27T00:00:00Z"),
        rule("r-retired", support=0, status="retired"),
    ]
    ranked = hygiene.importance(
        rules,
        retrieved={"r-used": 30},
        cited={"r-used": 4},
        right={"r-used": 2},
        wrong={"r-strong": 1},
        now=NOW,
    )
    assert [i.rule_id for i in ranked] == ["r-refuted", "r-old", "r-used", "r-strong"]
    by = {i.rule_id: i for i in ranked}
    fresh = 0.5 ** (7 / 180)  # a week since the last change
    assert by["r-refuted"].score == pytest.approx((5 - 12) * fresh)
    assert by["r-used"].score == pytest.approx(1 * fresh + 2 + 3 + 4)
    assert by["r-strong"].score == pytest.approx(20 * fresh - 3)
    assert by["r-old"].score == pytest.approx(1 * 0.5 ** (730 / 180))
    assert by["r-old"].age_days == pytest.approx(730)
    text = by["r-used"].figures()
    assert "support 1" in text and "retrieved 30 times" in text and "2 right and 0 wrong" in text


def test_plan_prune() -> None:
    ranked = hygiene.importance([rule(f"r-{i}", support=i) for i in range(6)], now=NOW)
    assert [i.rule_id for i in hygiene.plan_prune(ranked, max_rules=4)] == ["r-0", "r-1"]
    assert [i.rule_id for i in hygiene.plan_prune(ranked, below=1.5)] == ["r-0", "r-1"]
    assert hygiene.plan_prune(ranked, max_rules=10) == []
    assert len(hygiene.plan_prune(ranked, max_rules=0)) == 6
    with pytest.raises(ImlgitError, match="say how to prune"):
        hygiene.plan_prune(ranked)


def test_usage_and_outcome_credit_are_read_from_the_memory(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "m", author=PERSON, clock=Clock())
    usage = store.derived_dir / "usage.jsonl"
    usage.write_text(
        json.dumps({"retrieved": ["r-a", "r-b"], "cited": ["r-a"]})
        + "\n"
        + json.dumps({"retrieved": ["r-a"], "cited": []})
        + "\n"
        + '{"retrieved": ["r-'  # torn
    )
    retrieved, cited = hygiene.usage_counts(store)
    assert retrieved == {"r-a": 2, "r-b": 1} and cited == {"r-a": 1}
    exps = [
        {
            "id": "e1",
            "scope": "s",
            "input": "x",
            "output": "A",
            "outcome": {"expected": "A"},
            "rules": ["r-a"],
        },
        {
            "id": "e2",
            "scope": "s",
            "input": "y",
            "output": "A",
            "outcome": {"expected": "B"},
            "rules": ["r-a", "r-b"],
        },
        {
            "id": "e3",
            "scope": "s",
            "input": "z",
            "output": "A",
            "outcome": {"reward": 1.0},
            "rules": ["r-b"],
        },
        {"id": "e4", "scope": "s", "input": "w", "outcome": {"text": "fine"}, "rules": ["r-c"]},
    ]
    data = "".join(Experience.from_dict(e).to_json() + "\n" for e in exps)
    store.commit(
        {"experiences/ab/b-1.jsonl": data.encode()},
        CommitMessage.make("experiences", "store", "Evidence."),
        author=PERSON,
    )
    right, wrong = hygiene.outcome_credit(hygiene.stored_experiences(store))
    assert right == {"r-a": 1, "r-b": 1} and wrong == {"r-a": 1, "r-b": 1}


def _memory_with_rules(tmp_path: Path, cli: Cli, n: int) -> Path:
    repo = tmp_path / "m"
    assert cli("init", str(repo)).returncode == 0
    with Store.open(repo) as store:
        files = {
            new_rule_path(f"r-{i}"): render_rule(rule(f"r-{i}", support=i)).encode()
            for i in range(n)
        }
        store.commit(files, CommitMessage.make("add", f"{n} rules", "For the test."), author=PERSON)
    return repo


@pytest.mark.slow
def test_prune_proposes_one_retirement_a_commit_and_restore_brings_it_back(
    tmp_path: Path, imlgit_cli: Cli
) -> None:
    repo = _memory_with_rules(tmp_path, imlgit_cli, 6)
    with Store.open(repo) as store:
        main = store.head()
    dry = imlgit_cli("prune", "--max-rules", "4", "--dry-run", repo=repo)
    assert dry.returncode == 0, dry.stderr
    assert "3 of 7 active rules would be retired" in dry.stderr  # the example rule + r-0, r-1
    assert "r-0" in dry.stdout and "r-5" not in dry.stdout
    out = imlgit_cli("prune", "--max-rules", "4", "--propose", "tidy", repo=repo)
    assert out.returncode == 0, out.stderr
    with Store.open(repo) as store:
        assert store.head() == main  # manual policy: main waits
        commits = store.log("proposals/tidy", limit=3)
        assert {c.subject for c in commits} == {
            "prune: retire r-0",
            "prune: retire r-1",
            "prune: retire r-example-rationale",
        }
        c = next(c for c in commits if c.subject.endswith("r-1"))
        assert "support 1" in c.rationale and "at most 4 active rules" in c.rationale
        assert "imlgit restore r-1" in c.rationale and c.trailer("Imlgit-Importance")
        assert c.author.startswith("imlgit hygiene")
    assert imlgit_cli("approve", "tidy", repo=repo).returncode == 0
    with Store.open(repo) as store:
        active = {r.id for r in store.read_rules().values() if r.status == "active"}
        assert active == {"r-2", "r-3", "r-4", "r-5"}
    back = imlgit_cli("restore", "r-1", "--why", "Still needed.", repo=repo)
    assert back.returncode == 0, back.stderr
    with Store.open(repo) as store:
        assert store.read_rule("r-1").status == "active"


# ---------------------------------------------------------------------- secrets at write


@pytest.mark.slow
def test_rule_add_with_personal_data_is_refused_and_the_allowlist_lets_it_through(
    tmp_path: Path, imlgit_cli: Cli
) -> None:
    repo = tmp_path / "m"
    assert imlgit_cli("init", str(repo)).returncode == 0
    with Store.open(repo) as store:
        main = store.head()
    bad = imlgit_cli(
        "rule",
        "add",
        "--title",
        "Escalations",
        "--statement",
        f"Escalate to {EMAIL} at once.",
        "--why",
        "Ops asked.",
        repo=repo,
    )
    assert bad.returncode == 1
    assert "rules/" in bad.stderr and "email" in bad.stderr and EMAIL not in bad.stderr
    with Store.open(repo) as store:
        assert store.head() == main
        toml = (store.read_file("imlgit.toml") or b"").decode()
        assert "\n[scan]\n" in toml
        toml = toml.replace(
            "\n[scan]\n", "\n[scan]\n" + r'allow = ["jane\\.doe@gmail\\.com"]' + "\n"
        )
        store.commit(
            {"imlgit.toml": toml.encode()},
            CommitMessage.make("edit", "allow", "The ops address is public."),
            author=PERSON,
        )
    ok = imlgit_cli(
        "rule",
        "add",
        "--title",
        "Escalations",
        "--statement",
        f"Escalate to {EMAIL} at once.",
        "--why",
        "Ops asked.",
        repo=repo,
    )
    assert ok.returncode == 0, ok.stderr


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="the git CLI is not installed")
def test_the_pre_commit_hook_refuses_a_staged_secret(tmp_path: Path, imlgit_cli: Cli) -> None:
    repo = tmp_path / "m"
    assert imlgit_cli("init", str(repo)).returncode == 0
    r = rule("r-key")
    key = "sk-" + "A1b2C3d4" * 4
    leaky = r.with_changes(statement=f"Use the key {key} for the API.")
    path = repo / r.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_rule(leaky))
    run_git(repo, "add", r.path)
    res = subprocess.run(
        ["git", "commit", "-m", "add r-key\n\nBecause."], cwd=repo, capture_output=True, text=True
    )
    assert res.returncode != 0 and "api-key" in res.stderr and key not in res.stderr
    assert run_git(repo, "log", "-1", "--format=%s").strip() == "init: new imlgit memory"


def test_the_learning_engine_refuses_a_rule_with_a_secret(tmp_path: Path) -> None:
    from imlgit.learn import Learning, LearnSettings
    from imlgit.learners.base import Candidate, Operation

    store = Store.init(tmp_path / "m", author=PERSON, clock=Clock())
    phone = "+44 20 " + "7946 0958"

    class Leaky:
        identity = "test:leaky"

        def induce(self, batch, ctx):  # type: ignore[no-untyped-def]
            return []

        def revise(self, batch, cands, ctx):  # type: ignore[no-untyped-def]
            cand = Candidate("Call support", f"Call support on {phone}.", "s", ("e-1",))
            return [Operation("ADD", "Seen in the batch.", candidate=cand, evidence=("e-1",))]

    exps = [
        Experience.from_dict(
            {"id": "e-1", "scope": "s", "input": "help", "outcome": {"reward": 1.0}}
        )
    ]
    learning_branch(store)
    res = Learning(store, Leaky(),
        settings=LearnSettings(branch=LEARNING, batch=1)).learn_batch(exps)
    assert not res.added and any("phone" in str(r) for r in res.refused)
    assert phone not in json.dumps([str(r) for r in res.refused])
    learning_branch(store)
    allowed = Learning(store, Leaky(),
        settings=LearnSettings(branch=LEARNING, batch=1, scan_allow=(r"\+44 20 7946 0958",))
    ).learn_batch(exps)
    assert allowed.added


# ---------------------------------------------------------------------- duplicates at write


@pytest.mark.slow
def test_rule_add_refuses_a_normalized_duplicate(tmp_path: Path, imlgit_cli: Cli) -> None:
    repo = tmp_path / "m"
    assert imlgit_cli("init", str(repo)).returncode == 0
    first = imlgit_cli(
        "rule",
        "add",
        "--title",
        "Sea",
        "--scope",
        "shipping",
        "--statement",
        "Heavy parcels go by sea.",
        "--why",
        "Seen.",
        repo=repo,
    )
    assert first.returncode == 0, first.stderr
    with Store.open(repo) as store:
        main = store.head()
    again = imlgit_cli(
        "rule",
        "add",
        "--title",
        "Sea again",
        "--scope",
        "shipping",
        "--statement",
        "heavy  parcels go by SEA",
        "--why",
        "Seen.",
        repo=repo,
    )
    assert again.returncode == 1 and "already active in scope 'shipping': r-sea" in again.stderr
    other_scope = imlgit_cli(
        "rule",
        "add",
        "--title",
        "Sea elsewhere",
        "--scope",
        "freight",
        "--statement",
        "Heavy parcels go by sea.",
        "--why",
        "Seen.",
        repo=repo,
    )
    assert other_scope.returncode == 0, other_scope.stderr
    with Store.open(repo) as store:
        assert store.log(limit=2)[1].sha == main  # only the other scope's rule was added


def test_the_learning_engine_refuses_an_edit_into_a_duplicate(tmp_path: Path) -> None:
    from imlgit.learn import Learning, LearnSettings
    from imlgit.learners.base import Candidate, Operation

    store = Store.init(tmp_path / "m", author=PERSON, clock=Clock())
    for rid, text in (("r-a", "Light parcels go by air."), ("r-b", "Heavy parcels go by sea.")):
        r = Rule(
            id=rid,
            title=rid,
            statement=text,
            scope="s",
            created="2026-11-01T00:00:00Z",
            updated="2026-11-01T00:00:00Z",
            contradictions=1,  # so that momentum lets an edit through
        )
        store.put_rule(r, CommitMessage.make("add", f"add {rid}", "Seed."), author=PERSON)

    class Copier:
        identity = "test:copier"

        def induce(self, batch, ctx):  # type: ignore[no-untyped-def]
            return []

        def revise(self, batch, cands, ctx):  # type: ignore[no-untyped-def]
            cand = Candidate("r-a", "Heavy parcels go by sea!", "s", ("e-1",))
            return [Operation("EDIT", "Reworded.", target="r-a", candidate=cand, evidence=("e-1",))]

    exps = [
        Experience.from_dict(
            {"id": "e-1", "scope": "s", "input": "parcel", "outcome": {"reward": 1.0}}
        )
    ]
    learning_branch(store)
    res = Learning(store, Copier(),
        settings=LearnSettings(branch=LEARNING, batch=1, momentum=0)).learn_batch(exps)
    assert not res.edited and any("already in memory" in str(r) for r in res.refused)
    assert store.read_rule("r-a").statement == "Light parcels go by air."
