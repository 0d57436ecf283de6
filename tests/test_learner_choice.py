"""``learner = "auto"``: which learner learns, why, and what no learner here can use.

Doubles (FakeChat, HashEmbedder) come from tests/fakes.py. A FakeChat whose identity
starts with "embedded:" stands in for the embedded 135M model, so no server starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PERSON
from fakes import FakeChat, HashEmbedder

from imlgit.errors import LearnError
from imlgit.experience import Experience
from imlgit.learners.choice import EvidenceCounts
from imlgit.memory import Memory
from imlgit.store import Store

EMBEDDED = "embedded:SmolLM2-135M-Instruct"


def labelled(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "id": f"l-{i}",
            "scope": "tt",
            "input": {"a": "yes" if i % 2 else "no"},
            "outcome": {"expected": "X" if i % 2 else "Y"},
        }
        for i in range(start, start + n)
    ]


def bandit(n: int) -> list[dict[str, Any]]:
    """Reward-only: the agent picked a route, the environment answered with a reward;
    most picks failed, so few experiences have a label in the old sense."""
    out = []
    for i in range(n):
        premium = i % 2 == 0
        route = ["callback", "email", "queue"][i % 3]
        good = route == ("callback" if premium else "email")
        out.append(
            {
                "id": f"b-{i}",
                "scope": "calls",
                "input": {"premium": "yes" if premium else "no"},
                "output": route,
                "outcome": {"reward": 1.0 if good else 0.0},
            }
        )
    return out


def text_only(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"t-{i}", "scope": "tt", "input": {"a": "yes"}, "outcome": {"text": "looked odd"}}
        for i in range(n)
    ]


def unrewarded(n: int) -> list[dict[str, Any]]:
    """A reward with no output: nothing says which action it rewards."""
    return [
        {"id": f"u-{i}", "scope": "tt", "input": {"a": "no"}, "outcome": {"reward": 0.0}}
        for i in range(n)
    ]


def exps(rows: list[dict[str, Any]]) -> list[Experience]:
    return [Experience.from_dict(r) for r in rows]


def open_mem(path: Path, env: dict[str, str] | None = None, chat: Any = None) -> Memory:
    Store.init(path, author=PERSON)
    return Memory.open(
        path, env={"IMLGIT_POLICY": "auto", **(env or {})}, chat=chat, embedder=HashEmbedder()
    )


def test_counts_each_kind_of_outcome() -> None:
    counts = EvidenceCounts.of(exps(labelled(4) + bandit(3) + text_only(2) + unrewarded(1)))
    assert counts.to_dict() == {
        "total": 10,
        "expected": 4,
        "reward_only": 3,
        "text_only": 2,
        "reward_without_output": 1,
    }
    assert counts.readable == 7 and counts.unusable == 3


def test_auto_without_an_endpoint_never_hands_readable_evidence_to_the_embedded_model(
    tmp_path: Path,
) -> None:
    # Reward-only with most picks failed: the old rule ("most experiences have a
    # label") handed this to the embedded model, and so did a chat made earlier.
    chat = FakeChat(identity=EMBEDDED)
    mem = open_mem(tmp_path / "m", chat=chat)
    rows = bandit(30)
    assert sum(r["outcome"]["reward"] for r in rows) * 2 < len(rows)
    done = mem.learn(exps(rows), batch=30)
    assert done.choice is not None and done.choice.name == "covering"
    assert done.choice.reason == (
        "30 of 30 experiences carry an expected answer or a reward for the action taken; "
        "no model endpoint is configured"
    )
    assert done.choice.summary().startswith("learner: no-model rule learner — 30 of 30")
    assert not chat.calls  # the embedded model was never asked


def test_auto_without_an_endpoint_needs_only_some_readable_experiences(tmp_path: Path) -> None:
    mem = open_mem(tmp_path / "m")
    choice = mem.choose_learner(exps(labelled(4) + text_only(10)))
    assert choice.name == "covering"
    assert choice.reason.startswith("4 of 14 experiences carry")
    assert mem._chat is None  # no model was started to choose


def test_auto_with_a_configured_base_url_uses_the_model_learner(tmp_path: Path) -> None:
    env = {"IMLGIT_BASE_URL": "http://127.0.0.1:9/v1", "IMLGIT_MODEL": "qwen2.5"}
    mem = open_mem(tmp_path / "m", env=env)
    choice = mem.choose_learner(exps(labelled(10)))
    assert choice.name == "model" and choice.asked == "auto"
    assert choice.learner.identity.startswith("model:openai-compatible:qwen2.5@")
    assert choice.reason.startswith("a model endpoint is configured; 10 of 10 experiences")
    assert choice.summary().startswith("learner: language-model learner (openai-compatible:")


def test_the_embedded_model_learns_only_when_asked_for_by_name(tmp_path: Path) -> None:
    mem = open_mem(tmp_path / "m", chat=FakeChat(identity=EMBEDDED))
    assert mem.choose_learner(exps(labelled(10))).name == "covering"
    choice = mem.choose_learner(exps(labelled(10)), "model")
    assert choice.name == "model" and choice.learner.identity == f"model:{EMBEDDED}"
    assert 'asked for by name (learner = "model")' in choice.reason
    assert "embedded model" in choice.reason


def test_nothing_readable_and_no_endpoint_fails_saying_what_to_do(tmp_path: Path) -> None:
    chat = FakeChat(identity=EMBEDDED)
    mem = open_mem(tmp_path / "m", chat=chat)
    head = mem.store.head()
    with pytest.raises(LearnError) as err:
        mem.learn(exps(text_only(5) + unrewarded(2)))
    msg = str(err.value)
    assert "5 experiences have only a text outcome" in msg
    assert "2 experiences have a reward but no output" in msg
    assert "base_url" in msg and '"expected"' in msg and '"reward"' in msg
    assert not chat.calls
    assert mem.store.head() == head and set(mem.store.branches()) == {"main"}


def test_covering_by_name_with_nothing_readable_fails(tmp_path: Path) -> None:
    mem = open_mem(tmp_path / "m")
    with pytest.raises(LearnError, match="can read none of the 3 experiences"):
        mem.learn(exps(text_only(3)), learner="covering")
    assert set(mem.store.branches()) == {"main"}


def test_unusable_experiences_are_reported_in_the_result(tmp_path: Path) -> None:
    mem = open_mem(tmp_path / "m")
    done = mem.learn(exps(labelled(18) + text_only(2)), batch=20)
    assert done.choice is not None
    note = "2 experiences have only a text outcome: no learner here can use them"
    assert done.choice.note == note
    got = done.to_dict()["learner"]
    assert got["name"] == "covering" and got["asked"] == "auto"
    assert got["experiences"]["text_only"] == 2 and got["experiences"]["expected"] == 18
    assert got["unusable"] == done.choice.note


def test_a_learner_passed_in_is_recorded_as_given(tmp_path: Path) -> None:
    from imlgit.learners.rulelearner import CoveringLearner

    mem = open_mem(tmp_path / "m")
    done = mem.learn(exps(labelled(10)), learner=CoveringLearner())
    assert done.choice is not None and done.choice.name == "given"
    assert done.choice.reason == "passed in by the caller"


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_cli_learn_says_which_learner_and_why(tmp_path: Path, imlgit_cli: Any) -> None:
    repo = tmp_path / "m"
    Store.init(repo, author=PERSON)
    data = write(tmp_path / "e.jsonl", labelled(18) + text_only(2))
    out = imlgit_cli("learn", str(data), "--batch", "20", repo=repo)
    assert out.returncode == 0, out.stderr
    assert (
        "learner: no-model rule learner — 18 of 20 experiences carry an expected answer or a "
        "reward for the action taken; no model endpoint is configured"
    ) in out.stderr
    assert "2 experiences have only a text outcome: no learner here can use them" in out.stderr
    out = imlgit_cli("learn", str(data), "--batch", "20", "--json", repo=repo)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["learner"]
    assert got["name"] == "covering" and got["experiences"]["text_only"] == 2


@pytest.mark.slow
def test_cli_learn_with_nothing_readable_is_a_clear_error(tmp_path: Path, imlgit_cli: Any) -> None:
    repo = tmp_path / "m"
    Store.init(repo, author=PERSON)
    out = imlgit_cli("learn", str(write(tmp_path / "e.jsonl", text_only(4))), repo=repo)
    assert out.returncode == 1
    assert "learner auto has nothing to learn from: 4 experiences have only a text" in out.stderr
    assert "unexpected" not in out.stderr


def test_mcp_learn_tool_shows_the_choice(tmp_path: Path) -> None:
    from imlgit.mcp_tools import Tools

    mem = open_mem(tmp_path / "m")
    for row in labelled(10) + text_only(1):
        mem.record(row)
    got = Tools(mem).learn()["learner"]
    assert got["name"] == "covering"
    assert got["unusable"] == "1 experience has only a text outcome: no learner here can use them"
