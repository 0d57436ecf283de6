"""The real default path: Memory -> openai client -> the embedded llama.cpp server on
127.0.0.1, with the packaged MiniLM embedder and FAISS. Slow; asserts the mechanism,
not the 135M model's judgement."""

from __future__ import annotations

import pytest
from conftest import PERSON

from imlgit.commits import CommitMessage
from imlgit.errors import LearnError, LLMOutputError
from imlgit.experience import Experience
from imlgit.llm import EMBEDDED_MODEL as EMBEDDED
from imlgit.llm import OpenAIChat
from imlgit.llm import embedded as embedded_llm
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
    assert mem.chat.identity == f"embedded:{EMBEDDED}"


def test_learning_through_the_embedded_model_commits_with_rationales(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """learn -> the openai client -> llama.cpp on 127.0.0.1 -> validated operations ->
    commits with rationales and trailers, or a loud LearnError when its answer does
    not validate; then ask answers through it. The 135M model's wording varies from
    run to run and its rules are poor: what is asserted is the mechanism, not what it
    learned. A fresh memory: the model is asked to induce, not to revise rules it
    cannot read."""
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
    assert isinstance(mem.chat, OpenAIChat) and mem.chat.identity == f"embedded:{EMBEDDED}"
    server = embedded_llm._embedded["server"]
    assert server.running and server.base_url.startswith("http://127.0.0.1:")
    try:
        done = mem.learn(exps, batch=4, learner="model")
    except LearnError as exc:
        # The model answered, and its answer broke the schema after the retries: a
        # loud failure that wrote nothing. A transport error would be a bug here.
        assert isinstance(exc.__cause__, LLMOutputError), repr(exc.__cause__)
        assert "nothing was committed" in str(exc)
        assert mem.store.head() == head
        assert not [b for b in mem.store.branches() if b.startswith("proposals/")]
        return
    results = done.batches
    commits = results[0].commits
    assert mem.store.head() == head  # policy manual (the default): main waits for a person
    assert all(r.reason for r in results[0].refused)  # each refusal says why
    if commits:  # the model proposed something that validated
        assert done.proposal and mem.store.head(done.branch) == commits[-1]
    else:
        assert done.proposal is None
    for sha in commits:
        info = mem.store.commit_info(sha)
        assert info.rationale.strip()
        assert info.trailer("Imlgit-Batch") == results[0].batch_id
        assert info.trailer("Imlgit-Model") == f"model:embedded:{EMBEDDED}"
    at = done.branch if done.proposal else None
    ans = mem.ask("How does a heavy parcel abroad ship?", scope="shipping", at=at)
    assert ans.path == "model" and ans.answer and set(ans.rules) <= set(ans.retrieved)
    assert ans.commit == mem.store.resolve(at)
