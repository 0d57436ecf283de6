"""doctor's checks of the retrieval index: its state on disk (``stale-index``), the
rules it claims against the repository's, and a sample of its stored vectors
against their texts embedded again (``index-mismatch``, repaired by rebuilding).
:class:`_Parts` is what these checks and the look-alike search read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IndexError_, RuleError
from ..identity import ACTIVE
from ..rules import Rule
from .report import Finding, Report

if TYPE_CHECKING:
    from ..embed import Embedder
    from ..index import RuleIndex, Stored
    from ..store import Store

INDEX_SAMPLE = 32  # active rules re-embedded to check the stored vectors against
_SAME_VECTOR = 0.99  # cosine of a stored vector and its text embedded again, at least


@dataclass(frozen=True)
class _Parts:
    """What the index checks read: the store, the index synced to a commit, where
    the index lives, and the embedder."""

    store: Store
    index: Callable[[str], RuleIndex]
    index_dir: Path
    embedder: Embedder


def _index_state(parts: _Parts, head: str) -> tuple[str, str | None, Stored | None]:
    """The index as it is on disk, before this run touches it: (state, detail, what
    it holds), read only (:func:`imlgit.index.stored`), so nothing is built or
    repaired here."""
    from ..index import stored

    try:
        held = stored(parts.index_dir)
    except IndexError_ as exc:
        return "unreadable", f"{exc}; it is rebuilt on use", None
    if held is None or held.commit is None:
        return "not built", None, None
    ours = parts.embedder.identity
    if held.identity is not None and held.identity != ours:
        why = f"the index was built with {held.identity}, the embedder is {ours}"
        return "other embedder", why, held
    if held.commit != head:
        why = f"the index reflects commit {held.commit[:12]}, main is at {head[:12]}"
        return "stale", why, held
    return "current", None, held


def _index_claims(store: Store, state: str, held: Stored | None) -> list[Finding]:
    """The index's rules against the repository's rules at the commit it claims (read
    before anything syncs it); a mismatch is an ``index-mismatch``."""
    if state not in ("current", "stale") or held is None or held.commit is None:
        return []
    commit = held.commit
    try:
        entries = store.rule_entries(store.resolve(commit))
    except Exception as exc:  # noqa: BLE001 - a commit git lacks, or two files of one id
        why = f"the index claims commit {commit[:12]}, which cannot be read ({exc})"
        return [Finding("index-mismatch", (), why + "; this run synced it")]
    repo = {rid: e.blob for rid, e in entries.items()}
    have = held.rules
    wrong = sorted(rid for rid in have.keys() | repo.keys() if have.get(rid) != repo.get(rid))
    if not wrong:
        return []
    shown = ", ".join(wrong[:5]) + (", ..." if len(wrong) > 5 else "")
    why = (f"the index claims commit {commit[:12]} but holds other versions of "
           f"{len(wrong)} rules ({shown}); this run synced it")
    return [Finding("index-mismatch", tuple(wrong[:20]), why)]


def _index_sample(
    parts: _Parts, head: str, active: Sequence[Rule], report: Report
) -> list[Finding]:
    """Sync the index (it checks what it loads: report its repairs), then hold the stored
    vectors of a sample of active rules against their texts embedded again; stored
    vectors that are not theirs make the index be rebuilt from the rules."""
    from ..index import rule_text

    try:
        index = parts.index(head)
    except RuleError:  # two files of one id: the index cannot be synced (invalid-file says)
        return []
    findings = [
        Finding("index-mismatch", (), f"{what}; rebuilt") for what in dict.fromkeys(index.repairs)
    ]
    index.repairs.clear()
    held = index.mapping()
    searchable = sorted(
        (r for r in active if r.id in held and held[r.id].status == ACTIVE), key=lambda r: r.id
    )
    step = max(1, len(searchable) // INDEX_SAMPLE)
    sample = searchable[::step][:INDEX_SAMPLE]
    report.index_sampled = len(sample)
    if sample:
        stored = np.asarray(index.vectors([r.id for r in sample]), dtype=np.float32)
        texts = [rule_text(r.title, r.statement, r.scope, r.tags) for r in sample]
        fresh = np.asarray(parts.embedder.embed(texts), dtype=np.float32)
        norms = np.linalg.norm(fresh, axis=1) * np.linalg.norm(stored, axis=1)
        cosines = np.einsum("ij,ij->i", fresh, stored) / np.where(norms > 0, norms, 1.0)
        off = [r.id for r, c in zip(sample, cosines, strict=True) if not c >= _SAME_VECTOR]
        if off:
            findings.append(Finding(
                "index-mismatch", tuple(off),
                f"{len(off)} of {len(sample)} sampled rules have stored vectors that are not "
                "their text's embedding; rebuilt by this run",
            ))
            # The sync cannot repair a vector its blob still matches: start over. The
            # open index sees its database replaced and reloads (RuleIndex._sql).
            for part in parts.index_dir.iterdir():
                if part.is_file() and part.name != "write.lock":  # the lock stays, as a lock
                    part.unlink(missing_ok=True)
            parts.index(head)
            index.repairs.clear()
    return findings
