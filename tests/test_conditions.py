"""The checkable form of a rule: parse, render, evaluate, choose."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from imlgit.bench.truthtable import decision_list_to_rules
from imlgit.conditions import (
    OPS,
    TEXT_OPS,
    Condition,
    Coverage,
    ScoredRule,
    checkable,
    choose,
    evaluate,
    has_phrase,
    matches,
    negate,
    parse_then,
    parse_when,
    ranked,
    specificity,
    when_to_yaml_obj,
)
from imlgit.errors import RuleError
from imlgit.experience import Experience, Outcome
from imlgit.statements import render_statement, statement_agrees

C = Condition
Row = dict[str, str | int | float | bool]


# ---------------------------------------------------------------------------
# parse_when


def test_shorthand_mapping_is_equality_in_order() -> None:
    conds = parse_when({"glimmer": "yes", "tansy": "no"})
    assert conds == (C("glimmer", "=", "yes"), C("tansy", "=", "no"))


def test_yaml_booleans_read_as_yes_and_no() -> None:
    # YAML 1.1 reads an unquoted yes as True; a rule author means the word.
    obj = yaml.safe_load("{glimmer: yes, tansy: no, marrow: 3}")
    assert parse_when(obj) == (
        C("glimmer", "=", "yes"),
        C("tansy", "=", "no"),
        C("marrow", "=", 3),
    )


def test_list_form_with_every_operator() -> None:
    obj = yaml.safe_load(
        """
        - {field: age, op: ">=", value: 18}
        - {field: age, op: "<", value: "65"}
        - {field: plan, op: "!=", value: free}
        - {field: tier, op: "==", value: gold}
        - {op: contains, value: "  heavy   parcel "}
        - {field: text, op: lacks, value: refund}
        - {field: subject, op: contains, value: urgent}
        """
    )
    assert parse_when(obj) == (
        C("age", ">=", 18),
        C("age", "<", 65),
        C("plan", "!=", "free"),
        C("tier", "=", "gold"),
        C(None, "contains", "heavy parcel"),
        C(None, "lacks", "refund"),
        C("subject", "contains", "urgent"),
    )


def test_empty_when_means_always() -> None:
    assert parse_when({}) == ()
    assert parse_when([]) == ()
    assert matches((), {"a": "b"}) and matches((), "any text")


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        (None, "mapping"),
        ("glimmer is yes", "mapping"),
        (5, "mapping"),
        ({"glimmer": ["yes", "no"]}, "glimmer: the shorthand maps a field to one value"),
        ({"glimmer": None}, "glimmer: the shorthand"),
        ({"glimmer": {"op": "!="}}, "use the list form"),
        ({True: "x"}, "field names are text"),
        ({"glimmer": ""}, "glimmer"),
        ({" glimmer": "yes"}, "edge spaces"),
        ({"a": float("nan")}, "finite"),
        ([{"field": "a", "op": "=", "value": "x"}, "b = y"], "condition 2: expected a mapping"),
        ([{"field": "a", "value": "x", "weight": 2}], "condition 1: unknown key(s) weight"),
        ([{"field": "a", "op": "="}], "condition 1: a value is required"),
        ([{"field": "a", "op": "~", "value": "x"}], "condition 1: unknown operator '~'"),
        ([{"field": "a", "op": 3, "value": "x"}], "condition 1: op must be text"),
        ([{"field": "a", "op": "<", "value": "ten"}], "condition 1: '<' compares numbers"),
        ([{"op": "=", "value": "x"}], "condition 1: '=' needs a field"),
        ([{"op": "contains", "value": "   "}], "condition 1: 'contains' needs a non-empty"),
        ([{"op": "contains", "value": 7}], "condition 1: 'contains' needs a word or phrase"),
        ([{"field": ["a"], "op": "=", "value": "x"}], "condition 1: field must be text"),
        ([{"field": "a", "op": "=", "value": [1]}], "condition 1: a value is text or a number"),
        (
            [
                {"field": "a", "value": "x"},
                {"field": "b", "value": 1},
                {"field": "a", "value": "x"},
            ],
            "condition 3 repeats condition 1",
        ),
        ([{"field": f"f{i}", "value": 1} for i in range(33)], "at most 32 conditions"),
    ],
)
def test_parse_when_errors_name_the_field_and_line(obj: Any, fragment: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_when(obj, path="rules/ab/r-x.md", line=8)
    err = info.value
    assert err.field == "when" and err.path == "rules/ab/r-x.md" and err.line == 8
    assert fragment in str(err)
    assert str(err).startswith("rules/ab/r-x.md:8: field 'when': ")


def test_parse_then() -> None:
    assert parse_then("VESPER") == "VESPER"
    assert parse_then(3) == "3"
    for bad in ("", "  ", "two\nlines", " X", None, ["X"], True):
        with pytest.raises(RuleError) as info:
            parse_then(bad, path="p.md", line=9)
        assert info.value.field == "then" and info.value.line == 9


def test_condition_normalises() -> None:
    assert C("text", "contains", "Heavy \n parcel") == C(None, "contains", "Heavy parcel")
    assert C("a", "=", True) == C("a", "=", "yes")
    assert C("a", "==", 1).op == "="
    with pytest.raises(ValueError):
        C(None, "=", "x")
    with pytest.raises(ValueError):
        C("a", ">", True)


# ---------------------------------------------------------------------------
# when_to_yaml_obj and the round trip


def test_yaml_obj_prefers_the_shorthand() -> None:
    conds = (C("glimmer", "=", "yes"), C("tansy", "=", "no"))
    assert when_to_yaml_obj(conds) == {"glimmer": "yes", "tansy": "no"}
    assert when_to_yaml_obj(()) == {}


def test_yaml_obj_uses_the_list_form_otherwise() -> None:
    conds = (C("age", "=", 3), C("age", "=", 4))  # repeated field: no mapping
    assert when_to_yaml_obj(conds) == [
        {"field": "age", "op": "=", "value": 3},
        {"field": "age", "op": "=", "value": 4},
    ]
    text = (C(None, "contains", "overseas"), C("subject", "lacks", "refund"))
    assert when_to_yaml_obj(text) == [
        {"op": "contains", "value": "overseas"},
        {"field": "subject", "op": "lacks", "value": "refund"},
    ]


_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
).filter(lambda s: s == s.strip() and s != "text")
_scalars = st.one_of(
    _names,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@st.composite
def _conditions(draw: st.DrawFn) -> Condition:
    op = draw(st.sampled_from(OPS))
    if op in TEXT_OPS:
        field = draw(st.one_of(st.none(), _names))
        if op == "mentions":  # phrases separated by '|', none of them empty
            phrases = st.lists(_names.filter(lambda t: "|" not in t and t.strip()), min_size=1,
                               max_size=4)  # fmt: skip
            return Condition(field, op, " | ".join(draw(phrases)))
        return Condition(field, op, draw(_names))
    if op in ("=", "!="):
        return Condition(draw(_names), op, draw(_scalars))
    number = draw(st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False)))
    return Condition(draw(_names), op, number)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(_conditions(), max_size=6, unique=True))
def test_when_round_trips_through_yaml(conds: list[Condition]) -> None:
    c = tuple(conds)
    obj = when_to_yaml_obj(c)
    assert parse_when(obj) == c
    text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)
    assert parse_when(yaml.safe_load(text)) == c
    assert specificity(c) == len(c)
    # the rendered sentence always agrees with its own form
    assert statement_agrees(render_statement(c, "VESPER"), c, "VESPER")


# ---------------------------------------------------------------------------
# matches and checkable


def test_equality_on_structured_inputs() -> None:
    inp: Row = {"glimmer": True, "age": 30, "ratio": 0.5, "code": "007", "plan": "Gold"}
    assert matches((C("glimmer", "=", "yes"),), inp)
    assert not matches((C("glimmer", "=", "no"),), inp)
    assert matches((C("age", "=", 30), C("age", "=", 30.0), C("age", "=", "30")), inp)
    assert matches((C("ratio", "=", 0.5), C("code", "=", 7), C("code", "=", "007")), inp)
    assert not matches((C("plan", "=", "gold"),), inp)  # exact, case-sensitive
    assert matches((C("plan", "!=", "Silver"),), inp)
    assert not matches((C("plan", "!=", "Gold"),), inp)


def test_missing_fields_are_false_even_for_negations() -> None:
    inp = {"a": "x"}
    for op, value in (("=", "y"), ("!=", "y"), ("<", 1), ("contains", "x"), ("lacks", "x")):
        assert not matches((C("b", op, value),), inp)


def test_ordering_compares_numbers() -> None:
    inp: Row = {"age": 30, "score": "12.5", "name": "bo"}
    assert matches((C("age", ">", 29), C("age", ">=", 30), C("age", "<", 30.5)), inp)
    assert matches((C("age", "<=", 30), C("score", ">", 12), C("score", "<", 13)), inp)
    assert not matches((C("age", "<", 30),), inp)
    assert not matches((C("name", ">", 1),), inp)  # not a number: never holds


def test_contains_is_case_insensitive_on_whole_words_in_any_form() -> None:
    text = "A HEAVY parcel to an Overseas address, refund-free!"
    assert matches((C(None, "contains", "overseas"),), text)
    assert matches((C(None, "contains", "heavy parcel"),), text)
    assert matches((C(None, "contains", "refund"),), text)  # '-' is a boundary
    # word forms: a plural, a past tense, a gerund find the word
    assert matches((C(None, "contains", "oversea"),), text)
    assert matches((C(None, "contains", "refunds"),), text)
    assert matches((C(None, "contains", "damage"),), "it arrived damaged")
    assert matches((C(None, "contains", "damaged"),), "damaging the box")
    assert not matches((C(None, "contains", "parcel to the"),), text)
    assert not matches((C(None, "contains", "seas"),), text)
    assert not matches((C(None, "contains", "over"),), text)
    assert matches((C(None, "lacks", "parcels lost"),), text)
    assert not matches((C(None, "lacks", "address"),), text)
    assert has_phrase("heavy\n\tparcel", "heavy parcel")
    assert has_phrase("price: $5 (c++)", "c++")
    assert not has_phrase("abc++", "c++")


def test_text_conditions_on_mapping_inputs() -> None:
    inp: Row = {"subject": "Refund please", "text": "parcel lost overseas", "n": 3}
    assert matches((C("subject", "contains", "refund"),), inp)
    assert matches((C(None, "contains", "overseas"),), inp)  # the "text" field
    assert matches((C("n", "contains", "3"),), inp)
    assert not matches((C("body", "contains", "x"),), inp)
    assert not matches((C("subject", "contains", "x"),), "subject: x")  # no fields in text


def test_checkable() -> None:
    structured = (C("a", "=", "x"),)
    text = (C(None, "contains", "x"),)
    field_text = (C("subject", "contains", "x"),)
    assert checkable(structured, {"a": 2})
    assert not checkable(structured, {"b": 1})  # the rule tests a field it does not have
    assert not checkable(structured, "plain text")
    assert checkable((C("days", ">", 3),), "sent 5 days ago")  # a quantity in the text
    assert checkable(text, "plain text")
    assert not checkable(text, {"subject": "x"})
    assert checkable(text, {"text": "x"})
    assert checkable(field_text, {"subject": "x"})
    assert not checkable(field_text, "x")
    assert checkable((), "anything")


# ---------------------------------------------------------------------------
# statements


def test_render_statement_wording() -> None:
    assert (
        render_statement((C("glimmer", "=", "yes"), C("tansy", "=", "no")), "VESPER")
        == "When glimmer is yes and tansy is no, the class is VESPER."
    )
    text = (C(None, "contains", "overseas"), C(None, "lacks", "refund"))
    assert (
        render_statement(text, "ESCALATE", attribute_word="outcome")
        == 'When the text contains "overseas" and lacks "refund", the outcome is ESCALATE.'
    )
    assert render_statement((), "LUMEN") == "Always: the class is LUMEN."
    numeric = (C("age", ">=", 18), C("age", "<", 65.5), C("plan", "!=", "free"))
    assert (
        render_statement(numeric, "ADULT")
        == "When age is at least 18 and is less than 65.5 and plan is not free, "
        "the class is ADULT."
    )
    other = (C("n", ">", 1), C("n", "<=", 2))
    assert render_statement(other, "X") == "When n is more than 1 and is at most 2, the class is X."


def test_statement_agrees_with_rendered_and_paraphrases() -> None:
    conds = (C("glimmer", "=", "yes"), C("tansy", "=", "no"))
    assert statement_agrees(
        "When glimmer is yes and tansy is no, the class is VESPER.", conds, "VESPER"
    )
    assert statement_agrees(
        "When glimmer is yes and tansy is no, the label is VESPER.", conds, "VESPER"
    )
    assert statement_agrees(
        "If Glimmer is set to YES while tansy is no, expect vesper.", conds, "VESPER"
    )


@pytest.mark.parametrize(
    "statement",
    [
        "When glimmer is no and tansy is yes, the class is VESPER.",  # values swapped
        "When glimmer is yes and tansy is no, the class is LUMEN.",  # another outcome
        "When glimmer is yes, the class is VESPER.",  # a condition left out
        "When glimmer is not yes and tansy is no, the class is VESPER.",  # negated
        "",
    ],
)
def test_statement_that_contradicts_its_form_is_refused(statement: str) -> None:
    conds = (C("glimmer", "=", "yes"), C("tansy", "=", "no"))
    assert not statement_agrees(statement, conds, "VESPER")


def test_statement_agrees_checks_negation_and_direction() -> None:
    text = (C(None, "contains", "overseas"), C(None, "lacks", "refund"))
    good = "Tickets that mention overseas but not refund are ESCALATE."
    assert statement_agrees(good, text, "ESCALATE")
    assert not statement_agrees(
        "Tickets that mention refund but not overseas are ESCALATE.", text, "ESCALATE"
    )
    ne = (C("plan", "!=", "free"),)
    assert not statement_agrees("When plan is free, it is PAID.", ne, "PAID")
    assert statement_agrees("When plan is not free, it is PAID.", ne, "PAID")
    gt = (C("age", ">", 65),)
    assert statement_agrees("When age is over 65 the class is SENIOR.", gt, "SENIOR")
    assert not statement_agrees("When age is under 65 the class is SENIOR.", gt, "SENIOR")
    assert statement_agrees("Always VESPER.", (), "VESPER")


# ---------------------------------------------------------------------------
# coverage


def _exp(i: int, inp: Any, expected: str | None = None, text: str | None = None) -> Experience:
    return Experience(id=f"e-{i}", scope="t", input=inp, outcome=Outcome(expected, None, text))


def test_evaluate_counts_labelled_checkable_experiences() -> None:
    exps = [
        _exp(1, {"a": "x"}, "P"),
        _exp(2, {"a": "x"}, "Q"),
        _exp(3, {"a": "y"}, "P"),
        _exp(4, {"a": "x"}, None, text="no label"),
        _exp(5, "a text with x", "P"),
    ]
    cov = evaluate((C("a", "=", "x"),), "P", exps)
    assert cov == Coverage(covered=["e-1", "e-2"], correct=["e-1"], wrong=["e-2"])
    assert cov.precision == 0.5 and cov.support == 1
    assert cov.figures() == "covers 2 experiences and gets 1 right"
    assert Coverage().precision == 0.0
    assert evaluate((), "P", exps).covered == ["e-1", "e-2", "e-3", "e-5"]


# ---------------------------------------------------------------------------
# choose


def test_choose_prefers_specificity_then_precision_then_support_then_order() -> None:
    a, b, c = C("a", "=", "1"), C("b", "=", "1"), C("c", "=", "1")
    inp = {"a": "1", "b": "1", "c": "1"}
    rules = [
        ScoredRule((), "DEFAULT", 0.4, 100),
        ScoredRule((a,), "GENERAL", 1.0, 90),
        ScoredRule((a, b), "SPECIFIC", 0.7, 3),
    ]
    assert choose(rules, inp) == ("SPECIFIC", 2)
    rules.append(ScoredRule((b, c), "PRECISE", 0.9, 1))
    assert choose(rules, inp) == ("PRECISE", 3)
    rules.append(ScoredRule((a, c), "SUPPORTED", 0.9, 5))
    assert choose(rules, inp) == ("SUPPORTED", 4)
    rules.append(ScoredRule((c, a), "LATER-TWIN", 0.9, 5))
    assert choose(rules, inp) == ("SUPPORTED", 4)
    assert ranked(rules, inp) == [4, 5, 3, 2, 1, 0]
    assert choose(rules, {"a": "1"}) == ("GENERAL", 1)
    assert choose(rules[1:], {"z": "1"}) is None


def test_decision_list_to_rules_respects_choose() -> None:
    a, b, d = C("a", "=", "yes"), C("b", "=", "yes"), C("d", "=", "yes")
    clauses = [((a,), "X"), ((b, d), "Y"), ((b,), "X")]
    rules = [ScoredRule(w, t) for w, t in decision_list_to_rules(clauses, "Z")]
    for values in itertools.product(("yes", "no"), repeat=3):
        inp = dict(zip("abd", values, strict=True))
        expected = next((t for w, t in clauses if matches(w, inp)), "Z")
        assert choose(rules, inp)[0] == expected  # type: ignore[index]


def test_negate_is_the_opposite_where_the_field_exists() -> None:
    for cond in (C("a", "=", 1), C("a", "!=", 1), C("a", "<", 2), C("a", ">=", 2)):
        assert negate(negate(cond)) == cond
        for inp in ({"a": 1}, {"a": 2}, {"a": 3}):
            assert matches((negate(cond),), inp) != matches((cond,), inp)
    phrase = C(None, "contains", "x")
    assert negate(phrase) == C(None, "lacks", "x")
    for text in ("x y", "y z"):
        assert matches((negate(phrase),), text) != matches((phrase,), text)


def test_a_rendered_statement_agrees_when_a_field_holds_a_no_break_space() -> None:
    """Found by hypothesis: "0\\xa00" is split as two words by the agreement check, so
    the learner's own sentence for that field was refused."""
    when = parse_when({"0\xa00": "0"})
    assert statement_agrees(render_statement(when, "X"), when, "X")
