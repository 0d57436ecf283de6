"""The benchmark harness: conditions, oscillation counting, the entry points, scale.

No real model runs here: the embedder is the hash embedder (fakes.HashEmbedder or
the bench's own), and the model conditions talk to RuleOfThumbFakeChat, a fake
chat model written below that answers by the name of the request.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from fakes import HashEmbedder

from imlgit.bench import BenchOptions, ScaleOptions, run_scale, run_truth_table
from imlgit.bench.chat import MeteredChat, match_class
from imlgit.bench.cli_support import markdown_from_json
from imlgit.bench.embedders import HashEmbedder as BenchHashEmbedder
from imlgit.bench.episodic import EpisodicMemory
from imlgit.bench.harness import (
    CONDITIONS,
    MODEL_CONDITIONS,
    NO_MODEL_CONDITIONS,
    OscillationCounter,
    RunResult,
    run_condition,
)
from imlgit.bench.options import (
    bench_options,
    parse_conditions,
    parse_difficulty,
    parse_floats,
    resolve_conditions,
)
from imlgit.bench.scale import count_tokens, distractor_rules
from imlgit.bench.truthtable import TruthTable
from imlgit.learn import BatchResult
from imlgit.llm import JsonAnswer, Messages, Usage, Validator, complete_json_via

NOT_A_CLASS = "NOT-A-CLASS"


class RuleOfThumbFakeChat:
    """A fake ChatModel: induction proposes one default rule ("Always: the class is
    ``then``"), revision ADDs every candidate, answers name ``answer``. Ids and
    scopes are read from the request's schema; the real parse-and-retry loop runs.
    Token counts are words in and out."""

    def __init__(self, then: str = NOT_A_CLASS, answer: str = "LUMEN") -> None:
        self.identity = "fake:rule-of-thumb"
        self.then = then
        self.answer = answer
        self.names: list[str] = []

    def complete_json(
        self,
        messages: Messages,
        schema: dict[str, Any],
        *,
        name: str,
        validate: Validator | None = None,
        grammar: dict[str, Any] | None = None,
    ) -> JsonAnswer:
        self.names.append(name)
        reply = self._reply(name, schema)

        def send(conversation: Messages) -> tuple[str, Usage]:
            raw = json.dumps(reply)
            words = sum(len(m["content"].split()) for m in conversation)
            return raw, Usage(words, len(raw.split()))

        return complete_json_via(send, messages, schema, name=name, validate=validate)

    def complete_text(self, messages: Messages) -> str:
        return self.answer

    def _reply(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        if name == "induce":
            item = schema["properties"]["candidates"]["items"]["properties"]
            ids = item["evidence"]["items"]["enum"]
            return {
                "candidates": [
                    {
                        "title": f"Always {self.then}",
                        "statement": f"Always: the class is {self.then}.",
                        "scope": item["scope"]["enum"][0],
                        "evidence": ids[:2],
                        "rationale": "a fake's rule of thumb",
                        "when": {},
                        "then": self.then,
                    }
                ]
            }
        if name == "revise":
            item = schema["properties"]["operations"]["items"]["properties"]
            n = item["candidate"].get("maximum", -1) + 1
            ops = [
                {"op": "ADD", "target": None, "candidate": i, "rationale": "fake: add it"}
                for i in range(n)
            ]
            return {"operations": ops}
        if name == "infer":
            return {"answer": self.answer, "rules": []}
        return {"answer": self.answer}


@pytest.fixture(scope="module")
def data() -> tuple[TruthTable, list[Any], list[Any]]:
    env = TruthTable(seed=0)
    return env, env.sample(40, 1), env.sample(60, 2)


# ----------------------------------------------------------------- conditions


NO_MODEL_ACCURACY = {
    "majority": 0.35,
    "episodic-knn": 0.35,
    "covering-no-momentum": 0.5,
    "covering": 0.5,
    "hidden-rules": 1.0,
}


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_runs_an_iteration(condition: str, data: Any) -> None:
    env, train, test = data
    chat = RuleOfThumbFakeChat()
    result = run_condition(
        condition,
        train[:20],
        test,
        seed=0,
        batch=20,
        hidden=env.hidden_rules(),
        classes=env.classes,
        chat=chat,
        embedder=HashEmbedder(),
        model_test=5,
    )
    assert result.condition == condition and len(result.iterations) == 1
    it = result.iterations[0]
    assert it.seen == 20 and it.act_accuracy is not None
    assert 0.0 < it.seconds == result.seconds  # timed, and the run's time is its iterations'
    if condition in MODEL_CONDITIONS:
        assert it.tested == 5
        assert it.prompt_tokens > 0 and it.completion_tokens > 0
        assert it.accuracy == sum(e.label == "LUMEN" for e in test[:5]) / 5
        assert result.answers == {"LUMEN": 5}  # what the model said, for the report
    else:
        assert it.tested == len(test) and it.prompt_tokens == 0
        assert chat.names == []
        # what each condition gets on these seeds (the held-out labels are 35% the
        # majority class; hidden-rules are the truth; none answers at random)
        assert it.accuracy == NO_MODEL_ACCURACY[condition]
        if condition == "majority":
            top = max(env.classes, key=[e.label for e in train[:20]].count)
            assert it.accuracy == sum(e.label == top for e in test) / len(test)
    if condition.startswith("hidden-rules"):
        assert it.rules == len(env.hidden_rules()) == len(result.rules)
        assert all(t.startswith("When ") or t.startswith("Always") for t in result.rules)
    if condition == "hidden-rules":
        assert it.accuracy == 1.0
    if condition == "hidden-rules-model":
        assert it.checked_accuracy == 1.0 and it.ask_accuracy == 1.0
    if condition in ("none", "episodic"):
        assert it.checked_accuracy is None and it.rules == 0
    # a round trip through JSON
    again = RunResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.iterations == result.iterations


def test_verification_refuses_what_it_lets_through_when_off(data: Any) -> None:
    env, train, test = data
    runs = {
        cond: run_condition(
            cond,
            train,
            test,
            seed=0,
            batch=20,
            classes=env.classes,
            chat=RuleOfThumbFakeChat(),
            model_test=3,
        )  # fmt: skip
        for cond in ("model", "model-no-verification")
    }
    checked = runs["model"].iterations[0]
    unchecked = runs["model-no-verification"].iterations[0]
    assert checked.operations.get("refused") and not checked.operations.get("added")
    assert checked.rules == 0
    assert "decides" in runs["model"].refusals[0]  # why: the counts, shown in the report
    assert unchecked.operations.get("added") == 1 and unchecked.rules == 1
    # the rule answers every held-out question, always wrongly
    assert unchecked.checked_accuracy == 0.0
    # the second batch proposes the same rule again: refused as a duplicate
    assert runs["model-no-verification"].iterations[1].operations.get("refused") == 1


def test_model_batch_splits_learning_and_failures_are_counted(data: Any) -> None:
    from imlgit.errors import LLMError

    env, train, test = data

    class Failing(RuleOfThumbFakeChat):
        def complete_json(self, *args: Any, **kwargs: Any) -> JsonAnswer:
            if kwargs.get("name") == "induce" and self.names.count("induce") == 0:
                self.names.append("induce")
                raise LLMError("timeout (a fake)")
            return super().complete_json(*args, **kwargs)

    chat = Failing()
    result = run_condition(
        "model-no-verification", train[:20], test, seed=0, batch=20, model_batch=5,
        classes=env.classes, chat=chat, model_test=2,
    )  # fmt: skip
    it = result.iterations[0]
    assert chat.names.count("induce") == 4  # 20 experiences in steps of 5
    assert it.operations["failed"] == 1 and it.failed == 1
    assert it.operations["added"] == 1 and result.notes and "timeout" in result.notes[0]


def test_conditions_refuse_what_they_cannot_run(data: Any) -> None:
    env, train, test = data
    with pytest.raises(ValueError, match="unknown condition"):
        run_condition("magic", train, test, seed=0, batch=20)
    with pytest.raises(ValueError, match="chat model"):
        run_condition("model", train, test, seed=0, batch=20)
    with pytest.raises(ValueError, match="embedder"):
        run_condition("episodic-knn", train, test, seed=0, batch=20)


def test_act_with_model_answers_the_batch_before_learning(data: Any) -> None:
    env, train, test = data
    chat = RuleOfThumbFakeChat(answer="LUMEN")
    result = run_condition(
        "none", train[:20], test, seed=0, batch=20, classes=env.classes, chat=chat,
        model_test=2, act_with_model=True,
    )  # fmt: skip
    assert chat.names.count("infer") == 20 + 2
    assert result.iterations[0].act_accuracy == sum(e.label == "LUMEN" for e in train[:20]) / 20


# ----------------------------------------------------------------- oscillations


def test_oscillation_counting_on_a_constructed_history() -> None:
    osc = OscillationCounter()
    assert osc.added("r-a", "A") == 0
    assert osc.edited("r-a", "B") == 0
    assert osc.edited("r-a", "C") == 0
    assert osc.edited("r-a", "B") == 1  # back to an earlier statement
    assert osc.edited("r-a", "D") == 0
    assert osc.edited("r-a", "A") == 1
    assert osc.edited("r-b", "X") == 0  # a rule first seen when edited
    assert osc.edited("r-b", "X") == 0  # no change is no oscillation
    assert osc.statements["r-a"] == ["A", "B", "C", "B", "D", "A"]
    statements = {"r-c": "P", "r-a": "B", "r-m": "M"}
    result = BatchResult("b-1", 3, added=["r-c"], edited=["r-a"], restored=["r-z"], merged=["r-m"])
    # r-a back to B (+1), r-z restored (+1); r-c new and r-m first merged: 0
    assert osc.batch(result, statements.__getitem__) == 2


def test_a_run_counts_oscillations_from_the_engine(data: Any) -> None:
    env, _, test = data
    noisy = env.sample(40, 2, noise=0.1)  # on these seeds one rule flips back in batch 4
    runs = {
        cond: run_condition(cond, noisy, test, seed=0, batch=10, classes=env.classes)
        for cond in ("covering-no-momentum", "covering")
    }
    free, damped = runs["covering-no-momentum"], runs["covering"]
    assert [i.oscillations for i in free.iterations] == [0, 0, 0, 1]
    assert free.oscillations == 1
    assert damped.oscillations == 0  # momentum holds the rule through the noisy batch
    assert free.final == damped.final == 55 / 60  # learning happens


# ----------------------------------------------------------------- pieces


def test_match_class() -> None:
    classes = ("LUMEN", "VESPER", "CINDER")
    assert match_class("LUMEN", classes) == "LUMEN"
    assert match_class(" vesper. ", classes) == "VESPER"
    assert match_class("The class is CINDER.", classes) == "CINDER"
    assert match_class("LUMEN or VESPER", classes) is None
    assert match_class("no", classes) is None and match_class(None, classes) is None


def test_metered_chat_counts_tokens_and_failures() -> None:
    from fakes import FakeChat

    from imlgit.errors import LLMError

    fake = FakeChat({"answer": "x"}, LLMError("down"))
    chat = MeteredChat(fake)
    schema = {"type": "object"}
    got = chat.complete_json([{"role": "user", "content": "one two three"}], schema, name="t")
    assert got.data == {"answer": "x"}
    assert (chat.meter.calls, chat.meter.prompt_tokens, chat.meter.completion_tokens) == (1, 3, 2)
    with pytest.raises(LLMError):
        chat.complete_json([{"role": "user", "content": "x"}], schema, name="t")
    assert chat.meter.failed == 1 and chat.identity == fake.identity


def test_episodic_memory_votes_by_its_nearest_experiences(data: Any) -> None:
    _, train, _ = data
    mem = EpisodicMemory(BenchHashEmbedder(), k=1)
    assert mem.vote([train[0].input]) == [None]
    mem.add(train)
    # the nearest experience of a stored input is itself
    assert mem.vote([e.input for e in train[:5]]) == [e.label for e in train[:5]]
    assert mem.examples(train[3].input) == [train[3]]


def test_option_parsing() -> None:
    assert parse_conditions("covering,majority") == ("majority", "covering")
    assert parse_conditions("no-model") == NO_MODEL_CONDITIONS
    assert parse_conditions("all") == CONDITIONS and parse_conditions("") is None
    with pytest.raises(ValueError, match="unknown condition"):
        parse_conditions("covering,nope")
    assert parse_difficulty("3x2x10,5") == ((3, 2, 10), (5, 0, 0))
    assert parse_floats("0,10%,0.2") == (0.0, 0.1, 0.2)
    assert resolve_conditions(None, endpoint=False) == NO_MODEL_CONDITIONS
    assert resolve_conditions(None, endpoint=True) == CONDITIONS
    assert resolve_conditions(None, endpoint=True, quick=True) == NO_MODEL_CONDITIONS
    opts = BenchOptions(seeds=(0,), noise_levels=(0.0, 0.1), api_key="secret", quick=True)
    assert opts.command() == "imlgit bench truth-table --seeds 0 --noise-levels 0,0.1 --quick"
    assert BenchOptions(conditions=CONDITIONS).command().endswith("--conditions all")
    assert opts.to_dict()["api_key"] == "(set)"
    with pytest.raises(ValueError):
        BenchOptions(noise=1.5)
    # command-line values, as imlgit bench and python -m imlgit.bench pass them
    got = bench_options(
        "tickets", seeds="1,2", noise_levels="", difficulty="", conditions=None, out="x", k=None
    )
    assert (got.env, got.seeds, got.noise_levels, got.difficulty) == ("tickets", (1, 2), (), ())
    assert got.conditions is None and got.out == Path("x") and got.k == 8
    assert got.command() == (
        'imlgit bench tickets --seeds 1,2 --noise-levels "" --difficulty "" --out x'
    )


# ----------------------------------------------------------------- entry points


@pytest.mark.slow
def test_quick_truth_table_end_to_end_without_a_model(tmp_path: Path) -> None:
    out = tmp_path / "results"
    paths = run_truth_table(BenchOptions(quick=True, out=out, test=100), embedder=HashEmbedder())
    assert paths["json"] == out / "truthtable.json" and paths["markdown"].is_file()
    doc = json.loads(paths["json"].read_text())
    assert doc["conditions"] == list(NO_MODEL_CONDITIONS) and doc["model"] is None
    assert doc["options"]["seeds"] == [0] and doc["training_experiences"] == 60
    assert set(doc["main"]["summary"]) == set(NO_MODEL_CONDITIONS)
    for run in doc["main"]["runs"]:
        assert len(run["iterations"]) == 3
        it = run["iterations"][0]
        for key in ("accuracy", "rules", "operations", "oscillations", "prompt_tokens",
                    "completion_tokens", "seconds", "tested"):  # fmt: skip
            assert key in it
    assert [c["noise"] for c in doc["noise"]] == [0.0, 0.2]
    assert [(d["clauses"], d["literals"], d["attributes"]) for d in doc["difficulty"]] == [
        (3, 2, 10),
        (5, 2, 10),
    ]
    assert doc["main"]["summary"]["hidden-rules"]["mean"] == 1.0
    # the main results at noise 0 are the noise table's 0% column: the same runs
    assert doc["noise"][0]["runs"] == [
        r for r in doc["main"]["runs"] if r["condition"] in doc["sweep_conditions"]
    ]
    md = paths["markdown"].read_text()
    for heading in ("## Results (noise 0%)", "## Noise", "## Difficulty", "### Learning curve"):
        assert heading in md
    assert "`imlgit bench truth-table --test 100 --quick" in md
    assert "| covering |" in md and "| hidden-rules |" in md
    if importlib.util.find_spec("matplotlib") is not None:
        assert paths["png"].is_file() and paths["png"].read_bytes()[:4] == b"\x89PNG"
    # the report can be rendered again from the JSON alone
    assert markdown_from_json(paths["json"]) == md


@pytest.mark.slow
def test_quick_with_model_conditions_named(tmp_path: Path) -> None:
    chat = RuleOfThumbFakeChat(answer="VESPER")
    paths = run_truth_table(
        BenchOptions(
            quick=True, out=tmp_path, test=50, iterations=2,
            conditions=("majority", "none", "episodic", "model"),
            noise_levels=(), difficulty=(),
        ),
        chat=chat, embedder=HashEmbedder(),
    )  # fmt: skip
    doc = json.loads(paths["json"].read_text())
    assert doc["conditions"] == ["majority", "none", "episodic", "model"]
    assert doc["model"] == "fake:rule-of-thumb" and doc["model_seeds"] == [0]
    assert doc["model_tokens_counted"] == "per validated answer"
    summary = doc["main"]["summary"]
    assert summary["model"]["prompt_tokens"] > 0 and summary["none"]["tested"] == 5
    # none: the model alone, evaluated once since its memory never changes
    assert chat.names.count("infer") == 5 + 5 * 2  # none once, model twice
    md = paths["markdown"].read_text()
    assert "the model alone (first 5 held-out)" in md
    assert "- none, seed 0: 'VESPER' x5" in md
    assert "--conditions majority,none,episodic,model" in md
    assert doc["noise"] == [] and doc["difficulty"] == []


@pytest.mark.slow
def test_scale_on_small_sizes(tmp_path: Path) -> None:
    paths = run_scale(ScaleOptions(sizes=(10, 60), test=30, out=tmp_path), embedder=HashEmbedder())
    doc = json.loads(paths["json"].read_text())
    rows = doc["rows"]
    assert [r["distractors"] for r in rows] == [10, 60]
    hidden = len(TruthTable(seed=0).hidden_rules())
    assert hidden == 8
    for r in rows:
        assert r["task_rules"] == hidden
        assert r["rules_in_memory"] >= r["distractors"] + hidden
        assert r["accuracy_scope_rules"] == 1.0  # the scope keeps distractors out
        assert r["accuracy_topk_in_scope"] == 1.0  # top-k holds all 8 task rules
        assert r["prompt_tokens_topk"] < r["prompt_tokens_all_rules"]
    assert rows[1]["prompt_tokens_all_rules"] > rows[0]["prompt_tokens_all_rules"]
    # without the scope, distractors win: what the scope and top-k are there for
    assert [r["accuracy_all_rules"] for r in rows] == [1.0, 10 / 30]
    assert abs(rows[1]["prompt_tokens_topk"] - rows[0]["prompt_tokens_topk"]) < 1.0
    assert "| 60 |" in paths["markdown"].read_text()


def test_distractors_are_stable_and_mixed() -> None:
    a = distractor_rules(0, 40)
    assert a[10:20] == distractor_rules(10, 20)
    assert sum(r.checkable for r in a) == 20
    assert all(r.scope.startswith("task-") for r in a)
    assert count_tokens('{"id":"r-1"} When x is yes.') == 16


@pytest.mark.slow
def test_the_first_command_still_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imlgit.bench import truthtable_bench

    args = ["--seeds", "0", "--train", "40", "--test", "50", "--noise", "0,0.2", "--window", "20"]
    assert truthtable_bench.main([*args, "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "truthtable.json").read_text())
    assert doc["conditions"] == list(truthtable_bench.CONDITIONS)
    assert doc["options"]["iterations"] == 2 and doc["options"]["window"] == 20
    assert [c["noise"] for c in doc["noise"]] == [0.0, 0.2] and doc["difficulty"] == []
    assert "| covering |" in capsys.readouterr().out


@pytest.mark.slow
def test_imlgit_bench_truth_table_quick_through_the_cli(tmp_path: Path, imlgit_cli) -> None:  # type: ignore[no-untyped-def]
    out = imlgit_cli("bench", "truth-table", "--quick", "--out", str(tmp_path / "b"))
    assert out.returncode == 0, out.stderr
    assert "| covering |" in out.stdout
    data = json.loads((tmp_path / "b" / "truthtable.json").read_text())
    assert data and (tmp_path / "b" / "truthtable.md").exists()
