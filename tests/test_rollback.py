"""Undo in one step (issue 16): an approval rolled back whole, as ``git revert -m 1``
would; one rule's change rolled back when only figures changed since; otherwise the
refusal lists exactly the commits to roll back first."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PERSON, run_git

from imlgit.commits import LEARNER, CommitMessage
from imlgit.errors import ConflictError
from imlgit.proposals import approve
from imlgit.store import Store

pytestmark = pytest.mark.usefixtures("git_repo_env")
T = "2026-11-27T08:00:00Z"
Cli = Callable[..., subprocess.CompletedProcess[str]]


def rule_file(rid: str, statement: str, support: int = 0) -> bytes:
    return (
        f"---\nid: {rid}\ntitle: Rule {rid}\nscope: general\nstatus: active\n"
        f"support: {support}\ncontradictions: 0\ncreated: {T}\nupdated: {T}\nsources: []\n"
        f"---\n{statement}\n"
    ).encode()


def put(
    store: Store, rid: str, statement: str, *, support: int = 0, op: str = "revise",
    branch: str = "main",
) -> str:  # fmt: skip
    msg = CommitMessage.make(op, f"{op} {rid}", f"Why {rid} says this.", rules=[rid])
    return store.commit(
        {f"rules/general/{rid}.md": rule_file(rid, statement, support)},
        msg, author=PERSON if branch == "main" else LEARNER, branch=branch,
    )  # fmt: skip


def approved_proposal(store: Store) -> str:
    """main gets r-a; a proposal adds r-b and changes r-a; a person approves it."""
    put(store, "r-a", "Before the proposal.", op="add")
    store.create_branch("proposals/p1")
    put(store, "r-b", "Added by the proposal.", op="induce", branch="proposals/p1")
    put(store, "r-a", "Changed by the proposal.", branch="proposals/p1")
    put(store, "r-a", "Changed by the proposal.", support=4, branch="proposals/p1")
    return approve(store, "p1", approver=PERSON, why="Looks right.").sha


@pytest.mark.slow
def test_rolling_back_an_approval_is_git_revert_m_1(
    memory: Store, tmp_path: Path, imlgit_cli: Cli
) -> None:
    merge = approved_proposal(memory)
    put(memory, "r-c", "Unrelated, after the approval.", op="add")
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", str(memory.path), str(clone))
    run_git(clone, "revert", "--no-edit", "-m", "1", merge)
    git_tree = run_git(clone, "rev-parse", "HEAD^{tree}").strip()

    out = imlgit_cli("rollback", merge, "--why", "The proposal was wrong.", repo=memory.path)
    assert out.returncode == 0, out.stderr
    sha = out.stdout.strip()
    assert run_git(memory.path, "rev-parse", f"{sha}^{{tree}}").strip() == git_tree
    assert memory.read_rule("r-a").statement == "Before the proposal."
    assert memory.locate("r-b") is None and memory.read_rule("r-c")
    info = memory.commit_info(sha)
    assert info.subject.startswith(f"rollback: revert merge {merge[:12]}")
    assert info.trailer("Imlgit-Reverts") == merge
    run_git(memory.path, "fsck", "--strict", "--no-dangling")
    # with nothing after it, the rollback leaves the tree main had before the approval
    again = approved_proposal_after(memory)
    undo = memory.revert(again, "Also wrong.", author=PERSON)
    tree = run_git(memory.path, "rev-parse", f"{undo}^{{tree}}").strip()
    assert tree == run_git(memory.path, "rev-parse", f"{again}^1^{{tree}}").strip()


def approved_proposal_after(store: Store) -> str:
    store.create_branch("proposals/p2")
    put(store, "r-d", "Another proposal's rule.", op="induce", branch="proposals/p2")
    return approve(store, "p2", approver=PERSON, why="Fine.").sha


def test_a_rule_change_rolls_back_when_only_figures_changed_since(memory: Store) -> None:
    put(memory, "r-a", "Good.", op="add")
    bad = put(memory, "r-a", "A bad revision.")
    put(memory, "r-a", "A bad revision.", support=7)  # a recount: figures only
    sha = memory.revert(bad, "The revision was noise.", author=PERSON)
    assert memory.read_rule("r-a").statement == "Good."
    assert memory.commit_info(sha).trailer("Imlgit-Reverts") == bad
    run_git(memory.path, "fsck", "--strict", "--no-dangling")


def test_a_blocked_rollback_lists_exactly_the_commits_to_roll_back_first(
    memory: Store,
) -> None:
    put(memory, "r-a", "Good.", op="add")
    bad = put(memory, "r-a", "A bad revision.")
    put(memory, "r-a", "A bad revision.", support=3)  # figures: not listed
    put(memory, "r-b", "Another rule.", op="add")  # another rule: not listed
    worse = put(memory, "r-a", "A worse revision.")
    head = memory.head()
    with pytest.raises(ConflictError) as info:
        memory.revert(bad, "Noise.", author=PERSON)
    text = str(info.value)
    listed = [line.split()[0] for line in text.splitlines()[1:]]
    assert listed == [worse[:12]] and "nothing was written" in text
    assert memory.head() == head
    memory.revert(worse, "Noise too.", author=PERSON)  # as the refusal says
    memory.revert(bad, "Noise.", author=PERSON)
    assert memory.read_rule("r-a").statement == "Good."


def test_a_blocked_rollback_of_a_proposal_commit_names_the_approval(memory: Store) -> None:
    put(memory, "r-a", "Good.", op="add")
    memory.create_branch("proposals/p1")
    first = put(memory, "r-a", "First idea.", branch="proposals/p1")
    second = put(memory, "r-a", "Second idea.", branch="proposals/p1")
    merge = approve(memory, "p1", approver=PERSON, why="Ok.").sha
    with pytest.raises(ConflictError) as info:
        memory.revert(first, "Noise.", author=PERSON)
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 1 and lines[0].split()[0] == second[:12]
    assert f"merged by {merge[:12]}" in lines[0]
