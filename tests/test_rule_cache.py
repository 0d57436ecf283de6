"""Rules read once, by content (issue 17): a Store parses a rule file once per (blob,
path), and what it answers from those parsed rules is what a fresh parse answers, at
every revision of a history with edits, retirements and rollbacks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import PERSON
from fakes import HashEmbedder

from imlgit.commits import CommitMessage
from imlgit.conditions import parse_when
from imlgit.infer import decide
from imlgit.memory import Memory
from imlgit.rulefiles import read_rules
from imlgit.rules import Rule, render_rule
from imlgit.statements import render_statement
from imlgit.store import Store

T = "2026-11-27T08:00:00Z"
ATTRS = ["a", "b", "c", "d"]


def checkable(rid: str, rng: random.Random) -> Rule:
    when = parse_when({x: rng.choice(["yes", "no"]) for x in rng.sample(ATTRS, rng.randint(1, 3))})
    then = rng.choice(["X", "Y", "Z"])
    return Rule(id=rid, title=rid, statement=render_statement(when, then), scope="tt",
                support=rng.randint(3, 20), created=T, updated=T, when=when, then=then)  # fmt: skip


def history(store: Store, rng: random.Random) -> None:
    msg = CommitMessage.make("add", "add", "Rules.", rules=["r"])
    store.commit({store.path_for(r): render_rule(r).encode()
                  for r in (checkable(f"r-{i}", rng) for i in range(12))}, msg,
                 author=PERSON)  # fmt: skip
    for step in range(15):
        present = sorted(store.rule_entries())
        rid = rng.choice([r for r in present if r.startswith("r-") and r != "r-example-rationale"])
        current = store.read_rule(rid)
        kind = rng.choice(["edit", "retire", "rollback"])
        if kind == "rollback":
            if store.commit_info(store.head()).trailer("Imlgit-Op") != "add":
                store.revert(store.head(), "Undo the last change.", author=PERSON)
                continue
            kind = "edit"
        if kind == "retire":
            new = current.with_changes(status="retired" if current.status == "active" else "active")
        else:
            fresh = checkable(rid, rng)
            new = current.with_changes(
                when=fresh.when, then=fresh.then, statement=fresh.statement, support=fresh.support
            )
        store.put_rule(new, CommitMessage.make(kind, f"{kind} {rid}", f"Step {step}.",
                                               rules=[rid]), author=PERSON)  # fmt: skip


@pytest.mark.slow
def test_cached_answers_equal_fresh_parses_at_every_revision(tmp_path: Path) -> None:
    rng = random.Random(7)
    store = Store.init(tmp_path / "m", author=PERSON)
    history(store, rng)
    revisions = [c.sha for c in store.log()]
    assert len(revisions) > 10
    questions = [{x: rng.choice(["yes", "no"]) for x in ATTRS} for _ in range(8)]
    warm = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())
    decided = 0
    for rev in revisions:
        cold = Store.open(tmp_path / "m")  # parses afresh
        fresh = [r for r in read_rules(cold, rev).rules.values() if r.scope == "tt"]
        for q in questions:
            a = warm.ask(q, scope="tt", at=rev, use_model=False)  # cache and condition index
            b = decide(fresh, q)  # every rule of a fresh parse tested
            want = (None, ()) if b is None else (b.answer, (b.rules[0].id,))
            assert (a.answer, a.rules) == want
            assert a.commit == rev
            decided += b is not None
        cold.close()
    assert decided > len(revisions)
    # the warm store parsed each distinct rule file of the history once
    blobs = {(e.blob, e.path) for rev in revisions for e in store.rule_entries(rev).values()}
    assert set(warm.store.rules.parsed) == blobs


def test_a_checked_ask_without_the_model_never_loads_the_embedder(tmp_path: Path) -> None:
    """Issue 17: `imlgit ask --no-model` retrieved (loading sentence-transformers and
    torch, 5-6 s) although an answer only code gives needs no embedding."""
    import subprocess
    import sys

    store = Store.init(tmp_path / "m", author=PERSON)
    rule = checkable("r-1", random.Random(3))
    store.commit({store.path_for(rule): render_rule(rule).encode()},
                 CommitMessage.make("add", "add r-1", "A rule."), author=PERSON)  # fmt: skip
    question = {x: "yes" for x in ATTRS}
    code = (
        "import sys, json\n"
        "from imlgit.cli import main\n"
        "try:\n"
        f"    main(['--repo', {str(tmp_path / 'm')!r}, 'ask', {json.dumps(question)!r}, "
        "'--scope', 'tt', '--no-model'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'sentence_transformers', 'faiss')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_two_files_with_the_same_bytes_are_two_rules_when_learning(tmp_path: Path) -> None:
    """A hand-written rule takes its id and scope from its path, so two files with the
    same bytes are two rules; the learner's own cache, keyed by blob alone, gave both
    the first one's id."""
    from imlgit.learn import Learning
    from imlgit.learners.rulelearner import CoveringLearner

    store = Store.init(tmp_path / "m", author=PERSON)
    text = b"Wet roads double the braking distance.\n"
    store.commit({"rules/roads/wet.md": text, "rules/rain/slick.md": text},
                 CommitMessage.make("add", "two rules", "By hand."), author=PERSON)  # fmt: skip
    rules = Learning(store, CoveringLearner())._rules(store.head())
    assert {rid: (r.id, r.scope) for rid, r in rules.items() if rid != "r-example-rationale"} == {
        "wet": ("wet", "roads"),
        "slick": ("slick", "rain"),
    }
