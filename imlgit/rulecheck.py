"""What makes a rule valid, field by field (RULE-FORMAT.md, "Fields"): the limits,
the character and pattern checks, and a checkable rule's statement agreeing with
its form. :func:`imlgit.rules.Rule` runs these on every rule it makes, and
:func:`imlgit.rules.parse_rule` with the lines of the file's fields, so an error
names the file, the line and the field. Typed ``Any`` where a rule is meant: this
module sits below :mod:`imlgit.rules`, which defines the class.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from .errors import RuleError
from .ruleids import _SCOPE_RE, validate_rule_id

STATUSES = ("active", "retired")
MAX_TITLE_LENGTH = 200
MAX_STATEMENT_LENGTH = 4_000
MAX_BODY_LENGTH = 64_000
MAX_SOURCES = 1_000
EVIDENCE_HEADING = "## Evidence"

_TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
_TAG_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
# Characters no rule text may hold: control characters other than tab and newline
# (NUL, CR, escape codes, C1 controls), lone surrogates (not encodable as UTF-8, so
# they would break the commit later) and the non-characters YAML refuses to read.
_BAD_CHAR_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _err(msg: str, path: str | None, lines: Mapping[str, int], key: str | None) -> RuleError:
    line = lines.get(key) if key else None
    return RuleError(msg, path=path, line=line, field=key)


def _check_chars(
    text: str, what: str, path: str | None, lines: Mapping[str, int], key: str | None
) -> None:
    bad = _BAD_CHAR_RE.search(text)
    if bad is not None:
        raise _err(
            f"{what} holds the character U+{ord(bad.group()):04X}: no control characters "
            "(other than tab and newline), lone surrogates or non-characters",
            path,
            lines,
            key,
        )


def _check_rule(rule: Any, *, path: str | None, lines: Mapping[str, int]) -> None:
    validate_rule_id(rule.id, path=path, line=lines.get("id"))
    if not isinstance(rule.title, str) or not rule.title.strip():
        raise _err("a title is required", path, lines, "title")
    if "\n" in rule.title or len(rule.title) > MAX_TITLE_LENGTH:
        raise _err(
            f"a title is one line of at most {MAX_TITLE_LENGTH} characters", path, lines, "title"
        )
    _check_chars(rule.title, "the title", path, lines, "title")
    if not isinstance(rule.scope, str) or not _SCOPE_RE.fullmatch(rule.scope):
        raise _err(
            f"scope {rule.scope!r} must be lowercase letters, digits, '.', '_' or '-' (at most 64)",
            path,
            lines,
            "scope",
        )
    if rule.status not in STATUSES:
        raise _err(
            f"status {rule.status!r} must be one of {', '.join(STATUSES)}", path, lines, "status"
        )
    for key in ("support", "contradictions"):
        value = getattr(rule, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _err(f"{key} must be a whole number >= 0, got {value!r}", path, lines, key)
    for key in ("created", "updated"):
        value = getattr(rule, key)
        if not isinstance(value, str) or (value and not _TS_RE.fullmatch(value)):
            raise _err(
                f"{key} must be a UTC time like 2026-11-27T08:00:00Z, got {value!r}",
                path,
                lines,
                key,
            )
    if not isinstance(rule.sources, tuple) or len(rule.sources) > MAX_SOURCES:
        raise _err(f"sources must be a list of at most {MAX_SOURCES} ids", path, lines, "sources")
    for source in rule.sources:
        if not isinstance(source, str) or ".." in source or not _SOURCE_RE.fullmatch(source):
            raise _err(f"unsafe source id {source!r}", path, lines, "sources")
    if not isinstance(rule.tags, tuple):
        raise _err("tags must be a list", path, lines, "tags")
    for tag in rule.tags:
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise _err(f"bad tag {tag!r}", path, lines, "tags")
    if not isinstance(rule.statement, str) or not rule.statement.strip():
        raise RuleError("the body must start with the rule's statement", path=path)
    _check_chars(rule.statement, "the statement", path, lines, None)
    if not isinstance(rule.evidence, str):
        raise RuleError("the evidence must be text", path=path)
    _check_chars(rule.evidence, "the evidence", path, lines, None)
    if rule.statement != rule.statement.strip() or EVIDENCE_HEADING in rule.statement:
        raise RuleError("the statement must be trimmed text before '## Evidence'", path=path)
    if len(rule.statement) > MAX_STATEMENT_LENGTH:
        raise RuleError(
            f"the statement has {len(rule.statement)} characters; at most "
            f"{MAX_STATEMENT_LENGTH} (a rule is a sentence or two)",
            path=path,
        )
    if len(rule.statement) + len(rule.evidence) > MAX_BODY_LENGTH:
        raise RuleError(f"the body is longer than {MAX_BODY_LENGTH} characters", path=path)
    if rule.evidence != rule.evidence.strip():
        raise RuleError("the evidence section must be trimmed text", path=path)
    if (rule.when is None) != (rule.then is None):
        key = "then" if rule.then is None else "when"
        raise _err("'when' and 'then' go together: give both or neither", path, lines, key)
    if rule.then is not None and (
        not isinstance(rule.then, str) or not rule.then.strip() or "\n" in rule.then
    ):
        raise _err("then must be a one-line outcome", path, lines, "then")
    if rule.then is not None:
        _check_chars(rule.then, "then", path, lines, "then")
    if rule.when is not None:
        from .conditions import Condition

        if not isinstance(rule.when, tuple) or not all(isinstance(c, Condition) for c in rule.when):
            raise _err("when must be parsed conditions", path, lines, "when")
        for cond in rule.when:
            for text in (cond.field, cond.value):
                if isinstance(text, str):
                    _check_chars(text, "a condition", path, lines, "when")
    if rule.when is not None and rule.then is not None:
        if not _statement_agrees(rule.statement, rule.when, rule.then):
            raise _err(
                f"{STATEMENT_DISAGREES} (RULE-FORMAT.md, "
                "'A statement must agree with its form'): say the outcome "
                f"{rule.then!r} and every condition, or change when/then",
                path,
                lines,
                "then",
            )


STATEMENT_DISAGREES = "the statement does not say what when/then do"
"""How a checkable rule whose statement contradicts its form is refused."""


@functools.lru_cache(maxsize=4096)
def _statement_agrees(statement: str, when: tuple[Any, ...], then: str) -> bool:
    """:func:`imlgit.statements.statement_agrees`, once per statement and form: every
    Rule is checked, and learning copies rules with new figures many times."""
    from .statements import statement_agrees

    return statement_agrees(statement, when, then)
