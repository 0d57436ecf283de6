"""The conditions the learner that needs no model can find, with the experiences each holds for.

Read from the inputs' views (:mod:`imlgit.inputs`), so that nested objects,
arrays, text fields and attributes or quantities written in text are all fields:

- ``path = value`` for a value at a path (booleans read yes/no; an array holds a
  value when one of its elements is it), except long texts, which are not
  categories; ``path != value`` too where the path has 3 to 8 values (a decision
  list's "not what an earlier clause took"; with two values ``=`` the other says it);
- ``path <= t`` and ``path > t`` for numeric paths (quantities in text too: "12
  days ago" is ``days`` 12), thresholds between neighbouring values of different
  classes;
- for each text, ``mentions`` a word said without a negation, in any of its forms
  (``damage`` also finds "damaged"; the learner may list synonyms in it);
  ``contains`` two adjacent words, or a word where it is sometimes negated;
  ``contains "not X"`` where X is negated ("not fragile", "isn't fragile");
  ``lacks`` a word. No condition rests on
  function words alone ("to", "be", "the", "I"), on a negation word alone, or on
  a number written as a word of digits (its quantity is a field).

Each feature carries a bit mask: bit i is set when the condition holds for
training view i, exactly as :func:`imlgit.conditions.holds` evaluates it (a test
keeps the two in step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..conditions import Condition, _as_number, analyse
from ..inputs import OUTPUT_FIELD, STOPWORDS, View, is_negation

__all__ = ["Feature", "features"]

_MAX_EQUAL_NUMBERS = 8  # a numeric field with this few distinct values also gets "="
_MAX_CATEGORY_WORDS = 4  # a longer text is not tested with "="
_MAX_UNEQUAL_VALUES = 8  # a field with more values is not tested with "!="
_MAX_CATEGORY_CHARS = 80


@dataclass(frozen=True)
class Feature:
    cond: Condition
    mask: int  # bit i is set when the condition holds for training view i
    key: str  # what it tests (a field's value or bound, a phrase): once per rule
    bits: float = 0.0  # what naming it costs beyond one condition (listed synonyms)


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


def _cuts(points: list[tuple[float, str | None]], limit: int) -> list[int | float]:
    """Thresholds between neighbouring values whose classes differ (boundary points)."""
    classes: dict[float, set[str | None]] = {}
    for x, y in points:
        classes.setdefault(x, set()).add(y)
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


def _category(value: str | int | float) -> bool:
    if not isinstance(value, str):
        return True
    return len(value) <= _MAX_CATEGORY_CHARS and len(value.split()) <= _MAX_CATEGORY_WORDS


def _structured(
    views: Sequence[View], labels: Sequence[str | None], min_count: int, max_thresholds: int
) -> list[Feature]:
    by_field: dict[str, dict[int, frozenset[str | int | float]]] = {}
    for i, view in enumerate(views):
        for name, values in view.values.items():
            if name != OUTPUT_FIELD:
                by_field.setdefault(name, {})[i] = values
    feats: list[Feature] = []
    for name in sorted(by_field):
        rows = by_field[name]
        numbers: dict[int, list[float]] = {}
        numeric = True
        for i, values in rows.items():
            nums = [_as_number(v) for v in values]
            if any(n is None for n in nums):
                numeric = False
                break
            numbers[i] = [float(n) for n in nums if n is not None]
        # "=": one feature per distinct value (numbers and numeric text compare as numbers)
        groups: dict[tuple[str, object], tuple[str | int | float, int]] = {}
        for i, values in rows.items():
            for v in values:
                if not _category(v):
                    continue
                n = _as_number(v)
                key: tuple[str, object] = ("n", n) if n is not None else ("s", v)
                first, mask = groups.get(key, (v, 0))
                groups[key] = (first, mask | (1 << i))
        distinct_numbers = sum(1 for k in groups if k[0] == "n")
        present = 0
        for i in rows:
            present |= 1 << i
        # "!=" where "=" leaves more than one other value (a decision list's "not an
        # earlier clause"): a few categories, each seen in at least one row
        unequal = 3 <= len(groups) <= _MAX_UNEQUAL_VALUES and not all(k[0] == "n" for k in groups)
        for key in sorted(groups, key=lambda k: (k[0], str(k[1]))):
            if key[0] == "n" and numeric and distinct_numbers > _MAX_EQUAL_NUMBERS:
                continue
            value, mask = groups[key]
            if isinstance(value, float) and value.is_integer() and key[0] == "n":
                value = int(value)
            feats.append(Feature(Condition(name, "=", value), mask, f"=:{name}"))
            if unequal:
                feats.append(Feature(Condition(name, "!=", value), present & ~mask, f"!=:{name}"))
        if numeric and len({x for xs in numbers.values() for x in xs}) > 1:
            points = [(x, labels[i]) for i, xs in numbers.items() for x in xs]
            for t in _cuts(points, max_thresholds):
                low = high = 0
                for i, xs in numbers.items():
                    if min(xs) <= t:
                        low |= 1 << i
                    if max(xs) > t:
                        high |= 1 << i
                feats.append(Feature(Condition(name, "<=", t), low, f"<=:{name}"))
                feats.append(Feature(Condition(name, ">", t), high, f">:{name}"))
    return [f for f in feats if f.mask.bit_count() >= min_count]


def _content(word: str) -> bool:
    return word not in STOPWORDS and not is_negation(word) and not word.isdigit()


def _phrases(text: str) -> dict[str, tuple[str, bool]]:
    """stem key -> (the phrase as written, whether it occurs affirmed) for the words,
    adjacent pairs and negated words of ``text``, read once by
    :func:`imlgit.conditions.analyse`, as :func:`imlgit.conditions.has_phrase` finds them."""
    surface, stems, negated = analyse(text)
    out: dict[str, tuple[str, bool]] = {}

    def add(key: str, phrase: str, affirmed: bool) -> None:
        prior = out.get(key)
        out[key] = (prior[0] if prior else phrase, affirmed or bool(prior and prior[1]))

    for i, (s, w) in enumerate(zip(stems, surface, strict=True)):
        if _content(w):
            add(s, w, not negated[i])
            if negated[i]:
                add(f"not {s}", f"not {w}", False)
        if i + 1 < len(stems):
            w2 = surface[i + 1]
            plain = not (is_negation(w) or w.isdigit() or w2.isdigit())
            if plain and (_content(w) or _content(w2)):
                add(f"{s} {stems[i + 1]}", f"{w} {w2}", False)
    return out


def _text(views: Sequence[View], min_count: int, lacks: bool) -> list[Feature]:
    # a path is text when some value there is more than one word (else "=" tests it)
    prose: set[str | None] = {None, "text"}
    for view in views:
        for path in view.texts:
            if path not in prose and any(
                isinstance(v, str) and (len(v.split()) > 1 or not _category(v))
                for v in view.values.get(path, ())  # type: ignore[arg-type]
            ):
                prose.add(path)
    by_path: dict[str | None, dict[str, tuple[str, int, int]]] = {}
    has_text: dict[str | None, int] = {}
    for i, view in enumerate(views):
        for path, text in view.texts.items():
            if path not in prose:
                continue
            field = None if path in (None, "text") else path
            bit = 1 << i
            has_text[field] = has_text.get(field, 0) | bit
            found = by_path.setdefault(field, {})
            for key, (phrase, affirmed) in _phrases(text).items():
                first, mask, said = found.get(key, (phrase, 0, 0))
                found[key] = (first, mask | bit, said | (bit if affirmed else 0))
    feats: list[Feature] = []
    for field in sorted(by_path, key=lambda p: p or ""):
        all_mask = has_text[field]
        for key in sorted(by_path[field]):
            phrase, mask, said = by_path[field][key]
            if mask.bit_count() < min_count or mask == all_mask:
                continue
            single = " " not in key
            if single and said.bit_count() >= min_count:
                # said without a negation; the synonyms of a word can join it
                said_cond = Condition(field, "mentions", phrase)
                feats.append(Feature(said_cond, said, f"m:{field}:{key}"))
            if not single or said != mask:
                found_cond = Condition(field, "contains", phrase)
                feats.append(Feature(found_cond, mask, f"t:{field}:{key}"))
            if lacks and single:
                feats.append(
                    Feature(Condition(field, "lacks", phrase), all_mask & ~mask, f"t:{field}:{key}")
                )
    return feats


def features(
    views: Sequence[View],
    labels: Sequence[str | None],
    *,
    min_count: int,
    max_thresholds: int = 32,
    text_lacks: bool = True,
) -> list[Feature]:
    """Every feature that holds for at least ``min_count`` of ``views``."""
    return _structured(views, labels, min_count, max_thresholds) + _text(
        views, min_count, text_lacks
    )
