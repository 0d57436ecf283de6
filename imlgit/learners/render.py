"""How experiences and questions look in a language model's prompt, bounded in size.

An input is shown as compact JSON, nested as the agent logged it: long strings,
long arrays, wide objects and deep nesting are shortened with a marker, and the
whole input is cut at a bound with a marker saying how long it was. An outcome is
a phrase a model reads at a glance: ``expected VESPER``, ``did git push --force,
reward 0 (failed)``. :func:`fields` lists the dotted paths a ``when`` condition
may name (``repo.protected``, ``tool.args.path``, an array's ``tags`` and
``tags.length``), and ``output`` for the action the agent took.

Everything here takes raw values, so it renders an input of any shape an
experience may carry, and a question asked of ``imlgit ask``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..experience import REWARD_RIGHT, Experience
from ..inputs import OUTPUT_FIELD, view_of

__all__ = [
    "CUT",
    "MAX_INPUT_CHARS",
    "fields",
    "outcome_phrase",
    "render_input",
]

MAX_INPUT_CHARS = 600  # one experience's input in a prompt
MAX_STRING_CHARS = 200  # one string inside an input
MAX_ITEMS = 20  # elements of an array, keys of an object, shown
MAX_DEPTH = 8  # nesting shown; deeper is a marker
MAX_FIELDS = 200  # paths offered to a model as condition fields
MAX_FEEDBACK_CHARS = 200
CUT = "…"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + CUT


def _shorten(value: Any, depth: int = 0) -> Any:
    """``value`` with long strings, long arrays, wide objects and deep nesting marked."""
    if isinstance(value, str):
        return _short(value, MAX_STRING_CHARS)
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            return CUT
        items = list(value.items())
        out = {str(k)[:MAX_STRING_CHARS]: _shorten(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out[CUT] = f"{len(items) - MAX_ITEMS} more keys"
        return out
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return CUT
        shown = [_shorten(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            shown.append(f"{CUT} {len(value) - MAX_ITEMS} more")
        return shown
    if isinstance(value, float) and value != value:  # NaN is no JSON
        return None
    return value


def render_input(value: Any, limit: int = MAX_INPUT_CHARS) -> str:
    """``value`` as compact JSON, at most ``limit`` characters; a cut one ends with
    a marker giving its full length."""
    # a text input is one long string: it gets the whole bound, not a field's share
    short = _short(value, limit) if isinstance(value, str) else _shorten(value)
    text = json.dumps(short, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) <= limit:
        return text
    marker = f"{CUT}[cut: {len(text)} characters]"
    return text[: max(limit - len(marker), 0)] + marker


def _number(value: float) -> str:
    return f"{value:g}"


def outcome_phrase(e: Experience) -> str:
    """The outcome as a phrase: what the agent did, what was expected, the reward,
    the feedback: ``did LUMEN, expected VESPER (wrong)``, ``did git push --force,
    reward 0 (failed)``, ``expected VESPER``."""
    o = e.outcome
    parts = []
    if e.output is not None:
        parts.append(f"did {_short(' '.join(e.output.split()), MAX_STRING_CHARS)}")
    if o.expected is not None:
        verdict = "" if e.output is None else (" (right)" if e.output == o.expected else " (wrong)")
        parts.append(f"expected {_short(o.expected, MAX_STRING_CHARS)}{verdict}")
    if o.reward is not None:
        verdict = "worked" if o.reward >= REWARD_RIGHT else "failed"
        if e.output is None and o.expected is None:
            verdict += "; the action is not recorded"
        parts.append(f"reward {_number(o.reward)} ({verdict})")
    phrase = ", ".join(parts) or "no expected answer or reward"
    if o.text is not None:
        phrase += f"; feedback: {_short(' '.join(o.text.split()), MAX_FEEDBACK_CHARS)}"
    return phrase


def fields(inputs: Iterable[Any], *, with_output: bool = False) -> list[str]:
    """The field paths of ``inputs`` a condition may name (their views, as
    :mod:`imlgit.inputs` reads them: nested paths, arrays and ``PATH.length``,
    attributes and quantities written in text), sorted, at most MAX_FIELDS;
    ``output`` first when the agent's action may be tested."""
    found: set[str] = set()
    for value in inputs:
        if not isinstance(value, str | Mapping):
            continue
        found.update(p for p in view_of(value).values if p != OUTPUT_FIELD)
        if len(found) >= MAX_FIELDS:
            break
    names = sorted(found)[:MAX_FIELDS]
    return [OUTPUT_FIELD, *names] if with_output else names


def acts(batch: Sequence[Experience]) -> bool:
    """Whether some experience of ``batch`` says what the agent did and how it went
    without an expected answer, so an outcome rule (``works`` / ``fails``) may be learned."""
    return any(
        e.output is not None and e.outcome.reward is not None and e.outcome.expected is None
        for e in batch
    )
