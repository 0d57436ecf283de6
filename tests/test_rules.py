"""The rule format: parse <-> render round-trips, and every bad file is named."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from imlgit.errors import RuleError, RuleIdError
from imlgit.rules import Rule, new_rule_path, parse_rule, render_rule, slugify, validate_rule_id

GOOD = """---
id: r-glimmer-tansy
title: Glimmer without tansy is VESPER
scope: truth-table
status: active
support: 14
contradictions: 1
created: 2026-11-27T08:00:00Z
updated: 2026-11-27T09:10:00Z
sources: [tt-0042, tt-0057]
---
When glimmer is yes and tansy is no, the class is VESPER.

## Evidence
14 of 15 matching experiences were VESPER; the exception (tt-0090) also had marrow = yes.
"""


def test_parse_good_rule() -> None:
    r = parse_rule(GOOD, path="rules/ab/r-glimmer-tansy.md")
    assert r.id == "r-glimmer-tansy"
    assert r.support == 14 and r.contradictions == 1
    assert r.sources == ("tt-0042", "tt-0057")
    assert r.statement == "When glimmer is yes and tansy is no, the class is VESPER."
    assert r.evidence.startswith("14 of 15")
    assert r.created == "2026-11-27T08:00:00Z"


def test_canonical_text_round_trips() -> None:
    assert render_rule(parse_rule(GOOD)) == GOOD


def test_rule_without_evidence_round_trips() -> None:
    text = GOOD.split("\n## Evidence")[0].rstrip("\n") + "\n"
    r = parse_rule(text)
    assert r.evidence == ""
    assert render_rule(r) == text


def _bad(text: str, path: str | None = "rules/ab/r-glimmer-tansy.md") -> RuleError:
    with pytest.raises(RuleError) as info:
        parse_rule(text, path=path)
    return info.value


def test_malformed_front_matter_names_file_and_line() -> None:
    err = _bad(GOOD.replace("support: 14", "support: [14"))
    assert err.path == "rules/ab/r-glimmer-tansy.md"
    assert err.line is not None and 6 <= err.line <= 8
    assert "rules/ab/r-glimmer-tansy.md:" in str(err)


def test_unknown_field_is_named() -> None:
    err = _bad(GOOD.replace("support: 14", "suport: 14"))
    assert err.field == "suport" and err.line == 6
    assert "unknown field 'suport'" in str(err)


def test_mistyped_field_is_named() -> None:
    err = _bad(GOOD.replace("support: 14", "support: many"))
    assert err.field == "support" and err.line == 6


def test_negative_counter_refused() -> None:
    assert _bad(GOOD.replace("contradictions: 1", "contradictions: -1")).field == "contradictions"


def test_bad_timestamp_refused() -> None:
    assert _bad(GOOD.replace("2026-11-27T08:00:00Z", "yesterday")).field == "created"


def test_duplicate_key_refused() -> None:
    err = _bad(GOOD.replace("scope: truth-table", "scope: truth-table\nscope: other"))
    assert "duplicate key" in str(err)


def test_a_missing_field_takes_its_default() -> None:
    """Only the statement is required: the id is the file name, the title the first
    sentence, the scope the folder, the dates git's (left empty in the file)."""
    text = GOOD.replace("title: Glimmer without tansy is VESPER\n", "").replace(
        "scope: truth-table\n", ""
    ).replace("created: 2026-11-27T08:00:00Z\n", "")
    rule = parse_rule(text, path="rules/shipping/r-glimmer-tansy.md")
    assert rule.title == "When glimmer is yes and tansy is no, the class is VESPER"
    assert rule.scope == "shipping" and rule.created == ""
    assert parse_rule(text, path="rules/4e/r-glimmer-tansy.md").scope == "general"
    assert "created:" not in render_rule(rule)


def test_an_empty_field_is_refused() -> None:
    err = _bad(GOOD.replace("title: Glimmer without tansy is VESPER\n", "title:\n"))
    assert err.field == "title" and "empty" in str(err)


def test_unsafe_id_in_file_refused() -> None:
    err = _bad(GOOD.replace("id: r-glimmer-tansy", "id: ../../etc/passwd"), path="x.md")
    assert isinstance(err, RuleIdError)


def test_id_must_match_file_name() -> None:
    err = _bad(GOOD, path="rules/ab/r-other.md")
    assert "does not match the file name" in str(err)


def test_non_utf8_refused_with_line() -> None:
    data = GOOD.encode().replace(b"VESPER.\n", b"VESPER \xff.\n", 1)
    with pytest.raises(RuleError) as info:
        parse_rule(data, path="rules/ab/r-glimmer-tansy.md")
    assert "UTF-8" in str(info.value) and info.value.line == 12


def test_no_front_matter() -> None:
    """A file that is only a statement is the smallest rule (RULE-FORMAT.md)."""
    rule = parse_rule("Wet roads double the braking distance.\n", path="rules/wet-roads.md")
    assert (rule.id, rule.title, rule.scope, rule.status, rule.support) == (
        "wet-roads", "Wet roads double the braking distance", "general", "active", 0
    )
    assert rule.path == "rules/wet-roads.md"
    assert _bad("just text\n", path=None).field == "id"  # no file name to take the id from
    assert _bad("---\nid: x\n").line == 1
    err = _bad("id: x\ntitle: y\n---\nBody.\n", path="rules/x.md")
    assert err.line == 1 and "'---'" in str(err)
    # front matter after a blank line, or '--- ' with a space: refused, not taken for
    # a statement (that would bring a retired rule back, active, support 0)
    hidden = "---\nid: x\nstatus: retired\nsupport: 12\n---\nSlow.\n"
    assert _bad("\n" + hidden, path="rules/x.md").line == 2
    assert _bad(hidden.replace("---\n", "--- \n", 1), path="rules/x.md").line == 1
    assert _bad("\n\nsupport: 3\nA statement.\n", path="rules/x.md").line == 3


def test_empty_statement_refused() -> None:
    assert "statement" in str(
        _bad(GOOD.split("---\n")[0] + "---\n" + GOOD.split("---\n")[1] + "---\n")
    )


def test_huge_statement_refused() -> None:
    with pytest.raises(RuleError, match="at most"):
        Rule(
            id="r-x",
            title="t",
            statement="x" * 1_000_000,
            created="2026-11-27T08:00:00Z",
            updated="2026-11-27T08:00:00Z",
        )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../x",
        "a/b",
        "a\\b",
        "..",
        "a..b",
        ".hidden",
        "A-Upper",
        "x" * 101,
        "tab\there",
        "nul\0",
        "x.",
        "-lead",
        "é",
    ],
)
def test_unsafe_ids(bad: str) -> None:
    with pytest.raises(RuleIdError):
        validate_rule_id(bad)


@pytest.mark.parametrize("good", ["r-a", "r.1_b-c", "0", "x" * 100])
def test_safe_ids(good: str) -> None:
    assert validate_rule_id(good) == good
    assert new_rule_path(good).startswith("rules/") and new_rule_path(good).endswith(f"/{good}.md")


def test_slugify_makes_safe_ids() -> None:
    assert slugify("Glimmer & tansy!") == "r-glimmer-tansy"
    assert validate_rule_id(slugify("../../../etc/passwd"))
    assert slugify("!!!") == "r-rule"


# ---------------------------------------------------------------------- properties

_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"
    ),
    min_size=1,
    max_size=80,
)
_line = _text.map(lambda s: s.strip()).filter(bool)
_ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
_sources = st.lists(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,12}", fullmatch=True).filter(
        lambda s: ".." not in s
    ),
    max_size=4,
)
_ts = st.datetimes(
    min_value=__import__("datetime").datetime(2000, 1, 1),
    max_value=__import__("datetime").datetime(2099, 1, 1),
).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
_para = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85\r"
    )
    | st.just("\n"),
    max_size=200,
).map(lambda s: s.strip())


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    statement = draw(_para.filter(lambda s: bool(s) and "## Evidence" not in s))
    evidence = draw(_para.filter(lambda s: "## Evidence" not in s))
    return Rule(
        id=draw(_ids),
        title=draw(_line),
        statement=statement,
        scope=draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)),
        status=draw(st.sampled_from(["active", "retired"])),
        support=draw(st.integers(0, 10**6)),
        contradictions=draw(st.integers(0, 10**6)),
        created=draw(_ts),
        updated=draw(_ts),
        sources=tuple(draw(_sources)),
        evidence=evidence,
        tags=tuple(
            draw(st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), max_size=3))
        ),
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(rules())
def test_parse_render_round_trip(rule: Rule) -> None:
    text = render_rule(rule)
    back = parse_rule(text, path=new_rule_path(rule.id))
    assert back == rule
    assert render_rule(back) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_crashes(text: str) -> None:
    """Any input either parses or raises RuleError: never another exception."""
    try:
        parse_rule(text, path="rules/ab/x.md")
    except RuleError:
        pass


@pytest.mark.parametrize(
    "title",
    [
        "0b_",
        "0x_",
        "0_",
        "0b",
        "yes",
        "No",
        "null",
        "1e3",
        "12:30",
        "2026-11-27",
        "1_000",
        "a, b",
        "~",
    ],
)
def test_titles_that_yaml_would_read_as_another_type_round_trip(title: str) -> None:
    """A title YAML would resolve to a bool, number, date or null is quoted, and one
    it cannot even load plain ("0b_": an int with no digits) does not crash render."""
    when = "2026-11-27T08:00:00Z"
    rule = Rule(id="r-x", title=title, statement="S.", created=when, updated=when)
    text = render_rule(rule)
    assert parse_rule(text, path=new_rule_path("r-x")).title == title


def test_flow_list_quotes_commas() -> None:
    from imlgit.rules import _flow_list

    assert yaml.safe_load(_flow_list(["a, b", "c"])) == ["a, b", "c"]


# ------------------------------------------------- bounded parsing (issue 14)

P = "rules/ab/r-glimmer-tansy.md"


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        ("complex key", GOOD.replace("support: 14", "? [a, b]\n: 1\nsupport: 14"), 6, "key"),
        ("mapping key", GOOD.replace("support: 14", "{a: 1}: 2\nsupport: 14"), 6, "key"),
        ("deep", GOOD.replace("support: 14", "support: " + "[" * 5000 + "]" * 5000), 6, "nested"),
        ("long int", GOOD.replace("support: 14", "support: " + "1" * 5000), 6, "number"),
        ("alias", GOOD.replace("support: 14", "support: &n 14\ncontradictions: *n"), 6, "alias"),
        ("bad date", GOOD.replace("2026-11-27T08:00:00Z", "2026-99-99"), 8, "month"),
        ("bad offset", GOOD.replace("08:00:00Z", "08:00:00+99:00"), 8, "offset"),
        ("NUL", GOOD.replace("VESPER.\n", "VES\0PER.\n", 1), 12, "U+0000"),
        ("surrogate", GOOD.replace("VESPER.\n", "VES\ud800PER.\n", 1), 12, "U+D800"),
        ("escape code", GOOD.replace("title: Glimmer", "title: \x1b[31mGlimmer"), 3, "U+001B"),
        ("CR late", GOOD.replace("VESPER.\n", "VESPER.\r\n", 1), 12, "CR"),
        ("non-character", GOOD.replace("title: Glimmer", "title: \uffffGlimmer"), 3, "U+FFFF"),
    ],
)
def test_hostile_front_matter_is_a_located_rule_error(
    name: str, text: str, line: int, words: str
) -> None:
    """Each of these raised TypeError, RecursionError or ValueError, or was accepted."""
    err = _bad(text)
    assert err.path == P and err.line == line, (name, str(err))
    assert words in str(err)


def test_billion_laughs_is_refused_without_expanding() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    err = _bad(GOOD.replace("support: 14\n", laughs))
    assert "alias" in str(err) and err.line == 6


def test_an_order_value_of_5000_digits_is_refused() -> None:
    cond = "when: [{field: a, op: '<', value: '" + "1" * 5000 + "'}]\nthen: X\n"
    err = _bad(GOOD.replace("sources:", cond + "sources:"))
    assert err.field == "when" and err.line == 10


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("id: r-glimmer-tansy", 'id: "r-glimmer-tansy\\n"', "id"),
        ("scope: truth-table", 'scope: "truth-table\\n"', "scope"),
        ("sources: [tt-0042, tt-0057]", 'sources: ["tt-0042\\n"]', "sources"),
        ("sources: [tt-0042, tt-0057]", 'tags: ["a\\n"]\nsources: []', "tags"),
        ("created: 2026-11-27T08:00:00Z", 'created: "2026-11-27T08:00:00Z\\n"', "created"),
    ],
)
def test_a_trailing_newline_is_not_a_valid_value(old: str, new: str, field: str) -> None:
    """'$' matches before a final newline: these passed with re.match."""
    err = _bad(GOOD.replace(old, new), path="x.md")
    assert err.field == field and err.path == "x.md"


def test_rule_id_with_trailing_newline_is_unsafe() -> None:
    with pytest.raises(RuleIdError):
        validate_rule_id("r-1\n")


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "a\0b"},
        {"title": "a\ud800"},
        {"statement": "S\rT."},
        {"statement": "S\0."},
        {"evidence": "e\x1b[0m"},
        {"scope": "s\n"},
        {"sources": ("e-1\n",)},
        {"tags": ("t\n",)},
    ],
)
def test_rule_values_that_could_not_round_trip_are_refused(changes: dict[str, object]) -> None:
    base: dict[str, object] = dict(
        id="r-x", title="T", statement="S.", created=GOOD_TIME, updated=GOOD_TIME
    )
    with pytest.raises(RuleError):
        Rule(**{**base, **changes})  # type: ignore[arg-type]


GOOD_TIME = "2026-11-27T08:00:00Z"


def test_oversized_files_are_refused_before_parsing() -> None:
    from imlgit.rules import MAX_FILE_BYTES, MAX_FRONT_MATTER_BYTES

    big = GOOD.encode() + b"x" * MAX_FILE_BYTES
    with pytest.raises(RuleError, match="larger than") as info:
        parse_rule(big, path=P)
    assert info.value.path == P
    front = GOOD.replace("sources:", "tags: [" + "a, " * MAX_FRONT_MATTER_BYTES + "a]\nsources:")
    assert _bad(front).line == 2


def test_a_non_string_unknown_key_is_located() -> None:
    err = _bad(GOOD.replace("support: 14", "null: 1\nsupport: 14"))
    assert err.line == 6
