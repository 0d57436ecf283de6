"""A learn that changes no rule opens no proposal, says so, and loses nothing.

``NoOpLearner`` is a test double: it proposes nothing.
"""

from __future__ import annotations

from pathlib import Path

from conftest import PERSON
from fakes import HashEmbedder

from imlgit.memory import Memory
from imlgit.proposals import list_proposals
from imlgit.store import Store


class NoOpLearner:
    """A learner double that never proposes a change."""

    identity = "no-op learner (test double)"
    uses_retrieval = False

    def induce(self, batch, context):  # type: ignore[no-untyped-def]
        return []

    def revise(self, batch, candidates, context):  # type: ignore[no-untyped-def]
        return []


def _exp(i: int) -> dict[str, object]:
    return {"id": f"n-{i}", "scope": "s", "input": {"a": "yes"}, "outcome": {"expected": "X"}}


def test_a_learn_that_changes_no_rule_opens_no_proposal_and_keeps_the_journal(
    tmp_path: Path,
) -> None:
    store = Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", embedder=HashEmbedder())
    main = store.head("main")
    for i in range(4):
        mem.record(_exp(i))
    done = mem.learn(learner=NoOpLearner())
    assert done.proposal is None and done.note and "no rule changed" in done.note
    assert done.to_dict()["note"] == done.note
    assert list_proposals(store) == []
    assert not [b for b in store.branches() if b.startswith("proposals/")]
    assert store.head("main") == main
    assert [e.id for e in mem.journal()] == [f"n-{i}" for i in range(4)], "nothing is lost"

