"""Environments shaped like what real agents log, each drawn from a seed.

Five shapes (six environments: attributes come flat and written as text):

- ``support-text``: support messages in free English: synonyms, negation, filler,
  the order's age and the price in digits or words with their units;
- ``attr-text`` / ``attr-flat``: ten yes/no attributes written as text in
  varying syntax (``a=yes, b=no``; ``a: yes; b: no``; ``a is yes and b is no``),
  or the same attributes as a flat object;
- ``nested-reward``: a nested tool call (tool, repo, ci); the agent always does
  the same thing and only a reward says whether it worked (5% flaky in training);
- ``bandit``: a flat context, the agent picks one of five routes at random, the
  environment answers only with a reward;
- ``mixed-object``: numbers, categories and a short free-text note.

Every name (products, attributes, routes, classes) is invented and every rule is
drawn from the seed, so no model knows the answers beforehand. The generators
vary their wording on purpose: the learner must not be the generator's mirror.

(``bandit-reward`` is the bandit with a reward-only held-out set: do the rules
predict the reward of a random route.)

Each environment (:class:`Environment`) has the same interface:
``train_test(n_train, n_test, seed)`` gives experiences as JSON objects
(:func:`to_experiences` validates them with
:meth:`~imlgit.experience.Experience.from_dict`), ``hidden_rules()`` the true
rule as checkable rules (None where imlgit's conditions cannot say it: then the
generator's own answers, ``truth``, are the ceiling), ``logged`` whether training
is a fixed reward-only log (the act step must keep it), ``noise`` the share of
flaky outcomes in training.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..conditions import Condition
from ..experience import Experience
from .truthtable import decision_list_to_rules

__all__ = [
    "AttrEnv",
    "Environment",
    "MixedObject",
    "facts_hold",
    "facts_view",
    "to_experiences",
]

Rules = list[tuple[tuple[Condition, ...], str]]
MAX_VIEW_DEPTH = 32


def to_experiences(objects: Sequence[Mapping[str, Any]]) -> list[Experience]:
    """Validate generated JSON objects as experiences (an ExperienceError names the line)."""
    return [Experience.from_dict(o, line=i) for i, o in enumerate(objects, 1)]


def facts_view(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts as one flat mapping: dotted paths, an array as the tuple of its
    scalar elements plus ``PATH.length``. The generators' own reading of their
    hidden rules (the ground truth), kept apart from imlgit's reading of inputs
    (:mod:`imlgit.inputs`), which it is meant to test."""
    out: dict[str, Any] = {}
    _flatten(facts, "", out, 0)
    return out


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, Any], depth: int) -> None:
    if depth > MAX_VIEW_DEPTH:
        return
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, path + ".", out, depth + 1)
        elif isinstance(value, list):
            out[path] = tuple(v for v in value if isinstance(v, (str, int, float, bool)))
            out[f"{path}.length"] = len(value)
        elif value is not None:
            out[path] = value


def facts_hold(cond: Condition, view: Mapping[str, Any]) -> bool:
    """Whether ``cond`` holds on a :func:`facts_view`: ``=`` on an array holds when
    one element is equal, ``!=`` when none is; scalars as imlgit's conditions say."""
    value = view.get(cond.field) if cond.field is not None else None
    if isinstance(value, tuple):
        member = str(cond.value) in {str(v) for v in value}
        if cond.op == "=":
            return member
        if cond.op == "!=":
            return not member
        return False
    if cond.field is None or cond.field not in view:
        return False
    return _scalar_holds(cond, value)


def _scalar_holds(cond: Condition, value: Any) -> bool:
    if isinstance(value, bool):
        value = "yes" if value else "no"
    if cond.is_text:
        words = str(cond.value).lower().split()
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"
        found = re.search(pattern, str(value).lower()) is not None
        return found if cond.op == "contains" else not found
    numeric = isinstance(value, (int, float)) and isinstance(cond.value, (int, float))
    if cond.op in ("=", "!="):
        equal = value == cond.value if numeric else str(value) == str(cond.value)
        return equal if cond.op == "=" else not equal
    if not numeric:
        return False
    a, b = float(value), float(cond.value)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[cond.op]


def _true(conds: Sequence[Condition], view: Mapping[str, Any]) -> bool:
    return all(facts_hold(c, view) for c in conds)


def _decide(clauses: Sequence[tuple[Sequence[Condition], str]], default: str, inp: Any) -> str:
    """The decision list's answer on the facts ``inp``, read through the view the
    benchmark scores rules on (dotted paths, arrays as sets and ``.length``)."""
    view = facts_view(inp)
    for conds, then in clauses:
        if _true(conds, view):
            return then
    return default


def _draw_decision_list(
    rng: random.Random,
    atoms: Sequence[Condition],
    outcomes: Sequence[str],
    default: str,
    make_input: Callable[[random.Random], Any],
    *,
    clauses: int,
    max_share: float,
    min_share: float = 0.06,
    sizes: Sequence[int] = (1, 2, 2),
    default_share: tuple[float, float] = (0.0, 1.0),
) -> tuple[list[tuple[tuple[Condition, ...], str]], str]:
    """A seeded decision list over ``atoms`` (clause ``i`` gives ``outcomes[i]``)
    whose classes are balanced on a probe sample: every clause decides at least
    ``min_share`` of inputs, no class takes more than ``max_share``, and the
    default's share is within ``default_share``."""
    probe_rng = random.Random(rng.random())
    probe = [facts_view(make_input(probe_rng)) for _ in range(800)]
    best: tuple[float, list[tuple[tuple[Condition, ...], str]]] | None = None
    for _ in range(400):
        drawn: list[tuple[tuple[Condition, ...], str]] = []
        for i in range(clauses):
            size = rng.choice(sizes)
            picked: list[Condition] = []
            for atom in rng.sample(list(atoms), len(atoms)):
                if len(picked) == size:
                    break
                if all(a.field != atom.field for a in picked):
                    picked.append(atom)
            drawn.append((tuple(picked), outcomes[i]))
        used = [0] * clauses
        counts: Counter[str] = Counter()
        for inp in probe:
            for i, (conds, then) in enumerate(drawn):
                if _true(conds, inp):
                    used[i] += 1
                    counts[then] += 1
                    break
            else:
                counts[default] += 1
        if min(used) < min_share * len(probe) or counts[default] < min_share * len(probe):
            continue
        low, high = default_share
        if not low <= counts[default] / len(probe) <= high:
            continue
        share = max(counts.values()) / len(probe)
        if best is None or share < best[0]:
            best = (share, drawn)
        if share <= max_share:
            break
    if best is None:
        raise ValueError("cannot draw a balanced hidden rule")
    return best[1], default


class Environment:
    """What every environment shares: ids, scope, the naive agent, the held-out split.

    An input is drawn as *facts* (what the generator knows), then *presented* as
    the agent would log it (text, say); the class is the oracle's answer on the
    facts. ``truth`` keeps the oracle's clean answer per experience id, the ceiling
    where the hidden rule cannot be written as checkable rules.
    """

    name = ""
    classes: tuple[str, ...] = ()
    logged = False  # training is a fixed reward-only log the act step must keep
    noise = 0.0  # share of flaky training outcomes
    scored_by = "is the answer right"

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.truth: dict[str, str] = {}

    def random_facts(self, rng: random.Random) -> Any:
        raise NotImplementedError

    def present(self, facts: Any, rng: random.Random) -> Any:
        """The input the agent logs for ``facts`` (default: the facts themselves)."""
        return facts

    def oracle(self, facts: Any, output: str | None = None) -> str:
        """The generator's own answer on ``facts``: the class (or, for reward-only
        shapes, whether ``output`` works there: ``works`` / ``fails``)."""
        raise NotImplementedError

    def hidden_rules(self) -> Rules | None:
        """The true rule as checkable rules, or None where imlgit cannot say it."""
        return None

    def describe(self) -> str:
        raise NotImplementedError

    def _rng(self, rng_seed: int) -> random.Random:
        return random.Random(f"{self.name}:{self.seed}:sample:{rng_seed}")

    def _id(self, rng_seed: int, i: int) -> str:
        return f"{self.name}-{rng_seed}-{i:05d}"

    def sample(self, n: int, rng_seed: int, noise: float = 0.0) -> list[dict[str, Any]]:
        """``n`` experiences as JSON objects: the true class as ``expected`` (another
        class with probability ``noise``), the naive agent's random guess as ``output``."""
        rng = self._rng(rng_seed)
        out = []
        for i in range(n):
            facts = self.random_facts(rng)
            expected = self.oracle(facts)
            self.truth[self._id(rng_seed, i)] = expected
            if noise and rng.random() < noise:
                expected = rng.choice([c for c in self.classes if c != expected])
            out.append(
                {
                    "id": self._id(rng_seed, i),
                    "scope": self.name,
                    "input": self.present(facts, rng),
                    "output": rng.choice(self.classes),
                    "outcome": {"expected": expected},
                }
            )
        return out

    def train_test(
        self, n_train: int, n_test: int, seed: int
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Training (with the environment's flaky share) and a clean held-out set."""
        return (
            self.sample(n_train, 2 * seed, noise=self.noise),
            self.held_out(n_test, 2 * seed + 1),
        )

    def held_out(self, n: int, rng_seed: int) -> list[dict[str, Any]]:
        return self.sample(n, rng_seed)


# --------------------------------------------------------------------------- attributes

ATTRIBUTES = (
    "brellow", "quintar", "mossick", "tavern-light", "oskel", "fennimore",
    "glatch", "purlow", "zindle", "harrowby",
)  # fmt: skip
ATTR_CLASSES = ("KESTREL", "MORROW")
# noise words around the attributes, none of them written like an attribute itself
_ATTR_PREFIX = ("", "", "record 4471 -> ", "attributes -> ", "flags for this unit ", "audit says ")
_ATTR_SUFFIX = ("", "", "", " (checked by ops)", ". end of record", " -- auto-generated")
_FORMULAS = ("xor", "and-or", "majority", "if-then-else")


class AttrEnv(Environment):
    """Ten yes/no attributes, the class a hidden boolean formula over 2 or 3 of them.

    ``text=True`` writes them as text in varying syntax, order shuffled, with noise
    words around (``attr-text``); else a flat object (``attr-flat``). The same seed
    draws the same formula for both, so the two forms are comparable.
    """

    classes = ATTR_CLASSES

    def __init__(self, seed: int = 0, *, text: bool = False) -> None:
        super().__init__(seed)
        self.text = text
        self.name = "attr-text" if text else "attr-flat"
        rng = random.Random(f"attributes:{seed}")
        self.formula = rng.choice(_FORMULAS)
        size = 2 if self.formula == "xor" else 3
        self.used = tuple(rng.sample(ATTRIBUTES, size))
        self.polarity = tuple(rng.choice((True, False)) for _ in self.used)
        self.positive = rng.choice(ATTR_CLASSES)

    def _truth(self, bits: Sequence[bool]) -> bool:
        b = [x == p for x, p in zip(bits, self.polarity, strict=True)]
        if self.formula == "xor":
            return b[0] != b[1]
        if self.formula == "and-or":  # (a and b) or (not a and c): exactly half
            return (b[0] and b[1]) or (not b[0] and b[2])
        if self.formula == "majority":
            return sum(b) >= 2
        return b[1] if b[0] else not b[2]  # if a then b else not c

    def oracle(self, facts: Any, output: str | None = None) -> str:
        bits = [facts[a] == "yes" for a in self.used]
        other = [c for c in ATTR_CLASSES if c != self.positive][0]
        return self.positive if self._truth(bits) else other

    def random_facts(self, rng: random.Random) -> dict[str, str]:
        return {a: rng.choice(("yes", "no")) for a in ATTRIBUTES}

    def present(self, facts: Any, rng: random.Random) -> Any:
        return self._write(facts, rng) if self.text else dict(facts)

    @staticmethod
    def _write(values: Mapping[str, str], rng: random.Random) -> str:
        names = list(values)
        rng.shuffle(names)
        style = rng.randrange(4)
        if style == 0:
            sep, join = rng.choice(("=", " = ")), rng.choice((", ", ",", " "))
            body = join.join(f"{n}{sep}{values[n]}" for n in names)
        elif style == 1:
            body = "; ".join(f"{n}: {values[n]}" for n in names)
        elif style == 2:
            parts = [f"{n} is {values[n]}" for n in names]
            body = ", ".join(parts[:-1]) + " and " + parts[-1]
        else:  # a mix, as logs written by several hands are
            forms = ("{}={}", "{}: {}", "{} is {}")
            body = ", ".join(rng.choice(forms).format(n, values[n]) for n in names)
        return rng.choice(_ATTR_PREFIX) + body + rng.choice(_ATTR_SUFFIX)

    def hidden_rules(self) -> Rules:
        """One rule per assignment of the formula's attributes (2 or 3 conditions each)."""
        out: Rules = []
        for mask in range(2 ** len(self.used)):
            bits = [bool(mask >> i & 1) for i in range(len(self.used))]
            conds = tuple(
                Condition(a, "=", "yes" if bit else "no")
                for a, bit in zip(self.used, bits, strict=True)
            )
            values = {a: ("yes" if bit else "no") for a, bit in zip(self.used, bits, strict=True)}
            out.append((conds, self.oracle(values)))
        return out

    def describe(self) -> str:
        form = "written as text in varying syntax" if self.text else "as a flat object"
        return (
            f"10 yes/no attributes {form}; the class ({'/'.join(ATTR_CLASSES)}) a hidden "
            f"boolean formula ({self.formula}) over {len(self.used)} of them"
        )


# --------------------------------------------------------------------------- mixed object

CATEGORIES = ("plinth", "morrow", "tessel", "quarn", "vell")
CARRIERS = ("Brisk", "Oxlow", "Fennick")
MIXED_CLASSES = ("HOLD", "INSPECT", "EXPRESS", "STANDARD")
# note keyword -> sentences that use it (the keyword is whole in each)
OBSERVATIONS: dict[str, tuple[str, ...]] = {
    "wet": ("customer says the box arrived wet", "parcel was wet on one side", "wet packaging"),
    "late": ("driver came late", "pickup was late again", "late by a day, customer noticed"),
    "open": ("tape was open when it got there", "box left open at the door", "seal open"),
    "rattling": ("something rattling inside", "rattling noise when shaken", "rattling lid"),
    "signed": ("signed by a neighbour", "signed for at reception", "customer signed twice"),
}
_NOTE_FILLER = (
    "", "see photo", "ticket copied from chat", "no further info", "follow up tomorrow",
    "customer polite", "2nd contact this week",
)  # fmt: skip


class MixedObject(Environment):
    """A flat object with numbers, categories and a short note; the class a hidden
    decision list mixing a numeric threshold, a category and a word in the note."""

    name = "mixed-object"
    classes = MIXED_CLASSES

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        rng = random.Random(f"mixed-object:{seed}")
        word = rng.choice(sorted(OBSERVATIONS))
        category = rng.choice(CATEGORIES)
        threshold = rng.choice((200, 240, 280))
        items = rng.choice((4, 5, 6))
        self.clauses: list[tuple[tuple[Condition, ...], str]] = [
            ((Condition("note", "contains", word), Condition("category", "=", category)), "HOLD"),
            ((Condition("amount", ">", threshold),), "INSPECT"),
            (
                (Condition("carrier", "=", rng.choice(CARRIERS)), Condition("items", "<=", items)),
                "EXPRESS",
            ),
        ]
        self.default = "STANDARD"
        self.word = word

    def random_facts(self, rng: random.Random) -> dict[str, Any]:
        seen = rng.sample(sorted(OBSERVATIONS), rng.choice((0, 1, 1, 2)))
        # the drawn word is common, so the rule that rests on it decides often
        if rng.random() < 0.35 and self.word not in seen:
            seen.append(self.word)
        parts = [rng.choice(OBSERVATIONS[w]) for w in seen]
        parts.append(rng.choice(_NOTE_FILLER))
        rng.shuffle(parts)
        note = ", ".join(p for p in parts if p) or "nothing to report"
        return {
            "amount": round(rng.uniform(5, 400), 2),
            "items": rng.randint(1, 10),
            "category": rng.choice(CATEGORIES),
            "carrier": rng.choice(CARRIERS),
            "note": note,
        }

    def oracle(self, facts: Any, output: str | None = None) -> str:
        return _decide(self.clauses, self.default, facts)

    def hidden_rules(self) -> Rules:
        return decision_list_to_rules(self.clauses, self.default)

    def describe(self) -> str:
        return (
            "a flat object (amount, items, category, carrier, note); 4 classes by a hidden "
            f"decision list on thresholds, a category, a carrier and the word {self.word!r} "
            "in the note"
        )
