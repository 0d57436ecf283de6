"""What the language-model learner and answer_with_model show a model: nested inputs,
reward-only evidence, bounded in size (imlgit.learners.render). FakeChat records the
prompts; nothing here needs a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PERSON
from fakes import FakeChat, HashEmbedder

from imlgit.conditions import Condition
from imlgit.experience import Experience, Outcome
from imlgit.learners.base import Candidate, LearnContext
from imlgit.learners.model import ModelLearner, answer_with_model
from imlgit.learners.render import MAX_INPUT_CHARS, fields, outcome_phrase, render_input
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store


def raw(i: int, inp: Any, output: str | None = None, **outcome: Any) -> Experience:
    """An experience built without Experience.from_dict: the learner renders whatever
    input it is given."""
    return Experience(id=f"g-{i:03d}", scope="git", input=inp, output=output,
                      outcome=Outcome(**outcome))  # fmt: skip


def push(i: int, protected: bool) -> Experience:
    inp = {
        "repo": {"protected": "yes" if protected else "no", "branches": ["main", "dev"]},
        "tool": {"name": "git", "args": {"path": "/src", "flags": ["--force"]}},
    }
    return raw(i, inp, "git push --force", reward=0.0 if protected else 1.0)


BATCH = [push(i, protected=i % 2 == 0) for i in range(6)]

OUTCOME_RULE = {
    "title": "Force pushes to protected repos fail",
    "statement": "When repo.protected is yes, git push --force fails.",
    "scope": "git",
    "evidence": ["g-000", "g-002", "g-004"],
    "rationale": "Every force push to a protected repo got reward 0.",
    "when": [
        {"field": "output", "op": "=", "value": "git push --force"},
        {"field": "repo.protected", "op": "=", "value": "yes"},
    ],
    "then": "fails",
}


def prompt_of(chat: FakeChat, request: int = 0) -> str:
    return chat.requests[request][0]["content"]


def test_induce_shows_nested_inputs_and_reward_only_failures() -> None:
    chat = FakeChat({"candidates": [OUTCOME_RULE]})
    got = ModelLearner(chat).induce(BATCH, LearnContext(scope="git"))
    prompt = prompt_of(chat)
    assert '"input":{"repo":{"protected":"yes","branches":["main","dev"]}' in prompt
    assert '"outcome":"did git push --force, reward 0 (failed)"' in prompt
    assert "did git push --force, reward 1 (worked)" in prompt
    # the fields offered are the dotted paths, and the agent's action
    for name in ("output", "repo.protected", "repo.branches.length", "tool.args.flags"):
        assert name in prompt
    enum = chat.calls[0].schema["properties"]["candidates"]["items"]["properties"]["when"]
    assert {"output", "repo.protected"} <= set(enum["items"]["properties"]["field"]["enum"])
    # an outcome rule passes the learner's checks; verification is learn.py's, unchanged
    assert got[0].then == "fails"
    assert Condition("repo.protected", "=", "yes") in (got[0].when or ())


def test_revise_shows_the_same_shapes() -> None:
    cand = Candidate(title="t", statement="s", scope="git", evidence=("g-000",))
    chat = FakeChat({"operations": []})
    ModelLearner(chat).revise(BATCH, [cand], LearnContext(scope="git"))
    prompt = prompt_of(chat)
    assert '"repo":{"protected":"yes"' in prompt
    assert "did git push --force, reward 0 (failed)" in prompt


def test_a_huge_input_is_cut_at_the_bound_with_a_marker() -> None:
    huge = {
        "log": "x" * 100_000,
        "items": list(range(5_000)),
        "wide": {f"k{i}": i for i in range(1_000)},
        "deep": json.loads("[" * 30 + "1" + "]" * 30),
        "notes": {f"n{i}": "z" * 300 for i in range(20)},
    }
    text = render_input(huge)
    assert len(text) <= MAX_INPUT_CHARS and "…[cut: " in text
    assert '"deep":[[[[[[["…"]]]]]]]' in render_input({"deep": huge["deep"]})
    assert "4980 more" in render_input({"items": list(range(5_000))}, 10_000)
    assert '"…":"980 more keys"' in render_input({"wide": huge["wide"]}, 10_000)
    chat = FakeChat({"candidates": []})
    ModelLearner(chat).induce([raw(0, huge, "a", reward=0.0)], LearnContext(scope="git"))
    line = next(x for x in prompt_of(chat).splitlines() if x.startswith('{"id":"g-000"'))
    assert len(line) < MAX_INPUT_CHARS + 120
    assert line.endswith('characters],"outcome":"did a, reward 0 (failed)"}')


@pytest.mark.slow
def test_the_whole_prompt_stays_within_its_budget() -> None:
    batch = [raw(i, {"note": "y" * 5_000, "n": i}, "a", expected="B") for i in range(200)]
    chat = FakeChat({"candidates": []}, {"operations": []})
    learner = ModelLearner(chat, max_prompt=8_000)
    learner.induce(batch, LearnContext(scope="git"))
    cand = Candidate(title="t", statement="s", scope="git", evidence=("g-000",))
    learner.revise(batch, [cand], LearnContext(scope="git"))
    for request in (0, 1):
        prompt = prompt_of(chat, request)
        assert len(prompt) <= 8_000
        assert "more experiences of this batch are not shown" in prompt
        assert '"id":"g-000"' in prompt


def test_outcome_phrases() -> None:
    assert outcome_phrase(raw(0, "t", expected="VESPER")) == "expected VESPER"
    assert (
        outcome_phrase(raw(0, "t", "LUMEN", expected="VESPER", reward=0.0))
        == "did LUMEN, expected VESPER (wrong), reward 0 (failed)"
    )
    assert outcome_phrase(raw(0, "t", "A", expected="A")) == "did A, expected A (right)"
    worked = "did call back, reward 1 (worked)"
    assert outcome_phrase(raw(0, "t", "call back", reward=1.0)) == worked
    assert (
        outcome_phrase(raw(0, "t", reward=0.0))
        == "reward 0 (failed; the action is not recorded)"
    )
    assert (
        outcome_phrase(raw(0, "t", text="CI   red\nagain"))
        == "no expected answer or reward; feedback: CI red again"
    )


def test_fields_are_dotted_paths() -> None:
    inputs = [
        {"repo": {"protected": "yes"}, "tags": ["a", "b"], "calls": [{"name": "ls"}]},
        {"output": "x", "result": {"exit_code": 1, "skip": None}},
        "free text",
    ]
    assert fields(inputs) == [
        "calls.length",
        "calls.name",
        "input.output",
        "repo.protected",
        "result.exit_code",
        "tags",
        "tags.length",
    ]
    assert fields(inputs, with_output=True)[0] == "output"


def test_answer_with_model_renders_a_nested_question_bounded() -> None:
    t = "2026-11-27T08:00:00Z"
    rule = Rule(id="r-a", title="a", statement="Protected repos refuse force pushes.",
                scope="git", created=t, updated=t)  # fmt: skip
    question = {"repo": {"protected": "yes", "files": [f"f{i}" for i in range(10_000)]}}
    chat = FakeChat({"answer": "no", "rules": ["r-a"]})
    answer_with_model(chat, question, [rule], scope="git")
    prompt = prompt_of(chat)
    assert '{"repo":{"protected":"yes","files":["f0",' in prompt
    assert "9980 more" in prompt and len(prompt) < 6_000


def test_learn_end_to_end_with_nested_reward_only_experiences(tmp_path: Path) -> None:
    Store.init(tmp_path / "m", author=PERSON)
    chat = FakeChat()
    mem = Memory.open(tmp_path / "m", env={"IMLGIT_POLICY": "auto"}, chat=chat,
                      embedder=HashEmbedder())  # fmt: skip
    exps = [Experience.from_dict(e.to_dict()) for e in BATCH]  # validated, as from a file
    chat.enqueue(
        {"candidates": [OUTCOME_RULE]},
        {"operations": [{"op": "ADD", "target": None, "candidate": 0,
                         "rationale": "Failed every time."}]},  # fmt: skip
    )
    done = mem.learn(exps, batch=6, learner="model")
    assert "did git push --force, reward 0 (failed)" in prompt_of(chat)
    assert done.choice is not None and done.choice.name == "model"
