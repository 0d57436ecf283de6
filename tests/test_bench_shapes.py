"""The shapes benchmark: seeded environments shaped like agent logs, the held-out
scoring of reward-only experiences, and a tiny end-to-end run of the harness."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from imlgit.bench.embedders import HashEmbedder
from imlgit.bench.environments import ENVIRONMENTS, make_environment
from imlgit.bench.harness import hidden_rules, run_condition
from imlgit.bench.scoring import (
    held_out_accuracy,
    predicted_works,
    split_held_out,
)
from imlgit.bench.shapes import (
    facts_hold,
    facts_view,
    to_experiences,
)
from imlgit.bench.shapes_reward import ACTION, NestedReward
from imlgit.bench.shapes_run import (
    SHAPES_CONDITIONS,
    ShapesOptions,
    markdown_from_json,
    run_shapes,
)
from imlgit.bench.shapes_text import SupportText, number_words
from imlgit.cli.bench import main as bench_main
from imlgit.conditions import Condition
from imlgit.experience import Experience, Outcome
from imlgit.infer import checked_answer
from imlgit.rules import Rule

FLAT_OR_TEXT = [e for e in ENVIRONMENTS if e != "nested-reward"]
REWARD_HELD_OUT = ("nested-reward", "bandit-reward")


def _rules(hidden: Any, scope: str) -> list[Rule]:
    return hidden_rules(hidden, scope)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_each_generator_is_deterministic_for_a_seed(name: str) -> None:
    first = make_environment(name, 1).train_test(40, 20, 1)
    again = make_environment(name, 1).train_test(40, 20, 1)
    other = make_environment(name, 2).train_test(40, 20, 2)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert json.dumps(first, sort_keys=True) != json.dumps(other, sort_keys=True)
    train, test = first
    assert not {o["id"] for o in train} & {o["id"] for o in test}


@pytest.mark.parametrize("name", FLAT_OR_TEXT)
def test_experiences_are_valid(name: str) -> None:
    env = make_environment(name, 0)
    train, test = env.train_test(60, 30, 0)
    for e in to_experiences(train + test):
        assert e.scope == name
        assert e.output in env.classes
    if name == "bandit":  # reward-only training, the policy scored on held-out answers
        assert all(set(o["outcome"]) == {"reward"} for o in train)
        assert all("expected" in o["outcome"] for o in test)
    elif name == "bandit-reward":
        assert all(set(o["outcome"]) == {"reward"} for o in train + test)
    else:
        assert all(set(o["outcome"]) == {"expected"} for o in train + test)


def test_nested_reward_experiences_are_reward_only_json() -> None:
    env = NestedReward(0)
    train, test = env.train_test(80, 40, 0)
    for o in train + test:
        assert json.loads(json.dumps(o)) == o
        assert o["output"] == ACTION and set(o["outcome"]) == {"reward"}
        assert o["outcome"]["reward"] in (0, 1)
        assert set(o["input"]) == {"tool", "repo", "ci"}
        assert isinstance(o["input"]["repo"]["files"], list)
        assert isinstance(o["input"]["tool"]["args"], dict)


def test_nested_reward_experiences_validate() -> None:
    train, _ = NestedReward(0).train_test(20, 5, 0)
    assert len(to_experiences(train)) == 20


def test_nested_reward_training_is_flaky_and_held_out_is_not() -> None:
    env = NestedReward(0)
    train, test = env.train_test(300, 200, 0)
    flipped = sum((o["outcome"]["reward"] == 1) != (env.truth[o["id"]] == "works") for o in train)
    assert 5 <= flipped <= 30  # about 5% of 300
    assert all((o["outcome"]["reward"] == 1) == (env.truth[o["id"]] == "works") for o in test)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENVIRONMENTS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_balance_is_not_degenerate(name: str, seed: int) -> None:
    env = make_environment(name, seed)
    _, test = env.train_test(0, 400, seed)
    if name == "nested-reward":
        works = sum(o["outcome"]["reward"] for o in test) / len(test)
        assert 0.65 <= works <= 0.9  # mostly works, as a real agent's log does
        return
    if name == "bandit-reward":
        works = sum(o["outcome"]["reward"] for o in test) / len(test)
        assert 0.1 <= works <= 0.3  # one route in five is right
        return
    counts = Counter(o["outcome"]["expected"] for o in test)
    assert len(counts) >= 2
    assert max(counts.values()) / len(test) < 0.6


@pytest.mark.parametrize("name", ["attr-flat", "bandit", "mixed-object"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_rules_score_everything_on_flat_objects(name: str, seed: int) -> None:
    env = make_environment(name, seed)
    rules = _rules(env.hidden_rules(), name)
    _, test = env.train_test(0, 300, seed)
    for e in to_experiences(test):
        hit = checked_answer(rules, e.input)
        assert hit is not None and hit[0] == e.outcome.expected, e.input


@pytest.mark.slow
@pytest.mark.parametrize("name", REWARD_HELD_OUT)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hidden_rules_predict_every_reward(name: str, seed: int) -> None:
    env = make_environment(name, seed)
    rules = _rules(env.hidden_rules(), env.name)
    _, test = env.train_test(0, 300, seed)
    exps = to_experiences(test)
    by_answer, by_reward = split_held_out(exps)
    assert not by_answer
    predicted = [predicted_works(rules, e) for e in by_reward]
    assert held_out_accuracy([], [], by_reward, predicted) == 1.0


def test_the_harness_scores_nested_rewards_with_the_hidden_rules(tmp_path: Path) -> None:
    env = NestedReward(0)
    raw_train, raw_test = env.train_test(40, 60, 0)
    train, test = to_experiences(raw_train), to_experiences(raw_test)
    hidden = env.hidden_rules()
    run = run_condition(
        "hidden-rules", train, test, seed=0, batch=20, hidden=hidden, logged=True, workdir=tmp_path
    )
    assert [it.accuracy for it in run.iterations] == [1.0, 1.0]
    majority = run_condition("majority", train, test, seed=0, batch=40, logged=True)
    assert majority.final == sum(o["outcome"]["reward"] for o in raw_test) / len(raw_test)


def test_hidden_rules_score_everything_on_attributes_written_as_text() -> None:
    env = make_environment("attr-text", 0)
    rules = _rules(env.hidden_rules(), env.name)
    _, test = env.train_test(0, 100, 0)
    for e in to_experiences(test):
        hit = checked_answer(rules, e.input)
        assert hit is not None and hit[0] == e.outcome.expected


def test_attributes_as_text_and_flat_share_the_rule_and_vary_the_syntax() -> None:
    flat, text = make_environment("attr-flat", 0), make_environment("attr-text", 0)
    assert flat.hidden_rules() == text.hidden_rules()
    _, test = text.train_test(0, 200, 0)
    inputs = [o["input"] for o in test]
    assert all(isinstance(t, str) for t in inputs)
    assert any("=yes" in t or "= yes" in t for t in inputs)
    assert any(": no;" in t or ": yes;" in t for t in inputs)
    assert any(" is yes and " in t or " is no and " in t for t in inputs)
    starts = Counter(re.findall(r"[a-z-]+", t.split("=")[0].split(":")[0])[-1] for t in inputs)
    assert len(starts) >= 5  # the order is shuffled


def test_support_text_says_things_in_many_ways() -> None:
    env = SupportText(0)
    _, test = env.train_test(0, 400, 0)
    text = " ".join(o["input"] for o in test)
    for form in ("days ago", "weeks back", "fortnight", "last week", "$", " dollars", "refund"):
        assert form in text, form
    assert re.search(r"\b(twenty|thirty|forty|fifty)(-\w+)? (days|dollars)\b", text)
    assert re.search(r"\b(isn't|not|No damage|don't)\b", text)
    damaged = ("damaged", "cracked", "shattered", "broken", "dented", "smashed", "snapped")
    assert sum(w in text for w in damaged) >= 6
    # no single word gives the class: the best word-only rule is far from perfect
    labels = [o["outcome"]["expected"] for o in test]
    words = {w for o in test for w in set(re.findall(r"[a-z']+", o["input"].lower()))}
    for w in words:
        hits = [lab for o, lab in zip(test, labels, strict=True) if w in o["input"].lower()]
        if len(hits) >= 40:
            assert max(Counter(hits).values()) / len(hits) < 0.9, w


def test_number_words() -> None:
    assert number_words(12) == "twelve"
    assert number_words(40) == "forty"
    assert number_words(42) == "forty-two"
    assert number_words(105) == "one hundred and five"
    with pytest.raises(ValueError):
        number_words(1000)


def test_facts_view_reads_paths_and_arrays() -> None:
    view = facts_view({"repo": {"protected": True, "files": ["a.py", "b.md"]}, "n": 3})
    assert view == {
        "repo.protected": True,
        "repo.files": ("a.py", "b.md"),
        "repo.files.length": 2,
        "n": 3,
    }
    assert facts_hold(Condition("repo.files", "=", "a.py"), view)
    assert not facts_hold(Condition("repo.files", "!=", "a.py"), view)
    assert facts_hold(Condition("repo.files", "!=", "c.py"), view)
    assert facts_hold(Condition("repo.protected", "=", "yes"), view)
    assert facts_hold(Condition("repo.files.length", ">", 1), view)
    assert not facts_hold(Condition("n", ">", 3), view)
    assert not facts_hold(Condition("missing", "!=", "x"), view)


def test_predicted_works_from_outcome_and_policy_rules() -> None:
    nested = {"repo": {"protected": True, "files": ["a.py"]}}
    push = Condition("output", "=", "push")
    outcome = _rules(
        [((push, Condition("repo.protected", "=", "yes")), "fails"), ((push,), "works")], "s"
    )
    fails = Experience("e1", "s", nested, Outcome(reward=0.0), output="push")  # type: ignore[arg-type]
    other = Experience("e2", "s", nested, Outcome(reward=1.0), output="pull")  # type: ignore[arg-type]
    assert predicted_works(outcome, fails) is False
    assert predicted_works(outcome, other) is None  # no rule says anything of "pull"
    member = _rules([((push, Condition("repo.files", "=", "a.py")), "fails")], "s")
    assert predicted_works(member, fails) is False
    policy = _rules([((Condition("tier", "=", "gold"),), "callback")], "s")
    gold = Experience("e3", "s", {"tier": "gold"}, Outcome(reward=1.0), output="callback")
    wrong = Experience("e4", "s", {"tier": "gold"}, Outcome(reward=0.0), output="mail")
    assert predicted_works(policy, gold) is True
    assert predicted_works(policy, wrong) is False
    silver = Experience("e5", "s", {"tier": "silver"}, Outcome(reward=1.0), output="mail")
    assert predicted_works(policy, silver) is None
    with_default = _rules([((Condition("tier", "=", "gold"),), "callback"), ((), "mail")], "s")
    assert predicted_works(with_default, silver) is True
    assert predicted_works(_rules([((), "mail")], "s"), silver) is None


def test_held_out_accuracy_scores_both_kinds() -> None:
    a = Experience("a", "s", "x", Outcome(expected="A"))
    r = Experience("r", "s", "x", Outcome(reward=0.0), output="go")
    by_answer, by_reward = split_held_out([a, r])
    assert by_answer == [a] and by_reward == [r]
    assert held_out_accuracy(by_answer, ["A"], by_reward, [False]) == 1.0
    assert held_out_accuracy(by_answer, ["B"], by_reward, [True]) == 0.0
    assert held_out_accuracy(by_answer, [None], by_reward, [None]) == 0.0


def test_logged_training_is_kept_and_reward_only_held_out_is_scored(tmp_path: Path) -> None:
    env = make_environment("bandit", 0)
    train = to_experiences(env.sample(40, 10))
    held = to_experiences(env.sample(50, 11))  # reward-only: a random route, 1 if best
    failures = sum(1 for e in held if not e.right) / len(held)
    run = run_condition("majority", train, held, seed=0, batch=20, logged=True, workdir=tmp_path)
    # majority predicts the commonest reward of training: a random route mostly fails
    assert run.final == pytest.approx(failures)
    assert all(it.act_accuracy is None for it in run.iterations)


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path: Path) -> None:
    opts = ShapesOptions(
        envs=("bandit", "nested-reward"), seeds=(0,), train=40, test=20, batch=20, out=tmp_path
    )
    paths = run_shapes(opts, embedder=HashEmbedder())
    md = paths["markdown"].read_text()
    row = r"\| bandit \| [^|]+ \| [\d.]+% \| [\d.]+% \| [\d.]+% \| 100\.0% \| 90% \|"
    assert re.search(row, md)
    assert "| nested-reward |" in md
    doc = json.loads(paths["json"].read_text())
    runs = doc["environments"][0]["runs"]
    assert {r["condition"] for r in runs} == set(SHAPES_CONDITIONS)
    assert all(len(r["iterations"]) == 2 for r in runs)
    assert markdown_from_json(paths["json"]) == md


def test_command_line_runs_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["shapes", "--envs", "support-text", "--seeds", "0", "--train", "20", "--test", "10"]
    argv += ["--batch", "20", "--conditions", "majority,hidden-rules", "--out", str(tmp_path)]
    assert bench_main(argv) == 0
    out = capsys.readouterr().out
    assert "| support-text | is the answer right |" in out
    assert "100.0% (oracle)" in out
    with pytest.raises(SystemExit):
        bench_main(["shapes", "--envs", "nope", "--out", str(tmp_path)])
