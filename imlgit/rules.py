"""Rules as Markdown files with YAML front matter (RULE-FORMAT.md is the spec).

A rule file::

    ---
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
    14 of 15 matching experiences were VESPER.

``parse_rule`` and ``render_rule`` round-trip: ``parse_rule(render_rule(r)) == r``
for every valid rule, and ``render_rule(parse_rule(t)) == t`` for every file in
canonical form. Errors name the file, the line and the field.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from .errors import RuleError
from .frontmatter import _line_of, _load_front

# The fields' checks and the ids and paths live in modules of their own; their
# names stay importable from here, the rule format's module.
from .rulecheck import (
    _BAD_CHAR_RE,
    EVIDENCE_HEADING,
    MAX_BODY_LENGTH,
    MAX_SOURCES,
    MAX_STATEMENT_LENGTH,
    MAX_TITLE_LENGTH,
    STATEMENT_DISAGREES,
    STATUSES,
    _check_rule,
    _err,
)
from .ruleids import (
    EXPERIENCES_DIR,
    MAX_ID_LENGTH,
    RULES_DIR,
    learned_rule_id,
    new_rule_path,
    rule_id_from_path,
    scope_from_path,
    shard_path,
    slugify,
    title_from_statement,
    unique_rule_id,
    validate_rule_id,
)

__all__ = [
    "Rule",
    "RULES_DIR",
    "EXPERIENCES_DIR",
    "STATUSES",
    "parse_rule",
    "render_rule",
    "validate_rule_id",
    "MEANING_FIELDS",
    "content_order",
    "same_meaning",
    "new_rule_path",
    "shard_path",
    "rule_id_from_path",
    "slugify",
    "unique_rule_id",
    "learned_rule_id",
    "now_utc",
    "EVIDENCE_HEADING",
    "MAX_BODY_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_SOURCES",
    "MAX_STATEMENT_LENGTH",
    "MAX_TITLE_LENGTH",
    "STATEMENT_DISAGREES",
]

MAX_FILE_BYTES = 1 << 20
MAX_FRONT_MATTER_BYTES = 256 * 1024  # room for MAX_SOURCES ids of 128 characters


# Front matter keys in the order they are rendered.
_KEYS = (
    "id",
    "title",
    "scope",
    "status",
    "support",
    "contradictions",
    "when",
    "then",
    "tags",
    "created",
    "updated",
    "sources",
)


def now_utc() -> str:
    """The current time as the rule format writes it: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Rule:
    """One rule: front matter fields and a Markdown body (statement, then evidence)."""

    id: str
    title: str
    statement: str
    scope: str = "general"
    status: str = "active"
    support: int = 0
    contradictions: int = 0
    created: str = ""  # "" when the file has no dates: git's are then the rule's
    updated: str = ""
    sources: tuple[str, ...] = ()
    evidence: str = ""
    tags: tuple[str, ...] = ()
    when: tuple[Any, ...] | None = None
    then: str | None = None
    # The file the rule was read from, kept by copies: an edited rule is written back
    # where it lives. None for a rule not read from a file (see :attr:`path`).
    file: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_rule(self, path=None, lines={})

    @property
    def path(self) -> str:
        """The file the rule lives in, or, for a new rule, :func:`new_rule_path`."""
        return self.file or new_rule_path(self.id, self.scope)

    @property
    def checkable(self) -> bool:
        return self.when is not None and self.then is not None

    def with_changes(self, **changes: Any) -> Rule:
        """A copy with fields changed (validated like any rule)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape of ``imlgit rule show --json``)."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "scope": self.scope,
            "status": self.status,
            "support": self.support,
            "contradictions": self.contradictions,
            "created": self.created,
            "updated": self.updated,
            "sources": list(self.sources),
            "tags": list(self.tags),
            "statement": self.statement,
            "evidence": self.evidence,
        }
        if self.checkable:
            from .conditions import when_to_yaml_obj

            data["when"] = when_to_yaml_obj(self.when or ())
            data["then"] = self.then
        return data


def content_order(rule: Any) -> tuple[str, str, str]:
    """The order rules are tried in where ranking ties (checked inference, counting,
    the learner's revision): by title, then statement, then id. By content, so that
    neither the learner's neutral ids nor a person renaming a file changes what is
    learned or answered."""
    return (str(getattr(rule, "title", "")), str(getattr(rule, "statement", "")),
            str(getattr(rule, "id", "")))  # fmt: skip


MEANING_FIELDS = ("statement", "when", "then", "title", "scope", "status")
"""What a rule says. The rest (support, contradictions, sources, evidence, dates)
are its figures: what learning recounts as evidence comes in."""


def same_meaning(a: Rule, b: Rule) -> bool:
    """Whether two versions of a rule say the same thing (their figures may differ)."""
    return all(getattr(a, f) == getattr(b, f) for f in MEANING_FIELDS)


# ---------------------------------------------------------------------------
# parse



def _split(text: str, path: str | None) -> tuple[str, str, int]:
    """Split a rule file into (front matter, body, first body line).

    Refuses, with the line, what a rule file may not hold: a byte-order mark, CR,
    control characters other than tab and newline, lone surrogates, non-characters.
    """
    if text.startswith("\ufeff"):
        raise RuleError(
            "the file starts with a byte-order mark; save it as UTF-8 without BOM",
            path=path,
            line=1,
        )
    cr = text.find("\r")
    if cr >= 0:
        raise RuleError("use LF line endings, not CR or CRLF", path=path, line=_line_of(text, cr))
    bad = _BAD_CHAR_RE.search(text)
    if bad is not None:
        raise RuleError(
            f"the character U+{ord(bad.group()):04X} is not allowed in a rule file "
            "(no control characters other than tab and newline, lone surrogates or "
            "non-characters)",
            path=path,
            line=_line_of(text, bad.start()),
        )
    lines = text.split("\n")
    if not lines or lines[0] != "---":
        # No front matter: the whole file is the statement (and evidence), every
        # field its default. Front matter that does not start on line 1 with exactly
        # '---', or a first line that reads like a field, is an error, not a statement.
        first = next((i for i, line in enumerate(lines) if line.strip()), 0)
        if lines[first].strip() == "---":
            raise RuleError(
                "front matter starts on line 1 with a line that is exactly '---' (no "
                "blank lines before it, no spaces after it)",
                path=path,
                line=first + 1,
            )
        m = re.match(r"\s*([A-Za-z_]+)\s*:", lines[first])
        if m and m.group(1) in _KEYS:
            raise RuleError(
                f"line {first + 1} reads like the front matter field {m.group(1)!r}: "
                "front matter starts with a '---' line (or leave the fields out: a rule "
                "file may be just its statement)",
                path=path,
                line=first + 1,
            )
        return "", text, 1
    for i in range(1, len(lines)):
        if lines[i] == "---":
            front = "\n".join(lines[1:i])
            if len(front) > MAX_FRONT_MATTER_BYTES:
                raise RuleError(
                    f"the front matter is longer than {MAX_FRONT_MATTER_BYTES} characters",
                    path=path,
                    line=2,
                )
            return front, "\n".join(lines[i + 1 :]), i + 2
    raise RuleError("the front matter has no closing '---' line", path=path, line=1)


def _timestamp(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _decode(data: str | bytes, path: str | None) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_FILE_BYTES:
            raise RuleError(f"the file is larger than {MAX_FILE_BYTES} bytes", path=path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise RuleError(
                f"not UTF-8 text (byte {exc.start}): save the file as UTF-8", path=path, line=line
            ) from None
    if not isinstance(data, str):
        raise RuleError(f"a rule file is text, got {type(data).__name__}", path=path)
    if len(data) > MAX_FILE_BYTES:
        raise RuleError(f"the file is larger than {MAX_FILE_BYTES} bytes", path=path)
    return data


# What a parser bug on odd input would look like (deep nesting, a huge number, an
# unhashable key); the bounds below are meant to stop each before it happens.
_PARSER_FAILURES = (ValueError, TypeError, RecursionError, OverflowError, KeyError, IndexError)


def parse_rule(data: str | bytes, *, path: str | None = None) -> Rule:
    """Parse a rule file. Raises :class:`RuleError` naming ``path``, line and field.

    Bounded: at most ``MAX_FILE_BYTES``, front matter of at most
    ``MAX_FRONT_MATTER_BYTES`` nested at most ``MAX_YAML_DEPTH`` deep, no YAML
    anchors or aliases. No input raises anything but :class:`RuleError`: should a
    bound miss a case, the parser's own failure becomes one, naming the file, so one
    odd file never becomes an "unexpected" error for every command.
    """
    try:
        return _parse_rule(data, path)
    except RuleError:
        raise
    except _PARSER_FAILURES as exc:
        detail = f"{type(exc).__name__}: {exc}"[:300]  # a 5,000-digit number stays out
        raise RuleError(f"cannot be read as a rule file ({detail})", path=path) from exc


def _parse_rule(data: str | bytes, path: str | None) -> Rule:
    text = _decode(data, path)
    front, body, body_line = _split(text, path)
    meta, lines = _load_front(front, path) if front.strip() else ({}, {})
    if not isinstance(meta, dict):
        raise RuleError("the front matter must be a mapping of fields", path=path, line=2)
    for key in meta:
        if key not in _KEYS:
            known = ", ".join(_KEYS)
            raise RuleError(
                f"unknown field {str(key)[:100]!r} (known fields: {known})",
                path=path,
                line=lines.get(str(key)),
                field=str(key)[:100],
            )
    if "id" not in meta or meta["id"] is None:
        stem = rule_id_from_path(path) if path is not None else None
        if stem is None:
            raise RuleError("a required field is missing", path=path, field="id")
        meta["id"] = stem
        lines.setdefault("id", 1)
    for key in ("title", "scope", "status", "created", "updated"):
        if key in meta and meta[key] is None:
            raise RuleError(f"{key} is empty: give a value or leave the field out",
                            path=path, line=lines.get(key), field=key)  # fmt: skip
    meta.setdefault("scope", scope_from_path(path))
    meta.setdefault("status", "active")
    statement, evidence = _split_body(body)
    meta.setdefault("title", title_from_statement(statement))

    def strings(key: str) -> tuple[str, ...]:
        value = meta.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _err(f"{key} must be a list of strings", path, lines, key)
        return tuple(value)

    for key in ("title", "scope", "status"):
        if not isinstance(meta[key], str):
            raise _err(f"{key} must be text, got {type(meta[key]).__name__}", path, lines, key)
    for key in ("support", "contradictions"):
        value = meta.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _err(f"{key} must be a whole number, got {value!r}", path, lines, key)
    when = None
    if "when" in meta:
        from .conditions import parse_when

        when = parse_when(meta["when"], path=path, line=lines.get("when"))
    then = meta.get("then")
    if then is not None and not isinstance(then, str):
        if isinstance(then, (int, float)) and not isinstance(then, bool):
            then = str(then)
        else:
            raise _err("then must be text", path, lines, "then")

    rule = object.__new__(Rule)
    values = dict(
        id=meta["id"],
        title=meta["title"],
        statement=statement,
        scope=meta["scope"],
        status=meta["status"],
        support=meta.get("support", 0),
        contradictions=meta.get("contradictions", 0),
        created=_timestamp(meta.get("created", "")),
        updated=_timestamp(meta.get("updated", "")),
        sources=strings("sources"),
        evidence=evidence,
        tags=strings("tags"),
        when=when,
        then=then,
        file=path if rule_id_from_path(path or "") is not None else None,
    )
    for key, value in values.items():
        object.__setattr__(rule, key, value)
    if not statement:
        raise RuleError("the body must start with the rule's statement", path=path, line=body_line)
    _check_rule(rule, path=path, lines=lines)
    if path is not None:
        stem = rule_id_from_path(path)
        if stem is not None and stem != rule.id:
            raise RuleError(
                f"the id {rule.id!r} does not match the file name {stem!r}.md",
                path=path,
                line=lines.get("id"),
                field="id",
            )
    return rule


def _split_body(body: str) -> tuple[str, str]:
    """Body -> (statement, evidence): the evidence is all that follows its heading."""
    text = body.strip("\n")
    marker = "\n" + EVIDENCE_HEADING + "\n"
    probe = "\n" + text + "\n"
    idx = probe.find(marker)
    if idx < 0:
        if probe.rstrip("\n").endswith("\n" + EVIDENCE_HEADING):
            return text[: -len(EVIDENCE_HEADING)].strip(), ""
        return text.strip(), ""
    statement = probe[:idx].strip()
    evidence = probe[idx + len(marker) :].strip()
    return statement, evidence


# ---------------------------------------------------------------------------
# render

_PLAIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.,/()'+-]*")
_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def _scalar(value: str, *, in_flow: bool = False) -> str:
    """A YAML scalar for ``value``: plain where YAML reads it back unchanged, else quoted.

    Plain needs safe characters (no ``: `` or `` #``, no edge spaces; no comma inside a
    flow list) and YAML's implicit resolvers must see a string, not a bool, number,
    date or null (``yes``, ``0b``, ``1e3``, ``2026-11-27``, ``~``). Asking the
    resolvers is what ``safe_load`` would do, without parsing a document a scalar.
    """
    if (
        _PLAIN_RE.fullmatch(value)
        and not value.endswith(" ")
        and not (in_flow and "," in value)
        and _RESOLVER.resolve(yaml.nodes.ScalarNode, value, (True, False)) == _STR_TAG
    ):
        return value
    # JSON strings are valid YAML double-quoted scalars.
    return json.dumps(value, ensure_ascii=False)


def _flow_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_scalar(v, in_flow=True) for v in values) + "]"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        if e and "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"  # YAML 1.1 reads 1e-05 as a string
        return text
    if isinstance(value, str):
        return _scalar(value)
    if isinstance(value, Mapping):
        items = (f"{_scalar(str(k))}: {_yaml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__}")


def render_rule(rule: Rule) -> str:
    """Render a rule in canonical form (the inverse of :func:`parse_rule`)."""
    out = ["---"]
    out.append(f"id: {_scalar(rule.id)}")
    out.append(f"title: {_scalar(rule.title)}")
    out.append(f"scope: {_scalar(rule.scope)}")
    out.append(f"status: {rule.status}")
    out.append(f"support: {rule.support}")
    out.append(f"contradictions: {rule.contradictions}")
    if rule.when is not None:
        from .conditions import when_to_yaml_obj

        out.append(f"when: {_yaml_value(when_to_yaml_obj(rule.when))}")
        out.append(f"then: {_scalar(rule.then or '')}")
    if rule.tags:
        out.append(f"tags: {_flow_list(rule.tags)}")
    if rule.created:
        out.append(f"created: {rule.created}")
    if rule.updated:
        out.append(f"updated: {rule.updated}")
    out.append(f"sources: {_flow_list(rule.sources)}")
    out.append("---")
    out.append(rule.statement)
    if rule.evidence:
        out.append("")
        out.append(EVIDENCE_HEADING)
        out.append(rule.evidence)
    return "\n".join(out) + "\n"
