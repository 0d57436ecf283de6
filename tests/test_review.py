"""Proposals, review, approval and rejection, the approval policy.

Learning here uses the learner that needs no model on the truth table (real git
objects, real verification); HashEmbedder (tests/fakes.py) stands in for the
sentence-transformers embedder, and FakeChat for the chat model where a test
looks at what the language-model learner is shown.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import PERSON, Clock, commit_policy, forge_ci, git_available
from fakes import FakeChat, HashEmbedder

from imlgit import proposals
from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.commits import LEARNER, CommitMessage, Identity
from imlgit.config import load_settings
from imlgit.errors import RationaleRequired, ReviewError, SelfApprovalError
from imlgit.experience import Experience
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store

OTHER = Identity("Bo Second", "bo@example.org")
ENV = TruthTable(seed=0)


def open_memory(
    store: Store, policy: str = "manual", chat: FakeChat | None = None, **review: object
) -> Memory:
    commit_policy(store, policy)  # the policy that may approve is the one main says
    flags = {("review", "policy"): policy}
    flags.update({("review", k): v for k, v in review.items()})
    settings = load_settings((store.read_file("imlgit.toml") or b"").decode(), env={}, flags=flags)
    return Memory(store, settings, embedder=HashEmbedder(), chat=chat)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.init(tmp_path / "mem", author=PERSON, clock=Clock())
    s.checkout_worktree()
    return s


def train(n: int = 60, seed: int = 1) -> list[Experience]:
    return ENV.sample(n, seed)


def rule(rid: str, statement: str, **kw: object) -> Rule:
    """A rule; unless told otherwise, a plain one with support 3 (what the gated
    policy's evidence check asks of a rule)."""
    kw.setdefault("support", 3)
    return Rule(
        id=rid,
        title=rid,
        statement=statement,
        scope=str(kw.pop("scope", "general")),
        created="2026-11-01T00:00:00Z",
        updated="2026-11-01T00:00:00Z",
        **kw,  # type: ignore[arg-type]
    )


def put(store: Store, r: Rule, branch: str = "main", author: Identity = PERSON) -> str:
    msg = CommitMessage.make("add", f"add {r.id}", f"Because {r.id} is needed.", rules=[r.id])
    return store.put_rule(r, msg, author=author, branch=branch)


# ---------------------------------------------------------------------- proposals


def test_learning_goes_to_a_proposal_and_main_waits(store: Store) -> None:
    mem = open_memory(store)
    main = store.head()
    done = mem.learn(train(), batch=30)
    assert done.proposal and done.branch == f"proposals/{done.proposal}"
    assert store.head() == main, "main moved without approval"
    assert done.decision is None and done.approval is None
    [p] = rv.list_proposals(store)
    assert p.name == done.proposal and p.head == store.head(done.branch)
    assert p.base == main and not p.behind
    assert p.rules and all(rid in store.read_rules(p.head) for rid in p.rules)
    assert p.ops["experiences"] == 1 and p.ops.get("induce", 0) >= 1  # two batches, folded
    assert 0 < p.evidence <= 60
    assert all(c.author == str(LEARNER) for c in p.commits)


def test_named_proposal_is_continued(store: Store) -> None:
    mem = open_memory(store)
    first = mem.learn(train(30, seed=1), batch=30, propose="tt-week-1")
    second = mem.learn(train(30, seed=2), batch=30, propose="tt-week-1")
    assert first.proposal == second.proposal == "tt-week-1"
    p = rv.get_proposal(store, "tt-week-1")
    assert p.ops["experiences"] == 2


@pytest.mark.parametrize("name", ["../main", "a b", "", "x" * 81, "stats", "-x", "a..b", "a.lock"])
def test_bad_proposal_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(ReviewError, match="bad proposal name"):
        rv.proposal_branch(name)
    if name:
        with pytest.raises(ReviewError, match="bad proposal name"):
            rv.start_proposal(store, name)
    assert set(store.branches()) == {"main"}


def test_a_failed_learning_run_leaves_no_proposal(store: Store) -> None:
    chat = FakeChat().enqueue("not json", "not json", "not json")
    mem = open_memory(store, chat=chat)
    text = [
        Experience.from_dict(
            {
                "id": f"s-{i}",
                "scope": "s",
                "input": f"parcel {i}",
                "output": "sea",
                "outcome": {"reward": 1.0},
            }
        )
        for i in range(4)
    ]
    with pytest.raises(Exception, match="nothing was committed|learner failed"):
        mem.learn(text, learner="model")
    assert set(store.branches()) == {"main"}


# ---------------------------------------------------------------------- review


def test_review_shows_diff_rationale_evidence_history_and_accuracy(store: Store) -> None:
    heldout = ENV.sample(100, 9)
    data = "".join(e.to_json() + "\n" for e in heldout).encode()
    store.commit(
        {"eval/heldout.jsonl": data},
        CommitMessage.make("add", "evaluation set", "Held-out experiences for review."),
        author=PERSON,
    )
    mem = open_memory(store, eval_set="eval/heldout.jsonl")
    done = mem.learn(train(), batch=30)
    r = rv.review(store, done.proposal or "", rv.Gate(eval_set="eval/heldout.jsonl"), "manual")
    assert len(r.entries) == len(r.proposal.commits)
    induced = [e for e in r.entries if e.commit.trailer("Imlgit-Op") == "induce"]
    assert induced
    e = induced[0]
    assert e.commit.rationale and e.commit.trailer("Imlgit-Evidence")
    assert e.commit.trailer("Imlgit-Support")
    assert e.changes and e.changes[0].kind == "added" and "+id:" in e.changes[0].unified()
    assert r.accuracy is not None
    before, after = r.accuracy
    assert before.total == after.total == 100
    assert after.accuracy > before.accuracy  # the learned rules answer what nothing did
    ck = {c.name: c for c in r.decision.checks}
    assert ck["accuracy"].ok and "eval/heldout.jsonl" in ck["accuracy"].detail
    # a rule changed again on a second proposal shows its history on main
    rv.approve(store, done.proposal or "", approver=PERSON)
    rid = induced[0].changes[0].rule_id
    r2 = open_memory(store).learn(train(60, seed=5), batch=30)
    assert r2.proposal
    again = rv.review(store, r2.proposal, rv.Gate(), "manual")
    hist = {rid: h for e in again.entries for rid, h in e.history.items()}
    if rid in hist:
        assert hist[rid] and hist[rid][0].sha in {c.sha for c in store.log()}


# ---------------------------------------------------------------------- approve


def test_approve_merges_with_the_approver_recorded(store: Store) -> None:
    done = open_memory(store).learn(train(), batch=30)
    name = done.proposal or ""
    p = rv.get_proposal(store, name)
    a = rv.approve(store, name, approver=PERSON, why="Checked each rule against the log.")
    info = store.commit_info(a.sha)
    assert store.head() == a.sha and info.parents == (p.main, p.head)
    assert info.trailer("Imlgit-Approved-By") == str(PERSON)
    assert info.trailer("Imlgit-Op") == "approve" and info.trailer("Imlgit-Proposal") == name
    assert info.author == str(PERSON)
    assert "Checked each rule" in info.rationale
    assert f"proposals/{name}" not in store.branches()
    assert set(p.rules) <= set(store.read_rules())


@pytest.mark.parametrize(
    "who",
    [
        LEARNER,
        rv.POLICY,
        Identity("Sneaky", "LEARNER@IMLGIT.INVALID"),
        Identity("x", "a@b.imlgit.invalid"),
    ],
)
def test_imlgit_itself_cannot_approve(store: Store, who: Identity) -> None:
    done = open_memory(store).learn(train(), batch=30)
    main = store.head()
    with pytest.raises(SelfApprovalError):
        rv.approve(store, done.proposal or "", approver=who)
    assert store.head() == main and f"proposals/{done.proposal}" in store.branches()


def test_the_author_of_a_proposal_cannot_approve_it(store: Store) -> None:
    branch = rv.start_proposal(store, "hand-made")
    put(store, rule("r-mine", "Mine."), branch=branch, author=OTHER)
    with pytest.raises(SelfApprovalError, match="someone else"):
        rv.approve(store, "hand-made", approver=OTHER)
    assert "r-mine" not in store.read_rules()
    rv.approve(store, "hand-made", approver=PERSON)
    assert "r-mine" in store.read_rules()


def test_approving_after_main_moved_makes_a_merge_and_conflicts_are_refused(store: Store) -> None:
    b = rv.start_proposal(store, "p1")
    put(store, rule("r-a", "A."), branch=b, author=LEARNER)
    put(store, rule("r-b", "B."))  # main moves, another rule
    a = rv.approve(store, "p1", approver=PERSON)
    assert {"r-a", "r-b"} <= set(store.read_rules(a.sha))
    b2 = rv.start_proposal(store, "p2")
    put(store, rule("r-a", "A, changed on the proposal."), branch=b2, author=LEARNER)
    put(store, rule("r-a", "A, changed on main."))
    main = store.head()
    with pytest.raises(Exception, match="r-a"):
        rv.approve(store, "p2", approver=PERSON)
    assert store.head() == main and "proposals/p2" in store.branches()


# ---------------------------------------------------------------------- reject


def test_reject_records_why_and_the_rule_is_not_proposed_again(store: Store) -> None:
    mem = open_memory(store)
    done = mem.learn(train(), batch=30)
    name = done.proposal or ""
    rules = rv.get_proposal(store, name).rules
    with pytest.raises(RationaleRequired):
        rv.reject(store, name, person=PERSON, why="  ")
    sha = rv.reject(store, name, person=PERSON, why="These classes are a quirk of this week.")
    assert store.head() == sha and f"proposals/{name}" not in store.branches()
    info = store.commit_info(sha)
    assert info.trailer("Imlgit-Op") == "reject" and info.trailer("Imlgit-Rejected-By")
    record = json.loads(store.read_file(f"reviews/rejected/{name}.json") or b"")
    assert record["why"].startswith("These classes") and record["rejected_by"] == str(PERSON)
    assert sorted(c["rule"] for c in record["changes"]) == sorted(rules)
    assert not set(rules) & set(store.read_rules())
    rejected = proposals.rejected_rules(store)
    assert {r.rule_id for r in rejected} == set(rules)
    # the same environment again: the rejected rules are refused, not re-proposed
    again = mem.learn(train(60, seed=3), batch=30)
    refused = [str(x) for b in again.batches for x in b.refused]
    assert any("people rejected this rule" in x for x in refused)
    if again.proposal:
        new = rv.get_proposal(store, again.proposal)
        proposed = {(r.when, r.then) for r in store.read_rules(new.head).values() if r.checkable}
        assert not {(r.when, r.then) for r in rejected} & proposed


def test_the_model_learner_is_shown_rejected_rules(store: Store) -> None:
    b = rv.start_proposal(store, "ships")
    put(
        store, rule("r-sea", "Heavy parcels go by sea.", scope="shipping"), branch=b, author=LEARNER
    )
    rv.reject(store, "ships", person=PERSON, why="Sea is too slow for our customers.")
    chat = FakeChat().enqueue({"candidates": []}, {"operations": []})
    mem = open_memory(store, chat=chat)
    exps = [
        Experience.from_dict(
            {
                "id": f"s-{i}",
                "scope": "shipping",
                "input": "a heavy parcel",
                "output": "sea",
                "outcome": {"reward": 1.0},
            }
        )
        for i in range(3)
    ]
    mem.learn(exps, learner="model")
    prompt = json.dumps(chat.requests[0])
    assert "Heavy parcels go by sea." in prompt and "Sea is too slow" in prompt


def test_a_rejected_retirement_is_not_proposed_again(store: Store) -> None:
    from imlgit.learn import Learning, LearnSettings
    from imlgit.learners.base import Operation

    put(store, rule("r-keep", "Keep this."))
    b = rv.start_proposal(store, "drop")
    r = store.read_rule("r-keep").with_changes(status="retired")
    store.put_rule(
        r, CommitMessage.make("retire", "retire r-keep", "Unused."), author=LEARNER, branch=b
    )
    rv.reject(store, "drop", person=PERSON, why="Still needed for audits.")

    class Retirer:
        identity = "test:retirer"

        def induce(self, batch, ctx):  # type: ignore[no-untyped-def]
            return []

        def revise(self, batch, cands, ctx):  # type: ignore[no-untyped-def]
            return [Operation("RETIRE", "Never used.", target="r-keep")]

    exps = [
        Experience.from_dict(
            {"id": "g-1", "scope": "general", "input": "x", "outcome": {"reward": 0.0}}
        )
    ]
    again = rv.start_proposal(store, "again")
    eng = Learning(store, Retirer(), settings=LearnSettings(momentum=0, branch=again),
                   rejected=proposals.rejected_rules(store))  # fmt: skip
    res = eng.learn_batch(exps)
    assert any("rejected retiring r-keep" in str(x) for x in res.refused)
    assert store.read_rule("r-keep", again).status == "active"


# ---------------------------------------------------------------------- policy


def _proposal_with(store: Store, name: str, *rules_: Rule) -> rv.Proposal:
    b = rv.start_proposal(store, name)
    for r in rules_:
        put(store, r, branch=b, author=LEARNER)
    return rv.get_proposal(store, name)


def test_gated_allows_a_small_clean_change(store: Store) -> None:
    p = _proposal_with(store, "ok", rule("r-one", "One small rule."))
    d = rv.decide(store, p, rv.Gate(), "gated")
    assert d.approve and all(c.ok for c in d.checks)
    assert not rv.decide(store, p, rv.Gate(), "manual").approve


def test_gated_leaves_a_rule_nothing_backs_to_a_person(store: Store) -> None:
    """The embedded 135M model proposed "A is a good thing" citing the batch; what a
    plain rule cites does not count, a checkable rule's support is what code counted."""
    from imlgit.conditions import parse_when

    p = _proposal_with(
        store, "thin",
        rule("r-a", "A is a good thing.", support=0, sources=("e-1", "e-2", "e-3", "e-4")),
        rule("r-b", "When a is yes, the class is X.", when=parse_when({"a": "yes"}), then="X",
             support=2),
        rule("r-c", "Agreed with in three later batches.", support=3),
    )  # fmt: skip
    d = rv.decide(store, p, rv.Gate(), "gated")
    failed = {c.name: c.detail for c in d.checks if not c.ok}
    # r-b's file says 2; nothing stored backs it, and code counts 0
    assert failed == {"evidence": "r-a (support 0, plain), r-b (support 0; its file says 2)"}
    assert rv.decide(store, p, rv.Gate(min_support=0), "gated").approve


def test_gated_recounts_support_and_experiences_instead_of_trusting_the_branch(
    store: Store,
) -> None:
    """Found by review: a proposal branch claiming support 50 in its files and storing
    120 lines of junk as experiences was approved by gated with a raised limit."""
    from imlgit.conditions import parse_when

    b = rv.start_proposal(store, "sneak")
    good = [Experience.from_dict({"id": f"g-{i}", "scope": "tt", "input": {"a": "yes"},
                                  "outcome": {"expected": "X"}}) for i in range(4)]  # fmt: skip
    store.commit(
        {"experiences/sn/sneak.jsonl": ("".join(e.to_json() + "\n" for e in good)
                                        + "not an experience\n" * 120).encode()},
        CommitMessage.make("experiences", "store", "Evidence."), author=LEARNER, branch=b,
    )  # fmt: skip
    claims = [
        rule(f"r-{i}", f"When b{i} is yes, the class is X.", scope="tt",
             when=parse_when({f"b{i}": "yes"}), then="X", support=50)
        for i in range(5)
    ]  # fmt: skip
    claims.append(rule("r-x", "When a is yes, the class is X.", scope="tt",
                       when=parse_when({"a": "yes"}), then="X", support=50))  # fmt: skip
    for r in claims:
        put(store, r, branch=b, author=LEARNER)
    p = rv.get_proposal(store, "sneak")
    assert rv.stored_experiences(store, p) == 4
    d = rv.decide(store, p, rv.Gate(), "gated")
    failed = {c.name: c.detail for c in d.checks if not c.ok}
    assert failed["rules changed"].startswith("6 (at most 5)")
    assert failed["evidence"] == ", ".join(
        f"r-{i} (support 0; its file says 50)" for i in range(5)
    )  # r-x is not among them: the stored evidence backs it, 4 right
    assert rv.recount(store, p)["r-x"] == 4


def test_gated_refuses_too_many_rules(store: Store) -> None:
    p = _proposal_with(store, "big", *(rule(f"r-{i}", f"Rule {i}.") for i in range(3)))
    d = rv.decide(store, p, rv.Gate(max_rules=2), "gated")
    assert not d.approve
    assert [c.name for c in d.checks if not c.ok] == ["rules changed"]
    assert rv.decide(store, p, rv.Gate(max_rules=3), "gated").approve


def test_gated_limit_scales_with_the_experiences_learned_from() -> None:
    """A first learning run over 200 experiences may change 20 rules; a proposal that
    stores no experience, max_rules."""
    gate = rv.Gate()
    assert [rv.rule_limit(gate, n) for n in (0, 10, 49, 51, 200, 300)] == [5, 5, 5, 6, 20, 30]
    assert rv.rule_limit(rv.Gate(max_rules_per_100=0), 1_000) == 5


def test_gated_counts_changes_of_meaning_not_figures(store: Store) -> None:
    for i in range(6):
        put(store, rule(f"r-{i}", f"Rule {i}."))
    b = rv.start_proposal(store, "recount")
    for i in range(6):  # a recount: only the figures move
        put(store, rule(f"r-{i}", f"Rule {i}.", support=4), branch=b, author=LEARNER)
    put(store, rule("r-new", "A new rule."), branch=b, author=LEARNER)
    check = rv.rules_changed_check(store, rv.get_proposal(store, "recount"), rv.Gate())
    assert check.ok and check.detail == "1 (at most 5); figures only: 6"


def test_gated_refuses_retiring_a_well_supported_rule(store: Store) -> None:
    put(store, rule("r-strong", "Strong.", support=12))
    put(store, rule("r-weak", "Weak.", support=2))
    for rid, ok in (("r-weak", True), ("r-strong", False)):
        b = rv.start_proposal(store, f"retire-{rid}")
        r = store.read_rule(rid).with_changes(status="retired")
        store.put_rule(
            r,
            CommitMessage.make("retire", f"retire {rid}", "Contradicted."),
            author=LEARNER,
            branch=b,
        )
        d = rv.decide(store, rv.get_proposal(store, f"retire-{rid}"), rv.Gate(), "gated")
        assert d.approve is ok, d.summary()
        if not ok:
            assert [c.name for c in d.checks if not c.ok] == ["retires well-supported rules"]
            assert "r-strong (support 12)" in d.summary()


def test_gated_refuses_an_accuracy_drop(store: Store) -> None:
    from imlgit.conditions import parse_when

    exps = [
        Experience.from_dict(
            {"id": f"e-{i}", "scope": "tt", "input": {"a": "yes"}, "outcome": {"expected": "X"}}
        )
        for i in range(10)
    ]
    store.commit(
        {"eval/set.jsonl": "".join(e.to_json() + "\n" for e in exps).encode()},
        CommitMessage.make("add", "evaluation set", "Held out."),
        author=PERSON,
    )
    when = parse_when({"a": "yes"})
    put(store, rule("r-x", "When a is yes, the answer is X.", scope="tt", when=when, then="X",
                    support=5))  # fmt: skip
    gate = rv.Gate(eval_set="eval/set.jsonl", min_support=0)
    wrong = store.read_rule("r-x").with_changes(
        then="Y", statement="When a is yes, the answer is Y."
    )
    p = _proposal_with(store, "worse", wrong)
    d = rv.decide(store, p, gate, "gated")
    assert [c.name for c in d.checks if not c.ok] == ["accuracy"]
    assert "100.0% -> 0.0%" in d.summary()
    missing = rv.Gate(eval_set="eval/none.jsonl")
    with pytest.raises(ReviewError, match="eval/none.jsonl"):
        rv.decide(store, p, missing, "gated")


def test_gated_refuses_a_secret_and_the_allowlist_lets_one_through(store: Store) -> None:
    email = "jane.doe" + "@" + "gmail.com"
    p = _proposal_with(store, "leak", rule("r-mail", f"Escalate to {email} at once."))
    d = rv.decide(store, p, rv.Gate(), "gated")
    assert [c.name for c in d.checks if not c.ok] == ["secret scan"]
    assert "email" in d.summary() and email not in d.summary()
    assert rv.decide(store, p, rv.Gate(allow=(r"jane\.doe@gmail\.com",)), "gated").approve


def test_gated_and_auto_policies_approve_as_the_policy(store: Store) -> None:
    done = open_memory(store, "gated", max_rules=50).learn(train(), batch=30)
    assert done.decision is not None and done.decision.approve, done.decision.summary()
    assert done.approval is not None and store.head() == done.approval.sha
    info = store.commit_info(store.head())
    assert info.trailer("Imlgit-Approved-By") == f"policy gated <{rv.POLICY.email}>"
    assert info.author == str(rv.POLICY) and "rules changed" in info.rationale
    held = open_memory(store, "gated", max_rules=0, max_rules_per_100=0).learn(
        train(60, seed=7), batch=30
    )
    if held.proposal:  # anything new: left for a person
        assert held.decision is not None and not held.decision.approve and held.approval is None
        assert f"proposals/{held.proposal}" in store.branches()
    done = open_memory(store, "auto").learn(train(60, seed=8), batch=30)
    if done.proposal:
        assert done.approval is not None
        assert store.commit_info(store.head()).trailer("Imlgit-Approved-By") == (
            f"policy auto <{rv.POLICY.email}>"
        )


def test_stats_count_decisions_and_replay_gated(store: Store) -> None:
    _proposal_with(store, "small", rule("r-s", "Small."))
    rv.approve(store, "small", approver=PERSON)
    _proposal_with(store, "wide", *(rule(f"r-w{i}", f"Wide {i}.") for i in range(7)))
    rv.approve(store, "wide", approver=PERSON)
    _proposal_with(store, "leaky", rule("r-l", "Call +44 20 7946 0958 for help."))
    rv.reject(store, "leaky", person=PERSON, why="A phone number does not belong here.")
    _proposal_with(store, "open", rule("r-o", "Open."))
    st = rv.stats(store, rv.Gate())
    assert (st.approved, st.rejected, st.open, st.approved_by_policy) == (2, 1, 1, 0)
    rows = {r["proposal"]: r for r in st.rows}
    assert rows["small"]["gated"] is True
    assert rows["wide"]["gated"] is False  # 7 rules > 5
    assert rows["leaky"]["gated"] is False
    assert [f["check"] for f in rows["leaky"]["failed"]] == ["secret scan"]
    # gated agrees with people on small and leaky, not on wide
    assert (st.gated_agrees, st.gated_disagrees) == (2, 1)


# ---------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_review_flow(tmp_path: Path, imlgit_cli) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "m"
    assert imlgit_cli("init", str(repo)).returncode == 0
    (tmp_path / "t.jsonl").write_text("".join(e.to_json() + "\n" for e in train()))
    out = imlgit_cli(
        "learn", str(tmp_path / "t.jsonl"), "--batch", "30", "--propose", "w1", "--json", repo=repo
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["proposal"] == "w1"
    listed = imlgit_cli("proposals", repo=repo)
    assert listed.stdout.startswith("w1\t") and "induce" in listed.stdout
    shown = imlgit_cli("review", "w1", repo=repo)
    assert shown.returncode == 0 and "net change: " in shown.stdout.split("\n")[0]
    detail = imlgit_cli("review", "w1", "--commits", repo=repo)
    assert "Imlgit-Support" in detail.stdout and "+when:" in detail.stdout
    # the policy named is the one in force (manual), not what gated would do
    assert "policy manual: left for a person (gated would approve" in shown.stdout
    merge = imlgit_cli("branch", "merge", "proposals/w1", "--why", "x", repo=repo)
    assert merge.returncode == 2 and "imlgit approve w1" in merge.stderr
    bad = imlgit_cli(
        "approve", "w1", repo=repo, env={"IMLGIT_AUTHOR": "imlgit policy <policy@imlgit.invalid>"}
    )
    assert bad.returncode == 1 and "not a person" in bad.stderr
    ok = imlgit_cli("approve", "w1", repo=repo)
    assert ok.returncode == 0, ok.stderr
    stats = imlgit_cli("review", "stats", repo=repo)
    assert "approved 1 (0 by the policy), rejected 0, open 0" in stats.stdout


# ---------------------------------------------------------------------- forge CI


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="the git CLI is not installed")
def test_the_forge_ci_check_on_a_proposal_branch(tmp_path: Path) -> None:
    """hooks/ci/proposal-check, run as a forge's CI runs it: a git clone of the
    pull request's branch, main only as origin/main, imlgit on PATH."""
    src = Store.init(tmp_path / "origin", author=PERSON, clock=Clock())
    b = rv.start_proposal(src, "pr-1")
    put(src, rule("r-ok", "A harmless rule."), branch=b, author=LEARNER)
    b2 = rv.start_proposal(src, "pr-2")
    for i in range(6):  # more rules than gated takes at once
        put(src, rule(f"r-many-{i}", f"Harmless rule {i}."), branch=b2, author=LEARNER)
    b4 = rv.start_proposal(src, "pr-4")
    leak = "call " + "+44 20 7946 0958"
    put(src, rule("r-leak", f"For refunds {leak}."), branch=b4, author=LEARNER)

    def ci(branch: str, *args: str) -> subprocess.CompletedProcess[str]:
        return forge_ci(tmp_path, src.path, branch, *args)

    ok = ci("proposals/pr-1", "--strict", "proposals/pr-1")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "proposal pr-1: 1 commits" in ok.stdout and "[ok] secret scan: clean" in ok.stdout
    wide = ci("proposals/pr-2", "--strict", "proposals/pr-2")
    assert wide.returncode == 1 and "[no] rules changed: 6 (at most 5)\n" in wide.stdout
    lenient = ci("proposals/pr-2", "proposals/pr-2")
    assert lenient.returncode == 0 and "[no] rules changed" in lenient.stdout
    # a secret fails the rule check itself, named with its place, the secret masked
    leaky = ci("proposals/pr-4", "proposals/pr-4")
    assert leaky.returncode == 1 and "phone" in leaky.stderr and "7946 0958" not in leaky.stderr
    # an invalid rule file fails the check before any review
    b3 = rv.start_proposal(src, "pr-3")
    src.commit({"rules/zz/r-broken.md": b"---\nid: [\n---\n"},
               CommitMessage.make("add", "broken", "Hand-written."), author=OTHER, branch=b3)
    broken = ci("proposals/pr-3", "proposals/pr-3")
    assert broken.returncode == 1 and "r-broken" in broken.stderr


def test_stats_count_open_proposals_as_proposals_lists_them(store: Store) -> None:
    # a proposals/* branch with nothing main lacks (approved and merged, or made
    # by hand) is not an open proposal: stats and the list agree
    store.create_branch(rv.PREFIX + "empty", "main")
    _proposal_with(store, "real", rule("r-o", "Open."))
    assert [p.name for p in rv.list_proposals(store)] == ["real"]
    assert rv.stats(store, rv.Gate()).open == 1


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="the git CLI is not installed")
def test_the_forge_check_shows_a_config_change_first_and_strict_fails(tmp_path: Path) -> None:
    src = Store.init(tmp_path / "origin", author=PERSON, clock=Clock())
    b = rv.start_proposal(src, "pr-cfg")
    put(src, rule("r-ok", "A harmless rule."), branch=b, author=LEARNER)
    toml = (src.read_file("imlgit.toml") or b"").decode().replace(
        '# policy = "manual"', 'policy = "auto"')
    src.commit({"imlgit.toml": toml.encode()},
               CommitMessage.make("edit", "tune", "Harmless."), author=LEARNER, branch=b)
    for fmt in ((), ("--markdown",)):
        out = forge_ci(tmp_path, src.path, "proposals/pr-cfg", "--strict", *fmt, "proposals/pr-cfg")
        assert out.returncode == 1, out.stdout + out.stderr
        first = out.stdout.index("imlgit.toml")
        assert "only a person approves" in out.stdout
        assert first < out.stdout.index("r-ok")  # the configuration before the rules
        assert 'policy = "auto"' in out.stdout  # with its diff
