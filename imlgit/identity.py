"""Rule identity: when two rules are the same rule, and which active rule a new
one duplicates.

Learning uses it to find the rule a candidate repeats and the rejected rule it
would bring back; a write (``imlgit rule add`` / ``rule edit``, the learning
engine, ``propose_rule``) is refused on :func:`duplicate_of`; ``imlgit doctor``
reports what slipped past (a file written by hand) with the same tests, and
:func:`small_edit` finds the look-alikes a small edit apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Protocol

from .errors import RuleError
from .rules import RULES_DIR, Rule, parse_rule, rule_id_from_path

if TYPE_CHECKING:
    from .conditions import Condition
    from .store import Store

__all__ = [
    "Described",
    "checkable_form",
    "active_rules",
    "duplicate_of",
    "normalize_statement",
    "same_rule",
    "small_edit",
]

ACTIVE = "active"
_EDIT_WORDS = 2  # a small edit changes this many words at most, in one place
_OPERATOR_RE = re.compile(r"^!?[<>=≤≥≠]+$")  # kept whole: !=, >=, <, ...
_EDGE_PUNCTUATION = ".,;:!?\"'`()[]{}«»“”„‚…*_"
_DASHES = "-‐‑‒–—―"


def normalize_statement(text: str) -> str:
    """A statement as duplicates are compared: case, spacing and punctuation ignored.

    Unicode is NFKC-normalised and case-folded; curly quotes become straight ones;
    punctuation at the edges of words (``. , ; : ! ? " ' ( ) [ ]`` ...) and lone
    dashes are dropped, so a trailing period, commas and quotes do not count.
    Punctuation inside a word (``3.5``, ``don't``, ``e-mail``) and comparison
    operators (``<``, ``>=``, ``!=``) are kept: they change what a rule says.

    >>> normalize_statement('Heavy parcels, abroad, ship by "sea".')
    'heavy parcels abroad ship by sea'
    >>> normalize_statement("If age >= 18 -- and plan != free -- allow it")
    'if age >= 18 and plan != free allow it'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'})
    words = []
    for token in text.split():
        if not _OPERATOR_RE.match(token):
            token = token.strip(_EDGE_PUNCTUATION)
            if not token.strip(_DASHES):
                continue
        words.append(token)
    return " ".join(words)


def checkable_form(rule: Rule) -> tuple[frozenset[Condition], str] | None:
    """The checkable form as duplicates compare it: conditions in any order, then."""
    if rule.when is None or rule.then is None:
        return None
    return frozenset(rule.when), rule.then


class Described(Protocol):
    """What :func:`same_rule` compares: a rule, a learner's candidate, a rejection record."""

    @property
    def scope(self) -> str: ...
    @property
    def statement(self) -> str: ...
    @property
    def when(self) -> Sequence[Condition] | None: ...
    @property
    def then(self) -> str | None: ...


def same_rule(a: Described, b: Described) -> bool:
    """Whether ``a`` and ``b`` are the same rule: the same scope, and the same checkable
    form (conditions in any order, the same ``then``) when both have one, else the
    same statement under :func:`normalize_statement`. Learning uses it to find the
    rule a candidate repeats, and the rejected rule it would bring back."""
    if a.scope != b.scope:
        return False
    if a.when is not None and b.when is not None:
        return frozenset(a.when) == frozenset(b.when) and (a.then or "") == (b.then or "")
    return normalize_statement(a.statement) == normalize_statement(b.statement)


def duplicate_of(rule: Rule, rules: Mapping[str, Rule] | Iterable[Rule]) -> str | None:
    """The id of an active rule among ``rules`` that ``rule`` duplicates, else None.

    A duplicate is an active rule of the same scope, other than ``rule`` itself
    (same id), with the same statement under :func:`normalize_statement`, or the
    same checkable form (the same set of conditions and the same ``then``). A
    retired ``rule`` duplicates nothing. This is the test to refuse a write with
    (``imlgit rule add`` / ``rule edit``, the learning engine); the first match in
    the order of ``rules`` is returned.
    """
    if rule.status != ACTIVE:
        return None
    others = rules.values() if isinstance(rules, Mapping) else rules
    statement = normalize_statement(rule.statement)
    form = checkable_form(rule)
    for other in others:
        if other.id == rule.id or other.status != ACTIVE or other.scope != rule.scope:
            continue
        if normalize_statement(other.statement) == statement:
            return other.id
        if form is not None and checkable_form(other) == form:
            return other.id
    return None


def active_rules(
    store: Store, rev: str | None = None, *, scope: str | None = None
) -> dict[str, Rule]:
    """The active rules at ``rev`` (default: main), to hold a write against with
    :func:`duplicate_of`.

    Invalid files are skipped, so one broken file does not block every write
    (``imlgit check`` and ``imlgit doctor`` report it). With ``scope``, only files
    whose bytes contain the scope's name are parsed: a scope is plain text in the
    front matter (short of YAML escapes), so in a memory of many scopes a write
    parses a fraction of it.
    """
    commit = store.resolve(rev)
    needle = scope.encode("utf-8") if scope is not None else None
    out: dict[str, Rule] = {}
    for path, blob in store.files_under(RULES_DIR, commit):
        if rule_id_from_path(path) is None:
            continue
        data = store.read_blob(blob)
        if needle is not None and needle not in data:
            continue
        try:
            rule = parse_rule(data, path=path)
        except RuleError:
            continue
        if rule.status == ACTIVE and (scope is None or rule.scope == scope):
            out.setdefault(rule.id, rule)
    return out


def small_edit(a: str, b: str) -> str | None:
    """The words statement ``b`` changes of ``a`` when that is a small edit, else None.

    Compared as :func:`normalize_statement` words; small is one place in the
    sentence where at most two words are changed, inserted or dropped, and at
    most a quarter of the longer statement. Equal statements are no edit.

    >>> small_edit("Late invoices are approved.", "Late invoices are rejected.")
    '"approved" -> "rejected"'
    >>> small_edit("Ship it by sea.", "Never ship it by sea.")
    '+"never"'
    """
    wa, wb = normalize_statement(a).split(), normalize_statement(b).split()
    ops = [
        op for op in SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes() if op[0] != "equal"
    ]
    if len(ops) != 1:
        return None
    _, i1, i2, j1, j2 = ops[0]
    changed = max(i2 - i1, j2 - j1)
    if changed > _EDIT_WORDS or 4 * changed > max(len(wa), len(wb)):
        return None
    old, new = " ".join(wa[i1:i2]), " ".join(wb[j1:j2])
    return f'"{old}" -> "{new}"' if old and new else f'+"{new}"' if new else f'-"{old}"'
