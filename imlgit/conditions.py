"""The checkable form of a rule: ``when`` conditions on the input, ``then`` the outcome.

A condition tests one thing about an experience's input. Structured inputs (a flat
mapping of attribute -> value) are tested with ``=``, ``!=``, ``<``, ``<=``, ``>``,
``>=``; text is tested with ``contains`` and ``lacks`` (case-insensitive, whole words).
``docs/CONDITIONS.md`` is the spec; this module parses, renders, evaluates and
chooses among checkable rules, so that learning and inference apply one semantics.

Inference picks among the rules that match an input with :func:`choose`: the most
specific rule first (most conditions), then the most precise, then the best
supported, then the earliest.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import RuleError
from .inputs import (
    OUTPUT_FIELD,
    STOPWORDS,
    TEXT_FIELD,
    FieldValue,
    View,
    is_negation,
    stem,
    view_of,
    words,
)

Scalar = str | int | float
InputValue = str | int | float | bool
Input = str | Mapping[str, Any] | View
WORKS = "works"
FAILS = "fails"
"""The outcomes of an outcome rule: the action it names works, or fails, there."""

STRUCTURED_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")
ORDER_OPS: tuple[str, ...] = ("<", "<=", ">", ">=")
TEXT_OPS: tuple[str, ...] = ("contains", "lacks", "mentions")
OPS: tuple[str, ...] = STRUCTURED_OPS + TEXT_OPS
MAX_FIELD_LENGTH = 128
MAX_VALUE_LENGTH = 500
MAX_CONDITIONS = 32
MAX_ALTERNATIVES = 16
"""Phrases one ``mentions`` condition may list (``smashed | cracked | broken``)."""

_OP_ALIASES = {"==": "="}
_NEGATED_OP = {
    "=": "!=",
    "!=": "=",
    "<": ">=",
    ">=": "<",
    ">": "<=",
    "<=": ">",
    "contains": "lacks",
    "lacks": "contains",
}
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------
# conditions


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_field(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError("a field is a non-empty name")
    if len(name) > MAX_FIELD_LENGTH:
        raise ValueError(f"a field name has at most {MAX_FIELD_LENGTH} characters")
    if _CONTROL_RE.search(name) or name != name.strip():
        raise ValueError(f"field name {name!r} has control characters or edge spaces")
    return name


def _check_text_value(value: object, op: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{op}' needs a word or phrase, got {value!r}")
    if _CONTROL_RE.search(re.sub(r"[\t\n\r]", " ", value)):
        raise ValueError(f"the phrase {value!r} has control characters")
    value = " ".join(value.split())
    if not value:
        raise ValueError(f"'{op}' needs a non-empty word or phrase")
    if len(value) > MAX_VALUE_LENGTH:
        raise ValueError(f"a value has at most {MAX_VALUE_LENGTH} characters")
    return value


@dataclass(frozen=True)
class Condition:
    """One test on an input: ``field op value``.

    ``field`` is None only for text operators, where it means the whole text (the
    name ``"text"`` is normalised to None). ``True``/``False`` values become
    ``"yes"``/``"no"``; a phrase's runs of whitespace become one space. Invalid
    combinations raise ``ValueError``.
    """

    field: str | None
    op: str
    value: Scalar

    def __post_init__(self) -> None:
        op = _OP_ALIASES.get(self.op, self.op)
        if op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}; use one of {', '.join(OPS)}")
        object.__setattr__(self, "op", op)
        value: Any = self.value
        if isinstance(value, bool):
            value = "yes" if value else "no"
        if op in TEXT_OPS:
            if self.field is not None and self.field != TEXT_FIELD:
                _check_field(self.field)
            else:
                object.__setattr__(self, "field", None)
            value = _check_text_value(value, op)
            if op == "mentions":
                value = _alternatives_value(value)
        else:
            if self.field is None:
                raise ValueError(f"'{op}' needs a field")
            _check_field(self.field)
            if op in ORDER_OPS and not _is_number(value):
                raise ValueError(f"'{op}' compares numbers, got {value!r}")
            if _is_number(value):
                if not math.isfinite(value):
                    raise ValueError(f"a number must be finite, got {value!r}")
            elif isinstance(value, str):
                if not value or len(value) > MAX_VALUE_LENGTH or _CONTROL_RE.search(value):
                    raise ValueError(f"{value!r} is not a usable value")
            else:
                raise ValueError(f"a value is text or a number, got {type(value).__name__}")
        object.__setattr__(self, "value", value)

    @property
    def is_text(self) -> bool:
        return self.op in TEXT_OPS


def _alternatives_value(value: str) -> str:
    parts = list(dict.fromkeys(p.strip() for p in value.split("|")))
    if any(not p for p in parts):
        raise ValueError(f"'mentions' lists phrases separated by '|', got {value!r}")
    if len(parts) > MAX_ALTERNATIVES:
        raise ValueError(f"'mentions' lists at most {MAX_ALTERNATIVES} phrases, got {len(parts)}")
    return " | ".join(parts)


def alternatives(cond: Condition) -> list[str]:
    """The phrases of a ``mentions`` condition (one phrase for other text conditions)."""
    text = str(cond.value)
    return text.split(" | ") if cond.op == "mentions" else [text]


def negate(cond: Condition) -> Condition:
    """The opposite test (exact for inputs that have the field)."""
    if cond.op not in _NEGATED_OP:
        raise ValueError(f"'{cond.op}' has no opposite operator")
    return Condition(cond.field, _NEGATED_OP[cond.op], cond.value)


def specificity(conds: Sequence[Condition]) -> int:
    """How specific a rule is: its number of conditions."""
    return len(conds)


# ---------------------------------------------------------------------------
# parse and render the YAML form


def _when_error(msg: str, path: str | None, line: int | None) -> RuleError:
    return RuleError(msg, path=path, line=line, field="when")


def _coerce_order_value(value: object) -> object:
    # A long digit string stays text (and is refused as not a number): int() of
    # more than 4,300 digits raises ValueError.
    if isinstance(value, str) and len(value) <= 64 and _NUMBER_RE.fullmatch(value.strip()):
        text = value.strip()
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    return value


def parse_when(
    obj: object, *, path: str | None = None, line: int | None = None
) -> tuple[Condition, ...]:
    """Parse a ``when`` value from YAML: a shorthand mapping or a list of conditions.

    Raises :class:`RuleError` (``field="when"``) naming the offending condition.
    """
    conds: list[Condition] = []
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            if not isinstance(key, str):
                raise _when_error(f"field names are text, got {key!r}", path, line)
            if isinstance(value, (Mapping, list, tuple)) or value is None:
                raise _when_error(
                    f"{key}: the shorthand maps a field to one value (equality); "
                    "use the list form for other operators",
                    path,
                    line,
                )
            try:
                conds.append(Condition(key, "=", value))
            except ValueError as exc:
                raise _when_error(f"{key}: {exc}", path, line) from None
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj, 1):
            if not isinstance(item, Mapping):
                raise _when_error(
                    f"condition {i}: expected a mapping with field, op and value, got {item!r}",
                    path,
                    line,
                )
            unknown = sorted(str(k) for k in item if k not in ("field", "op", "value"))
            if unknown:
                raise _when_error(
                    f"condition {i}: unknown key(s) {', '.join(unknown)}; "
                    "a condition has field, op and value",
                    path,
                    line,
                )
            if "value" not in item:
                raise _when_error(f"condition {i}: a value is required", path, line)
            op = item.get("op", "=")
            if not isinstance(op, str):
                raise _when_error(f"condition {i}: op must be text, got {op!r}", path, line)
            op = _OP_ALIASES.get(op.strip(), op.strip())
            value = item["value"]
            if op in ORDER_OPS:
                value = _coerce_order_value(value)
            fname = item.get("field")
            if isinstance(fname, int) and not isinstance(fname, bool):
                fname = str(fname)
            if fname is not None and not isinstance(fname, str):
                raise _when_error(f"condition {i}: field must be text, got {fname!r}", path, line)
            try:
                conds.append(Condition(fname, op, value))
            except ValueError as exc:
                raise _when_error(f"condition {i}: {exc}", path, line) from None
    else:
        raise _when_error(
            "when must be a mapping (field: value) or a list of conditions; "
            "use {} for a rule that always applies",
            path,
            line,
        )
    if len(conds) > MAX_CONDITIONS:
        raise _when_error(f"at most {MAX_CONDITIONS} conditions, got {len(conds)}", path, line)
    seen: dict[Condition, int] = {}
    for i, cond in enumerate(conds, 1):
        if cond in seen:
            raise _when_error(f"condition {i} repeats condition {seen[cond]}", path, line)
        seen[cond] = i
    return tuple(conds)


def parse_then(obj: object, *, path: str | None = None, line: int | None = None) -> str:
    """Validate a ``then`` value: a non-empty one-line outcome (numbers become text)."""
    if _is_number(obj):
        obj = str(obj)
    if not isinstance(obj, str) or not obj.strip() or "\n" in obj or obj != obj.strip():
        raise RuleError(
            f"then must be a non-empty one-line outcome, got {obj!r}",
            path=path,
            line=line,
            field="then",
        )
    return obj


def when_to_yaml_obj(conds: Sequence[Condition]) -> dict[str, Scalar] | list[dict[str, Scalar]]:
    """The canonical YAML value for ``conds`` (the inverse of :func:`parse_when`).

    The shorthand mapping when every condition is an equality on a distinct named
    field, else the list form; ``{}`` for no conditions.
    """
    fields = [c.field for c in conds]
    if all(c.op == "=" for c in conds) and len(set(fields)) == len(fields):
        return {str(c.field): c.value for c in conds}
    out: list[dict[str, Scalar]] = []
    for c in conds:
        item: dict[str, Scalar] = {}
        if c.field is not None:
            item["field"] = c.field
        item["op"] = c.op
        item["value"] = c.value
        out.append(item)
    return out


# ---------------------------------------------------------------------------
# evaluation


def _as_number(value: Scalar) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value):
        return float(value)
    return None


@functools.lru_cache(maxsize=4096)
def _phrase_re(phrase: str) -> re.Pattern[str]:
    words = phrase.lower().split()
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)")


_CLAUSE_RE = re.compile(r"[.,;:!?()\[\]\n|]|\bbut\b|\bhowever\b|\balthough\b")
_NEGATION_SPAN = 3  # a negation word this many words before a word negates it


@functools.lru_cache(maxsize=16384)
def analyse(text: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[bool, ...]]:
    """A text's lowercase words, their stems, and for each whether a negation word
    (``not``, ``no``, ``never``, ``isn't``...) stands at most three content words
    before it in its clause: what ``contains``, ``lacks`` and ``mentions`` test, and
    what the learner that needs no model finds features in."""
    found: list[str] = []
    stems: list[str] = []
    negated: list[bool] = []
    for clause in _CLAUSE_RE.split(text.lower()):
        since: int | None = None  # content words since the last negation word
        for w in words(clause):
            if is_negation(w):
                since = 0
                negated.append(False)
            else:
                content = w not in STOPWORDS
                if since is not None and content:
                    since += 1
                negated.append(since is not None and 0 < since <= _NEGATION_SPAN)
            found.append(w)
            stems.append(stem(w))
    return tuple(found), tuple(stems), tuple(negated)


@functools.lru_cache(maxsize=4096)
def _phrase_form(phrase: str) -> tuple[bool, tuple[str, ...]]:
    ws = words(phrase)
    if len(ws) > 1 and is_negation(ws[0]):
        return True, tuple(stem(w) for w in ws[1:])
    return False, tuple(stem(w) for w in ws)


def has_phrase(text: str, phrase: str, *, affirmed: bool = False) -> bool:
    """Whether ``text`` contains ``phrase``: its words in order, in any of their forms
    (``damage`` finds "damaged", "damages"), ignoring case and punctuation. A phrase
    that starts with a negation (``not fragile``, ``no damage``) finds its words where
    a negation stands at most three words (not counting function words) before them
    in the same clause ("is not at all fragile", "isn't fragile"). ``affirmed``: only
    where no negation does ("it is fragile", not "it is not fragile")."""
    negative, target = _phrase_form(phrase)
    if not target:
        return False
    _, stems, negated = analyse(text)
    n = len(target)
    first = target[0]
    for i in range(len(stems) - n + 1):
        if stems[i] == first and stems[i : i + n] == target:
            if negative and not negated[i]:
                continue
            if affirmed and not negative and negated[i]:
                continue
            return True
    return False


def _equal(actual: FieldValue, wanted: Scalar) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual == wanted
    a, b = _as_number(actual), _as_number(wanted)
    return a is not None and b is not None and a == b


def _ordered(op: str, actual: FieldValue, wanted: Scalar) -> bool:
    a, b = _as_number(actual), _as_number(wanted)
    if a is None or b is None:
        return False
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    return a >= b


def holds(cond: Condition, inp: Input | View) -> bool:
    """Whether one condition holds for ``inp``; a missing field makes it False.

    A field with several values (an array's elements, a quantity a text gives twice)
    holds ``=`` and the order operators when one value does, ``!=`` when none is
    equal."""
    view = view_of(inp)
    if cond.is_text:
        subject = view.text(cond.field)
        if subject is None:
            return False
        if cond.op == "mentions":
            return any(has_phrase(subject, p, affirmed=True) for p in alternatives(cond))
        found = has_phrase(subject, str(cond.value))
        return found if cond.op == "contains" else not found
    values = view.values.get(cond.field) if cond.field is not None else None
    if not values:
        return False
    if cond.op == "=":
        return any(_equal(v, cond.value) for v in values)
    if cond.op == "!=":
        return not any(_equal(v, cond.value) for v in values)
    return any(_ordered(cond.op, v, cond.value) for v in values)


def matches(conds: Sequence[Condition], inp: Input | View) -> bool:
    """Whether every condition holds for ``inp`` (no conditions: always)."""
    if not conds:
        return True
    view = view_of(inp)
    return all(holds(c, view) for c in conds)


def checkable(conds: Sequence[Condition], inp: Input | View) -> bool:
    """Whether ``conds`` can be evaluated on ``inp`` at all: every field they test
    (text for text conditions) is in the input."""
    view = view_of(inp)
    for c in conds:
        if c.is_text:
            if view.text(c.field) is None:
                return False
        elif c.field not in view.values:
            return False
    return True


def is_outcome_rule(conds: Sequence[Condition], then: str | None) -> bool:
    """Whether a rule says whether an action works (``then`` works / fails, with a
    condition that the output is the action) rather than what to answer."""
    return then in (WORKS, FAILS) and any(
        c.field == OUTPUT_FIELD and c.op == "=" for c in conds
    )


# ---------------------------------------------------------------------------
# coverage and choice


class Labelled(Protocol):
    """What :func:`evaluate` needs of an experience."""

    @property
    def id(self) -> str: ...

    @property
    def input(self) -> Input: ...

    @property
    def label(self) -> str | None: ...


@dataclass
class Coverage:
    """Which labelled experiences a rule covers, and which of those it gets right."""

    covered: list[str] = field(default_factory=list)
    correct: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return len(self.correct) / len(self.covered) if self.covered else 0.0

    @property
    def support(self) -> int:
        return len(self.correct)

    def figures(self) -> str:
        """The figures in words: ``covers 15 experiences and gets 14 right``."""
        n = len(self.covered)
        noun = "experience" if n == 1 else "experiences"
        return f"covers {n} {noun} and gets {len(self.correct)} right"


def evaluate(conds: Sequence[Condition], then: str, experiences: Iterable[Labelled]) -> Coverage:
    """Hold a checkable rule against experiences whose correct outcome is known.

    Experiences without a label, or whose input the conditions cannot be checked
    on, are skipped.
    """
    cov = Coverage()
    for exp in experiences:
        label = exp.label
        if label is None or not checkable(conds, exp.input) or not matches(conds, exp.input):
            continue
        cov.covered.append(exp.id)
        (cov.correct if label == then else cov.wrong).append(exp.id)
    return cov


class RuleStats(Protocol):
    """What :func:`choose` needs of a rule."""

    @property
    def when(self) -> tuple[Condition, ...]: ...

    @property
    def then(self) -> str: ...

    @property
    def precision(self) -> float: ...

    @property
    def support(self) -> int: ...


@dataclass(frozen=True)
class ScoredRule:
    """A checkable rule with the figures :func:`choose` ranks by."""

    when: tuple[Condition, ...]
    then: str
    precision: float = 1.0
    support: int = 0


def rank_key(rule: RuleStats) -> tuple[int, float, int]:
    """Sort key (higher wins): specificity, then precision, then support."""
    return (len(rule.when), rule.precision, rule.support)


def ranked(rules: Sequence[RuleStats], inp: Input) -> list[int]:
    """Indices of the rules that match ``inp``, best first (ties: earlier first)."""
    hits = [i for i, r in enumerate(rules) if matches(r.when, inp)]
    return sorted(hits, key=lambda i: (tuple(-k for k in rank_key(rules[i])), i))


def choose(rules: Sequence[RuleStats], inp: Input) -> tuple[str, int] | None:
    """The outcome and index of the rule that decides ``inp``, or None if none matches.

    Among matching rules: most conditions first, then highest precision, then
    highest support, then the earliest in ``rules``.
    """
    best: int | None = None
    best_key: tuple[int, float, int] | None = None
    for i, rule in enumerate(rules):
        if not matches(rule.when, inp):
            continue
        key = rank_key(rule)
        if best_key is None or key > best_key:
            best, best_key = i, key
    return None if best is None else (rules[best].then, best)
