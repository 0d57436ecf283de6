"""Experiences: strict parsing with file:line errors, canonical JSON, labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imlgit.errors import ExperienceError
from imlgit.experience import (
    MAX_LINE_BYTES,
    Experience,
    Outcome,
    dump_jsonl,
    load_jsonl,
    parse_jsonl_text,
)

GOOD: dict[str, Any] = {
    "id": "tt-0042",
    "scope": "truth-table",
    "input": {"glimmer": "yes", "tansy": "no", "marrow": "yes"},
    "output": "LUMEN",
    "outcome": {"expected": "VESPER", "reward": 0.0},
}


def _line(**changes: Any) -> str:
    d = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            d.pop(key, None)
        else:
            d[key] = value
    return json.dumps(d)


def test_from_dict_reads_every_field() -> None:
    e = Experience.from_dict(GOOD)
    assert e.id == "tt-0042" and e.scope == "truth-table" and e.output == "LUMEN"
    assert e.input == {"glimmer": "yes", "tansy": "no", "marrow": "yes"}
    assert e.outcome == Outcome(expected="VESPER", reward=0.0)
    assert e.to_dict() == GOOD


def test_text_input_and_minimal_outcome() -> None:
    e = Experience.from_dict(
        {"scope": "tickets", "input": "a heavy parcel overseas", "outcome": {"text": "ok"}}
    )
    assert e.input == "a heavy parcel overseas" and e.output is None and e.label is None


def test_default_id_is_a_hash_of_the_content() -> None:
    d = {k: v for k, v in GOOD.items() if k != "id"}
    a, b = Experience.from_dict(d), Experience.from_dict(dict(reversed(list(d.items()))))
    assert a.id == b.id and a.id.startswith("x-") and len(a.id) == 14
    c = Experience.from_dict({**d, "output": "VESPER"})
    assert c.id != a.id
    # the derived id survives a round trip
    assert Experience.from_dict(a.to_dict()) == a


def test_canonical_json_and_hash() -> None:
    e = Experience.from_dict({**GOOD, "input": "naïve café ☕"})
    text = e.to_json()
    assert text == json.dumps(
        e.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert "☕" in text and ": " not in text
    assert len(e.content_hash()) == 64
    assert e.content_hash() != Experience.from_dict(GOOD).content_hash()
    assert len({e, Experience.from_dict(e.to_dict())}) == 1  # hashable, equal


def test_reward_is_stored_as_a_float() -> None:
    e = Experience.from_dict({**GOOD, "outcome": {"reward": 1}})
    assert e.outcome.reward == 1.0 and isinstance(e.outcome.reward, float)


@pytest.mark.parametrize(
    ("outcome", "output", "label"),
    [
        ({"expected": "VESPER", "reward": 0.0}, "LUMEN", "VESPER"),
        ({"expected": "VESPER"}, None, "VESPER"),
        ({"reward": 1.0}, "LUMEN", "LUMEN"),
        ({"reward": 0.5}, "LUMEN", "LUMEN"),
        ({"reward": 0.2}, "LUMEN", None),
        ({"reward": 1.0}, None, None),
        ({"text": "the customer was happy"}, "LUMEN", None),
    ],
)
def test_label(outcome: dict[str, Any], output: str | None, label: str | None) -> None:
    d: dict[str, Any] = {"scope": "s", "input": "x", "outcome": outcome}
    if output is not None:
        d["output"] = output
    assert Experience.from_dict(d).label == label


@pytest.mark.parametrize(
    ("obj", "field", "fragment"),
    [
        ([1, 2], None, "JSON object"),
        ({**GOOD, "weight": 1}, "weight", "unknown field"),
        ({k: v for k, v in GOOD.items() if k != "scope"}, "scope", "required"),
        ({**GOOD, "scope": ""}, "scope", "lowercase"),
        ({**GOOD, "scope": "Truth-Table"}, "scope", "lowercase"),
        ({**GOOD, "scope": 3}, "scope", "lowercase"),
        ({**GOOD, "scope": "a" * 65}, "scope", "at most 64"),
        ({k: v for k, v in GOOD.items() if k != "input"}, "input", "required"),
        ({**GOOD, "input": "  "}, "input", "empty"),
        ({**GOOD, "input": {}}, "input", "empty object"),
        ({**GOOD, "input": ["a"]}, "input", "text or an object"),
        ({**GOOD, "input": 7}, "input", "text or an object"),
        ({**GOOD, "input": {"a": {"b": {1, 2}}}}, "input.a.b", "got set"),
        ({**GOOD, "input": {"a": [1, {"b": float("nan")}]}}, "input.a[1].b", "finite"),
        ({**GOOD, "input": {"a": {"": 1}}}, "input.a.", "non-empty"),
        ({**GOOD, "input": {"k" * 129: 1}}, "input." + "k" * 40 + "...", "at most 128"),
        ({**GOOD, "input": {"": 1}}, "input.", "non-empty"),
        ({**GOOD, "output": 3}, "output", "text"),
        ({k: v for k, v in GOOD.items() if k != "outcome"}, "outcome", "required"),
        ({**GOOD, "outcome": "VESPER"}, "outcome", "object"),
        ({**GOOD, "outcome": {}}, "outcome", "at least one"),
        ({**GOOD, "outcome": {"expected": "X", "score": 1}}, "outcome.score", "unknown"),
        ({**GOOD, "outcome": {"expected": 1}}, "outcome.expected", "non-empty text"),
        ({**GOOD, "outcome": {"expected": ""}}, "outcome.expected", "non-empty text"),
        ({**GOOD, "outcome": {"reward": "high"}}, "outcome.reward", "number"),
        ({**GOOD, "outcome": {"reward": True}}, "outcome.reward", "number"),
        ({**GOOD, "outcome": {"text": ["a"]}}, "outcome.text", "text"),
        ({**GOOD, "id": "../etc/passwd"}, "id", "without '..'"),
        ({**GOOD, "id": "a..b"}, "id", "without '..'"),
        ({**GOOD, "id": "-x"}, "id", "starting with"),
        ({**GOOD, "id": "a/b"}, "id", "letters"),
        ({**GOOD, "id": "a" * 129}, "id", "at most 128"),
        ({**GOOD, "id": 42}, "id", "letters"),
        ({**GOOD, "id": ""}, "id", "letters"),
    ],
)
def test_from_dict_errors_name_path_line_and_field(
    obj: Any, field: str | None, fragment: str
) -> None:
    with pytest.raises(ExperienceError) as info:
        Experience.from_dict(obj, path="exp.jsonl", line=7)
    err = info.value
    assert (err.path, err.line, err.field) == ("exp.jsonl", 7, field)
    assert fragment in err.message
    assert str(err).startswith("exp.jsonl:7: ")


def test_nested_inputs_are_kept_and_bounded() -> None:
    nested = {
        "tool": {"name": "git", "args": {"cmd": "push", "force": True}},
        "ci": {"checks": ["lint", "unit"], "exit_code": None},
    }
    exp = Experience.from_dict({**GOOD, "input": nested})
    assert exp.input == nested
    assert Experience.from_dict(json.loads(exp.to_json())) == exp
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ExperienceError, match="deeper than 32") as info:
        Experience.from_dict({**GOOD, "input": {"a": deep}}, path="f", line=2)
    assert info.value.field is not None and info.value.field.startswith("input.a[0][0]")
    wide = {"a": list(range(20_000))}
    with pytest.raises(ExperienceError, match="at most 10000 values"):
        Experience.from_dict({**GOOD, "input": wide})


def test_load_jsonl_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "exp.jsonl"
    path.write_text(_line() + "\n\n" + _line(id="tt-2", scope="Bad") + "\n", encoding="utf-8")
    with pytest.raises(ExperienceError) as info:
        load_jsonl(path)
    assert info.value.line == 3 and info.value.field == "scope"
    assert str(info.value).startswith(f"{path}:3: field 'scope': ")


@pytest.mark.parametrize(
    ("raw", "fragment", "field"),
    [
        (b"{not json}\n", "bad JSON", None),
        (b'{"scope": "s", "input": "x", "outcome": {"reward": NaN}}\n', "NaN", None),
        (b'{"scope": "s", "input": "caf\xe9", "outcome": {"text": "x"}}\n', "not UTF-8", None),
        (b"[]\n", "JSON object", None),
    ],
)
def test_load_jsonl_malformed_lines(
    tmp_path: Path, raw: bytes, fragment: str, field: str | None
) -> None:
    path = tmp_path / "exp.jsonl"
    path.write_bytes(_line().encode() + b"\n" + raw)
    with pytest.raises(ExperienceError) as info:
        load_jsonl(path)
    assert info.value.line == 2 and info.value.field == field
    assert fragment in str(info.value)


def test_duplicate_ids_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "exp.jsonl"
    path.write_text(_line() + "\n" + _line(output="VESPER") + "\n", encoding="utf-8")
    with pytest.raises(ExperienceError) as info:
        load_jsonl(path)
    assert info.value.line == 2 and info.value.field == "id"
    assert "first on line 1" in str(info.value)


def test_a_line_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "exp.jsonl"
    big = _line(id="tt-big", input="x" * MAX_LINE_BYTES)
    path.write_text(_line() + "\n" + big + "\n" + _line(id="tt-3") + "\n", encoding="utf-8")
    with pytest.raises(ExperienceError) as info:
        load_jsonl(path)
    assert info.value.line == 2 and "longer than" in str(info.value)
    result = load_jsonl(path, skip_invalid=True)
    assert [e.id for e in result.experiences] == ["tt-0042", "tt-3"]
    assert [n for n, _ in result.skipped] == [2]
    with pytest.raises(ExperienceError):
        parse_jsonl_text(big)


def test_skip_invalid_collects_errors(tmp_path: Path) -> None:
    path = tmp_path / "exp.jsonl"
    lines = [_line(), "{oops", _line(id="tt-2", outcome={}), _line(), _line(id="tt-5")]
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    result = load_jsonl(path, skip_invalid=True)
    assert [e.id for e in result.experiences] == ["tt-0042", "tt-5"]
    assert [n for n, _ in result.skipped] == [2, 3, 4]
    assert "duplicate id" in result.skipped[2][1]


def test_crlf_bom_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "exp.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _line().encode() + b"\r\n   \r\n" + _line(id="b").encode())
    assert [e.id for e in load_jsonl(path).experiences] == ["tt-0042", "b"]


def test_parse_text_splits_on_newlines_only() -> None:
    text = _line(input="first\u2028second") + "\n" + _line(id="tt-2")
    result = parse_jsonl_text(text)
    assert [e.id for e in result.experiences] == ["tt-0042", "tt-2"]
    assert result.experiences[0].input == "first\u2028second"
    with pytest.raises(ExperienceError) as info:
        parse_jsonl_text(text + "\n{", path="batch")
    assert str(info.value).startswith("batch:3: bad JSON")


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    exps = [Experience.from_dict(GOOD), Experience.from_dict({**GOOD, "id": "tt-2"})]
    path = tmp_path / "exp.jsonl"
    path.write_text(dump_jsonl(exps), encoding="utf-8")
    assert load_jsonl(path).experiences == exps


# Any character but NUL and lone surrogates (both refused).
_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_text = st.text(_chars, min_size=1, max_size=20).filter(lambda s: s.strip() != "")
_values = st.one_of(
    st.text(_chars, max_size=10),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
_experience_dicts = st.fixed_dictionaries(
    {
        "scope": st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z"),
        "input": st.one_of(_text, st.dictionaries(_text, _values, min_size=1, max_size=4)),
        "outcome": st.fixed_dictionaries(
            {"expected": _text},
            optional={
                "reward": st.floats(0, 1),
                "text": st.text(_chars, max_size=10),
            },
        ),
    },
    optional={
        "id": st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_:-]{0,30}\Z"),
        "output": st.text(_chars, max_size=10),
    },
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(_experience_dicts)
def test_round_trip(d: dict[str, Any]) -> None:
    e = Experience.from_dict(d)
    assert Experience.from_dict(e.to_dict()) == e
    assert Experience.from_dict(json.loads(e.to_json())) == e
    assert parse_jsonl_text(e.to_json()).experiences == [e]


# ------------------------------------------------- bounded parsing (issue 14)


def _refused(line: str, path: str = "data/b.jsonl") -> ExperienceError:
    with pytest.raises(ExperienceError) as info:
        parse_jsonl_text("\n" + line, path=path)  # on line 2
    assert info.value.path == path and info.value.line == 2, str(info.value)
    assert f"{path}:2:" in str(info.value)
    return info.value


def test_a_key_given_twice_is_refused_with_its_name() -> None:
    err = _refused('{"id": "a", "id": "b", "scope": "s", "input": "x", "outcome": {"reward": 1}}')
    assert err.field == "id" and "twice" in str(err)
    err = _refused(_line(outcome=...)[:-1] + ', "outcome": {"text": "t", "text": "u"}}')
    assert err.field == "text"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting_is_refused_before_decoding(depth: int) -> None:
    err = _refused('{"scope": "s", "input": ' + "[" * depth + "]" * depth + "}")
    assert "nested deeper" in str(err)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = "[" * 5000 + '\\"{' * 100
    e = parse_jsonl_text(_line(input=text)).experiences[0]
    assert e.input == text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"input": "a\0b"}, "input"),
        ({"input": {"k": "a\0"}}, "input.k"),
        ({"input": {"k\0": "a"}}, "input"),
        ({"output": "\0"}, "output"),
        ({"outcome": {"text": "\0"}}, "outcome.text"),
        ({"outcome": {"expected": "A\0"}}, "outcome.expected"),
    ],
)
def test_nul_is_refused_where_it_is(changes: dict[str, Any], field: str) -> None:
    assert _refused(_line(**changes)).field == field


def test_a_lone_surrogate_is_refused() -> None:
    err = _refused(_line(input="x\\ud800y").replace("\\\\ud800", "\\ud800"))
    assert err.field == "input" and "surrogate" in str(err)
    with pytest.raises(ExperienceError, match="surrogate"):
        Experience.from_dict({**GOOD, "input": {"k": "\udc00"}})


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"id": "j-1\n"}, "id"), ({"scope": "s\n"}, "scope"), ({"rules": ["r-1\n"]}, "rules")],
)
def test_a_trailing_newline_is_not_a_valid_id(changes: dict[str, Any], field: str) -> None:
    """'$' matched before a final newline: "j-1\\n" passed and broke the commit trailer."""
    assert _refused(_line(**changes)).field == field


def test_huge_integers_are_refused() -> None:
    err = _refused('{"scope": "s", "input": {"n": ' + "1" * 5000 + '}, "outcome": {"reward": 1}}')
    assert "digits" in str(err)
    with pytest.raises(ExperienceError, match="finite") as info:
        Experience.from_dict({**GOOD, "outcome": {"reward": 10**400}})
    assert info.value.field == "outcome.reward"
    with pytest.raises(ExperienceError, match="finite"):
        Experience.from_dict({**GOOD, "input": {"n": -(10**400)}})


def test_decode_json_line_is_bounded_and_located() -> None:
    from imlgit.experience import decode_json_line

    assert decode_json_line(b'{"a": [1]}', path="u.jsonl", line=3) == {"a": [1]}
    for raw in (b"\xff", b"[" * 50, b'{"a":1,"a":2}', b"NaN"):
        with pytest.raises(ExperienceError) as info:
            decode_json_line(raw, path="u.jsonl", line=3)
        assert info.value.line == 3 and info.value.path == "u.jsonl"
