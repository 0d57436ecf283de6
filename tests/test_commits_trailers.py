"""Trailers are read as git reads them (imlgit.git.trailers over dulwich's parser):
each message is parsed by CommitMessage.parse and by `git interpret-trailers --parse`,
and the two must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git_available, run_git

from imlgit.commits import CommitMessage
from imlgit.errors import MessageError
from imlgit.git.trailers import split_trailers

pytestmark = pytest.mark.skipif(not git_available(), reason="needs git")

CONTINUED = (
    "revise: narrow r-a\n\nBatch 7 narrowed it.\n\n"
    "Imlgit-Op: revise\nImlgit-Note: the first half\n  and the second half\nImlgit-Rules: r-a\n"
)

MESSAGES = {
    "imlgit's own": "add: r-a\n\nWhy.\n\nImlgit-Op: add\nImlgit-Rules: r-a r-b\n",
    "a continuation line": CONTINUED,
    "a tab continuation": "s\n\nbody\n\nA: x\n\ty\nB: z\n",
    "no trailers": "s\n\nJust prose: with a colon in it.\n",
    "prose in the last paragraph": "s\n\nbody\n\nA: x\nnot a trailer\n",
    "only a subject": "A: b\n",
    "a subject then trailers": "A: b\n\nC: d\n",
    "no blank line before": "s\nA: b\n",
    "an empty value": "s\n\nb\n\nA:\nB: c\n",
    "two blocks, the last counts": "s\n\nA: x\n\nB: y\n",
    "CRLF": "s\r\n\r\nb\r\n\r\nA: x\r\n",
    "a patch after the trailers": "s\n\nbody\n\nA: x\n---\nfoo: bar\n",
    "a ---- rule in the body": "s\n\n----\ntext\n\nA: x\n",
    "a ---- line last": "s\n\nbody\n\nA: x\n\n----\nnot a patch\n",
    "an indented ---": "s\n\nbody\n\nA: x\n\n  --- y\n",
    "--- with nothing after": "s\n\nb\n\nA: x\n---",
    "a key git refuses": "s\n\nbody\n\nKe_y: value\n",
    "a key with digits": "s\n\nb\n\n1x: y\n",
    "a URL": "s\n\nsee http://example.org/x\n",
}


def git_parse(tmp_path: Path, message: str) -> str:
    return run_git(tmp_path, "interpret-trailers", "--parse", input=message)


@pytest.mark.parametrize("name", list(MESSAGES))
def test_trailers_agree_with_git(tmp_path: Path, name: str) -> None:
    message = MESSAGES[name]
    ours = "".join(f"{k}: {v}\n" for k, v in CommitMessage.parse(message).trailers)
    assert ours == git_parse(tmp_path, message)


def test_a_continuation_line_keeps_every_trailer(tmp_path: Path) -> None:
    msg = CommitMessage.parse(CONTINUED)
    assert msg.trailers == (
        ("Imlgit-Op", "revise"),
        ("Imlgit-Note", "the first half and the second half"),
        ("Imlgit-Rules", "r-a"),
    )
    assert msg.op == "revise" and msg.rules == ["r-a"]
    assert msg.subject == "revise: narrow r-a" and msg.rationale == "Batch 7 narrowed it."
    assert "Imlgit-Note: the first half and the second half" in git_parse(tmp_path, CONTINUED)


def test_a_dashed_rule_in_a_rationale_round_trips() -> None:
    made = CommitMessage.make("add", "add r-a", "First part.\n----\nSecond part.", rules=["r-a"])
    back = CommitMessage.parse(made.render())
    assert back == made


def test_a_rationale_git_would_read_as_trailers_is_refused() -> None:
    with pytest.raises(MessageError, match="trailers"):
        CommitMessage("add: x", "Reason: one\n  continued", ()).validate()


def test_split_trailers_keeps_the_patch_text() -> None:
    body, trailers = split_trailers("s\n\nbody\n\nA: x\n---\nfoo: bar\n")
    assert trailers == [("A", "x")]
    assert body == "s\n\nbody\n---\nfoo: bar\n"
