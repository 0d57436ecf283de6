"""The parts Memory delegates to, tested on their own: the journal file
(imlgit.journal), a batch of questions (imlgit.infer) and the retriever a learning
run searches with (imlgit.retrieval). Memory's own tests drive them end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imlgit import journal
from imlgit.errors import ExperienceError, IndexError_
from imlgit.experience import Experience
from imlgit.infer import MAX_ASK_MANY, Ask, questions_of
from imlgit.retrieval import IndexRetriever


def exp(i: str) -> Experience:
    return Experience.from_dict(
        {"id": i, "scope": "s", "input": {"a": "yes"}, "outcome": {"expected": "X"}}
    )


def test_the_journal_appends_reads_and_removes_only_what_it_is_told(tmp_path: Path) -> None:
    path = tmp_path / journal.JOURNAL
    assert journal.read(path) == [] and journal.recorded_ids(path) == []
    for i in ("e1", "e2", "e3"):
        journal.append(path, exp(i))
    with pytest.raises(ExperienceError, match="duplicate id 'e2': already in the journal"):
        journal.append(path, exp("e2"))
    journal.remove(path, {"e1", "e3", "never-there"})
    assert [e.id for e in journal.read(path)] == ["e2"]
    assert journal.recorded_ids(path) == ["e2"]


def test_an_append_after_a_torn_line_starts_a_line_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / journal.JOURNAL
    path.write_bytes(exp("e1").to_json().encode()[:-5])  # a writer killed mid-line
    journal.append(path, exp("e2"))
    assert [e.id for e in journal.read(path)] == ["e2"]  # the torn line is left, and said
    assert path.read_bytes().count(b"\n") == 2


def test_refusals_keep_the_last_fifty_lines_and_skip_what_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / journal.REFUSALS
    assert journal.read_refusals(path) == []
    journal.keep_refusals(path, [f"r{i}" for i in range(60)])
    with path.open("a") as f:
        f.write("{not json\n" + json.dumps({"not": "a string"}) + "\n")
    journal.keep_refusals(path, ["last"])
    # the last 50 lines were read (the two bad ones and the file's end among them)
    assert journal.read_refusals(path) == [f"r{i}" for i in range(13, 60)] + ["last"]


def test_a_batch_takes_each_asks_own_scope_and_action() -> None:
    got = questions_of(
        ["q1", Ask({"a": 1}, scope="t"), Ask("q3", action="go")], scope="s", action=None
    )
    assert got == [("q1", "s", None), ({"a": 1}, "t", None), ("q3", "s", "go")]
    with pytest.raises(ExperienceError, match=f"ask at most {MAX_ASK_MANY:,} at once"):
        questions_of(["q"] * (MAX_ASK_MANY + 1), scope=None, action=None)


class _Index:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def search(self, query: str, k: int, scope: str | None) -> list[object]:
        if self.fail:
            raise IndexError_("the index is broken")
        return []


def test_the_retriever_syncs_once_per_head_and_learns_on_without_the_index() -> None:
    heads = type("Heads", (), {"head": "c1"})()
    synced: list[str] = []

    class Store:
        def head(self, branch: str) -> str:
            return heads.head

    def index(branch: str) -> _Index:
        synced.append(heads.head)
        return _Index(fail=heads.head == "c3")

    r = IndexRetriever(Store(), index, "proposals/x")  # type: ignore[arg-type]
    assert r.search("q", 3, None) == [] and r.search("q", 3, None) == []
    heads.head = "c2"
    r.search("q", 3, "s")
    heads.head = "c3"
    assert r.search("q", 3, None) == []  # a broken index: no rules shown, no failure
    assert synced == ["c1", "c2", "c3"]
