"""What conditions see of an input: its fields as dotted paths, and its texts.

Agents log inputs in every shape: a sentence, a flat object, an object nested to
any depth with arrays, attributes written as text (``temp=41.5, stirred=yes``),
numbers inside sentences ("ordered 12 days ago"). :func:`view_of` reads each
into one :class:`View`, so that learning and inference test the same things:

- an object nested in an object is read as dotted paths: ``{"repo": {"protected":
  true}}`` has the field ``repo.protected`` = ``yes`` (booleans read yes/no);
- an array is the set of its elements (``ci.checks`` = {lint, unit}: a test holds
  when it holds for one of them), objects in it add their paths under the
  array's (``steps.name``), and ``PATH.length`` is how many elements it has;
- a string, at the top or in a field, is text (tested with ``contains`` and
  ``lacks``) and also the field's value (tested with ``=``); attributes written in
  it (``name=value``, ``name: value``, "name is value") become fields, and so do
  quantities with what they count: "12 days ago", "3 weeks back", "last week",
  "a fortnight ago" become ``days`` (12, 21, 7, 14), "$40" or "40 dollars"
  ``dollars``, "5 kg" ``kg``, "30%" ``percent``, "3 parcels" ``parcel``. In a text
  at path ``message`` they are ``message.days`` and so on;
- the agent's output is the field ``output`` (an input's own top-level key
  ``output`` is read as ``input.output``).

``docs/EXPERIENCES.md`` says what each shape becomes. Views are bounded: at most
``MAX_VALUES`` values and ``MAX_TEXT`` characters of text are read from one input.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "View",
    "view_of",
    "OUTPUT_FIELD",
    "TEXT_FIELD",
    "words",
    "stem",
    "STOPWORDS",
    "MAX_VALUES",
    "MAX_PATH",
]

FieldValue = str | int | float
OUTPUT_FIELD = "output"
TEXT_FIELD = "text"
MAX_VALUES = 2000
"""Values read from one input (array elements and leaves together); the rest are ignored."""
MAX_PATH = 128
MAX_TEXT = 20_000
"""Characters of one text that attributes and quantities are read from."""
LENGTH = "length"


@dataclass(frozen=True)
class View:
    """One input as conditions test it.

    ``values``: path -> the values found there (one for a scalar, an array's
    elements for an array); ``texts``: path -> text, with ``None`` the input
    itself when it is a string.
    """

    values: Mapping[str, frozenset[FieldValue]]
    texts: Mapping[str | None, str]

    def text(self, path: str | None) -> str | None:
        """The text at ``path``; ``None`` is the input's own text, or its ``text`` field."""
        if path is None:
            got = self.texts.get(None)
            return got if got is not None else self.texts.get(TEXT_FIELD)
        return self.texts.get(path)


# ---------------------------------------------------------------------------
# words


_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself nor of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours yourself yourselves hi hello hey
    please thanks thank i'm i've i'd it's that's there's let's im ive dear also got get just
    us may might must shall yes ok okay""".split()
)
"""Function words: no rule rests on these alone."""

NEGATIONS = frozenset(
    """not no never none nothing nobody without cannot cant isnt arent wasnt werent dont doesnt
    didnt wont wouldnt couldnt shouldnt hasnt havent hadnt neither nor""".split()
)


def words(text: str) -> list[str]:
    """The lowercase words of ``text`` (letters and digits; ``isn't`` is one word)."""
    return [m.group() for m in _WORD_RE.finditer(text.lower())]


def is_negation(word: str) -> bool:
    return word in NEGATIONS or word.endswith("n't")


_VOWELS = frozenset("aeiouy")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A word's form without inflection: ``damaged``, ``damages``, ``damaging`` -> ``damag``.

    A light suffix stripper (plural, past, gerund, adverb, final e), conservative on
    short words; learning and matching both use it, so only consistency matters.
    """
    w = word.lower().replace("'", "")
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ingly") and len(w) > 7:
        w = w[:-5]
    elif w.endswith("edly") and len(w) > 6:
        w = w[:-4]
    elif w.endswith("ing") and len(w) > 5:
        w = w[:-3]
    elif w.endswith("ed") and len(w) > 4:
        w = w[:-2]
    elif w.endswith("ly") and len(w) > 5:
        w = w[:-2]
    elif w.endswith("es") and len(w) > 4 and w[-3] in "sxzh":
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        w = w[:-1]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in _VOWELS and w[-1] not in "lsz":
        w = w[:-1]  # running -> runn -> run
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    if w.endswith("y") and len(w) > 4 and w[-2] not in _VOWELS:
        w = w[:-1] + "i"  # party / parties / partied agree
    return w


# ---------------------------------------------------------------------------
# numbers and quantities in text


_SMALL = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "a": 1, "an": 1, "single": 1, "couple": 2, "few": 3, "several": 3,
    "half": 0.5, "dozen": 12,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}

# unit word -> (field, factor): what a quantity counts, in one unit per field, so that
# "3 weeks" and "21 days" compare.
_UNITS: dict[str, tuple[str, float]] = {}
for _names, _field, _factor in (
    ("second seconds sec secs", "days", 1 / 86400),
    ("minute minutes min mins", "days", 1 / 1440),
    ("hour hours hr hrs", "days", 1 / 24),
    ("day days", "days", 1),
    ("week weeks wk wks", "days", 7),
    ("fortnight fortnights", "days", 14),
    ("month months", "days", 30),
    ("year years yr yrs", "days", 365),
    ("dollar dollars usd bucks", "dollars", 1),
    ("euro euros eur", "euros", 1),
    ("pound pounds gbp quid", "pounds", 1),
    ("cent cents", "dollars", 0.01),
    ("kg kgs kilo kilos kilogram kilograms kilogramme kilogrammes", "kg", 1),
    ("g gram grams gramme grammes", "kg", 0.001),
    ("lb lbs", "kg", 0.4536),
    ("km kms kilometre kilometres kilometer kilometers", "km", 1),
    ("mile miles", "km", 1.609),
    ("percent per cent pct", "percent", 1),
):
    for _name in _names.split():
        _UNITS[_name] = (_field, _factor)
_UNITS["per"] = ("percent", 1)  # "per cent": checked below
_CURRENCY = {"$": "dollars", "€": "euros", "£": "pounds"}
_FIXED = {
    ("yesterday",): 1,
    ("today",): 0,
    ("tonight",): 0,
    ("last", "week"): 7,
    ("last", "month"): 30,
    ("last", "year"): 365,
    ("last", "night"): 1,
    ("this", "morning"): 0,
}
_NUMBER_TOKEN_RE = re.compile(
    r"(?P<cur>[$€£])\s?(?P<camt>\d[\d,]*(?:\.\d+)?)(?:\s?(?P<cscale>k|m|bn)\b)?"
    r"|(?P<num>\d+(?:[.,]\d+)*)(?P<pct>%)?"
    r"|(?P<word>[^\W\d_]+(?:-[^\W\d_]+)?)",
)


def _number_of_digits(text: str) -> float | None:
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".") if text.count(",") == 1 and "." not in text else ""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) < 1e15 else None


def _tidy(value: float) -> int | float:
    value = round(value, 4)
    return int(value) if float(value).is_integer() else value


@dataclass
class _Tok:
    word: str  # lowercase
    start: int
    end: int
    number: float | None = None  # the number it is or starts
    currency: str | None = None
    percent: bool = False


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _NUMBER_TOKEN_RE.finditer(text[:MAX_TEXT].lower()):
        at = (m.start(), m.end())
        if m.group("cur"):
            amount = _number_of_digits(m.group("camt"))
            if amount is not None:
                scale = {"k": 1e3, "m": 1e6, "bn": 1e9}.get(m.group("cscale") or "", 1)
                out.append(_Tok(m.group(), *at, amount * scale, _CURRENCY[m.group("cur")]))
        elif m.group("num"):
            number = _number_of_digits(m.group("num"))
            out.append(_Tok(m.group("num"), *at, number, percent=bool(m.group("pct"))))
        else:
            out.append(_Tok(m.group("word"), *at))
    return out


def _word_number(toks: list[_Tok], i: int) -> tuple[float, int] | None:
    """A number written in words starting at ``toks[i]``: (value, tokens used)."""
    total = 0.0
    current = 0.0
    used = 0
    j = i
    while j < len(toks) and used < 6:
        w = toks[j].word
        parts = w.split("-")
        if len(parts) == 2 and parts[0] in _TENS and parts[1] in _SMALL:
            current += _TENS[parts[0]] + _SMALL[parts[1]]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _SMALL and not (w in ("a", "an") and used):
            if w in ("couple", "few", "several", "dozen", "half") and used and current == 1:
                current = 0  # "a couple", "a few", "a dozen", "a half"
            current += _SMALL[w]
        elif w in _SCALES and used:
            current = max(current, 1) * _SCALES[w]
            if w == "thousand":
                total, current = total + current, 0
        elif w == "and" and used and j + 1 < len(toks) and (
            toks[j + 1].word.split("-")[0] in _SMALL or toks[j + 1].word.split("-")[0] in _TENS
        ):
            pass
        elif w == "of" and used and toks[j - 1].word in ("couple", "few", "dozen"):
            pass
        else:
            break
        used += 1
        j += 1
    if not used:
        return None
    return total + current, used


def quantities(text: str) -> dict[str, list[int | float]]:
    """Quantities written in ``text``, by what they count (see the module docstring)."""
    low = text[:MAX_TEXT].lower()
    toks = _tokens(text)
    out: dict[str, list[int | float]] = {}

    def add(name: str, value: float) -> None:
        bucket = out.setdefault(name, [])
        if len(bucket) < 16:
            bucket.append(_tidy(value))

    i = 0
    while i < len(toks):
        tok = toks[i]
        fixed = next(
            (v for k, v in _FIXED.items() if tuple(t.word for t in toks[i : i + len(k)]) == k),
            None,
        )
        if fixed is not None:
            add("days", fixed)
            i += 1
            continue
        if tok.currency is not None and tok.number is not None:
            add(tok.currency, tok.number)
            i += 1
            continue
        if tok.number is not None:
            value, used = tok.number, 1
        else:
            got = _word_number(toks, i)
            if got is None:
                i += 1
                continue
            value, used = got
        if tok.percent:
            add("percent", value)
            i += used
            continue
        j = i + used
        # a unit follows its number after spaces at most ("12 days", "5kg"), not ", days"
        unit = (
            toks[j].word
            if j < len(toks) and not low[toks[j - 1].end : toks[j].start].strip()
            else None
        )
        if unit == "per" and j + 1 < len(toks) and toks[j + 1].word == "cent":
            add("percent", value)
        elif unit is not None and unit in _UNITS and unit != "per":
            name, factor = _UNITS[unit]
            add(name, value * factor)
        elif (
            tok.number is not None
            and unit is not None
            and unit.isalpha()
            and len(unit) > 2
            and unit not in STOPWORDS
        ):
            add(_singular(unit), value)  # "3 parcels": a count of parcels
        i += max(used, 1)
    return out


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and len(word) > 4 and word[-3] in "sxz":
        return word[:-2]
    if word.endswith(("ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


# ---------------------------------------------------------------------------
# attributes written as text


_ATTR_RE = re.compile(
    r"(?:^|(?<=[\s,;|(\[{]))"
    r"(?P<name>[A-Za-z_][\w.\-]{0,62})\s*(?P<sep>=|:)\s*"
    r"(?P<value>\"[^\"\n]{0,200}\"|'[^'\n]{0,200}'|[^\s,;|)\]}]{1,200})"
)
_IS_RE = re.compile(r"(?<![\w-])(?P<name>[A-Za-z_][\w\-]{0,62})\s+is\s+(?P<value>[^\s,;()]{1,60})")
_SEGMENT_RE = re.compile(r"[,;\n|()]|\band\b|\s--\s|->")
_URLISH = ("http", "https", "ftp", "mailto", "file")


def _scalar_of_text(raw: str) -> FieldValue:
    raw = raw.strip()
    if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) > 1:
        raw = raw[1:-1]
    else:
        raw = raw.rstrip(".!?:")  # the end of a sentence, not the value's
    low = raw.lower()
    if low in ("yes", "true", "y", "on"):
        return "yes"
    if low in ("no", "false", "n", "off"):
        return "no"
    if re.fullmatch(r"[+-]?\d{1,15}", raw):
        return int(raw)
    if re.fullmatch(r"[+-]?\d{0,15}\.\d{1,15}", raw):
        return float(raw)
    return raw


def attributes(text: str) -> dict[str, FieldValue]:
    """Attributes written in ``text``: ``name=value``, ``name: value``, and, in a
    list of short clauses, "name is value". The first value of a name wins."""
    text = text[:MAX_TEXT]
    out: dict[str, FieldValue] = {}
    for m in _ATTR_RE.finditer(text):
        name, value = m.group("name"), m.group("value")
        if m.group("sep") == ":" and (name.lower() in _URLISH or value.startswith("//")):
            continue
        if re.fullmatch(r"\d+", value) and m.group("sep") == ":" and re.fullmatch(r"\d+", name):
            continue  # a time of day, 12:30
        name = name.rstrip(".-").lower()
        if name and name not in out and len(out) < 64:
            out[name] = _scalar_of_text(value)
    # "name is value": in a list of them ("color is red, size is large"), not in prose
    # ("the machine is broken"): read only where two clauses or more give attributes
    said = [m for segment in _SEGMENT_RE.split(text) for m in _IS_RE.finditer(segment)]
    if len(said) + len(out) >= 2:
        for m in said:
            name = m.group("name").lower()
            value = _scalar_of_text(m.group("value"))
            if name not in STOPWORDS and name not in out and value != "" and len(out) < 64:
                out[name] = value
    return out


# ---------------------------------------------------------------------------
# the view


def _norm(value: Any) -> FieldValue | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    return None


class _Builder:
    def __init__(self) -> None:
        self.values: dict[str, set[FieldValue]] = {}
        self.texts: dict[str | None, str] = {}
        self.budget = MAX_VALUES

    def add(self, path: str, value: FieldValue) -> None:
        if self.budget <= 0 or len(path) > MAX_PATH:
            return
        self.budget -= 1
        self.values.setdefault(path, set()).add(value)

    def text(self, path: str | None, text: str) -> None:
        prior = self.texts.get(path)
        self.texts[path] = text if prior is None else f"{prior} | {text}"
        prefix = "" if path is None else f"{path}."
        for name, value in attributes(text).items():
            self.add(prefix + name, value)
        for name, found in quantities(text).items():
            for v in found:
                self.add(prefix + name, v)

    def walk(self, path: str, value: Any, in_array: bool = False) -> None:
        if self.budget <= 0:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                self.walk(f"{path}.{key}" if path else str(key), item, in_array)
            return
        if isinstance(value, (list, tuple)):
            n = 0
            for item in value:
                if isinstance(item, (list, tuple)):
                    for sub in item:
                        self.walk(path, sub, True)
                else:
                    self.walk(path, item, True)
                n += 1
            length = f"{path}.{LENGTH}"
            if not in_array and length not in self.values and len(length) <= MAX_PATH:
                self.values[length] = {n}  # counted even when the values ran out
            return
        scalar = _norm(value)
        if scalar is None:
            return
        self.add(path, scalar)
        if not isinstance(value, str):
            if not in_array and path not in self.texts:
                self.texts[path] = _plain(scalar)
        elif not in_array:
            self.text(path, value)
        elif isinstance(value, str):
            prior = self.texts.get(path)
            self.texts[path] = value if prior is None else f"{prior} | {value}"

    def build(self) -> View:
        return View({k: frozenset(v) for k, v in self.values.items()}, dict(self.texts))


def _plain(value: FieldValue) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _build(inp: Any, output: str | None) -> View:
    b = _Builder()
    if isinstance(inp, str):
        b.text(None, inp)
    elif isinstance(inp, Mapping):
        for key, item in inp.items():
            b.walk("input.output" if key == OUTPUT_FIELD else str(key), item)
    if output is not None:
        b.values[OUTPUT_FIELD] = {output}
    return b.build()


@functools.lru_cache(maxsize=8192)
def _cached(key: str, output: str | None) -> View:
    return _build(json.loads(key), output)


def view_of(inp: Any, output: str | None = None) -> View:
    """The :class:`View` of an input (a string or a JSON object), with ``output`` as
    the field ``output`` when given. A View passes through unchanged."""
    if isinstance(inp, View):
        return inp
    if isinstance(inp, str):
        return _cached(json.dumps(inp), output) if len(inp) < 4096 else _build(inp, output)
    try:
        key = json.dumps(inp, sort_keys=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return _build(inp, output)
    return _cached(key, output) if len(key) < 4096 else _build(inp, output)


def describe(inp: Any, limit: int = 2000) -> str:
    """An input in one line a person (or a model) reads: the text itself, or
    ``path = value`` pairs in the input's order (an array's elements in brackets),
    cut at ``limit`` characters with a marker saying how much was left out."""
    if isinstance(inp, str):
        text = " ".join(inp.split())
    else:
        parts: list[str] = []
        _describe(inp, "", parts, limit)
        text = ", ".join(parts)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 40)].rstrip() + f" ... ({len(text) - limit + 40} more characters)"


def _describe(value: Any, path: str, out: list[str], limit: int) -> None:
    if sum(len(p) + 2 for p in out) > limit:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _describe(item, f"{path}.{key}" if path else str(key), out, limit)
    elif isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            out.append(f"{path} = [{', '.join(_show(v) for v in value)}]")
        else:
            for i, item in enumerate(value):
                _describe(item, f"{path}[{i}]", out, limit)
    elif value is not None:
        out.append(f"{path} = {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return " ".join(value.split())
    return repr(value) if isinstance(value, float) else str(value)
