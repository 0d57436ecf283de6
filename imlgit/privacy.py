"""Personal data and secrets kept out of history: experiences, rationales and rules
are scanned (:mod:`imlgit.scan`) before anything is written.

``[privacy] experiences`` in imlgit.toml says what happens to an experience that
carries something the scanner finds, before it is recorded in the journal or
learned from (so what is learned is what is stored):

``redact`` (the default)
    Each finding is replaced by a typed placeholder (:data:`PLACEHOLDERS`:
    ``<email>``, ``<card>``, ``<phone>``, ...) in every text of the experience
    (its input, nested values included, its output and its outcome's text); a
    number that is a card or an id becomes its placeholder. The experience keeps
    its id, scope and shape; the review of a proposal counts the placeholders its
    evidence holds.
``refuse``
    The experience is refused with an :class:`ExperienceError` that says which
    experience, which field and what kind of data; nothing is recorded or learned.
``hashes``
    The experience is learned from as it is, and the evidence committed holds
    only its id and a hash of its content (``[learn] store_experiences =
    "hashes"``); the journal (derived data, never committed) holds it in full
    until it is learned.

An id that carries personal data is refused in every mode: it is cited by
rationales, so it cannot be rewritten.

A person's rationale (``--why``) that carries a finding is refused with where it
is; a rationale the learner wrote is redacted like an experience.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ExperienceError, PrivacyError
from .experience import Experience
from .scan import scan_text, spans

__all__ = [
    "MODES",
    "PLACEHOLDERS",
    "Screened",
    "redact_text",
    "screen",
    "check_rationale",
    "placeholders_in",
]

MODES = ("redact", "refuse", "hashes")
PLACEHOLDERS = {
    "private-key": "<private-key>",
    "api-key": "<api-key>",
    "email": "<email>",
    "phone": "<phone>",
    "card-number": "<card>",
    "iban": "<iban>",
    "national-id": "<national-id>",
}
_MAX_DEPTH = 64  # experiences are validated to less; a bound all the same


def redact_text(text: str, allow: Sequence[str] = ()) -> tuple[str, Counter[str]]:
    """``text`` with every finding replaced by its placeholder, and what was found."""
    found = spans(text, allow=allow)
    if not found:
        return text, Counter()
    out, at = [], 0
    for start, end, kind in found:
        out.append(text[at:start])
        out.append(PLACEHOLDERS[kind])
        at = end
    out.append(text[at:])
    return "".join(out), Counter(kind for _, _, kind in found)


@dataclass
class Screened:
    """Experiences as they may be written, and what was redacted from them."""

    experiences: list[Experience]
    redacted: Counter[str] = field(default_factory=Counter)
    touched: int = 0  # experiences that had something redacted

    def summary(self) -> str:
        """``"3 email, 1 card-number in 2 experiences"``, or "" for nothing."""
        if not self.redacted:
            return ""
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.redacted.items()))
        return f"{kinds} in {self.touched} experience{'s' if self.touched != 1 else ''}"


def _walk(value: Any, where: str, allow: Sequence[str], hits: list[tuple[str, str]],
          depth: int = 0) -> Any:  # fmt: skip
    """``value`` with its texts redacted; ``hits`` gets (field, kind) of each finding."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        text, found = redact_text(value, allow)
        hits.extend((where, kind) for kind in found.elements())
        return text
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        text, found = redact_text(str(value), allow)
        if found:
            hits.extend((where, kind) for kind in found.elements())
            return text
        return value
    if isinstance(value, dict):
        return {k: _walk(v, f"{where}.{k}", allow, hits, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, f"{where}[{i}]", allow, hits, depth + 1) for i, v in enumerate(value)]
    return value


def screen(
    experiences: Iterable[Experience], mode: str, allow: Sequence[str] = ()
) -> Screened:
    """The experiences as ``mode`` lets them be written (see the module docstring).

    Raises :class:`ExperienceError` for ``refuse`` when one carries a finding, and
    in every mode for an id that does."""
    if mode not in MODES:
        raise ExperienceError(f"[privacy] experiences must be one of {', '.join(MODES)}, "
                              f"not {mode!r}")  # fmt: skip
    out = Screened([])
    for n, e in enumerate(experiences, 1):
        if not isinstance(e, Experience):
            raise ExperienceError(
                f"experience {n}: an Experience, got {type(e).__name__} (read JSON objects "
                "with Experience.from_dict or imlgit.load_jsonl)"
            )
        if found := scan_text(e.id, allow=allow):
            raise ExperienceError(
                f"experience {e.id[:12]}...: its id carries {found[0].kind} data; give it an id "
                "without personal data (ids are cited in rationales and never rewritten)",
                field="id",
            )
        if mode == "hashes":
            out.experiences.append(e)
            continue
        data = e.to_dict()
        hits: list[tuple[str, str]] = []
        cleaned = {k: (v if k in ("id", "scope", "rules") else _walk(v, k, allow, hits))
                   for k, v in data.items()}  # fmt: skip
        if not hits:
            out.experiences.append(e)
            continue
        if mode == "refuse":
            where = ", ".join(f"{fld} ({kind})" for fld, kind in hits[:5])
            raise ExperienceError(
                f"experience {e.id}: {where}{' and more' if len(hits) > 5 else ''} "
                '([privacy] experiences = "refuse"; "redact" stores placeholders instead)',
                field=hits[0][0],
            )
        out.experiences.append(Experience.from_dict(cleaned))
        out.redacted.update(kind for _, kind in hits)
        out.touched += 1
    return out


def check_rationale(text: str, allow: Sequence[str] = (), *, what: str = "the rationale") -> None:
    """Refuse a person's rationale that carries a secret or personal data, naming
    where (the line and column, never the data)."""
    found = scan_text(text, path=what, allow=allow)
    if found:
        shown = "; ".join(str(f) for f in found[:3])
        raise PrivacyError(f"{shown}: rationales are committed to history; write it without "
                           "the data")  # fmt: skip


def placeholders_in(text: str) -> Counter[str]:
    """How many of each placeholder ``text`` holds (what redaction left in evidence)."""
    return Counter({kind: n for kind, token in PLACEHOLDERS.items()
                    if (n := text.count(token))})  # fmt: skip
