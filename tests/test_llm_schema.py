"""Model answers are checked by the jsonschema library (Draft 2020-12): keywords the
old hand-written subset ignored are enforced, their errors are worded for the model
and sent back to it, and every schema imlgit sends is a valid 2020-12 schema."""

from __future__ import annotations

import pytest
from fakes import FakeChat
from jsonschema import Draft202012Validator

from imlgit.bench.chat import EPISODIC_SCHEMA
from imlgit.doctor.lookalikes import _RELATION_SCHEMA
from imlgit.experience import Experience
from imlgit.learners.schemas import answer_schema, induce_schema, revise_grammar, revise_schema
from imlgit.llm import schema_errors

RULE_ID = {
    "type": "object",
    "properties": {"id": {"type": "string", "pattern": "^r-[a-z0-9-]+$"}},
    "required": ["id"],
}


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        ("R_1", {"type": "string", "pattern": "^r-"}, '$: "R_1" does not match the pattern'),
        ([1, 1], {"type": "array", "uniqueItems": True}, "$: has repeated items"),
        (0, {"type": "integer", "exclusiveMinimum": 0}, "$: must be greater than 0"),
        ({"a": 1}, {"type": "object", "propertyNames": {"maxLength": 0}}, "$: "),
        ({}, {"type": "object", "minProperties": 1}, "$: {} should be non-empty"),
        ({"a": 1}, {"type": "object", "not": {"required": ["a"]}}, "$: "),
        (3, {"oneOf": [{"type": "integer"}, {"minimum": 0}]}, "$: must match exactly one"),
    ],
)
def test_keywords_the_old_subset_ignored_are_checked(value, schema, expected):
    errors = schema_errors(value, schema)
    assert errors and errors[0].startswith(expected), errors


def test_a_pattern_error_is_sent_back_to_the_model_and_retried():
    chat = FakeChat({"id": "Rule 1"}, {"id": "r-rule-1"})
    ask = [{"role": "user", "content": "Name the rule."}]
    answer = chat.complete_json(ask, RULE_ID, name="rule id")
    assert answer.data == {"id": "r-rule-1"} and answer.attempts == 2
    feedback = chat.requests[1][-1]["content"]
    assert "$.id: \"Rule 1\" does not match the pattern '^r-[a-z0-9-]+$'" in feedback


def test_a_wrong_type_is_one_error_not_one_a_keyword():
    ids = {"type": ["string", "null"], "enum": ["r-a", None]}
    assert schema_errors(5, ids) == ["$: expected string or null, got integer"]
    assert schema_errors("r-b", ids) == ['$: "r-b" is not one of "r-a", null']


def test_every_missing_key_is_named_once():
    schema = {"type": "object", "required": ["a", "b"], "additionalProperties": False}
    assert schema_errors({"c": 1}, schema) == [
        "$.a: required but missing",
        "$.b: required but missing",
        "$.c: not allowed (additionalProperties is false)",
    ]


def test_the_schemas_imlgit_sends_are_valid_2020_12_schemas():
    batch = [
        Experience.from_dict({"id": "e-1", "scope": "s", "input": {"colour": "red", "n": 2},
                              "outcome": {"expected": "y"}}),
        Experience.from_dict({"id": "e-2", "scope": "s", "input": "free text",
                              "outcome": {"expected": "n"}}),
    ]  # fmt: skip
    schemas = [
        induce_schema(batch, ["s"], 3, 300),
        revise_schema(batch, 2, ["r-a"]),
        revise_schema(batch, 0, []),
        revise_grammar(batch, 2, ["r-a"]),
        revise_grammar(batch, 0, []),
        answer_schema(["r-a", "r-b"]),
        answer_schema([]),
        _RELATION_SCHEMA,
        EPISODIC_SCHEMA,
    ]
    for schema in schemas:
        Draft202012Validator.check_schema(schema)


def test_the_containers_error_comes_before_its_items_errors() -> None:
    """The model is shown the first errors: "more than 3 items" must lead, as the
    hand-written checker had it, not hide behind three per-item errors."""
    schema = {
        "type": "object",
        "properties": {
            # "items" before "maxItems", as the learner's schemas have them
            "candidates": {"type": "array", "items": {"type": "object", "required": ["a"]},
                           "maxItems": 3},
        },
    }  # fmt: skip
    errors = schema_errors({"candidates": [{}, {}, {}, {}, {}]}, schema)
    assert errors[0] == "$.candidates: more than 3 items (5)"
    assert errors[1:4] == [f"$.candidates[{i}].a: required but missing" for i in range(3)]
