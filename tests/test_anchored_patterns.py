"""Names checked with a regex must not end in a newline ("$" matches before one), and
what an agent records must not break the journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PERSON
from fakes import FakeChat, HashEmbedder

from imlgit.commits import CommitMessage
from imlgit.errors import ExperienceError, ImlgitError, ReviewError
from imlgit.experience import ID_RE, SCOPE_RE
from imlgit.memory import Memory
from imlgit.proposals import proposal_branch
from imlgit.store import Store


def test_a_proposal_name_with_a_trailing_newline_is_refused() -> None:
    assert proposal_branch("p-1") == "proposals/p-1"
    with pytest.raises(ReviewError):
        proposal_branch("p-1\n")


def test_a_trailer_key_with_a_trailing_newline_is_refused() -> None:
    CommitMessage.make("edit", "s", "Why.", trailers=[("Imlgit-Batch", "b-1")])
    with pytest.raises(ImlgitError, match="bad trailer key"):
        CommitMessage.make("edit", "s", "Why.", trailers=[("Imlgit-Batch\n", "b-1")])


def test_exported_patterns_are_whole_matches_even_with_match() -> None:
    """Other modules call SCOPE_RE.match / ID_RE.match (mcp_server, learners.model)."""
    assert SCOPE_RE.match("s") and ID_RE.match("j-1")
    assert not SCOPE_RE.match("s\n") and not ID_RE.match("j-1\n")


@pytest.mark.parametrize(
    "bad",
    [
        {"id": "j-1\n"},
        {"input": {"k": "a\0b"}},
        {"input": "x\udc80"},
        {"scope": "s\n"},
    ],
)
def test_memory_record_refuses_what_would_break_the_journal(
    tmp_path: Path, bad: dict[str, object]
) -> None:
    """Through MCP these entered the journal, and every later learn failed."""
    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={}, chat=FakeChat(), embedder=HashEmbedder())
    mem.record({"scope": "s", "input": {"k": "v"}, "outcome": {"expected": "A"}})
    before = mem.journal_path.read_bytes()
    exp = {"scope": "s", "input": {"k": "v"}, "outcome": {"expected": "A"}, **bad}
    with pytest.raises(ExperienceError):
        mem.record(exp)
    assert mem.journal_path.read_bytes() == before
    assert len(mem.journal()) == 1
