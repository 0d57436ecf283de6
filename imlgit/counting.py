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

The counts are exactly those of applying ``choose`` to each experience in turn:
an experience id is counted once, as decided by its last occurrence with a known
outcome that some rule matches (:meth:`Counted.decisions` is that walk, and the
fallback when one id comes with different contents).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .conditions import Condition, RuleStats, matches, rank_key
from .experience import Experience

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
        self._label: list[str | None] = []  # slot -> the known correct outcome
        self._outcome: dict[str, tuple[int, int]] = {}  # outcome -> (slots with it, slots seen)
        self._matched: dict[tuple[Condition, ...], tuple[int, int]] = {}  # -> (bits, seen)

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
            self._label.append(exp.label)
            known.append((text, slot))
        self._of_object[id(exp)] = slot
        self._objects.append(exp)
        return slot

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
        known = [s for s in set(slots) if self._label[s] is not None]
        # one slot an id (each slot is one experience) unless an id says different things
        repeated = len({self._exps[s].id for s in known}) != len(known)
        return Counted(self, tuple(evidence), tuple(slots), _mask(known, len(self)), repeated)

    def matched(self, when: tuple[Condition, ...]) -> int:
        """The slots whose input ``when`` matches (evaluated once per experience)."""
        bits, seen = self._matched.get(when, (0, 0))
        if seen < len(self._exps):
            new = (s for s in range(seen, len(self._exps)) if matches(when, self._exps[s].input))
            bits |= _mask(new, len(self._exps))
            if len(self._matched) >= MAX_FORMS and when not in self._matched:
                self._matched.clear()
            self._matched[when] = (bits, len(self._exps))
        return bits

    def right(self, outcome: str) -> int:
        """The slots whose known correct outcome is ``outcome``."""
        bits, seen = self._outcome.get(outcome, (0, 0))
        if seen < len(self._exps):
            new = (s for s in range(seen, len(self._exps)) if self._label[s] == outcome)
            bits |= _mask(new, len(self._exps))
            self._outcome[outcome] = (bits, len(self._exps))
        return bits


@dataclass(frozen=True)
class Counted:
    """Evidence numbered by a :class:`Tally`: what it takes to count rules against it."""

    tally: Tally
    experiences: tuple[Experience, ...]
    slots: tuple[int, ...]
    mask: int  # the slots counted: those with a known outcome
    repeated: bool  # some id comes with different contents (then counts walk the evidence)

    def _decided(self, rules: Sequence[RuleStats]) -> list[int]:
        """For each rule, the slots it decides: among the rules that match, ``choose``
        takes the highest rank key, the earliest of equals."""
        order = sorted(range(len(rules)), key=lambda i: (tuple(-k for k in rank_key(rules[i])), i))
        free = self.mask
        decided = [0] * len(rules)
        for i in order:
            if not free:
                break
            got = self.tally.matched(tuple(rules[i].when)) & free
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
        for rule, got in zip(rules, self._decided(rules), strict=True):
            right = (got & self.tally.right(rule.then)).bit_count()
            counts.append((right, got.bit_count() - right))
        return counts

    def decisions(self, rules: Sequence[RuleStats]) -> dict[str, tuple[int, bool]]:
        """experience id -> (index of the rule that decides it, whether it is right),
        in the order of the evidence: the walk ``choose`` makes, one experience at a time."""
        by_slot: dict[int, int] = {}
        for k, got in enumerate(self._decided_all(rules)):
            while got:
                low = got & -got
                by_slot[low.bit_length() - 1] = k
                got ^= low
        out: dict[str, tuple[int, bool]] = {}
        labels = self.tally._label
        for exp, s in zip(self.experiences, self.slots, strict=True):
            i = by_slot.get(s)
            if i is not None and labels[s] is not None:
                out[exp.id] = (i, rules[i].then == labels[s])
        return out

    def _decided_all(self, rules: Sequence[RuleStats]) -> list[int]:
        """As :meth:`_decided`, over every slot of the evidence with a known outcome
        (each occurrence of a repeated id, for :meth:`decisions` to walk)."""
        labelled = _mask((s for s in self.slots if self.tally._label[s] is not None),
                         len(self.tally))
        return Counted(self.tally, (), (), labelled, False)._decided(rules)
