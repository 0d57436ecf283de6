"""The JSON schemas (and the llama.cpp grammar) the language-model learner's answers
must fit: induced candidates, revision operations, answers to a question. Built per
batch from what the prompt shows (its attributes, the rule ids), so an answer that
names anything else fails the schema and is sent back to the model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..conditions import (
    MAX_CONDITIONS,
    TEXT_FIELD,
)
from ..conditions import OPS as CONDITION_OPS
from ..experience import Experience
from .base import OPS
from .model_limits import (
    MAX_ANSWER,
    MAX_RATIONALE,
    MAX_THEN,
    MAX_TITLE,
)
from .render import acts, fields


def _ids(ids: Sequence[str], *, nullable: bool = False) -> dict[str, Any]:
    """Ids from a fixed list: servers that take the schema as a grammar cannot invent one."""
    if nullable:
        return {"type": ["string", "null"], "enum": [*ids, None]}
    return {"type": "string", "enum": list(ids)}


def _id_list(ids: Sequence[str]) -> dict[str, Any]:
    if not ids:
        # an empty enum is not a valid schema (llama.cpp refuses it): allow no items
        return {"type": "array", "items": {"type": "string"}, "maxItems": 0}
    return {"type": "array", "items": _ids(ids), "maxItems": len(ids)}


_SCALAR = {"type": ["string", "number", "boolean"], "maxLength": 500}


def _attributes(batch: Sequence[Experience]) -> list[str]:
    """The fields a condition may name: the inputs' dotted paths, and ``output`` (the
    agent's action) when the batch has reward-only experiences."""
    return fields((e.input for e in batch), with_output=acts(batch))


def _has_text(batch: Sequence[Experience]) -> bool:
    """Whether text conditions (no field) can test some input of ``batch``."""
    return any(isinstance(e.input, str) or TEXT_FIELD in e.input for e in batch)


def _when_schema(attributes: Sequence[str], has_text: bool) -> dict[str, Any]:
    # One schema for both forms (no anyOf), so a refusal names the offending key.
    fields: list[str | None] = [*attributes, None] if has_text else list(attributes)
    return {
        "type": ["object", "array", "null"],
        "properties": {a: _SCALAR for a in attributes},
        "additionalProperties": False,
        "maxItems": MAX_CONDITIONS,
        "items": {
            "type": "object",
            "properties": {
                "field": {"type": ["string", "null"], "enum": fields},
                "op": {"type": "string", "enum": list(CONDITION_OPS)},
                "value": _SCALAR,
            },
            "required": ["value"],
            "additionalProperties": False,
        },
    }


def _answer_object(key: str, item: dict[str, Any], max_items: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": item, "maxItems": max_items}},
        "required": [key],
        "additionalProperties": False,
    }


def induce_schema(
    batch: Sequence[Experience], scopes: Sequence[str], max_candidates: int, max_statement: int
) -> dict[str, Any]:
    """The JSON schema of an induction answer for ``batch``."""
    attributes = _attributes(batch)
    candidate = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
            "statement": {"type": "string", "minLength": 1, "maxLength": max_statement},
            "scope": {"type": "string", "enum": list(scopes)},
            "evidence": {**_id_list([e.id for e in batch]), "minItems": 1},
            "rationale": {"type": "string", "maxLength": MAX_RATIONALE},
            "when": _when_schema(attributes, _has_text(batch)),
            "then": {"type": ["string", "number", "null"], "maxLength": MAX_THEN},
        },
        "required": ["title", "statement", "scope", "evidence", "rationale"],
        "additionalProperties": False,
    }
    return _answer_object("candidates", candidate, max_candidates)


def revise_schema(
    batch: Sequence[Experience], n_candidates: int, rule_ids: Sequence[str]
) -> dict[str, Any]:
    """The JSON schema of a revision answer."""
    ids = [e.id for e in batch]
    index: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}
    if n_candidates:
        index["maximum"] = n_candidates - 1
    else:
        index["enum"] = [None]
    operation = {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": list(OPS)},
            "target": _ids(rule_ids, nullable=True),
            "candidate": index,
            "sources": _id_list(rule_ids),
            "evidence": _id_list(ids),
            "contradicting": _id_list(ids),
            "rationale": {"type": "string", "minLength": 1, "maxLength": MAX_RATIONALE},
        },
        "required": ["op", "target", "candidate", "rationale"],
        "additionalProperties": False,
    }
    return _answer_object("operations", operation, len(rule_ids) + n_candidates)


def revise_grammar(
    batch: Sequence[Experience], n_candidates: int, rule_ids: Sequence[str]
) -> dict[str, Any]:
    """The revision schema as a grammar-bound server should get it: one form per kind
    of operation, so a small model cannot write an ADD without a candidate."""
    ids = [e.id for e in batch]
    rationale = {"type": "string", "minLength": 1, "maxLength": MAX_RATIONALE}
    candidate = {"type": "integer", "minimum": 0, "maximum": max(n_candidates - 1, 0)}
    target = _ids(rule_ids)
    null = {"type": "null"}

    def form(ops: list[str], props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"op": {"type": "string", "enum": ops}, **props, "rationale": rationale},
            "required": ["op", *required, "rationale"],
            "additionalProperties": False,
        }

    # One form per kind of operation, so a server that turns the schema into a
    # grammar cannot produce an ADD without a candidate or a RETIRE without a target.
    forms = []
    if n_candidates:
        forms.append(
            form(
                ["ADD"],
                {"target": null, "candidate": candidate, "evidence": _id_list(ids)},
                ["target", "candidate"],
            )
        )
    if n_candidates and rule_ids:
        forms.append(
            form(
                ["EDIT", "MERGE"],
                {
                    "target": target,
                    "candidate": candidate,
                    "sources": _id_list(rule_ids),
                    "evidence": _id_list(ids),
                },
                ["target", "candidate"],
            )
        )
    if rule_ids:
        forms.append(
            form(
                ["RETIRE"],
                {"target": target, "candidate": null, "contradicting": _id_list(ids)},
                ["target", "candidate", "contradicting"],
            )
        )
        forms.append(
            form(
                ["AGREE"],
                {"target": target, "candidate": null, "evidence": _id_list(ids)},
                ["target", "candidate", "evidence"],
            )
        )
    operation: dict[str, Any] = {"anyOf": forms} if forms else {"type": "null"}
    return _answer_object("operations", operation, len(rule_ids) + n_candidates)


def answer_schema(rule_ids: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of an answer that may cite ``rule_ids``."""
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER},
            "rules": _id_list(rule_ids),
        },
        "required": ["answer", "rules"],
        "additionalProperties": False,
    }
