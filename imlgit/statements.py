"""A rule's sentence and its checkable form: :func:`render_statement` says a form
as one English sentence, and :func:`statement_agrees` checks that a statement (a
rendered one, or one a person wrote) says what its form does (RULE-FORMAT.md, "A
statement must agree with its form"). The conditions themselves, and how they are
matched against inputs, are :mod:`imlgit.conditions`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .conditions import (
    Condition,
    Scalar,
    _phrase_re,
    alternatives,
    has_phrase,
    is_outcome_rule,
)

__all__ = ["render_statement", "statement_agrees"]


def _fmt(value: Scalar) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


_PREDICATE = {
    "=": "is {}",
    "!=": "is not {}",
    "<": "is less than {}",
    "<=": "is at most {}",
    ">": "is more than {}",
    ">=": "is at least {}",
    "contains": 'contains "{}"',
    "mentions": 'mentions "{}"',
    "lacks": 'lacks "{}"',
}


def _subject(cond: Condition) -> str:
    if cond.field is None:
        return "the text"
    return cond.field


def render_statement(
    conds: Sequence[Condition], then: str, *, attribute_word: str = "class"
) -> str:
    """The rule as one English sentence, e.g. ``When glimmer is yes, the class is VESPER.``

    A condition that tests the same subject as the one before it omits the subject:
    ``When the text contains "overseas" and lacks "refund", the outcome is ESCALATE.``
    """
    parts: list[str] = []
    previous: str | None = None
    for c in conds:
        subject = _subject(c)
        if c.op == "mentions":
            said = [f'"{p}"' for p in alternatives(c)]
            listed = said[0] if len(said) == 1 else f"{', '.join(said[:-1])} or {said[-1]}"
            predicate = f"mentions {listed}"
        else:
            predicate = _PREDICATE[c.op].format(_fmt(c.value))
        parts.append(predicate if subject == previous else f"{subject} {predicate}")
        previous = subject
    head = f"When {' and '.join(parts)}, " if parts else "Always: "
    if is_outcome_rule(conds, then):
        return f"{head}it {then}."
    return f"{head}the {attribute_word} is {then}."


_NEGATION_RE = re.compile(
    r"(?<!\w)(not|no|never|none|without|lack|lacks|lacking|missing|absent|except|"
    r"isn't|doesn't|don't|aren't|other than)(?!\w)|!=|≠"
)
_LESS_RE = re.compile(
    r"(?<!\w)(less|below|under|at most|fewer|smaller|lower|up to|no more|not more)(?!\w)|<|≤"
)
_MORE_RE = re.compile(
    r"(?<!\w)(more|above|over|at least|greater|higher|exceeds?|exceeding|no less|not less)"
    r"(?!\w)|>|≥"
)
_SEPARATOR_RE = re.compile(r"(?<!\w)(and|but|or|while|whereas)(?!\w)|[,;:.]\s")
_GAP_WORDS = 6


def _occurrences(text: str, phrase: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _phrase_re(phrase).finditer(text)]


def _structured_agrees(text: str, cond: Condition, fields: set[str]) -> bool:
    value = _fmt(cond.value)
    for _fs, fe in _occurrences(text, str(cond.field)):
        for vs, _ in _occurrences(text, value):
            if vs < fe:
                continue
            gap = text[fe:vs]
            if len(gap.split()) > _GAP_WORDS or _SEPARATOR_RE.search(gap + " "):
                continue
            if any(f != cond.field and has_phrase(gap, f) for f in fields):
                continue
            negated = _NEGATION_RE.search(gap) is not None
            if cond.op == "=" and negated or cond.op == "!=" and not negated:
                continue
            less, more = _LESS_RE.search(gap), _MORE_RE.search(gap)
            if cond.op in ("<", "<=") and more and not less:
                continue
            if cond.op in (">", ">=") and less and not more:
                continue
            return True
    return False


def _text_agrees(text: str, cond: Condition) -> bool:
    if cond.op == "mentions":  # every phrase it lists, said without a negation
        return all(
            _text_agrees(text, Condition(cond.field, "contains", p)) for p in alternatives(cond)
        )
    for start, _ in _occurrences(text, str(cond.value)):
        before = text[:start]
        cuts = [m.end() for m in _SEPARATOR_RE.finditer(before)]
        clause = before[cuts[-1] if cuts else 0 :]
        negated = _NEGATION_RE.search(clause) is not None
        if negated == (cond.op == "lacks"):
            return True
    return False


def statement_agrees(statement: str, conds: Sequence[Condition], then: str) -> bool:
    """Whether a statement says what its checkable form does.

    True when the statement is exactly :func:`render_statement` (any attribute
    word). A hand-written statement must mention ``then``, and for each condition:
    for structured ones the field followed, within six words in the same clause, by
    the value, with a negation between them exactly when the operator is ``!=``,
    and no comparison word of the wrong direction for ``<``/``>`` operators; for
    text ones the phrase, with a negation word earlier in its clause exactly when
    the operator is ``lacks``. All matching is case-insensitive, on whole words.
    """
    text = " ".join(statement.split())
    if not text:
        return False
    # the rendered sentence spaced as the statement is (a field may hold a no-break space)
    if text == " ".join(render_statement(conds, then).split()):
        return True
    marker = "\x00"
    rendered = " ".join(render_statement(conds, then, attribute_word=marker).split())
    prefix, _, suffix = rendered.partition(marker)
    if suffix and text.startswith(prefix) and text.endswith(suffix):
        middle = text[len(prefix) : len(text) - len(suffix)]
        if re.fullmatch(r"\w+", middle):
            return True
    low = text.lower()
    if not has_phrase(low, then):
        return False
    fields = {c.field for c in conds if c.field is not None and not c.is_text}
    for cond in conds:
        ok = _text_agrees(low, cond) if cond.is_text else _structured_agrees(low, cond, fields)
        if not ok:
            return False
    return True
