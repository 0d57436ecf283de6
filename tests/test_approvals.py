"""One way onto main: learner commits only inside an approval; identities compared
as identities. Real git objects throughout (dulwich, and the git CLI where git is
installed); the learner that needs no model writes the proposals.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import PERSON, Clock, commit_policy, git_available, run_git
from fakes import HashEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st

from imlgit import approvals
from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.commits import LEARNER, POLICY, CommitMessage, Identity
from imlgit.config import load_settings
from imlgit.errors import ReviewError, SelfApprovalError, UnapprovedChange
from imlgit.memory import Memory
from imlgit.store import Store

ENV = TruthTable(seed=0)
OTHER = Identity("Bo Second", "bo@example.org")


def open_memory(store: Store, policy: str = "manual") -> Memory:
    settings = load_settings((store.read_file("imlgit.toml") or b"").decode(), env={},
                             flags={("review", "policy"): policy})  # fmt: skip
    return Memory(store, settings, embedder=HashEmbedder())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.init(tmp_path / "mem", author=PERSON, clock=Clock())
    s.checkout_worktree()
    return s


def proposal(store: Store, name: str = "p1", seed: int = 1) -> rv.Proposal:
    done = open_memory(store).learn(ENV.sample(60, seed), batch=30, propose=name)
    assert done.proposal == name
    return rv.get_proposal(store, name)


# ---------------------------------------------------------------------- identities

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u2060", "\u200e"]
LOOKALIKE = {"i": ["ı", "і", "ɩ"], "a": ["а", "ɑ"], "e": ["е"], "o": ["о", "ο"],
             "c": ["с", "ϲ"], "p": ["р"], "l": ["ӏ", "ⅼ"]}  # fmt: skip


@st.composite
def spelled(draw: st.DrawFn, email: str) -> str:
    """``email`` as an attacker might spell it to look like another address."""
    out = []
    for ch in email:
        choices = [ch, ch.upper()] + LOOKALIKE.get(ch, [])
        if ch.isascii() and ch.isalnum():
            choices.append(chr(0xFF00 + ord(ch) - 0x20))  # its fullwidth form
        out.append(draw(st.sampled_from(choices)))
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(st.sampled_from(INVISIBLE)))
    text = "".join(out)
    if draw(st.booleans()):
        text += "." * draw(st.integers(1, 3))
    if draw(st.booleans()):
        text = f"<{' ' * draw(st.integers(0, 2))}{text}{' ' * draw(st.integers(0, 2))}>"
    return text


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_imlgit_addresses_in_any_spelling_are_imlgit(data: st.DataObject) -> None:
    for ident in (LEARNER, POLICY):
        text = data.draw(spelled(ident.email))
        assert approvals.address_key(text) == ident.email, text
        assert approvals.is_imlgit(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_person_in_another_spelling_is_the_same_person(data: st.DataObject) -> None:
    text = data.draw(spelled("ada@example.org"))
    tagged = data.draw(st.sampled_from(["", "+x", "+review"]))
    local, _, domain = text.rpartition("@")
    assert approvals.address_key(f"{local}{tagged}@{domain}") == "ada@example.org"


@pytest.mark.parametrize(
    "a, b",
    [("ada@example.org", "bo@example.org"), ("ada@example.org", "ada@example.com"),
     ("ada.b@example.org", "adab@example.org"), ("ada@example.org", "ada@mail.example.org")],
)  # fmt: skip
def test_different_people_stay_different(a: str, b: str) -> None:
    assert approvals.address_key(a) != approvals.address_key(b)
    assert not approvals.is_imlgit(a) and not approvals.is_imlgit(b)


@pytest.mark.parametrize(
    "email",
    ["learner@imlgit.invalid.", "learner@imlgit.invalid ", "lea\u200brner@imlgit.invalid",
     "learner@\u0131mlgit.invalid", "LEARNER@IMLGIT.INVALID", "policy@ci.imlgit.invalid"],
)  # fmt: skip
def test_the_issue_spellings_of_imlgit_cannot_approve(store: Store, email: str) -> None:
    p = proposal(store)
    main = store.head()
    with pytest.raises(SelfApprovalError, match="imlgit's own identity"):
        rv.approve(store, "p1", approver=Identity("Looks Human", email))
    assert store.head() == main and store.head(p.branch) == p.head


@pytest.mark.parametrize("email", ["ada@example.org ", "ada+tag@example.org",
                                   "ada@example.org.", "ADA@example.org"])  # fmt: skip
def test_an_author_in_another_spelling_cannot_approve(store: Store, email: str) -> None:
    r = Identity("Ada", "ada@example.org")
    store.create_branch("proposals/mine")
    msg = CommitMessage.make("add", "add r-x", "Because.", rules=["r-x"])
    store.commit({"rules/r-x.md": RULE.encode()}, msg, author=r, branch="proposals/mine")
    with pytest.raises(SelfApprovalError, match="wrote commit"):
        rv.approve(store, "mine", approver=Identity("Ada", email))


def test_the_committer_of_a_proposal_commit_cannot_approve(store: Store) -> None:
    info = proposal(store).commits[0]
    committer = Identity("Someone", "someone@example.org")
    fake = type(info)(**{**info.__dict__, "committer": str(committer)})
    with pytest.raises(SelfApprovalError, match="committed commit"):
        approvals.check_approver(committer, [fake], "p1")


RULE = """---
id: r-x
title: x
scope: general
status: active
support: 3
contradictions: 0
created: 2026-11-01T00:00:00Z
updated: 2026-11-01T00:00:00Z
---
Always x.
"""


# ---------------------------------------------------------------------- one way onto main


@pytest.mark.parametrize("branch", ["main", "refs/heads/main"])
def test_learning_into_main_is_refused_in_any_spelling(store: Store, branch: str) -> None:
    main = store.head()
    for policy in ("manual", "gated", "auto"):
        with pytest.raises(ReviewError, match="only through an approval"):
            open_memory(store, policy).learn(ENV.sample(60, 1), batch=30, branch=branch)
        assert store.head() == main and set(store.branches()) == {"main"}


def test_heads_main_is_another_branch_not_main(store: Store) -> None:
    main = store.head()
    done = open_memory(store).learn(ENV.sample(60, 1), batch=30, branch="heads/main")
    assert store.head() == main and store.head("heads/main") == done.head != main


def _spell(store: Store, p: rv.Proposal, spelling: str) -> str:
    """The proposal named as ``spelling`` says: its sha, a copy of its branch, or a ref."""
    if spelling == "sha":
        return p.head
    if spelling == "copy":
        store.create_branch("copy", p.head)
    return spelling


@pytest.mark.parametrize("spelling", ["proposals/p1", "refs/heads/proposals/p1", "sha", "copy"])
def test_store_merge_of_a_proposal_is_refused(store: Store, spelling: str) -> None:
    p = proposal(store)
    main = store.head()
    spelling = _spell(store, p, spelling)
    for ff in (True, False):
        with pytest.raises(UnapprovedChange, match="only inside an approval") as err:
            store.merge(spelling, CommitMessage.make("merge", "merge it", "Because."),
                        author=PERSON, fast_forward=ff)  # fmt: skip
        assert err.value.commits and store.head() == main


@pytest.mark.parametrize("spelling", ["refs/heads/proposals/p1", "heads/proposals/p1", "sha",
                                      "copy", "proposals/p1"])  # fmt: skip
def test_cli_branch_merge_of_a_proposal_is_refused(store: Store, imlgit_cli, spelling: str) -> None:
    p = proposal(store)
    main = store.head()
    spelling = _spell(store, p, spelling)
    out = imlgit_cli("branch", "merge", spelling, "--why", "sneak it in", repo=store.path)
    assert out.returncode in (1, 2) and "approve" in out.stderr, out.stderr
    assert "unexpected" not in out.stderr
    assert Store.open(store.path).head() == main


def test_cli_learn_into_refs_heads_main_is_refused(
    store: Store, imlgit_cli, tmp_path: Path
) -> None:
    import json

    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in ENV.sample(60, 1)))
    main = store.head()
    out = imlgit_cli("learn", str(data), "--branch", "refs/heads/main", repo=store.path)
    assert out.returncode == 1 and "only through an approval" in out.stderr, out.stderr
    assert Store.open(store.path).head() == main


def test_an_approval_brings_the_proposal_and_nothing_is_uncovered(store: Store) -> None:
    p = proposal(store)
    done = rv.approve(store, "p1", approver=OTHER)
    assert store.head() == done.sha and store.is_ancestor(p.head, done.sha)
    assert store.guard.uncovered(store.head()) == []


def test_a_forged_approval_merge_by_imlgit_or_the_author_does_not_count(store: Store) -> None:
    p = proposal(store)
    main = store.head()
    msg = CommitMessage.make("approve", "proposal p1", "Looks fine.", rules=p.rules,
                             trailers=[("Imlgit-Proposal", "p1"),
                                       ("Imlgit-Approved-By", str(OTHER))])  # fmt: skip
    for who in (LEARNER, Identity("x", "learner@imlgit.invalid."), POLICY):
        with pytest.raises(UnapprovedChange, match="does not count"):
            store.merge("proposals/p1", msg, author=who, fast_forward=False)
        assert store.head() == main


def test_the_policy_approves_only_where_the_policy_in_force_may(store: Store) -> None:
    """An approval merge by the policy under policy = "manual" (the committed one)
    is refused, whatever decision a caller hands in."""
    p = proposal(store)
    decision = rv.Decision("auto", ())
    with pytest.raises(UnapprovedChange, match="policy = 'manual'"):
        rv.approve_by_policy(store, p, decision)
    assert store.head() == p.main


def test_the_auto_policy_committed_on_main_approves(store: Store) -> None:
    commit_policy(store, "auto")
    done = open_memory(store, "auto").learn(ENV.sample(60, 1), batch=30)
    assert done.approval is not None and store.head() == done.approval.sha
    assert store.guard.uncovered(store.head()) == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_flag_or_the_environment_cannot_raise_the_policy(
    store: Store, imlgit_cli, tmp_path: Path, how: str
) -> None:
    """IMLGIT_POLICY=auto (or a flag) over a main that says manual: left for a person."""
    main = store.head()
    if how == "flag":
        done = open_memory(store, "auto").learn(ENV.sample(60, 1), batch=30)
        assert done.approval is None and store.head() == main
        assert done.decision is not None and "imlgit.toml on main says 'manual'" in (
            done.decision.summary())  # fmt: skip
        return
    import json

    data = tmp_path / "t.jsonl"
    data.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in ENV.sample(60, 1)))
    out = imlgit_cli("learn", str(data), repo=store.path, env={"IMLGIT_POLICY": "auto"})
    assert out.returncode == 0, out.stderr
    assert Store.open(store.path).head() == main and "says 'manual'" in out.stdout + out.stderr


@pytest.mark.skipif(not git_available(), reason="git CLI not installed")
@pytest.mark.parametrize("how", [["--no-ff", "-m", "merge proposals/p1"], ["--ff-only"]])
def test_a_plain_git_merge_is_refused_by_the_hook(store: Store, how: list[str]) -> None:
    proposal(store)
    main = store.head()
    out = subprocess.run(["git", "merge", *how, "proposals/p1"], cwd=store.path,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0 and "refused:" in out.stderr, out.stderr
    assert "without an approval" in out.stderr
    assert Store.open(store.path).head() == main


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="git CLI not installed")
def test_where_no_hook_runs_doctor_reports_the_merge(tmp_path: Path, imlgit_cli) -> None:
    store = Store.init(tmp_path / "bare-hooks", author=PERSON, clock=Clock(), install_hooks=False)
    store.checkout_worktree()
    p = proposal(store)
    run_git(store.path, "merge", "--no-ff", "-m", "merge proposals/p1", "proposals/p1")
    found = Store.open(store.path).guard.uncovered(Store.open(store.path).head())
    assert {u.sha for u in found} >= {c.sha for c in p.commits}
    assert all("without an approval" in u.why for u in found)
    doctor = imlgit_cli("doctor", "--json", repo=store.path)
    kinds = [f["kind"] for f in json.loads(doctor.stdout)["findings"]]
    assert kinds.count("unapproved") == len(found) and kinds[0] == "unapproved"
    moved = imlgit_cli("check", "--move", p.main, Store.open(store.path).head(), repo=store.path)
    assert moved.returncode == 1 and "refused:" in moved.stderr


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="git CLI not installed")
def test_a_push_of_an_unapproved_main_is_refused_by_pre_receive(
    store: Store, tmp_path: Path
) -> None:
    """The server's pre-receive hook (hooks/pre-receive, installed in a bare repo)."""
    server = tmp_path / "server.git"
    run_git(tmp_path, "init", "-q", "--bare", str(server))
    run_git(store.path, "push", "-q", str(server), "main")
    Store.open(server).install_hooks()
    p = proposal(store)
    refused = subprocess.run(["git", "push", str(server), f"{p.head}:refs/heads/main"],
                             cwd=store.path, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode != 0 and "refused:" in refused.stderr, refused.stderr
    rv.approve(store, "p1", approver=OTHER)
    run_git(store.path, "push", "-q", str(server), "main")
    assert run_git(server, "rev-parse", "main").strip() == store.head()


def test_uncovered_reads_every_commit_once_per_approval(store: Store) -> None:
    """Three proposals approved: every learner commit on main is covered."""
    for n in range(3):
        open_memory(store).learn(ENV.sample(40, 10 + n), batch=40, propose=f"w{n}")
        rv.approve(store, f"w{n}", approver=OTHER)
    assert store.guard.uncovered(store.head()) == []
    learned = [c for c in store.log() if approvals.is_imlgit(c.author) and len(c.parents) == 1]
    assert learned, "the proposals wrote commits"


def test_subprocess_env_cannot_name_imlgit(store: Store, imlgit_cli) -> None:
    proposal(store)
    out = imlgit_cli("approve", "p1", repo=store.path,
                     env={"IMLGIT_AUTHOR": "Ada <learner@imlgit.invalid.>"})  # fmt: skip
    assert out.returncode == 1 and "not a person" in out.stderr, out.stderr


# ---------------------------------------------------------------------- every path reviewed


def _sneak_config(store: Store, name: str = "p1") -> rv.Proposal:
    """The issue's attack: a proposal that also sets policy = "auto" and lets every
    secret through, under an innocent title change."""
    p = proposal(store, name)
    text = (store.read_file("imlgit.toml", p.head) or b"").decode()
    text = text.replace('# policy = "manual"', 'policy = "auto"')
    text = text.replace("# allow = []", 'allow = [".*"]')
    msg = CommitMessage.make("edit", "retitle a rule", "A clearer title.")
    store.commit({"imlgit.toml": text.encode(), "hooks/pre-commit": b"#!/bin/sh\nexit 0\n"},
                 msg, author=LEARNER, branch=p.branch)  # fmt: skip
    return rv.get_proposal(store, name)


def test_a_config_change_is_shown_first_and_no_policy_approves_it(store: Store) -> None:
    p = _sneak_config(store)
    assert p.person_only == ["imlgit.toml", "hooks/pre-commit"]
    gate = rv.Gate()
    for policy in ("gated", "auto"):
        d = rv.decide(store, p, gate, policy)
        assert not d.approve and not d.gated_ok
        assert d.checks[0].name == "files only a person approves" and not d.checks[0].ok
        assert "imlgit.toml" in d.summary()
    r = rv.review(store, "p1", gate, "auto")
    from imlgit import reviewtext

    lines = reviewtext.text(r)
    assert lines[1].startswith("! it changes 2 files outside the rules and the evidence")
    assert "  ! imlgit.toml" in lines and any('+policy = "auto"' in x for x in lines)
    md = reviewtext.markdown(r)
    assert md.index("imlgit.toml") < md.index("| rule |") and '+allow = [".*"]' in md
    assert r.to_dict()["person_only"][0]["path"] == "imlgit.toml"


def test_a_policy_merge_of_a_config_change_is_refused_by_the_guard(store: Store) -> None:
    commit_policy(store, "auto")
    p = _sneak_config(store)
    with pytest.raises(UnapprovedChange, match="only a person may"):
        rv.approve_by_policy(store, p, rv.Decision("auto", ()))
    assert store.head() == p.main
    rv.approve(store, "p1", approver=OTHER, why="I read the configuration change.")
    assert store.guard.policy_at("main") == "auto" and store.guard.uncovered(store.head()) == []


def test_proposals_and_review_cli_name_the_config_change(store: Store, imlgit_cli) -> None:
    _sneak_config(store)
    listed = imlgit_cli("proposals", repo=store.path)
    assert "! changes imlgit.toml, hooks/pre-commit: only a person approves" in listed.stdout
    shown = imlgit_cli("review", "p1", repo=store.path)
    assert shown.stdout.splitlines()[1].startswith("! it changes 2 files"), shown.stdout
    assert "[no] files only a person approves: imlgit.toml, hooks/pre-commit" in shown.stdout


def test_the_secret_scan_reads_evidence_and_rationales(store: Store) -> None:
    p = proposal(store)
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    store.commit({"experiences/zz/leak.jsonl": (
        b'{"id": "t-1", "input": "mail ada.lovelace@acme-corp.com", "outcome": {"text": "ok"}}\n'
    )}, CommitMessage.make("experiences", "store 1", f"Token {token} for the API."),
        author=LEARNER, branch=p.branch)  # fmt: skip
    d = rv.decide(store, rv.get_proposal(store, "p1"), rv.Gate(), "gated")
    scan = next(c for c in d.checks if c.name == "secret scan")
    assert not scan.ok and "experiences/zz/leak.jsonl" in scan.detail and "commit " in scan.detail


def test_pull_names_a_config_change_first(tmp_path: Path, imlgit_cli) -> None:
    a = Store.init(tmp_path / "a", author=PERSON)
    a.checkout_worktree()
    out = imlgit_cli("clone", str(a.path), str(tmp_path / "b"))
    assert out.returncode == 0, out.stderr
    commit_policy(a, "gated")
    pulled = imlgit_cli("pull", repo=tmp_path / "b")
    assert pulled.returncode == 0, pulled.stderr
    first = pulled.stderr.splitlines()[0]
    assert first.startswith("! 1 file outside the rules and the evidence changed: imlgit.toml")


def test_doctor_remembers_a_clean_main_and_still_finds_what_came_after(store: Store) -> None:
    from dulwich.refs import Ref

    p = proposal(store)
    clean = store.head()
    assert store.guard.unapproved_history(clean) == []
    assert (store.derived_dir / "approvals-clean").read_text().strip() == clean
    # the learner's commits put on main where no hook ran: found, after the mark
    store.repo.refs[Ref(b"refs/heads/main")] = p.head.encode()
    found = store.guard.unapproved_history(p.head)
    assert found and all(u.sha != clean for u in found)
    assert (store.derived_dir / "approvals-clean").read_text().strip() == clean
    # a mark no longer in main's history: main was rewritten, and doctor says so
    (store.derived_dir / "approvals-clean").write_text(p.head + "\n")
    store.repo.refs[Ref(b"refs/heads/main")] = clean.encode()
    found = store.guard.unapproved_history(clean)
    assert [u.why.split(":")[0] for u in found] == ["main was rewritten"]


def test_main_moves_only_forward_in_any_memory(store: Store) -> None:
    """No signing needed: a reset of main (its history rewritten) is refused by the
    guard and by the reference-transaction hook; rollback is the way to undo."""
    first = store.head()
    store.commit({"rules/zz/r-x.md": b"---\nid: r-x\n---\nA rule.\n"},
                 CommitMessage.make("add", "r-x", "A person's rule."), author=PERSON)  # fmt: skip
    head = store.head()
    with pytest.raises(UnapprovedChange, match="moves only forward"):
        store.guard.check_move(head, first)
    out = subprocess.run(["git", "reset", "-q", "--hard", first], cwd=store.path,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0 and "moves only forward" in out.stderr
    assert store.head() == head
    # git changed the working tree before the hook refused; the note says how back
    assert "git reset --hard" in out.stderr
    run_git(store.path, "reset", "-q", "--hard")
    assert run_git(store.path, "status", "--porcelain") == ""
