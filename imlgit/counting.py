"""Counting checkable rules against the evidence, cheaply enough for 10^4 experiences.

Which experiences a rule *decides* depends on every active checkable rule of the
scope and on their figures (the order of :func:`imlgit.conditions.choose`), and
the figures change while a batch is learned, so learning counts several times a
batch, over all the evidence stored so far. What does not change is whether a
rule's conditions hold for an experience. :class:`Tally` numbers the experiences
it is shown, once, and keeps for each condition set the experiences it matches,
and for each outcome the experiences whose correct outcome it is, as bitsets
(Python integers, bit i for experience i): each condition set is evaluated once
per experience, ever, and a count is a few integer operations a rule.

The counts are exactly those of :func:`imlgit.verify.decisions`: class rules
ranked among themselves on the input, outcome rules among themselves on the input
with the output, each experience judged by :func:`imlgit.verify.judge`; an
experience id is counted once, as decided by its last occurrence (the walk of
:meth:`Counted.decisions`, and the fallback when one id comes with different
contents).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .conditions import Condition, RuleStats, matches, rank_key
from .experience import Experience
from .verify import CLASS, OUTCOME, judge, kind_of

__all__ = ["Tally", "Counted"]

MAX_FORMS = 4096  # condition sets whose matches are kept; past that the cache starts over


def _mask(slots: Iterable[int], size: int) -> int:
    """The integer with the bits ``slots`` set (built in one pass, not one OR a bit)."""
    buf = bytearray((size + 7) // 8)
    for s in slots:
        buf[s >> 3] |= 1 << (s & 7)
    return int.from_bytes(buf, "little")


class Tally:
    """Experiences numbered once; condition sets' matches and outcomes kept as bitsets."""

    def __init__(self) -> None:
        self._exps: list[Experience] = []  # slot -> experience (one per distinct content)
        self._of_object: dict[int, int] = {}  # id(experience object) -> slot
        self._objects: list[Experience] = []  # keeps those objects, so an id() is never reused
        self._of_id: dict[str, list[tuple[str, int]]] = {}  # experience id -> (its JSON, slot)
        self._judged: dict[tuple[str, str, bool], tuple[int, int]] = {}  # -> (bits, seen)
        self._matched: dict[tuple[tuple[Condition, ...], str], tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._exps)

    def _slot(self, exp: Experience) -> int:
        slot = self._of_object.get(id(exp))
        if slot is not None:
            return slot
        # Another object with this id (the batch as given, then as stored): the same
        # slot when it says the same, a slot of its own when it does not.
        text = exp.to_json()
        known = self._of_id.setdefault(exp.id, [])
        slot = next((s for t, s in known if t == text), None)
        if slot is None:
            slot = len(self._exps)
            self._exps.append(exp)
            known.append((text, slot))
        self._of_object[id(exp)] = slot
        self._objects.append(exp)
        return slot

    def experience(self, slot: int) -> Experience:
        return self._exps[slot]

    def view(self, evidence: Sequence[Experience]) -> Counted:
        """The evidence to count (a batch's, in its order), numbered.

        Called every batch over all the evidence so far, so the objects seen before
        are looked up in bulk, not one Python call each."""
        found = list(map(self._of_object.get, map(id, evidence)))
        slots = (
            [self._slot(e) if s is None else s for e, s in zip(evidence, found, strict=True)]
            if None in found
            else [s for s in found if s is not None]
        )
        distinct = set(slots)
        repeated = len({self._exps[s].id for s in distinct}) != len(distinct)
        return Counted(self, tuple(evidence), tuple(slots), _mask(distinct, len(self)), repeated)

    def matched(self, when: tuple[Condition, ...], kind: str = CLASS) -> int:
        """The slots whose input (with the output, for outcome rules) ``when`` matches,
        evaluated once per experience."""
        key = (when, kind)
        bits, seen = self._matched.get(key, (0, 0))
        if seen < len(self._exps):
            exps = self._exps
            if kind == OUTCOME:
                new = (
                    s for s in range(seen, len(exps))
                    if exps[s].output is not None and matches(when, exps[s].acted)
                )  # fmt: skip
            else:
                new = (s for s in range(seen, len(exps)) if matches(when, exps[s].view))
            bits |= _mask(new, len(exps))
            if len(self._matched) >= MAX_FORMS and key not in self._matched:
                self._matched.clear()
            self._matched[key] = (bits, len(exps))
        return bits

    def judged(self, then: str, kind: str, right: bool) -> int:
        """The slots where a rule answering ``then`` is right (or wrong): :func:`judge`."""
        key = (then, kind, right)
        bits, seen = self._judged.get(key, (0, 0))
        if seen < len(self._exps):
            exps = self._exps
            new = (s for s in range(seen, len(exps)) if judge(exps[s], then, kind) is right)
            bits |= _mask(new, len(exps))
            self._judged[key] = (bits, len(exps))
        return bits


@dataclass(frozen=True)
class Counted:
    """Evidence numbered by a :class:`Tally`: what it takes to count rules against it."""

    tally: Tally
    experiences: tuple[Experience, ...]
    slots: tuple[int, ...]
    mask: int  # the slots counted
    repeated: bool  # some id comes with different contents (then counts walk the evidence)

    def _decided(self, rules: Sequence[RuleStats], mask: int) -> list[int]:
        """For each rule, the slots of ``mask`` it decides: among the rules of its kind
        that match, ``choose`` takes the highest rank key, the earliest of equals."""
        decided = [0] * len(rules)
        for kind in (CLASS, OUTCOME):
            mine = [i for i in range(len(rules)) if kind_of(rules[i]) == kind]
            order = sorted(mine, key=lambda i: (tuple(-k for k in rank_key(rules[i])), i))
            free = mask
            for i in order:
                if not free:
                    break
                got = self.tally.matched(tuple(rules[i].when), kind) & free
                decided[i] = got
                free &= ~got
        return decided

    def counts(self, rules: Sequence[RuleStats]) -> list[tuple[int, int]]:
        """For each rule, how many experiences it decides right and wrong."""
        if self.repeated:
            out = [[0, 0] for _ in rules]
            for i, ok in self.decisions(rules).values():
                out[i][0 if ok else 1] += 1
            return [(a, b) for a, b in out]
        counts = []
        for rule, got in zip(rules, self._decided(rules, self.mask), strict=True):
            kind = kind_of(rule)
            right = (got & self.tally.judged(rule.then, kind, True)).bit_count()
            wrong = (got & self.tally.judged(rule.then, kind, False)).bit_count()
            counts.append((right, wrong))
        return counts

    def decisions(self, rules: Sequence[RuleStats]) -> dict[tuple[str, str], tuple[int, bool]]:
        """(experience id, kind) -> (index of the rule that decides it, whether it is
        right), in the order of the evidence: the walk :func:`imlgit.verify.decisions`
        makes, one experience at a time (a later occurrence of an id wins)."""
        by_slot: dict[tuple[int, str], int] = {}
        every = _mask(self.slots, len(self.tally))
        for k, got in enumerate(self._decided(rules, every)):
            kind = kind_of(rules[k])
            while got:
                low = got & -got
                by_slot[(low.bit_length() - 1, kind)] = k
                got ^= low
        out: dict[tuple[str, str], tuple[int, bool]] = {}
        for exp, s in zip(self.experiences, self.slots, strict=True):
            for kind in (CLASS, OUTCOME):
                i = by_slot.get((s, kind))
                if i is None:
                    continue
                ok = judge(self.tally.experience(s), rules[i].then, kind)
                if ok is not None:
                    out[(exp.id, kind)] = (i, ok)
        return out


