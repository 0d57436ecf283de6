"""Reward-only feedback is evidence: failures are contradictions, policies and
outcome rules are learned, every class gets its rules, and eval scores each kind."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import PERSON
from fakes import HashEmbedder

from imlgit.cli import cli
from imlgit.conditions import FAILS, WORKS
from imlgit.conditions import Condition as C
from imlgit.experience import Experience
from imlgit.infer import checked_answer, evaluate
from imlgit.learners.covering import induce_rules
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.statements import render_statement
from imlgit.store import Store
from imlgit.verify import decisions, judge

ACTIONS = ("callback", "refund", "escalate", "email", "close")


def _exp(i: int, inp: Any, **kw: Any) -> Experience:
    return Experience.from_dict({"id": f"e{i}", "scope": "s", "input": inp, **kw})


def _rule(rid: str, when: tuple[C, ...], then: str, support: int = 0, contra: int = 0) -> Rule:
    return Rule(
        id=rid,
        title=rid,
        statement=render_statement(when, then),
        scope="s",
        created="2026-01-01T00:00:00Z",
        updated="2026-01-01T00:00:00Z",
        when=when,
        then=then,
        support=support,
        contradictions=contra,
    )


def _coding_log(n: int, seed: int = 0) -> list[Experience]:
    """A coding agent that always commits; CI says whether it worked."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        red = rng.random() < 0.35
        inp = {"ci": {"status": "red" if red else "green"}, "files": rng.randint(1, 9)}
        out.append(_exp(i, inp, output="git commit", outcome={"reward": 0.0 if red else 1.0}))
    return out


def test_judge_counts_a_failure_against_the_action_taken() -> None:
    failed = _exp(1, {"a": 1}, output="push", outcome={"reward": 0.0})
    worked = _exp(2, {"a": 1}, output="push", outcome={"reward": 1.0})
    assert judge(failed, "push") is False  # the rule recommends what failed
    assert judge(failed, "pull") is None  # another action might have worked
    assert judge(worked, "push") is True and judge(worked, "pull") is False
    assert judge(failed, FAILS, "outcome") is True and judge(worked, FAILS, "outcome") is False


def test_a_rule_deciding_failures_is_never_reported_without_contradictions() -> None:
    log = _coding_log(160)
    always = _rule("r-always", (), "git commit")
    counted = decisions({"r-always": always}, log)
    wrong = sum(1 for _, ok in counted.values() if not ok)
    failures = sum(1 for e in log if e.right is False)
    assert failures > 30 and wrong == failures


def test_the_learner_does_not_answer_always_the_action_that_often_fails() -> None:
    rules = induce_rules(_coding_log(160))
    assert all(r.when for r in rules), [render_statement(r.when, r.then) for r in rules]
    said = {render_statement(r.when, r.then) for r in rules}
    assert "When output is git commit and ci.status is red, it fails." in said
    for r in rules:
        assert r.covered and r.precision >= 0.9


def _bandit(n: int, seed: int, *, held_out: bool = False) -> list[Experience]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ctx = {"tier": rng.choice(["gold", "silver"]), "queue": rng.randint(0, 30)}
        best = "callback" if ctx["tier"] == "gold" and ctx["queue"] > 10 else "email"
        if held_out:
            out.append(_exp(i, ctx, outcome={"expected": best}))
            continue
        act = rng.choice(ACTIONS)
        out.append(_exp(i, ctx, output=act, outcome={"reward": float(act == best)}))
    return out


def _as_rules(induced: list[Any]) -> list[Rule]:
    return [
        _rule(f"r-{i}", r.when, r.then, len(r.correct), len(r.covered) - len(r.correct))
        for i, r in enumerate(induced)
    ]


def test_a_policy_is_learned_from_rewards_alone() -> None:
    rules = _as_rules(induce_rules(_bandit(300, 0)))
    result = evaluate(rules, _bandit(200, 1, held_out=True))
    assert result.kinds["expected"].total == 200
    assert result.accuracy >= 0.9, [r.statement for r in rules]
    assert result.majority_baseline < 0.8
    premium = {"tier": "gold", "queue": 25}
    got = checked_answer(rules, premium)
    assert got is not None and got[0] == "callback"
    # asked about an action: is it predicted to work there?
    works = checked_answer(rules, premium, action="callback")
    fails = checked_answer(rules, premium, action="close")
    assert works is not None and works[0] == WORKS
    assert fails is not None and fails[0] == FAILS


def test_eval_scores_reward_only_experiences_by_predicting_the_reward() -> None:
    rules = _as_rules(induce_rules(_coding_log(200, seed=1)))
    held = _coding_log(100, seed=2)
    result = evaluate(rules, held)
    assert set(result.kinds) == {"reward"}
    assert result.kinds["reward"].total == 100 and result.accuracy == 1.0
    text_only = _exp(999, "x", outcome={"text": "fine"})
    assert evaluate(rules, [*held, text_only]).unscored == 1


def test_the_commonest_class_gets_rules_when_a_default_would_be_imprecise() -> None:
    # A is the commonest class (40%) but a default rule would get under 75% of what
    # no other rule decides right: A must get rules of its own.
    rng = random.Random(3)
    exps = []
    for i in range(300):
        x = {"p": rng.choice("abcde"), "q": rng.choice("xy")}
        # where p is d or e nothing tells the class: no rule can decide those
        noise = rng.choice("BCD")
        y = "A" if x["p"] in "ab" else "B" if x["p"] == "c" else noise
        exps.append(_exp(i, x, outcome={"expected": y}))
    with_default = induce_rules(exps, default_precision=0.0)
    assert not any(r.then == "A" and r.when for r in with_default)  # the old behaviour
    rules = induce_rules(exps)
    assert {r.then for r in rules if r.when} >= {"A", "B"}
    assert all(r.when for r in rules), "an imprecise default rule was kept"
    held = [
        _exp(1000 + i, {"p": p, "q": "x"}, outcome={"expected": "A"}) for i, p in enumerate("ab")
    ]
    assert evaluate(_as_rules(rules), held).accuracy == 1.0


def test_learning_a_reward_only_log_end_to_end(tmp_path: Path) -> None:
    """`imlgit learn` then `imlgit eval`: the counters count failures, eval prints
    what it scored and how."""
    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())
    learned = mem.learn(_coding_log(120), learner="covering")
    branch = learned.branch
    every = [
        mem.store.rule_from_blob(e.blob, e.path)
        for e in mem.store.rule_entries(branch).values()
    ]
    rules = [r for r in every if r.checkable]
    assert len(rules) >= 2
    for r in rules:  # the counters count the failures each rule decides
        assert r.checkable and r.support + r.contradictions > 0
    assert not any(not r.when and r.status == "active" for r in rules)
    held = tmp_path / "held.jsonl"
    held.write_text("".join(e.to_json() + "\n" for e in _coding_log(60, 5)), encoding="utf-8")
    got = CliRunner().invoke(
        cli, ["--repo", str(mem.path), "eval", str(held), "--at", branch, "--json"]
    )
    assert got.exit_code == 0, got.output
    data = json.loads(got.output)
    assert data["kinds"]["reward"]["total"] == 60
    assert data["accuracy"] >= 0.95 and "reward" in data["how"]
    text = CliRunner().invoke(cli, ["--repo", str(mem.path), "eval", str(held), "--at", branch])
    assert "majority baseline" in text.output and "predict whether it worked" in text.output


def test_the_only_action_no_rule_predicts_to_fail_is_the_answer() -> None:
    # outcome rules say callback and refund fail here, and nothing about escalate:
    # the policy answer is escalate, by elimination, citing the rules it rests on
    from imlgit.infer import answer, decide

    rules = [
        _rule("r-cb", (C("output", "=", "callback"),), FAILS, 30, 1),
        _rule("r-rf", (C("output", "=", "refund"), C("tier", "=", "gold")), FAILS, 12, 0),
        _rule("r-es", (C("output", "=", "escalate"), C("tier", "=", "tin")), WORKS, 9, 0),
    ]
    got = decide(rules, {"tier": "gold"})
    assert got is not None and got.answer == "escalate" and got.how == "elimination"
    assert {r.id for r in got.rules} == {"r-cb", "r-rf"}
    ans = answer({"tier": "gold"}, scope_rules=rules, retrieved=[], commit="c" * 40, scope="s")
    assert ans.answer == "escalate" and set(ans.rules) == {"r-cb", "r-rf"}
    # two actions left open: no answer by elimination
    assert decide(rules, {"tier": "iron"}) is None
    # the rule that says escalate works decides where it applies
    got = decide(rules, {"tier": "tin"})
    assert got is not None and (got.answer, got.how) == ("escalate", "outcome")
    # asked about an action, the outcome rules answer as before
    assert checked_answer(rules, {"tier": "gold"}, action="refund") == (FAILS, rules[1])


def test_elimination_needs_a_rule_that_tests_the_question_and_counts_only_outcome_actions() -> None:
    from imlgit.infer import decide

    always = [
        _rule("r-a", (C("output", "=", "callback"),), FAILS, 40, 2),
        _rule("r-b", (C("output", "=", "refund"), C("tier", "=", "gold")), WORKS, 9, 0),
    ]
    # "callback always fails" tests only the action: it decides no question alone
    assert decide(always, {}) is None
    assert decide(always, {"tier": "iron"}) is None
    # an action only a class rule names, where that rule does not apply, is no candidate
    mixed = [
        _rule("r-c", (C("x", "=", 1),), "escalate", 10, 0),
        _rule("r-a", (C("output", "=", "callback"), C("tier", "=", "gold")), FAILS, 12, 0),
        _rule("r-r", (C("output", "=", "refund"), C("tier", "=", "gold")), FAILS, 12, 0),
    ]
    assert decide(mixed, {"tier": "gold", "x": 2}) is None


def test_a_policy_rule_said_to_fail_gives_way_to_the_action_left() -> None:
    from imlgit.infer import decide

    rules = [
        _rule("r-p", (C("tier", "=", "gold"),), "callback", 10, 3),
        _rule("r-a", (C("output", "=", "callback"), C("tier", "=", "gold")), FAILS, 12, 0),
        _rule("r-r", (C("output", "=", "refund"), C("tier", "=", "gold")), FAILS, 12, 0),
        _rule("r-e", (C("output", "=", "escalate"), C("tier", "=", "tin")), WORKS, 8, 0),
    ]
    got = decide(rules, {"tier": "gold"})
    assert got is not None and (got.answer, got.how) == ("escalate", "elimination")
    # asked about an action no rule of its own decides: the class rules alone answer
    # (another action's outcome rules say nothing about it)
    assert checked_answer(rules[1:], {"tier": "tin"}, action="refund") is None
