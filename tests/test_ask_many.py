"""Many questions at once (issue 17): ``Memory.ask_many`` and ``imlgit ask --file``
answer a batch with one read of memory, every answer at the same commit."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner
from conftest import PERSON
from fakes import HashEmbedder
from test_rule_cache import ATTRS, checkable

from imlgit import Ask
from imlgit.cli import cli
from imlgit.commits import CommitMessage
from imlgit.memory import Memory
from imlgit.rules import render_rule
from imlgit.store import Store


def memory(tmp_path: Path) -> Path:
    rng = random.Random(11)
    store = Store.init(tmp_path / "m", author=PERSON)
    rules = [checkable(f"r-{i}", rng) for i in range(20)]
    store.commit({store.path_for(r): render_rule(r).encode() for r in rules},
                 CommitMessage.make("add", "add", "Rules."), author=PERSON)  # fmt: skip
    store.close()
    return tmp_path / "m"


def test_ask_many_answers_as_ask_does_at_one_commit(tmp_path: Path) -> None:
    path = memory(tmp_path)
    rng = random.Random(2)
    questions = [{x: rng.choice(["yes", "no"]) for x in ATTRS} for _ in range(30)]
    mem = Memory.open(path, env={}, embedder=HashEmbedder())
    batch = mem.ask_many(questions, scope="tt", use_model=False)
    one = [mem.ask(q, scope="tt", use_model=False) for q in questions]
    assert [(a.answer, a.rules) for a in batch] == [(a.answer, a.rules) for a in one]
    assert len({a.commit for a in batch}) == 1
    assert sum(a.answer is not None for a in batch) > 10
    # an Ask carries its own scope: another scope has no rules, so no answer
    got = mem.ask_many([Ask(questions[0], scope="elsewhere"), questions[0]], scope="tt",
                       use_model=False)  # fmt: skip
    assert got[0].answer is None and got[1].answer == batch[0].answer


def test_ask_file_prints_one_answer_a_line_with_the_questions_ids(tmp_path: Path) -> None:
    path = memory(tmp_path)
    lines = [
        json.dumps({"id": "q1", "input": {x: "yes" for x in ATTRS}, "scope": "tt"}),
        "",
        json.dumps({"input": {x: "no" for x in ATTRS}, "scope": "tt"}),
    ]
    f = tmp_path / "q.jsonl"
    f.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(cli, ["--repo", str(path), "ask", "--file", str(f), "--no-model"])
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [o["id"] for o in out] == ["q1", 3]
    mem = Memory.open(path, env={}, embedder=HashEmbedder())
    want = mem.ask({x: "yes" for x in ATTRS}, scope="tt", use_model=False)
    assert (out[0]["answer"], out[0]["rules"]) == (want.answer, list(want.rules))
    # stdin works too
    res = CliRunner().invoke(cli, ["--repo", str(path), "ask", "--file", "-", "--no-model"],
                             input=lines[0] + "\n")  # fmt: skip
    assert json.loads(res.stdout)["answer"] == want.answer


def test_a_bad_questions_file_names_its_line_and_answers_nothing(tmp_path: Path) -> None:
    path = memory(tmp_path)
    f = tmp_path / "q.jsonl"
    for bad, why in [
        ('{"input": "a"}\n{"input": "b"\n', "q.jsonl:2"),
        ('{"question": "a"}\n', 'with "input"'),
        ('{"input": 3}\n', '"input" is text or an object'),
        ('{"input": "a", "scope": 4}\n', '"scope" is text'),
        ('"just text"\n', 'with "input"'),
    ]:
        f.write_text(bad)
        res = CliRunner().invoke(cli, ["--repo", str(path), "ask", "--file", str(f), "--no-model"])
        assert res.exit_code == 2 and why in res.output, (bad, res.output)
        assert "unexpected" not in res.output.lower()
    res = CliRunner().invoke(cli, ["--repo", str(path), "ask", "--no-model"])
    assert res.exit_code == 2 and "give QUERY or --file" in res.output
