"""Learning at scale learns what it learned before: counting with bitsets (imlgit.counting)
gives the counts of applying ``choose`` to each experience, and skipping retrieval for
the learner that does not read it changes no rule. (Speed: bench/learn_scale.py.)"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import LEARNING, PERSON, learning_branch
from fakes import HashEmbedder

from imlgit.bench.truthtable import TruthTable
from imlgit.conditions import (
    FAILS,
    WORKS,
    Condition,
    ScoredRule,
    choose,
    is_outcome_rule,
    matches,
)
from imlgit.counting import Tally
from imlgit.experience import Experience
from imlgit.learn import Learning, LearnSettings
from imlgit.learners.rulelearner import CoveringLearner
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store
from imlgit.verify import CLASS, OUTCOME, judge

FIELDS = ("a", "b", "c")
OUTCOMES = ("X", "Y", "Z")


def walk(rules: list[ScoredRule], evidence: list[Experience]) -> dict[tuple[str, str], tuple]:
    """The reference: ``choose`` on each experience in turn, class rules on the input and
    outcome rules on the input with the output, judged by imlgit.verify.judge (a later
    occurrence of an id that a rule decides wins)."""
    out: dict[tuple[str, str], tuple[int, bool]] = {}
    for e in evidence:
        for kind in (CLASS, OUTCOME):
            mine = [i for i, r in enumerate(rules) if (kind == OUTCOME) == is_outcome_rule(
                r.when, r.then)]  # fmt: skip
            if not mine or kind == OUTCOME and e.output is None:
                continue
            hit = choose([rules[i] for i in mine], e.acted if kind == OUTCOME else e.view)
            if hit is None:
                continue
            ok = judge(e, hit[0], kind)
            if ok is not None:
                out[(e.id, kind)] = (mine[hit[1]], ok)
    return out


def counts_of(decided: dict[tuple[str, str], tuple[int, bool]], n: int) -> list[tuple[int, int]]:
    out = [[0, 0] for _ in range(n)]
    for i, ok in decided.values():
        out[i][0 if ok else 1] += 1
    return [(a, b) for a, b in out]


def random_experience(rng: random.Random, i: int) -> Experience:
    d: dict[str, Any] = {
        "id": f"e-{i}",
        "scope": "s",
        "input": {f: rng.choice(("yes", "no")) for f in FIELDS if rng.random() < 0.9},
    }
    if rng.random() < 0.3:  # an action and its reward only: failed or worked
        d["output"], d["outcome"] = rng.choice(OUTCOMES), {"reward": rng.choice((0.0, 1.0))}
    else:
        d["outcome"] = {"expected": rng.choice(OUTCOMES)}
    return Experience.from_dict(d)


def random_rules(rng: random.Random) -> list[ScoredRule]:
    rules = []
    for _ in range(rng.randint(1, 7)):
        fields = rng.sample(FIELDS, rng.randint(0, 2))
        when = tuple(Condition(f, "=", rng.choice(("yes", "no"))) for f in fields)
        # few distinct figures, so rank keys tie and the earliest rule must win
        then = rng.choice(OUTCOMES)
        if rng.random() < 0.3:  # an outcome rule: whether an action works there
            when = (Condition("output", "=", rng.choice(OUTCOMES)), *when)
            then = rng.choice((WORKS, FAILS))
        rules.append(ScoredRule(when, then, rng.choice((0.5, 0.75, 1.0)), rng.randint(0, 2)))
    return rules


@pytest.mark.parametrize("seed", range(40))
def test_counts_and_decisions_are_those_of_choose(seed: int) -> None:
    rng = random.Random(seed)
    pool = [random_experience(rng, i) for i in range(rng.randint(0, 40))]
    # repeats: the same object twice, an equal copy, and the same id saying something else
    evidence = list(pool)
    for _ in range(rng.randint(0, 6)):
        if pool:
            e = rng.choice(pool)
            evidence.append(rng.choice([e, Experience.from_dict(e.to_dict())]))
    for _ in range(rng.randint(0, 3)):
        if pool:
            other = random_experience(rng, 0).to_dict()
            evidence.append(Experience.from_dict({**other, "id": rng.choice(pool).id}))
    rng.shuffle(evidence)
    tally = Tally()
    # counted in steps, as batches grow the evidence: the tally numbers what is new
    for end in sorted({len(evidence) // 3, len(evidence) // 2, len(evidence)}):
        rules = random_rules(rng)
        counted = tally.view(evidence[:end])
        expected = walk(rules, evidence[:end])
        assert counted.decisions(rules) == expected
        assert list(counted.decisions(rules)) == list(expected)  # in the same order
        assert counted.counts(rules) == counts_of(expected, len(rules))


def test_an_id_relearned_with_another_outcome_is_counted_by_its_last_occurrence() -> None:
    first = Experience.from_dict(
        {"id": "e-1", "scope": "s", "input": {"a": "yes"}, "outcome": {"expected": "X"}}
    )
    again = Experience.from_dict({**first.to_dict(), "outcome": {"expected": "Y"}})
    rules = [ScoredRule((Condition("a", "=", "yes"),), "X")]
    tally = Tally()
    assert tally.view([first]).counts(rules) == [(1, 0)]
    assert tally.view([first, again]).counts(rules) == [(0, 1)]
    assert tally.view([again, first]).counts(rules) == [(1, 0)]


def reference_figures(rules: dict[str, Rule], evidence: list[Experience]) -> dict[str, tuple]:
    ids = sorted(r for r, x in rules.items() if x.checkable and x.status == "active")
    scored = []
    for rid in ids:
        r = rules[rid]
        n = r.support + r.contradictions
        scored.append(ScoredRule(r.when or (), r.then or "", r.support / n if n else 0.5,
                                 r.support))
    counted = counts_of(walk(scored, evidence), len(ids))
    return dict(zip(ids, counted, strict=True))


def test_learned_figures_are_the_counts_over_every_stored_experience(memory: Store) -> None:
    """Batch after batch (noise, and an id learned again with another outcome), every
    active checkable rule's figures are those ``choose`` gives over the stored evidence,
    under the figures the rules were committed with."""
    table = TruthTable(seed=3)
    exps = table.sample(120, rng_seed=5, noise=0.1)
    relearned = Experience.from_dict(
        {**exps[0].to_dict(), "outcome": {"expected": table.classes[0]}}
    )
    learning_branch(memory)
    engine = Learning(memory, CoveringLearner(),
        settings=LearnSettings(branch=LEARNING, batch=20, momentum=0.25))
    engine.learn(exps)
    engine.learn([relearned, *table.sample(10, rng_seed=6)])
    head = memory.head(LEARNING)
    assert head is not None
    rules = memory.read_rules(head)
    assert any(r.checkable for r in rules.values())
    evidence = engine.evidence(head, table_scope(exps))
    assert sum(e.id == exps[0].id for e in evidence) == 2
    # Each decided experience is counted once, by one rule; a rule that no other rule
    # overlaps on the evidence has exactly the figures counting gives (where rules
    # overlap, the figures are counted under the ranking of the figures before).
    committed = {rid: (r.support, r.contradictions) for rid, r in rules.items() if r.checkable
                 and r.status == "active"}  # fmt: skip
    again = reference_figures(rules, evidence)
    assert sum(a + b for a, b in committed.values()) == sum(a + b for a, b in again.values())
    views = {e.id: e.view for e in evidence}
    alone_ones = 0
    for rid in committed:
        # only a rule with as many conditions or more can take an experience from it
        n = len(rules[rid].when or ())
        others = [r for o, r in rules.items() if o in committed and o != rid
                  and len(r.when or ()) >= n]  # fmt: skip
        alone = not any(
            matches(rules[rid].when or (), v) and any(matches(o.when or (), v) for o in others)
            for v in views.values()
        )
        if alone:
            alone_ones += 1
            assert committed[rid] == again[rid], rid
    assert alone_ones >= 1


def table_scope(exps: list[Experience]) -> str:
    return exps[0].scope


def learned(mem: Memory, **kwargs: Any) -> dict[str, tuple]:
    done = mem.learn(TruthTable(seed=1).sample(90, rng_seed=2, noise=0.05), batch=15, **kwargs)
    rules = mem.store.read_rules(mem.store.resolve(done.branch))
    return {
        rid: (r.title, r.statement, r.status, r.when, r.then, r.support, r.contradictions)
        for rid, r in rules.items()
    }


def test_the_no_model_learner_learns_the_same_without_retrieval(tmp_path: Path) -> None:
    mems = []
    for name in ("searched", "skipped"):
        Store.init(tmp_path / name, author=PERSON)
        mems.append(Memory.open(tmp_path / name, embedder=HashEmbedder()))
    searched, skipped = mems
    with_search = learned(searched, retrieval=True)
    assert searched.embedder.calls  # type: ignore[attr-defined]  # it did search
    without = learned(skipped)  # the default: the learner says it reads no search
    assert skipped.embedder.calls == []  # type: ignore[attr-defined]
    assert any(r[3] for r in without.values())  # checkable rules were learned
    assert without == with_search


class Recording(CoveringLearner):
    """The no-model learner, recording each context it is shown and the head then."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.shown: list[tuple[str, Any]] = []

    def induce(self, batch, context):  # type: ignore[no-untyped-def]
        self.shown.append((self.store.head(LEARNING), context))
        return super().induce(batch, context)


def test_each_rule_is_shown_the_rationales_of_its_last_commits(memory: Store) -> None:
    """The rationales kept from batch to batch are git's (of the rule's changes of
    meaning: not its recounts), also after a person's commit moved the branch between
    two learns."""
    from conftest import PERSON as person

    from imlgit.commits import CommitMessage
    from imlgit.rules import render_rule

    table = TruthTable(seed=2)
    learner = Recording(memory)
    learning_branch(memory)
    engine = Learning(memory, learner, settings=LearnSettings(branch=LEARNING, batch=15))
    first = table.sample(60, rng_seed=1, noise=0.1)
    engine.learn(first)
    head = memory.head(LEARNING)
    engine.learn(first[-15:])  # learned already: every rule's rationales read, none changed
    assert memory.head(LEARNING) == head
    rules = memory.read_rules()
    rid = next(r for r in sorted(rules) if rules[r].checkable and rules[r].status == "active")
    memory.commit(
        {rules[rid].path: render_rule(rules[rid].with_changes(title="Renamed by a person"))
         .encode("utf-8")},
        CommitMessage.make("edit", f"rename {rid}", "A person renamed it."),
        author=person, branch=LEARNING,
    )
    engine.learn(table.sample(45, rng_seed=2, noise=0.1))
    assert len(learner.shown) == 8
    shown_after_edit = False
    for head, ctx in learner.shown:
        for rc in ctx.rules:
            history = tuple(
                c.rationale
                for c in memory.history(rc.rule.id, head)
                if c.trailer("Imlgit-Op") not in ("recount", "experiences")
            )[:3]
            assert rc.recent == history, (head, rc.rule.id)
            shown_after_edit |= "A person renamed it." in rc.recent
    assert shown_after_edit


def mixed_experiences(n: int, seed: int) -> list[Experience]:
    """Numbers, texts that look like numbers, booleans and a free-text field, 5% noise."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        weight, kind = rng.randint(1, 60), rng.choice(("a", "b", "c", "1", "2"))
        note = rng.choice(("damaged box", "late again", "fine", "box is fine", "very late"))
        label = "SEA" if weight > 30 else "AIR" if kind in "ab" else "RET" if "damaged" in note \
            else "ROAD"
        if rng.random() < 0.05:
            label = rng.choice(("SEA", "AIR", "ROAD", "RET"))
        inp = {"weight": weight, "kind": kind, "flag": rng.random() < 0.5, "text": note,
               "code": rng.choice((1, 2, "1", 2.0))}
        out.append(Experience.from_dict(
            {"id": f"m{i}", "scope": "s", "input": inp, "outcome": {"expected": label}}
        ))
    return out


@pytest.mark.parametrize("kind", ["truth-table", "mixed", "text"])
def test_induced_figures_are_those_the_conditions_give(kind: str) -> None:
    """Induction counts a rule's coverage from its features' bitsets, and groups
    experiences by value for '=' features: each rule covers, and gets right, exactly the
    experiences ``evaluate`` finds, and the default decides what no other rule matches."""
    from imlgit.conditions import evaluate
    from imlgit.learners.covering import induce_rules

    if kind == "truth-table":
        exps = TruthTable(seed=4).sample(600, rng_seed=2, noise=0.1)
    elif kind == "mixed":
        exps = mixed_experiences(600, 5)
    else:
        rng = random.Random(6)
        exps = []
        for i in range(400):
            text = " ".join(rng.sample(("the", "box", "damaged", "late", "very", "fine", "not",
                                        "again", "parcel"), 4))
            label = "RET" if "damaged" in text else "LATE" if "late" in text else "OK"
            if rng.random() < 0.05:
                label = rng.choice(("RET", "LATE", "OK"))
            exps.append(Experience.from_dict(
                {"id": f"t{i}", "scope": "s", "input": text, "outcome": {"expected": label}}
            ))
    rules = induce_rules(exps)
    assert len(rules) > 2
    *conditional, default = rules
    assert default.when == ()
    for r in rules:
        cov = evaluate(r.when, r.then, exps)
        assert (r.covered, r.correct) == (cov.covered, cov.correct), r.when
    uncovered = [e for e in exps if choose(conditional, e.input) is None]
    assert f"decides the {len(uncovered)} experiences no other rule" in default.rationale


def test_each_feature_holds_where_its_condition_holds() -> None:
    """The '=' features grouped by value hold exactly where the condition does, texts
    that read as numbers ("1" = 1) included."""
    from imlgit.conditions import holds
    from imlgit.learners.features import features as features_of

    exps = mixed_experiences(300, 7)
    inputs = [e.input for e in exps]
    features = features_of([e.view for e in exps], [e.label for e in exps], min_count=1)
    assert any(f.cond.field == "code" for f in features)
    for f in features:
        expected = sum(1 << i for i, inp in enumerate(inputs) if holds(f.cond, inp))
        assert f.mask == expected, f.cond


class Scripted:
    """A learner double: proposes the operations given for each batch, records contexts."""

    identity = "scripted learner (test double)"

    def __init__(self, *scripts: list[Any]) -> None:
        self.scripts = list(scripts)
        self.shown: list[Any] = []

    def induce(self, batch, context):  # type: ignore[no-untyped-def]
        self.shown.append(context)
        return []

    def revise(self, batch, candidates, context):  # type: ignore[no-untyped-def]
        return self.scripts.pop(0)


def test_rationales_in_history_order_when_commits_share_a_second(tmp_path: Path) -> None:
    """With every commit in the same second (a stopped clock), history orders a rule's
    commits by descent: two commits of one batch on one rule, the later first, and both
    before the older ones."""
    from imlgit.learners.base import Candidate, Operation

    store = Store.init(tmp_path / "m", author=PERSON, clock=lambda: 1_800_000_000)
    plain = Candidate("Parcels go by sea", "Heavy parcels go by sea.", "truth-table")
    exps = TruthTable(seed=0).sample(30, rng_seed=1)
    ids = [e.id for e in exps]
    learner = Scripted(
        [Operation("ADD", "first", candidate=plain, evidence=(ids[0],))],
        [],  # the rule is read, and kept
        [],
        [],
    )
    learning_branch(store)
    engine = Learning(store, learner, settings=LearnSettings(branch=LEARNING, batch=10, momentum=0))
    engine.learn(exps[:20])
    rid = next(r.id for r in store.read_rules().values() if r.title == plain.title)
    wider = Candidate("Parcels go by sea", "Heavy and bulky parcels go by sea.", "truth-table")
    learner.scripts.insert(0, [
        Operation("AGREE", "agrees once", target=rid, evidence=(ids[20],)),
        Operation("EDIT", "edited", target=rid, candidate=wider, evidence=(ids[21],)),
    ])
    engine.learn(exps[20:])
    engine.learn(exps[:10])  # learned already: shown the rule's rationales once more
    head = store.head(LEARNING)
    shown = [rc.recent for rc in learner.shown[-1].rules if rc.rule.id == rid]
    meaning = [c for c in store.history(rid, head) if c.trailer("Imlgit-Op") != "recount"]
    assert shown == [tuple(c.rationale for c in meaning[:3])]
    # the rationales of its changes of meaning, the later first; not the recounts
    assert shown[0][:2] == ("edited", "first")
    assert store.history(rid, head)[0].trailer("Imlgit-Op") == "recount"


def test_a_batch_the_rules_get_right_is_not_induced_again_until_the_evidence_grows() -> None:
    """Induction over all the evidence every batch made 10,000 experiences quadratic:
    a batch the memory's rules already decide right agrees instead, until the evidence
    has grown by REINDUCE_GROWTH since the last induction."""
    from imlgit.learners.base import LearnContext, RuleContext
    from imlgit.learners.rulelearner import REINDUCE_GROWTH

    table = TruthTable(seed=2)
    exps = table.sample(400, rng_seed=1)
    learner = CoveringLearner()
    first = learner.induce(exps[:200], LearnContext(scope=exps[0].scope))
    rules = [
        Rule(id=f"r-{i}", title=c.title, statement=c.statement, scope=c.scope,
             created="2026-01-01T00:00:00Z", updated="2026-01-01T00:00:00Z",
             when=c.when, then=c.then)
        for i, c in enumerate(first)
    ]  # fmt: skip
    context = LearnContext(
        rules=tuple(RuleContext(r) for r in rules), scope=exps[0].scope,
        evidence=tuple(exps[:200]),
    )  # fmt: skip
    right = [e for e in exps[200:] if checked(rules, e)]
    wrong = [e for e in exps[200:] if not checked(rules, e)]
    assert len(right) >= 20 and 20 < REINDUCE_GROWTH * 200 - 200
    again = learner.induce(right[:20], context)
    assert "already decide every experience" in again[0].rationale
    assert [(c.when, c.then) for c in again] == [(r.when, r.then) for r in rules]
    # the evidence grown past the factor: induced again, although the batch is right
    grown = LearnContext(rules=context.rules, scope=context.scope, evidence=tuple(exps[:300]))
    assert "already decide" not in learner.induce(right[:20], grown)[0].rationale
    if wrong:  # a batch with a wrong answer is induced again
        assert "already decide" not in learner.induce(wrong[:5], context)[0].rationale


def checked(rules: list[Rule], e: Experience) -> bool:
    from imlgit.infer import checked_answer

    got = checked_answer(rules, e.input)
    return got is not None and got[0] == e.label
