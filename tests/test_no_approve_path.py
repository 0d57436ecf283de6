"""No path for an agent from imlgit's commits to main without a person's approval.

Not a check of method names: each public way of writing (Memory, the Store under
it, its refs, the MCP tools) is tried with a learner's commit, and each is refused
or lands on a proposal, with main where it was. Only an approval moves main.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PERSON, Clock, commit_policy
from fakes import HashEmbedder

from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.commits import LEARNER, POLICY, CommitMessage, Identity
from imlgit.config import load_settings
from imlgit.errors import ImlgitError, SelfApprovalError, StoreError, UnapprovedChange
from imlgit.mcp_tools import Tools
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store

T = "2026-11-01T00:00:00Z"
SNEAKY = Identity("Sneaky", "LEARNER@IMLGIT.INVALID")  # imlgit in another spelling


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.init(tmp_path / "mem", author=PERSON, clock=Clock())
    s.checkout_worktree()
    commit_policy(s, "manual")
    return s


def open_memory(store: Store) -> Memory:
    text = (store.read_file("imlgit.toml") or b"").decode()
    return Memory(store, load_settings(text, env={}), embedder=HashEmbedder())


def rule(rid: str) -> Rule:
    return Rule(id=rid, title=rid, statement=f"{rid} holds.", scope="general", created=T,
                updated=T, support=3)  # fmt: skip


def message(rid: str) -> CommitMessage:
    return CommitMessage.make("add", f"add {rid}", "The learner says so.", rules=[rid])


def proposal(store: Store) -> tuple[str, str]:
    """A learned proposal: its branch and head; main did not move."""
    main = store.head()
    done = open_memory(store).learn(TruthTable(seed=0).sample(30, 1), batch=30)
    assert done.proposal and store.head() == main
    branch = f"proposals/{done.proposal}"
    head = store.head(branch)
    assert head is not None and head != main
    return branch, head


def test_memory_learns_and_proposes_onto_proposals_only(store: Store) -> None:
    main, rules = store.head(), set(store.read_rules())
    mem = open_memory(store)
    branch, _ = proposal(store)
    name = mem.propose("A hand-made rule holds.", "Seen twice.")
    assert f"proposals/{name}" in store.branches() and branch in store.branches()
    with pytest.raises(ImlgitError, match="main"):
        mem.learn(TruthTable(seed=0).sample(30, 2), branch="main")
    assert store.head() == main and set(store.read_rules()) == rules


@pytest.mark.parametrize("who", [LEARNER, POLICY, SNEAKY])
@pytest.mark.parametrize("fast_forward", [True, False])
def test_store_merge_of_a_proposal_is_refused_whoever_merges(
    store: Store, who: Identity, fast_forward: bool
) -> None:
    branch, _ = proposal(store)
    main = store.head()
    msg = CommitMessage.make("merge", f"merge {branch}", "Looks right to me.")
    for author in (who, PERSON):  # a person merging without an approval is refused too
        with pytest.raises(UnapprovedChange, match="approval"):
            store.merge(branch, msg, author=author, fast_forward=fast_forward)
        assert store.head() == main


def test_refs_of_main_refuse_a_learned_commit(store: Store) -> None:
    branch, head = proposal(store)
    main = store.head()
    assert main is not None
    with pytest.raises(StoreError, match="main"):
        store.move_ref("main", main, head)
    with pytest.raises(StoreError, match="main"):
        store.move_ref("refs/heads/main", main, head)
    with pytest.raises(UnapprovedChange):  # the ref layer under the Store guards main too
        store.git.refs.cas(b"refs/heads/main", main, head, LEARNER, store.now(), "sneak")
    with pytest.raises(StoreError, match="main"):
        store.rewrite_ref("main", lambda path, data: data, "rules/")
    assert store.head() == main and store.resolve("main") == main


@pytest.mark.parametrize("who", [LEARNER, SNEAKY])
def test_store_writes_on_main_as_imlgit_are_refused(store: Store, who: Identity) -> None:
    main = store.head()
    assert main is not None
    person_rule = store.put_rule(rule("r-person"), message("r-person"), author=PERSON)
    main = store.head()
    attempts = {
        "put_rule": lambda: store.put_rule(rule("r-x"), message("r-x"), author=who),
        "commit": lambda: store.commit(
            {"rules/general/r-x.md": b"x"}, message("r-x"), author=who
        ),  # fmt: skip
        "committer": lambda: store.commit(
            {"rules/general/r-x.md": b"x"}, message("r-x"), author=PERSON, committer=who
        ),  # fmt: skip
        "commit_many": lambda: store.commit_many([({"a.md": b"a"}, message("r-a"))], author=who),
        "revert": lambda: store.revert(person_rule, "Wrong.", author=who),
    }
    for name, attempt in attempts.items():
        with pytest.raises(UnapprovedChange):
            attempt()
        assert store.head() == main, name
    assert "r-x" not in store.read_rules() and "r-person" in store.read_rules()


def test_imlgit_cannot_approve_its_own_proposal(store: Store) -> None:
    branch, _ = proposal(store)
    main = store.head()
    for who in (LEARNER, POLICY, SNEAKY):
        with pytest.raises(SelfApprovalError):
            rv.approve(store, branch.removeprefix("proposals/"), approver=who)
        assert store.head() == main
    # the one way: a person approves, and main takes the proposal
    rv.approve(store, branch.removeprefix("proposals/"), approver=PERSON)
    assert store.head() != main and store.is_ancestor(main or "", store.head() or "")


def test_every_mcp_tool_leaves_main_alone(store: Store) -> None:
    main, rules = store.head(), store.read_rules()
    tools = Tools(open_memory(store))
    for e in TruthTable(seed=0).sample(40, 3):
        tools.record_experience(input=e.input, output=e.output,
                                outcome=e.outcome.to_dict(), scope=e.scope)  # fmt: skip
    proposed = tools.propose_rule(statement="A rule from the agent holds.", rationale="Seen.")
    learned = tools.learn()
    assert learned["proposal"] and learned["approved"] is False
    assert learned["main"] == main and learned["branch"].startswith("proposals/")
    tools.recall(query="anything")
    tools.ask(input={"glimmer": "yes"}, model=False)
    assert store.head() == main and proposed
    assert store.read_rules() == rules


def test_a_raw_dulwich_write_is_not_stopped_but_doctor_names_it(store: Store) -> None:
    """Under the Store, dulwich itself writes whatever it is told: that is where the
    in-process guard ends, and the history check (imlgit doctor; the pre-receive
    hook on a shared remote) takes over."""
    branch, head = proposal(store)
    assert store.guard.unapproved_history(store.head() or "") == []
    store.repo.refs[b"refs/heads/main"] = head.encode()
    found = store.guard.unapproved_history(head)
    assert found and {u.sha for u in found} <= set(store.objects.commits_between(head, None))
