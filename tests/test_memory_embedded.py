"""The real default path: Memory -> openai client -> the embedded llama.cpp server on
127.0.0.1, with the packaged MiniLM embedder and FAISS. Slow; asserts the mechanism,
not the 135M model's judgement."""

from __future__ import annotations

import pytest
from conftest import PERSON

from imlgit.commits import CommitMessage
from imlgit.experience import Experience
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store

pytestmark = pytest.mark.slow
T = "2026-11-27T08:00:00Z"


@pytest.fixture(scope="module")
def mem(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    path = tmp_path_factory.mktemp("embedded") / "m"
    store = Store.init(path, author=PERSON)
    rule = Rule(
        id="r-heavy-by-sea",
        title="Heavy overseas parcels ship by sea",
        statement="A heavy parcel to an overseas address ships by sea.",
        scope="shipping",
        created=T,
        updated=T,
    )
    store.put_rule(
        rule,
        CommitMessage.make("add", "add r-heavy-by-sea", "Seen 12 times.", rules=[rule.id]),
        author=PERSON,
    )
    return Memory.open(path, env={})  # no endpoint: the embedded server and MiniLM


def test_recall_with_the_real_embedder(mem: Memory) -> None:
    hits = mem.recall("how should a heavy parcel going abroad be shipped", k=2)
    assert hits[0].rule.id == "r-heavy-by-sea" and hits[0].score > hits[-1].score - 1e-6


def test_ask_through_the_embedded_model(mem: Memory) -> None:
    ans = mem.ask("A heavy parcel goes to Japan. How does it ship?", scope="shipping")
    assert ans.path == "model" and ans.answer
    assert set(ans.rules) <= set(ans.retrieved) and "r-heavy-by-sea" in ans.retrieved
    assert ans.commit == mem.store.head() and ans.prompt_tokens > 0
    assert mem.chat.identity.startswith("embedded:")


def test_learning_through_the_embedded_model_commits_with_rationales(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """learn -> the openai client -> llama.cpp on 127.0.0.1 -> validated operations ->
    commits with rationales and trailers; then ask cites a learned rule. The 135M
    model's rules are poor; what is asserted is the mechanism. A fresh memory: the
    model is asked to induce, not to revise rules it cannot read."""
    path = tmp_path_factory.mktemp("embedded-learn") / "m"
    Store.init(path, author=PERSON)
    mem = Memory.open(path, env={})
    exps = [
        Experience.from_dict(
            {
                "id": f"s-{i}",
                "scope": "shipping",
                "input": f"a {'heavy' if i % 2 == 0 else 'light'} parcel to an overseas address",
                "output": "sea" if i % 2 == 0 else "air",
                "outcome": {"reward": 1.0, "text": "arrived on time"},
            }
        )
        for i in range(4)
    ]
    head = mem.store.head()
    done = mem.learn(exps, batch=4, learner="model")
    results = done.batches
    commits = results[0].commits
    # policy manual (the default): the changes wait on a proposal for a person
    assert done.proposal and commits and mem.store.head(done.branch) == commits[-1]
    assert mem.store.head() == head
    learned = results[0].added + results[0].edited + results[0].agreed + results[0].retired
    assert learned, "the model proposed nothing that validated"
    for sha in commits:
        info = mem.store.commit_info(sha)
        assert info.rationale.strip()
        assert info.trailer("Imlgit-Batch") == results[0].batch_id
        assert info.trailer("Imlgit-Model") == "model:embedded:SmolLM2-135M-Instruct"
    ans = mem.ask("How does a heavy parcel abroad ship?", scope="shipping", at=done.branch)
    assert ans.path == "model" and set(ans.rules) <= set(ans.retrieved)
    assert ans.commit == mem.store.head(done.branch)
