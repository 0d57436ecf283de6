"""What :func:`imlgit.doctor.diagnose` returns: a :class:`Report` of :class:`Finding`
objects, their kinds (:data:`KINDS`, in the order a report lists them), the
default thresholds, and how a report is shown to people (:meth:`Report.summary`)
and to programs (:meth:`Report.to_dict`). Nothing here looks at a memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "unapproved",
    "invalid-file",
    "duplicate",
    "contradiction",
    "near-duplicate",
    "possible-contradiction",
    "stale-index",
    "index-mismatch",
    "forgotten-proposal",
    "stale-lock",
    "unsynced-index",
)
"""Every finding kind, in the order a report lists them."""

DEFAULT_SIMILARITY = 0.9
DEFAULT_EDITED_SIMILARITY = 0.75
DEFAULT_NEIGHBOURS = 5
DEFAULT_STALE_DAYS = 14


@dataclass(frozen=True)
class Finding:
    """One thing doctor found: its kind, the rules involved, and what it is, in words.

    ``similarity`` is the cosine similarity of a pair found through the index,
    ``edit`` the words one statement changes of the other when that is a small
    edit (``"approve" -> "reject"``); ``path`` the file of an ``invalid-file``;
    ``proposal`` the name of a ``forgotten-proposal``.
    """

    kind: str
    rules: tuple[str, ...]
    detail: str
    similarity: float | None = None
    edit: str | None = None
    path: str | None = None
    proposal: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; one of {', '.join(KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rules": list(self.rules),
            "detail": self.detail,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "edit": self.edit,
            "path": self.path,
            "proposal": self.proposal,
        }

    def line(self) -> str:
        """One line for people: kind, rules, detail."""
        who = ", ".join(self.rules) or self.path or self.proposal or "-"
        return f"{self.kind:<22} {who}: {self.detail}"


@dataclass
class Report:
    """What :func:`diagnose` found, and what it looked at."""

    commit: str
    findings: list[Finding] = field(default_factory=list)
    files: int = 0  # files under rules/
    active: int = 0
    checkable: int = 0  # active checkable rules
    index: str = "not built"  # the index before this run: current, stale, not built, ...
    index_note: str | None = None  # why look-alikes were compared without the index
    similarity: float = DEFAULT_SIMILARITY
    edited_similarity: float = DEFAULT_EDITED_SIMILARITY
    candidates: int = 0  # look-alike pairs (at the thresholds) put to the model or reported
    model: str | None = None  # the chat model that confirmed pairs, if any
    dismissed: int = 0  # pairs the model called different rules
    index_sampled: int = 0  # active rules whose stored vectors were checked by re-embedding
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def counts(self) -> dict[str, int]:
        """Findings per kind, in the order of :data:`KINDS` (kinds found only)."""
        out = {kind: 0 for kind in KINDS}
        for f in self.findings:
            out[f.kind] += 1
        return {k: n for k, n in out.items() if n}

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "commit": self.commit,
            "files": self.files,
            "active": self.active,
            "checkable": self.checkable,
            "index": self.index,
            "index_note": self.index_note,
            "similarity": self.similarity,
            "edited_similarity": self.edited_similarity,
            "candidates": self.candidates,
            "model": self.model,
            "dismissed": self.dismissed,
            "index_sampled": self.index_sampled,
            "seconds": round(self.seconds, 3),
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }

    def summary(self) -> str:
        """The report for people: a header, one line a finding, how pairs were judged."""
        lines = [
            f"main at {self.commit[:12]}: {self.files:,} rule files, {self.active:,} active "
            f"({self.checkable:,} checkable); index: {self.index}"
        ]
        if self.ok:
            lines.append("ok: nothing found")
        else:
            counts = ", ".join(f"{n} {kind}" for kind, n in self.counts().items())
            total = len(self.findings)
            lines.append(f"{total} finding{'s' if total != 1 else ''}: {counts}")
            lines.extend(f.line() for f in self.findings)
        judged = (
            f"confirmed by {self.model}, {self.dismissed} dismissed as different rules"
            if self.model
            else "no model confirmed them"
        )
        if self.index_note:
            lines.append(f"look-alikes compared without the index: {self.index_note}")
        if self.index_sampled:
            lines.append(f"index vectors checked against {self.index_sampled} rules "
                         "embedded again")
        lines.append(
            f"look-alike pairs at similarity >= {self.similarity:.2f} (small edits >= "
            f"{self.edited_similarity:.2f}): "
            f"{self.candidates} ({judged}); {self.seconds:.1f} s"
        )
        return "\n".join(lines)
