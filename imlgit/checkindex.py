"""Finding the rules that can decide a question without looking at the others.

Checked answering (:mod:`imlgit.infer`) picks, among the checkable rules that match
a question, the best by :func:`imlgit.conditions.rank_key`. Testing every rule costs
what memory holds; this index costs what the question shares with memory:

- every rule is filed under one **anchor**, a condition it cannot match without,
  chosen to be the rarest among its conditions: ``field = value`` files it under that
  value, ``contains`` / ``mentions`` under the first word stem of each phrase,
  ``!=`` / ``<`` ... / ``lacks`` under the field's presence; a rule without
  conditions (a default) is a candidate for every question;
- a question looks up only the keys it has (its values, its texts' stems, its
  fields), and walks the candidates in rank order (most conditions, then precision,
  then support, then content order), stopping at the first that matches: the rule
  :func:`imlgit.conditions.choose` would pick from the whole list.

Whether some rule with conditions can be evaluated on a question at all (what lets
class rules answer it) is answered from the distinct sets of fields rules test,
filed under one of their fields, and remembered per set of fields a question has.

:func:`imlgit.infer.decide` over a plain list is the reference; a property test keeps
the two equal (tests/test_checkindex.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Iterator, Sequence

from .conditions import (
    Condition,
    _as_number,
    _phrase_form,
    alternatives,
    analyse,
    checkable,
    matches,
)
from .inputs import OUTPUT_FIELD, View
from .rules import Rule, content_order
from .verify import precision

__all__ = [
    "CheckIndex",
    "RuleFinder",
    "action_of",
    "active_checkable",
    "view_fields",
    "view_keys",
]

Key = tuple[Hashable, ...]
_MEMO_LIMIT = 4096


def _condition_keys(cond: Condition) -> frozenset[Key] | None:
    """The keys a question must have for ``cond`` to hold; None when it has no key
    cheaper than testing it (a phrase without words)."""
    f = cond.field
    if cond.op == "=":
        v = cond.value
        if isinstance(v, str):
            n = _as_number(v)
            keys: set[Key] = {("s", f, v)}
            if n is not None:
                keys.add(("ns", f, n))  # equals a number given as a number
            return frozenset(keys)
        return frozenset({("nx", f, float(v))})
    if cond.op in ("contains", "lacks", "mentions"):
        if cond.op == "lacks":
            return frozenset({("x", f)})
        phrases = alternatives(cond) if cond.op == "mentions" else [str(cond.value)]
        firsts = {_phrase_form(p)[1][:1] for p in phrases}
        firsts.discard(())
        if not firsts:
            return None
        return frozenset(("t", f, first[0]) for first in firsts)
    return frozenset({("f", f)})  # != and the order operators need a value there


_last: list[tuple[View, frozenset[Key]]] = []


def view_keys(view: View) -> frozenset[Key]:
    """Every key a question offers: each value (as text and as a number), each word
    stem of each text, and each field and text that is present."""
    if _last and _last[0][0] is view:
        return _last[0][1]
    got = _view_keys(view)
    _last[:] = [(view, got)]
    return got


def _view_keys(view: View) -> frozenset[Key]:
    keys: set[Key] = set()
    for f, vals in view.values.items():
        if not vals:
            continue
        keys.add(("f", f))
        for v in vals:
            n = _as_number(v)
            if isinstance(v, str):
                keys.add(("s", f, v))
            elif n is not None:
                keys.add(("ns", f, n))
            if n is not None:
                keys.add(("nx", f, n))
    texts: dict[str | None, str] = {p: t for p, t in view.texts.items() if p is not None}
    own = view.text(None)
    if own is not None:
        texts[None] = own
    for p, t in texts.items():
        keys.add(("x", p))
        keys.update(("t", p, s) for s in analyse(t)[1])
    return frozenset(keys)


def view_fields(view: View) -> frozenset[Key]:
    """What :func:`imlgit.conditions.checkable` asks of a question: the fields it has
    and the texts it has."""
    got: set[Key] = {("v", f) for f in view.values}
    got.update(("x", p) for p in view.texts if p is not None)
    if view.text(None) is not None:
        got.add(("x", None))
    return frozenset(got)


def _needs(conds: Sequence[Condition]) -> frozenset[Key]:
    return frozenset(("x", c.field) if c.is_text else ("v", c.field) for c in conds)


class RuleFinder:
    """The rules of one kind (class or outcome) filed by anchor, best first.

    ``rules`` come in content order (ties go to the earlier); ``skip_field``: a field
    never used as an anchor (the action, for outcome rules: every rule of one action
    has it, so it tells nothing)."""

    def __init__(self, rules: Sequence[Rule], *, skip_field: str | None = None) -> None:
        order = sorted(
            range(len(rules)),
            key=lambda i: (-len(rules[i].when or ()), -precision(rules[i]), -rules[i].support, i),
        )
        self.ranked: list[Rule] = [rules[i] for i in order]
        options: list[list[frozenset[Key]]] = []
        counts: dict[Key, int] = {}
        for rule in self.ranked:
            got = [
                ks
                for c in rule.when or ()
                if c.field != skip_field or skip_field is None
                if (ks := _condition_keys(c)) is not None
            ]
            options.append(got)
            for ks in got:
                for k in ks:
                    counts[k] = counts.get(k, 0) + 1
        self.buckets: dict[Key, list[int]] = {}
        self.always: list[int] = []  # defaults, and rules no key can find
        for rank, got in enumerate(options):
            if not got:
                self.always.append(rank)
                continue
            best = min(got, key=lambda ks: sum(counts[k] for k in ks))
            for k in best:
                self.buckets.setdefault(k, []).append(rank)
        # which rules with conditions can be evaluated at all, by the fields they test
        self._by_field: dict[Key, list[frozenset[Key]]] = {}
        for needs in {_needs(r.when) for r in self.ranked if r.when}:
            self._by_field.setdefault(next(iter(needs)), []).append(needs)
        self._evaluable: dict[frozenset[Key], bool] = {}

    def candidates(self, keys: Iterable[Key]) -> Iterator[Rule]:
        """The rules a question with ``keys`` might match, best first, each once."""
        lists = [self.buckets[k] for k in keys if k in self.buckets]
        if self.always:
            lists.append(self.always)
        last = -1
        for rank in heapq.merge(*lists) if len(lists) > 1 else (lists[0] if lists else ()):
            if rank != last:
                last = rank
                yield self.ranked[rank]

    def choose(self, view: View, keys: Iterable[Key] | None = None) -> Rule | None:
        """The rule :func:`imlgit.conditions.choose` picks among the rules checkable
        on ``view`` (``keys``: the view's, when the caller has them)."""
        for rule in self.candidates(view_keys(view) if keys is None else keys):
            when = rule.when or ()
            if checkable(when, view) and matches(when, view):
                return rule
        return None

    def any_evaluable(self, view: View) -> bool:
        """Whether some rule with conditions can be evaluated on ``view``."""
        have = view_fields(view)
        got = self._evaluable.get(have)
        if got is None:
            got = any(
                needs <= have for f in have for needs in self._by_field.get(f, ())
            )
            if len(self._evaluable) >= _MEMO_LIMIT:
                self._evaluable.clear()
            self._evaluable[have] = got
        return got


class CheckIndex:
    """The active checkable rules of one memory (one commit, one scope), filed for
    :func:`imlgit.infer.decide`: class rules in one :class:`RuleFinder`, outcome
    rules in one per action they name."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        from .verify import OUTCOME, kind_of

        active = active_checkable(rules)
        self.plain = RuleFinder([r for r in active if kind_of(r) != OUTCOME])
        by_action: dict[str, list[Rule]] = {}
        for r in active:
            act = action_of(r) if kind_of(r) == OUTCOME else None
            if act is not None:
                by_action.setdefault(act, []).append(r)
        self.outcome = {
            act: RuleFinder(rs, skip_field=OUTPUT_FIELD) for act, rs in by_action.items()
        }
        self.actions = frozenset(self.outcome)
        self._acts_by_key: dict[Key, set[str]] = {}
        for act, finder in self.outcome.items():
            for k in finder.buckets:
                self._acts_by_key.setdefault(k, set()).add(act)
        self._always_acts = {act for act, finder in self.outcome.items() if finder.always}

    # the finder :func:`imlgit.infer.decide` asks

    def any_class_evaluable(self, view: View) -> bool:
        return self.plain.any_evaluable(view)

    def choose_class(self, view: View) -> Rule | None:
        return self.plain.choose(view)

    def outcome_acts(self, view: View) -> list[str]:
        """The actions some outcome rule might say something about for ``view``."""
        acts = set(self._always_acts)
        for k in view_keys(view):
            acts.update(self._acts_by_key.get(k, ()))
        return sorted(acts)

    def choose_outcome(self, act: str, view: View, act_view: View) -> Rule | None:
        finder = self.outcome.get(act)
        return None if finder is None else finder.choose(act_view, view_keys(view))


def active_checkable(rules: Iterable[Rule]) -> list[Rule]:
    """The active checkable rules, in content order (ties in ranking go to the earlier):
    what checked answers choose among, filed or listed."""
    return sorted((r for r in rules if r.status == "active" and r.checkable), key=content_order)


def action_of(rule: Rule) -> str | None:
    """The action an outcome rule is about (its first ``output =`` condition)."""
    for c in rule.when or ():
        if c.field == OUTPUT_FIELD and c.op == "=":
            return str(c.value)
    return None
