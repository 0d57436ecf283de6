"""The learning engine: operations, verification, momentum, atomic batches.

``ScriptedLearner`` is a test double: it proposes the operations a test gives it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from conftest import LEARNING, learning_branch

from imlgit.conditions import Condition
from imlgit.errors import LearnError, LLMError
from imlgit.experience import Experience
from imlgit.learn import Learning, LearnSettings, batch_id
from imlgit.learners.base import Candidate, LearnContext, Operation
from imlgit.learners.rulelearner import CoveringLearner
from imlgit.statements import render_statement
from imlgit.store import Store


class ScriptedLearner:
    """A learner double: returns scripted operations, records what it was shown."""

    identity = "scripted learner (test double)"

    def __init__(self, *scripts: list[Operation] | Exception) -> None:
        self.scripts = list(scripts)
        self.contexts: list[LearnContext] = []

    def induce(self, batch: Sequence[Experience], context: LearnContext) -> list[Candidate]:
        self.contexts.append(context)
        return []

    def revise(self, batch, candidates, context):  # type: ignore[no-untyped-def]
        script = self.scripts.pop(0)
        if isinstance(script, Exception):
            raise script
        return script


def exp(i: int, a: str, b: str, label: str, scope: str = "tt") -> Experience:
    return Experience.from_dict(
        {
            "id": f"e-{i:03d}",
            "scope": scope,
            "input": {"a": a, "b": b},
            "outcome": {"expected": label},
        }
    )


def batch(start: int, n: int, *, flip: set[int] = frozenset()) -> list[Experience]:  # type: ignore[assignment]
    """a=yes -> X, else Y; ids in `flip` get the other label (noise)."""
    out = []
    for i in range(start, start + n):
        a = "yes" if i % 2 == 0 else "no"
        b = "yes" if i % 3 == 0 else "no"
        label = "X" if a == "yes" else "Y"
        if i in flip:
            label = "Y" if label == "X" else "X"
        out.append(exp(i, a, b, label))
    return out


def cand(when: dict[str, str], then: str, *, statement: str | None = None) -> Candidate:
    conds = tuple(Condition(k, "=", v) for k, v in when.items())
    return Candidate(
        title=f"{when} {then}",
        statement=statement or render_statement(conds, then),
        scope="tt",
        rationale="Induced.",
        when=conds,
        then=then,
    )


def engine(memory: Store, learner, **kw) -> Learning:  # type: ignore[no-untyped-def]
    """The engine, learning on a checked-out branch (never main: see learning_branch)."""
    kw.setdefault("branch", learning_branch(memory))
    return Learning(memory, learner, settings=LearnSettings(batch=10, **kw))


def test_add_commits_rule_and_experiences(memory: Store) -> None:
    b = batch(0, 10)
    learner = ScriptedLearner(
        [
            Operation(
                "ADD",
                "a=yes goes with X.",
                candidate=cand({"a": "yes"}, "X"),
                evidence=("e-000", "e-002"),
            )
        ]
    )
    res = engine(memory, learner).learn_batch(b)
    assert len(res.added) == 1 and len(res.commits) == 2
    rid = res.added[0]
    rule = memory.read_rule(rid)
    assert rule.support == 5 and rule.contradictions == 0  # counted: 5 even ids
    info = memory.commit_info(res.commits[1])
    assert info.subject == f"induce: add {rid} ({rule.title})"
    assert info.trailer("Imlgit-Batch") == batch_id(b)
    assert info.trailer("Imlgit-Support") == "5/5"
    assert info.trailer("Imlgit-Evidence") == "e-000 e-002"
    assert "decides 5 experiences and gets 5 right" in info.rationale
    first = memory.commit_info(res.commits[0])
    assert first.subject.startswith("experiences: store batch")
    stored = memory.files_under("experiences", res.head)
    assert len(stored) == 1 and b"e-009" in memory.read_blob(stored[0][1])


def test_verification_refuses_rule_that_contradicts_evidence(memory: Store) -> None:
    head = memory.head()
    hallucinated = Operation("ADD", "Trust me.", candidate=cand({"a": "yes"}, "Y"))
    res = engine(memory, ScriptedLearner([hallucinated])).learn_batch(batch(0, 10))
    assert res.added == [] and len(res.refused) == 1
    assert "gets 0 right" in res.refused[0].reason
    # only the experiences were committed, no rule
    assert [memory.commit_info(c).subject.split(":")[0] for c in res.commits] == ["experiences"]
    assert set(memory.read_rules()) == set(memory.read_rules(head))


def test_refusal_is_shown_to_the_learner_next_batch(memory: Store) -> None:
    learner = ScriptedLearner([Operation("ADD", "x", candidate=cand({"a": "yes"}, "Y"))], [])
    eng = engine(memory, learner)
    eng.learn_batch(batch(0, 10))
    eng.learn_batch(batch(10, 10))
    assert any("gets 0 right" in r for r in learner.contexts[1].refused)


def test_statement_that_contradicts_its_form_is_refused(memory: Store) -> None:
    bad = cand({"a": "yes"}, "X", statement="When b is no, the class is Y.")
    res = engine(memory, ScriptedLearner([Operation("ADD", "x", candidate=bad)])).learn_batch(
        batch(0, 10)
    )
    assert res.added == [] and "does not say what its form says" in res.refused[0].reason


def test_edit_retire_merge_agree(memory: Store) -> None:
    eng = engine(
        memory,
        ScriptedLearner(
            [
                Operation("ADD", "r1", candidate=cand({"a": "yes"}, "X")),
                Operation("ADD", "r2", candidate=cand({"a": "no"}, "Y")),
            ],
        ),
        momentum=0,
    )
    res = eng.learn_batch(batch(0, 10))
    r_x, r_y = res.added
    # AGREE: counters only, counted
    eng.learner = ScriptedLearner([Operation("AGREE", "still right", target=r_x)])
    res = eng.learn_batch(batch(10, 10))
    assert res.agreed == [r_x] and memory.read_rule(r_x).support == 10
    # momentum 0 turns damping off: a clean rule is edited when verification allows it
    eng.learner = ScriptedLearner(
        [Operation("EDIT", "narrow", target=r_x, candidate=cand({"a": "yes", "b": "yes"}, "X"))]
    )
    res = eng.learn_batch(batch(20, 10))
    assert res.damped == [] and res.edited == [r_x]
    # noise makes r_x wrong twice; momentum 0 lets the EDIT through
    noisy = batch(30, 10, flip={30, 32})
    eng.learner = ScriptedLearner(
        [Operation("EDIT", "narrow", target=r_x, candidate=cand({"a": "yes", "b": "no"}, "X"))]
    )
    res = eng.learn_batch(noisy)
    assert res.edited == [r_x]
    assert memory.read_rule(r_x).when == (Condition("a", "=", "yes"), Condition("b", "=", "no"))
    narrowed = memory.read_rule(r_x)
    assert memory.history(r_x)[0].subject == f"revise: revise {r_x} (now: {narrowed.title})"
    # MERGE r_x into r_y: verification lets it through (a=no -> Y holds on the batch);
    # r_y stands, in the merged form, and its source r_x is retired
    eng.learner = ScriptedLearner(
        [Operation("MERGE", "merge", target=r_y, sources=(r_x,), candidate=cand({"a": "no"}, "Y"))]
    )
    res = eng.learn_batch(batch(40, 10))
    assert res.merged == [r_y] and memory.read_rule(r_x).status == "retired"
    assert memory.read_rule(r_y).when == (Condition("a", "=", "no"),)
    assert memory.read_rule(r_y).then == "Y" and memory.read_rule(r_y).status == "active"
    # RETIRE
    eng.learner = ScriptedLearner([Operation("RETIRE", "wrong", target=r_y)])
    res = eng.learn_batch(batch(50, 10, flip={51, 53, 55}))
    assert res.retired == [r_y] and memory.read_rule(r_y).status == "retired"


def test_momentum_damps_one_noisy_batch(memory: Store) -> None:
    eng = engine(
        memory,
        ScriptedLearner([Operation("ADD", "r", candidate=cand({"a": "yes"}, "X"))]),
        momentum=0.5,
    )
    rid = eng.learn_batch(batch(0, 40)).added[0]
    support = memory.read_rule(rid).support
    assert support == 20
    eng.learner = ScriptedLearner([Operation("RETIRE", "batch says no", target=rid)])
    res = eng.learn_batch(batch(40, 10, flip={40, 42, 44}))
    assert res.damped == [rid] and memory.read_rule(rid).status == "active"
    assert memory.read_rule(rid).contradictions == 3  # recorded, counted
    assert "the rule stands" in memory.history(rid)[0].rationale


def test_hostile_operations_refused_and_nothing_else_changes(memory: Store) -> None:
    head_rules = memory.read_rules()
    ops = [
        Operation("EDIT", "x", target="../../etc/passwd", candidate=cand({"a": "yes"}, "X")),
        Operation("RETIRE", "x", target="r-does-not-exist"),
        Operation("APPROVE", "approve my own change"),
        Operation("ADD", "x", candidate=cand({"a": "yes"}, "X", statement="x" * 1_000_000)),
        Operation(
            "ADD",
            "please approve this change and merge it to main",
            candidate=cand({"a": "yes"}, "X"),
            evidence=("e-999",),
        ),
    ]
    res = engine(memory, ScriptedLearner(ops)).learn_batch(batch(0, 10))
    assert len(res.refused) == 5 and res.added == []
    reasons = " | ".join(r.reason for r in res.refused)
    assert "unsafe rule id" in reasons and "no such rule" in reasons
    assert "unknown operation" in reasons and "at most" in reasons
    assert "not in this batch" in reasons
    assert memory.read_rules() == head_rules
    assert set(memory.branches()) == {"main", LEARNING}


def test_failed_learner_leaves_main_unchanged(memory: Store) -> None:
    head = memory.head()
    with pytest.raises(LearnError, match="nothing was committed"):
        engine(memory, ScriptedLearner(LLMError("timed out"))).learn_batch(batch(0, 10))
    assert memory.head() == head


def test_too_many_operations_refused(memory: Store) -> None:
    head = memory.head()
    ops = [Operation("RETIRE", "x", target="r-example-rationale")] * 100
    with pytest.raises(LearnError, match="at most"):
        engine(memory, ScriptedLearner(ops)).learn_batch(batch(0, 10))
    assert memory.head() == head


def test_relearning_a_batch_stores_it_once(memory: Store) -> None:
    eng = engine(memory, ScriptedLearner([], []))
    b = batch(0, 10)
    eng.learn_batch(b)
    head = memory.head()
    res = eng.learn_batch(b)
    assert res.commits == [] and memory.head() == head


def test_covering_learner_learns_attribute_rules(memory: Store) -> None:
    eng = engine(memory, CoveringLearner())
    for start in range(0, 60, 10):
        eng.learn_batch(batch(start, 10))
    active = [r for r in memory.read_rules().values() if r.checkable and r.status == "active"]
    from imlgit.infer import checked_answer

    assert checked_answer(active, {"a": "yes", "b": "no"})[0] == "X"  # type: ignore[index]
    assert checked_answer(active, {"a": "no", "b": "yes"})[0] == "Y"  # type: ignore[index]
    for r in active:
        assert r.support > 0 and memory.history(r.id)[0].trailer("Imlgit-Model").startswith(
            "no-model"
        )


def test_covering_learner_on_text(memory: Store) -> None:
    texts = [
        (f"e-t{i:02d}", f"{w} parcel to {d}", "SEA" if d == "overseas" else "ROAD")
        for i, (w, d) in enumerate(
            [(w, d) for w in ("heavy", "light", "large", "small") for d in ("overseas", "home")] * 3
        )
    ]
    b = [
        Experience.from_dict({"id": i, "scope": "ship", "input": t, "outcome": {"expected": y}})
        for i, t, y in texts
    ]
    res = engine(memory, CoveringLearner(), min_coverage=2).learn_batch(b)
    assert res.added
    from imlgit.infer import checked_answer

    rules = [r for r in memory.read_rules().values() if r.checkable and r.status == "active"]
    assert checked_answer(rules, "a tiny parcel to overseas")[0] == "SEA"  # type: ignore[index]
    assert checked_answer(rules, "a tiny parcel to home")[0] == "ROAD"  # type: ignore[index]


def test_a_default_rule_needs_half_right_not_min_precision(memory: Store) -> None:
    # a default answers where no other rule does; the alternative is no answer, so
    # it needs default_precision (at least half right), not min_precision
    exps = [exp(i, "no", "no", "X" if i % 10 < 6 else "Y") for i in range(20)]
    default = Candidate(title="Otherwise X", statement="Always: the class is X.", scope="tt",
                        rationale="Induced.", when=(), then="X")  # fmt: skip
    eng = engine(memory, ScriptedLearner([Operation("ADD", "a", candidate=default)]),
                 momentum=0, min_precision=0.75)  # fmt: skip
    eng.settings = LearnSettings(branch=LEARNING, batch=20, momentum=0, min_precision=0.75)
    res = eng.learn_batch(exps)
    assert res.added and not res.refused, res.refused
    # more wrong than right: refused, and the refusal says why
    worse = [exp(100 + i, "no", "no", "X" if i % 10 < 4 else "Y", scope="tt2") for i in range(20)]
    other = Candidate(title="Otherwise X", statement="Always: the class is X.", scope="tt2",
                      rationale="Induced.", when=(), then="X")  # fmt: skip
    eng.learner = ScriptedLearner([Operation("ADD", "a", candidate=other)])
    res = eng.learn_batch(worse)
    assert not res.added and res.refused
    assert "a share of 50% (a default rule)" in str(res.refused[0])
    with pytest.raises(Exception, match="default_precision"):
        LearnSettings(default_precision=1.5)
