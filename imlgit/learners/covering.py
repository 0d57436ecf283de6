"""A learner that needs no model: sequential covering over attributes and words.

From labelled experiences it induces checkable rules (``when`` conditions and a
``then`` class) in the style of CN2 and RIPPER:

* features: ``field = value`` for categorical attributes (booleans read yes/no),
  ``field <= t`` and ``field > t`` for numeric ones, and for text ``contains`` a
  word or a two-word phrase, or ``lacks`` a word;
* for each class but the commonest, rarest first, a beam search looks for the
  conjunction (at most ``max_conditions``) that tells the class's experiences not
  yet covered from every experience of the other classes. A candidate's score is
  its FOIL gain minus the bits needed to name its conditions (``log2 C(F, k)`` for
  k of F features), a minimum-description-length test: a rule must pay for
  itself, so label noise does not carve many tiny rules. The best candidate that
  is precise enough (the Wilson upper bound of its precision, z = 1.5, reaches
  ``min_precision``) is kept, the experiences it covers are set aside, and the
  search repeats until it finds nothing or fewer than ``min_coverage`` remain;
* a default rule (no conditions: the commonest class among experiences no rule
  matches) closes the set.

Inference applies rules with :func:`imlgit.conditions.choose` (most conditions,
then precision, then support), not in the order they were learned. Rules grown
against all other classes mostly do not depend on an order; for the rest, the
training experiences are replayed under ``choose``: a rule that wins experiences
that a lower-ranked matching rule of the right class would have got right is split
into narrower rules that exclude them (or dropped), when that makes at least
``min_coverage`` more training experiences come out right.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..conditions import Condition, Coverage, Input, choose, evaluate, holds, parse_then
from ..errors import RuleError
from ..experience import Experience

_WORD_RE = re.compile(r"\w+")
_SPACE_RE = re.compile(r"\s+")
_MAX_EQUAL_NUMBERS = 8  # a numeric field with this few distinct values also gets "="
_Z = 1.5  # the Wilson bound that judges "precise enough"
_SPLIT_LIMIT = 4
_REPLAY_ROUNDS = 20


@dataclass
class InducedRule:
    """A learned checkable rule with the training experiences that back it."""

    when: tuple[Condition, ...]
    then: str
    covered: list[str]
    correct: list[str]
    rationale: str

    @property
    def precision(self) -> float:
        return len(self.correct) / len(self.covered) if self.covered else 0.0

    @property
    def support(self) -> int:
        return len(self.correct)

    @property
    def wrong(self) -> list[str]:
        right = set(self.correct)
        return [i for i in self.covered if i not in right]


@dataclass(frozen=True)
class _Feature:
    cond: Condition
    mask: int  # bit i is set when the condition holds for training experience i
    key: str  # what it tests (a field's value or bound, a phrase): once per rule


Learned = list[tuple[tuple[_Feature, ...], str]]


def _popcount(x: int) -> int:
    return x.bit_count()


def _bits(indices: Iterable[int]) -> int:
    mask = 0
    for i in indices:
        mask |= 1 << i
    return mask


def _norm(value: str | int | float | bool) -> str | int | float:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _between(a: float, b: float) -> int | float:
    """The shortest number t with a <= t < b (a threshold that reads well)."""
    if math.floor(a) + 1 <= b and float(a).is_integer():
        return int(a)
    mid = (a + b) / 2
    for digits in range(12):
        t = round(mid, digits)
        if a <= t < b:
            return int(t) if digits == 0 else t
    return mid


def _cuts(
    values: dict[int, str | int | float], labels: Sequence[str], limit: int
) -> list[int | float]:
    """Thresholds between neighbouring values whose classes differ (boundary points)."""
    classes: dict[float, set[str]] = {}
    for i, x in values.items():
        classes.setdefault(float(x), set()).add(labels[i])
    ordered = sorted(classes)
    cuts = [
        _between(a, b)
        for a, b in zip(ordered, ordered[1:], strict=False)
        if classes[a] != classes[b] or len(classes[a]) > 1
    ]
    if len(cuts) > limit:
        step = len(cuts) / limit
        cuts = [cuts[int(k * step)] for k in range(limit)]
    return cuts


def _structured_features(
    inputs: Sequence[Input], labels: Sequence[str], min_count: int, max_thresholds: int
) -> list[_Feature]:
    by_field: dict[str, dict[int, str | int | float]] = {}
    for i, inp in enumerate(inputs):
        if isinstance(inp, str):
            continue
        for name, value in inp.items():
            by_field.setdefault(name, {})[i] = _norm(value)
    feats: list[_Feature] = []
    for name in sorted(by_field):
        values = by_field[name]
        numeric = all(isinstance(v, (int, float)) for v in values.values())
        distinct = sorted(set(values.values()), key=lambda v: (type(v).__name__, v))
        if not numeric or len(distinct) <= _MAX_EQUAL_NUMBERS:
            # '=' between texts is string equality: one pass groups the experiences by
            # value (mixed with numbers, "1" = 1 holds, so each value is tested instead)
            groups: dict[str | int | float, list[int]] | None = None
            if all(isinstance(v, str) for v in distinct):
                groups = {}
                for i, v in values.items():
                    groups.setdefault(v, []).append(i)
            for v in distinct:
                cond = Condition(name, "=", v)
                if groups is not None:
                    mask = _bits(groups[v])
                else:
                    mask = _bits(i for i in values if holds(cond, inputs[i]))
                feats.append(_Feature(cond, mask, f"=:{name}"))
        if numeric and len(distinct) > 1:
            for t in _cuts(values, labels, max_thresholds):
                low = _bits(i for i, x in values.items() if float(x) <= t)
                high = _bits(i for i, x in values.items() if float(x) > t)
                feats.append(_Feature(Condition(name, "<=", t), low, f"<=:{name}"))
                feats.append(_Feature(Condition(name, ">", t), high, f">:{name}"))
    return [f for f in feats if _popcount(f.mask) >= min_count]


def _phrases(text: str) -> set[str]:
    """Words and adjacent word pairs, as ``contains`` finds them."""
    low = text.lower()
    words = list(_WORD_RE.finditer(low))
    out = {m.group() for m in words}
    for a, b in zip(words, words[1:], strict=False):
        if _SPACE_RE.fullmatch(low[a.end() : b.start()]):
            out.add(f"{a.group()} {b.group()}")
    return out


def _text_features(inputs: Sequence[Input], min_count: int, lacks: bool) -> list[_Feature]:
    masks: dict[str, int] = {}
    text_mask = 0
    for i, inp in enumerate(inputs):
        if not isinstance(inp, str):
            continue
        text_mask |= 1 << i
        for phrase in _phrases(inp):
            masks[phrase] = masks.get(phrase, 0) | (1 << i)
    feats: list[_Feature] = []
    for phrase in sorted(masks):
        mask = masks[phrase]
        if _popcount(mask) < min_count or mask == text_mask:
            continue
        feats.append(_Feature(Condition(None, "contains", phrase), mask, f"t:{phrase}"))
        if lacks and " " not in phrase:
            lacking = text_mask & ~mask
            feats.append(_Feature(Condition(None, "lacks", phrase), lacking, f"t:{phrase}"))
    return feats


def _upper(p: int, n: int, z: float) -> float:
    """The Wilson upper bound of a precision ``p / (p + n)``."""
    total = p + n
    if total == 0:
        return 1.0
    phat = p / total
    centre = phat + z * z / (2 * total)
    spread = z * math.sqrt(phat * (1 - phat) / total + z * z / (4 * total * total))
    return (centre + spread) / (1 + z * z / total)


class _Grower:
    """Rule search over bit masks: bit i of a mask is training experience i."""

    def __init__(
        self,
        features: list[_Feature],
        labels: list[str],
        *,
        max_conditions: int,
        min_coverage: int,
        min_precision: float,
        beam_width: int,
    ) -> None:
        self.features = features
        self.labels = labels
        self.n = len(labels)
        self.all = (1 << self.n) - 1
        self.class_mask: dict[str, int] = {}
        for i, y in enumerate(labels):
            self.class_mask[y] = self.class_mask.get(y, 0) | (1 << i)
        self.max_conditions = max_conditions
        self.min_coverage = min_coverage
        self.min_precision = min_precision
        self.beam_width = beam_width
        n_feats = max(len(features), 2)
        # bits to name k conditions out of n_feats features
        self.cost = [math.log2(max(1, math.comb(n_feats, k))) for k in range(max_conditions + 1)]

    def precise(self, p: int, n: int) -> bool:
        """Whether ``p`` right of ``p + n`` is consistent with ``min_precision``."""
        return _upper(p, n, _Z) >= self.min_precision

    def mask_of(self, rule: tuple[_Feature, ...]) -> int:
        cov = self.all
        for f in rule:
            cov &= f.mask
        return cov

    def search(self, pos: int, neg: int, pos_all: int) -> tuple[tuple[_Feature, ...], int] | None:
        """Beam search for the best rule for the positives ``pos`` against ``neg``.

        Score: FOIL gain from the empty rule minus the bits to name the conditions.
        The best-scoring rule with a positive score, at least ``min_coverage``
        positives and a precision (counting every experience of the class,
        ``pos_all``) consistent with ``min_precision`` wins; ties go to fewer
        conditions, more positives, then the candidate found first.
        """
        p0, n0 = _popcount(pos), _popcount(neg)
        if p0 == 0:
            return None
        root = math.log2(p0 / (p0 + n0))
        beam: list[tuple[tuple[_Feature, ...], int]] = [((), self.all)]
        seen: set[int] = {self.all}
        best: tuple[float, int, int, int] | None = None
        best_rule: tuple[tuple[_Feature, ...], int] | None = None
        order = 0
        for depth in range(1, self.max_conditions + 1):
            children: list[tuple[float, int, int, tuple[_Feature, ...], int]] = []
            for rule, cov in beam:
                if not cov & neg:
                    continue  # pure already: narrowing cannot help
                used = {f.key for f in rule}
                for f in self.features:
                    if f.key in used:
                        continue
                    c2 = cov & f.mask
                    if c2 in seen:
                        continue
                    p2 = _popcount(c2 & pos)
                    if p2 < self.min_coverage:
                        continue
                    seen.add(c2)
                    n2 = _popcount(c2 & neg)
                    gain = p2 * (math.log2(p2 / (p2 + n2)) - root)
                    order += 1
                    children.append((gain, p2, -order, rule + (f,), c2))
                    score = gain - self.cost[depth]
                    if score > 0 and self.precise(_popcount(c2 & pos_all), n2):
                        key = (score, -depth, p2, -order)
                        if best is None or key > best:
                            best, best_rule = key, (rule + (f,), c2)
            children.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
            beam = [(c[3], c[4]) for c in children[: self.beam_width]]
            if not beam:
                break
        return best_rule

    def narrow(
        self, pos: int, neg: int, start: tuple[_Feature, ...]
    ) -> tuple[tuple[_Feature, ...], int]:
        """Add conditions to ``start`` (largest FOIL gain first) while they exclude ``neg``."""
        rule = list(start)
        cov = self.mask_of(start)
        p, n = _popcount(cov & pos), _popcount(cov & neg)
        while len(rule) < self.max_conditions and n > 0 and p > 0:
            used = {f.key for f in rule}
            base = math.log2(p / (p + n))
            best: tuple[float, int, int] | None = None
            best_f: _Feature | None = None
            for idx, f in enumerate(self.features):
                if f.key in used:
                    continue
                c2 = cov & f.mask
                p2, n2 = _popcount(c2 & pos), _popcount(c2 & neg)
                if p2 < self.min_coverage or n2 == n:
                    continue
                key = (p2 * (math.log2(p2 / (p2 + n2)) - base), p2, -idx)
                if best is None or key > best:
                    best, best_f = key, f
            if best is None or best_f is None or best[0] <= 0:
                break
            rule.append(best_f)
            cov &= best_f.mask
            p, n = _popcount(cov & pos), _popcount(cov & neg)
        return tuple(rule), cov


def _usable_label(label: str | None) -> bool:
    if label is None:
        return False
    try:
        parse_then(label)
    except RuleError:
        return False
    return True


def induce_rules(
    experiences: Iterable[Experience],
    *,
    max_conditions: int = 4,
    min_coverage: int = 2,
    min_precision: float = 0.9,
    text_lacks: bool = True,
    max_thresholds: int = 32,
    beam_width: int = 6,
    default: bool = True,
) -> list[InducedRule]:
    """Induce checkable rules from the experiences whose correct outcome is known.

    Experiences without a label (or with one that is not a one-line outcome) are
    ignored. Returns the rules in the order learned (class by class, rarest
    first), then, with ``default``, the default rule (with ``default=False`` the
    commonest class gets rules too and nothing closes the set). Apply them with
    :func:`predict`. Deterministic: ties go to the feature first in sorted order.
    """
    if max_conditions < 1 or min_coverage < 1 or beam_width < 1:
        raise ValueError("max_conditions, min_coverage and beam_width must be at least 1")
    if not 0.0 < min_precision <= 1.0:
        raise ValueError("min_precision must be in (0, 1]")
    data = [e for e in experiences if _usable_label(e.label)]
    if not data:
        return []
    inputs = [e.input for e in data]
    labels = [str(e.label) for e in data]
    features = _structured_features(inputs, labels, min_coverage, max_thresholds)
    features += _text_features(inputs, min_coverage, text_lacks)
    grower = _Grower(
        features,
        labels,
        max_conditions=max_conditions,
        min_coverage=min_coverage,
        min_precision=min_precision,
        beam_width=beam_width,
    )
    counts = Counter(labels)
    classes = sorted(counts, key=lambda c: (counts[c], c))
    learned: Learned = []
    for cls in classes[:-1] if default else classes:
        pos_all = grower.class_mask[cls]
        neg = grower.all & ~pos_all
        remaining = pos_all
        while _popcount(remaining) >= min_coverage:
            found = grower.search(remaining, neg, pos_all)
            if found is None:
                break
            rule, cov = found
            learned.append((rule, cls))
            remaining &= ~cov
    learned = _replay(grower, learned)
    return _finish(data, labels, learned, default, grower)


def _winners(grower: _Grower, learned: Learned, masks: list[int]) -> list[int | None]:
    """For each training experience, the index of the rule :func:`choose` picks."""
    keys = []
    for (rule, cls), cov in zip(learned, masks, strict=True):
        covered = _popcount(cov)
        correct = _popcount(cov & grower.class_mask[cls])
        keys.append((len(rule), correct / covered if covered else 0.0, correct))
    winners: list[int | None] = []
    for i in range(grower.n):
        bit = 1 << i
        best: int | None = None
        for k, cov in enumerate(masks):
            if cov & bit and (best is None or keys[k] > keys[best]):
                best = k
        winners.append(best)
    return winners


def _training_accuracy(grower: _Grower, learned: Learned) -> int:
    """How many training experiences the rules, and a default, get right under choose."""
    winners = _winners(grower, learned, [grower.mask_of(r) for r, _ in learned])
    pairs = list(zip(grower.labels, winners, strict=True))
    rest = Counter(y for y, w in pairs if w is None)
    by_rules = sum(1 for y, w in pairs if w is not None and learned[w][1] == y)
    return by_rules + (max(rest.values()) if rest else 0)


def _split(grower: _Grower, rule: tuple[_Feature, ...], cls: str, stolen: int) -> Learned:
    """Narrower rules that together keep what ``rule`` gets right, without ``stolen``."""
    remaining = grower.mask_of(rule) & grower.class_mask[cls]
    out: Learned = []
    while len(out) < _SPLIT_LIMIT and _popcount(remaining) >= grower.min_coverage:
        grown, cov = grower.narrow(remaining, stolen, rule)
        if len(grown) == len(rule) or _popcount(cov & remaining) < grower.min_coverage:
            break
        out.append((grown, cls))
        remaining &= ~cov
    return out


def _replay(grower: _Grower, learned: Learned) -> Learned:
    """Replay training under :func:`choose`; repair rules that win where they should not.

    A rule steals an experience when it wins it under the choose order and gets it
    wrong, while a lower-ranked matching rule has the right class. The rule that
    steals most is split into narrower rules that exclude what it steals, or else
    dropped; a change is kept only if at least ``min_coverage`` more training
    experiences come out right.
    """
    settled: set[tuple[tuple[_Feature, ...], str]] = set()
    score = _training_accuracy(grower, learned)
    for _ in range(_REPLAY_ROUNDS):
        masks = [grower.mask_of(r) for r, _ in learned]
        winners = _winners(grower, learned, masks)
        stolen = [0] * len(learned)
        for i, (y, w) in enumerate(zip(grower.labels, winners, strict=True)):
            if w is None or learned[w][1] == y:
                continue
            bit = 1 << i
            if any(cls == y and masks[k] & bit for k, (_, cls) in enumerate(learned)):
                stolen[w] |= bit
        candidates = [k for k in range(len(learned)) if stolen[k] and learned[k] not in settled]
        if not candidates:
            break
        k = min(candidates, key=lambda j: (-_popcount(stolen[j]), j))
        rule, cls = learned[k]
        options: list[Learned] = []
        split = _split(grower, rule, cls, stolen[k])
        if split:
            options.append(learned[:k] + split + learned[k + 1 :])
        options.append(learned[:k] + learned[k + 1 :])
        for option in options:
            new_score = _training_accuracy(grower, option)
            if new_score >= score + grower.min_coverage:
                learned, score = option, new_score
                break
        else:
            settled.add((rule, cls))
    return learned


def _figures(covered: int, correct: int) -> str:
    noun = "experience" if covered == 1 else "experiences"
    return f"covers {covered} {noun} and gets {correct} right"


def _ids(data: list[Experience], mask: int) -> list[str]:
    """The ids of the experiences whose bits ``mask`` sets, in order."""
    out = []
    while mask:
        low = mask & -mask
        out.append(data[low.bit_length() - 1].id)
        mask ^= low
    return out


def _finish(
    data: list[Experience], labels: list[str], learned: Learned, default: bool, grower: _Grower
) -> list[InducedRule]:
    counts = Counter(labels)
    out: list[InducedRule] = []
    matched = 0  # the experiences some rule matches
    for rule, cls in learned:
        when = tuple(f.cond for f in rule)
        # a rule's features' masks are where its conditions hold: what evaluate finds
        mask = grower.mask_of(rule)
        matched |= mask
        right = grower.class_mask[cls]
        cov = Coverage(_ids(data, mask), _ids(data, mask & right), _ids(data, mask & ~right))
        others = len(labels) - counts[cls]
        out.append(
            InducedRule(
                when=when,
                then=cls,
                covered=cov.covered,
                correct=cov.correct,
                rationale=(
                    f"{_figures(len(cov.covered), len(cov.correct))} "
                    f"(precision {cov.precision:.2f}); learned for {cls} from "
                    f"{counts[cls]} experiences of that class against {others} of other classes."
                ),
            )
        )
    if not default:
        return out
    uncovered = [y for i, y in enumerate(labels) if not matched >> i & 1]
    pool = Counter(uncovered) if uncovered else counts
    top = max(pool.values())
    cls = min(c for c in pool if pool[c] == top)
    cov = evaluate((), cls, data)
    if uncovered:
        right = sum(1 for y in uncovered if y == cls)
        why = (
            f"it decides the {len(uncovered)} experiences no other rule matches "
            f"and gets {right} of them right"
        )
    else:
        why = "every experience matched another rule, so it takes the commonest class"
    out.append(
        InducedRule(
            when=(),
            then=cls,
            covered=cov.covered,
            correct=cov.correct,
            rationale=f"default rule: {_figures(len(cov.covered), len(cov.correct))}; {why}.",
        )
    )
    return out


def predict(rules: Sequence[InducedRule], input: Input) -> tuple[str, int] | None:
    """The class the rules give ``input`` and the deciding rule's index (see ``choose``)."""
    return choose(rules, input)


def accuracy(rules: Sequence[InducedRule], experiences: Iterable[Experience]) -> float:
    """Share of labelled experiences the rules answer correctly (no answer is wrong)."""
    right = total = 0
    for e in experiences:
        if e.label is None:
            continue
        total += 1
        got = choose(rules, e.input)
        right += got is not None and got[0] == e.label
    return right / total if total else 0.0
