"""Properties of the parsers: valid rules round-trip, and hostile input only ever
raises the located error of its parser (RuleError / ExperienceError with a path)."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imlgit.conditions import Condition
from imlgit.errors import ExperienceError, RuleError
from imlgit.experience import decode_json_line, load_jsonl, parse_jsonl_text
from imlgit.rules import Rule, new_rule_path, parse_rule, render_rule
from imlgit.statements import render_statement

PATH = "rules/ab/r-x.md"
CONFIG = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------ valid rules round-trip

# Every character a rule's text may hold: all but control characters other than tab
# and newline, surrogates and the two non-characters U+FFFE and U+FFFF.
_char = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"
) | st.sampled_from("\t :#-'\"[]{},&*!|>%@`\\\u2028\u2029\u00a0\ufeff")
_line = st.text(_char, min_size=1, max_size=60).filter(lambda s: s.strip() != "")
_para = (
    st.text(_char | st.just("\n"), max_size=200)
    .map(lambda s: s.strip())
    .filter(lambda s: "## Evidence" not in s)
)
_ts = st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2999, 12, 31)).map(
    lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
)
_source = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,40}", fullmatch=True).filter(
    lambda s: ".." not in s
)
_word = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
_value = st.one_of(
    _line, st.integers(-(10**15), 10**15), st.floats(allow_nan=False, allow_infinity=False)
)


@st.composite
def _conditions(draw: st.DrawFn) -> tuple[Condition, ...]:
    conds: list[Condition] = []
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "contains", "lacks"]))
        field = draw(st.none() | _line)
        value = draw(_value)
        try:
            cond = Condition(field, op, value)
        except ValueError:
            continue
        if cond not in conds:
            conds.append(cond)
    return tuple(conds)


@st.composite
def valid_rules(draw: st.DrawFn) -> Rule:
    checkable = draw(st.booleans())
    rid = draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,30}", fullmatch=True))
    when = draw(_conditions()) if checkable else None
    then = draw(_line.map(str.strip).filter(lambda s: s and "\n" not in s)) if checkable else None
    # a checkable rule's statement must agree with its form: the canonical sentence
    statement = (
        render_statement(when, then)
        if when is not None and then is not None
        else draw(_para.filter(bool))
    )
    return Rule(
        id=rid,
        title=draw(_line.filter(lambda s: "\n" not in s)),
        statement=statement,
        scope=draw(_word.filter(lambda s: not s.endswith("."))),
        status=draw(st.sampled_from(["active", "retired"])),
        support=draw(st.integers(0, 10**12)),
        contradictions=draw(st.integers(0, 10**12)),
        created=draw(_ts),
        updated=draw(_ts),
        sources=tuple(draw(st.lists(_source, max_size=5))),
        evidence=draw(_para),
        tags=tuple(draw(st.lists(_word, max_size=4))),
        when=when,
        then=then,
    )


@pytest.mark.slow
@CONFIG
@given(valid_rules())
def test_every_valid_rule_round_trips(rule: Rule) -> None:
    text = render_rule(rule)
    back = parse_rule(text, path=new_rule_path(rule.id))
    assert back == rule
    assert render_rule(back) == text
    assert parse_rule(text.encode("utf-8"), path=new_rule_path(rule.id)) == rule


# ------------------------------------------------------------ hostile rule files


def _only_rule_errors(data: str | bytes) -> None:
    try:
        rule = parse_rule(data, path=PATH)
    except RuleError as exc:
        assert exc.path == PATH and str(exc).startswith(PATH)
        return
    # What parses renders to a file that parses to the same rule.
    assert parse_rule(render_rule(rule), path=PATH) == rule


@CONFIG
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    _only_rule_errors(data)
    _only_rule_errors(b"---\n" + data + b"\n---\nS.\n")


_yaml_chars = st.sampled_from(list("[]{}:,-?&*!|>'\"#%@`~ \t\n0123456789.eE+_abxyzn\\") + ["\0"])


@CONFIG
@given(st.text(_yaml_chars, max_size=300), st.text(max_size=100))
def test_random_yaml_like_front_matter(front: str, body: str) -> None:
    _only_rule_errors(f"---\n{front}\n---\n{body}")


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(),
)
_yaml_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = ["id", "title", "scope", "status", "support", "contradictions", "when", "then"]
_FIELDS += ["tags", "created", "updated", "sources", "other"]


@pytest.mark.slow
@CONFIG
@given(st.dictionaries(st.sampled_from(_FIELDS), _yaml_values, max_size=12))
def test_random_yaml_documents(meta: dict[str, Any]) -> None:
    base = {"id": "r-x", "title": "T", "scope": "s", "status": "active"}
    base |= {"created": "2026-11-27T08:00:00Z", "updated": "2026-11-27T08:00:00Z"}
    for doc in (meta, {**base, **meta}):
        front = yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None)
        _only_rule_errors(f"---\n{front}---\nThe statement.\n")


@pytest.mark.slow
@CONFIG
@given(st.integers(1, 30_000), st.sampled_from(["[", "{a: ", "- ", "{? "]))
def test_any_nesting_depth(depth: int, opener: str) -> None:
    closer = {"[": "]", "{a: ": "}", "- ": "", "{? ": "}"}[opener]
    if opener == "- ":
        front = "support:\n" + "".join("  " * i + "- \n" for i in range(depth))
    else:
        front = "support: " + opener * depth + "1" + closer * depth
    _only_rule_errors(f"---\n{front}\n---\nS.\n")


# ------------------------------------------------------------ hostile experience lines


def _only_experience_errors(text: str) -> None:
    try:
        parse_jsonl_text(text, path="e.jsonl")
    except ExperienceError as exc:
        assert exc.path == "e.jsonl" and exc.line is not None
        assert str(exc).startswith(f"e.jsonl:{exc.line}:")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=5))
def test_random_bytes_in_a_jsonl_file(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "e.jsonl"
        path.write_bytes(b"\n".join(lines))
        try:
            load_jsonl(path)
        except ExperienceError as exc:
            assert exc.path == str(path) and exc.line is not None
        for i, raw in enumerate(lines, 1):
            try:
                decode_json_line(raw, path="u.jsonl", line=i)
            except ExperienceError as exc:
                assert exc.path == "u.jsonl" and exc.line == i


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
_EXP_FIELDS = ["id", "scope", "input", "output", "outcome", "rules", "other"]


@pytest.mark.slow
@CONFIG
@given(st.dictionaries(st.sampled_from(_EXP_FIELDS), _json_values, max_size=7))
def test_random_json_documents(doc: dict[str, Any]) -> None:
    base = {"scope": "s", "input": {"a": 1}, "outcome": {"reward": 1.0}}
    for d in (doc, {**base, **doc}):
        _only_experience_errors(json.dumps(d, ensure_ascii=False))
        _only_experience_errors(json.dumps(d))  # with \\u escapes: surrogates, NUL


_json_tokens = st.sampled_from(
    list('[]{}:,"\\ 0123456789.eE+-') + ["true", "null", "\\u0000", "\\ud800"]
)


@CONFIG
@given(st.lists(_json_tokens, max_size=300).map("".join))
def test_random_json_like_text(text: str) -> None:
    _only_experience_errors(text)


@CONFIG
@given(st.integers(1, 200_000), st.sampled_from(["[", '{"a":']))
def test_any_json_nesting_depth(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + "1" + closer * depth
    _only_experience_errors('{"scope": "s", "outcome": {"reward": 1}, "input": ' + inner + "}")
