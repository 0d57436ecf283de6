"""The condition index (issue 17) decides every question as testing every rule does.

:func:`imlgit.infer.decide` over a list tests every rule against the question (the
reference); over a :class:`CheckIndex` it tests only the rules filed under keys the
question has. Random memories mix every operator, numbers written as numbers and as
text, texts at paths and the whole input, defaults, outcome rules, retired rules and
rules that can never match; random questions mix the same shapes, and plain text.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from imlgit.checkindex import CheckIndex, view_keys
from imlgit.conditions import Condition
from imlgit.infer import decide
from imlgit.inputs import view_of
from imlgit.rules import Rule
from imlgit.statements import render_statement

T = "2026-12-03T08:00:00Z"
FIELDS = ["a", "b", "n", "tags"]
WORDS = ["fragile", "broken", "glass", "cracked", "refund", "late", "damaged", "box"]
ACTIONS = ["ship", "hold", "refund"]


def condition(rng: random.Random) -> Condition:
    kind = rng.random()
    if kind < 0.35:
        value: Any = rng.choice(["yes", "no", "3", "3.0", 3, 2.5, "x"])
        return Condition(rng.choice(FIELDS), "=", value)
    if kind < 0.45:
        return Condition(rng.choice(FIELDS), "!=", rng.choice(["yes", "3", 3]))
    if kind < 0.55:
        return Condition("n", rng.choice(["<", "<=", ">", ">="]), rng.choice([1, 2.5, 3, 10]))
    field = rng.choice([None, "note"])
    if kind < 0.7:
        phrase = rng.choice([*WORDS, "not fragile", "no refund", "glass box", "!!"])
        return Condition(field, "contains", phrase)
    if kind < 0.8:
        return Condition(field, "lacks", rng.choice(WORDS))
    alts = " | ".join(rng.sample(WORDS, rng.randint(1, 3)))
    return Condition(field, "mentions", alts)


def rule(i: int, rng: random.Random) -> Rule:
    when = tuple(condition(rng) for _ in range(rng.choice([0, 1, 1, 2, 2, 3])))
    if rng.random() < 0.3:  # an outcome rule: whether an action works there
        act = rng.choice(ACTIONS)
        when = (*when, Condition("output", "=", act))
        then = rng.choice(["works", "fails"])
    else:
        then = rng.choice(["KESTREL", "MORROW", "hold", "ship"])
    status = "retired" if rng.random() < 0.1 else "active"
    return Rule(id=f"r-{i:04d}", title=f"rule {i}", statement=render_statement(when, then),
                scope="tt", status=status, support=rng.randint(0, 9),
                contradictions=rng.randint(0, 3), created=T, updated=T, when=when,
                then=then)  # fmt: skip


def text(rng: random.Random) -> str:
    pool = [*WORDS, "the", "not", "isn't", "it", "is", ","]
    ws = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
    return " ".join(ws)


def question(rng: random.Random) -> Any:
    if rng.random() < 0.2:
        return text(rng)
    q: dict[str, Any] = {}
    for f in FIELDS:
        if rng.random() < 0.7:
            q[f] = rng.choice(["yes", "no", "3", "3.0", 3, 3.0, 2.5, 10, "x", ["yes", 3], []])
    if rng.random() < 0.5:
        q["note"] = text(rng)
    if rng.random() < 0.3:
        q["text"] = text(rng)
    return q


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return (a.answer, a.how, [r.id for r in a.rules]) == (b.answer, b.how, [r.id for r in b.rules])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12))
def test_the_index_decides_as_testing_every_rule(seed: int) -> None:
    rng = random.Random(seed)
    rules = [rule(i, rng) for i in range(rng.choice([5, 40, 200]))]
    index = CheckIndex(rules)
    answered = 0
    for _ in range(150):
        q = question(rng)
        action = rng.choice([None, None, *ACTIONS, "unknown"])
        want = decide(rules, q, action=action)
        got = decide(index, q, action=action)
        assert same(want, got), (q, action, want, got)
        answered += want is not None
    assert answered > 10  # the memories decide questions, so the comparison bites


def test_a_question_sharing_nothing_with_memory_tests_no_rule() -> None:
    """What makes ask independent of memory size: rules filed under values a question
    lacks are never looked at."""
    rules = []
    for i in range(1000):
        when = (Condition("sku", "=", f"S{i}"),)
        rules.append(Rule(id=f"r-{i}", title="t", statement=render_statement(when, "X"),
                          scope="tt", support=3, created=T, updated=T, when=when,
                          then="X"))  # fmt: skip
    index = CheckIndex(rules)
    view = view_of({"sku": "S7"})
    assert [r.id for r in index.plain.candidates(view_keys(view))] == ["r-7"]
    assert list(index.plain.candidates(view_keys(view_of({"sku": "none"})))) == []
    assert decide(index, {"sku": "S7"}).answer == "X"  # type: ignore[union-attr]


def test_candidates_come_best_first_so_the_first_match_decides() -> None:
    rng = random.Random(3)
    rules = [rule(i, rng) for i in range(300)]
    index = CheckIndex(rules)
    ranked = index.plain.ranked
    for _ in range(50):
        view = view_of(question(rng))
        order = [ranked.index(r) for r in index.plain.candidates(view_keys(view))]
        assert order == sorted(set(order))


@pytest.mark.parametrize("seed", range(6))
def test_each_operator_alone_is_found(seed: int) -> None:
    """Small memories of one-condition rules: each rule decides some questions alone,
    whatever key it is filed under (a value, a stem, a field's or a text's presence)."""
    rng = random.Random(100 + seed)
    rules = []
    for i in range(6):
        when = (condition(rng),)
        rules.append(Rule(id=f"r-{i}", title="t", statement=render_statement(when, f"C{i}"),
                          scope="tt", support=rng.randint(1, 9), created=T, updated=T,
                          when=when, then=f"C{i}"))  # fmt: skip
    index = CheckIndex(rules)
    decided = set()
    for _ in range(300):
        q = question(rng)
        want, got = decide(rules, q), decide(index, q)
        assert same(want, got), (q, want, got)
        if want is not None:
            decided.add(want.rules[0].id)
    assert len(decided) >= 3
