"""The retrieval index wired to the store: what it is synced from, what a recall
returns, and the search a learning run uses.

The index (:mod:`imlgit.index`) knows rule ids and blobs, never the store: the
store's rule entries at a commit, and a loader of their parsed rules, are given to
it by :func:`index_inputs`. numpy and the index are imported when first searched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import RuleError
from .rules import Rule

if TYPE_CHECKING:
    from .index import IndexView, RuleDoc, RuleEntry, RuleIndex
    from .store import Store

__all__ = ["IndexRetriever", "Recalled", "index_inputs", "recall", "warn_unparsable"]

log = logging.getLogger("imlgit")


@dataclass(frozen=True)
class Recalled:
    """A retrieved rule and its similarity score."""

    rule: Rule
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.rule.id,
            "score": round(self.score, 4),
            "title": self.rule.title,
            "statement": self.rule.statement,
            "scope": self.rule.scope,
        }


def warn_unparsable(what: str, paths: Sequence[str]) -> None:
    """One warning naming (the first five of) the rule files a read left out."""
    more = ", ..." if len(paths) > 5 else ""
    log.warning("%s left out %d rule files that do not parse (%s%s); imlgit check says why",
                what, len(paths), ", ".join(paths[:5]), more)  # fmt: skip


def index_inputs(
    store: Store, commit: str
) -> tuple[dict[str, RuleEntry], Callable[[list[str]], dict[str, RuleDoc]]]:
    """The index's view of ``commit``: the store's rule entries (rule id -> blob and
    path), and a loader of parsed rules (a file that does not parse is loaded as
    :data:`imlgit.index.UNPARSABLE`)."""
    from .index import UNPARSABLE, RuleDoc

    entries = store.rule_entries(commit)

    def load(ids: list[str]) -> dict[str, RuleDoc]:
        out = {}
        for rid in ids:
            try:
                r = store.rule_from_blob(entries[rid].blob, entries[rid].path)
            except RuleError:  # one bad file must not hide the others: never searched
                out[rid] = RuleDoc("", "", "", UNPARSABLE)
                continue
            out[rid] = RuleDoc(r.title, r.statement, r.scope, r.status, r.tags)
        return out

    return entries, load


def recall(
    store: Store,
    index: RuleIndex,
    main: str,
    commit: str,
    query: str,
    k: int,
    *,
    scope: str | None,
    tags: list[str] | None,
) -> list[Recalled]:
    """The active rules at ``commit`` most relevant to ``query``, best first, from
    ``index`` (synced to ``main``): at main itself, else a view of it rebuilt at
    ``commit``. The rule files left out because they do not parse are warned of."""
    view: RuleIndex | IndexView
    if commit == main:
        view = index  # the persisted index, not a view rebuilt at a commit
    else:
        view = index.at(commit, *index_inputs(store, commit))
    hits = view.search(query, k, scope=scope, tags=tags)
    entries = store.rule_entries(commit)
    if bad := view.unparsable():
        warn_unparsable("recall", [entries[r].path if r in entries else r for r in bad])
    return [
        Recalled(store.rule_from_blob(entries[h.rule_id].blob, entries[h.rule_id].path), h.score)
        for h in hits
        if h.rule_id in entries
    ]


class IndexRetriever:
    """Retrieval for learning: the index, synced to the branch head before a search
    (``index(branch)`` returns it synced)."""

    def __init__(self, store: Store, index: Callable[[str], RuleIndex], branch: str) -> None:
        self.store = store
        self.index = index
        self.branch = branch
        self._synced: str | None = None
        self._index: RuleIndex | None = None

    def search(self, query: str, k: int, scope: str | None) -> list[str]:
        from .errors import EmbedderError, IndexError_

        try:
            head = self.store.head(self.branch)
            if self._index is None or head != self._synced:
                self._index = self.index(self.branch)
                self._synced = head
            return [h.rule_id for h in self._index.search(query, k, scope=scope)]
        except (IndexError_, EmbedderError) as exc:
            # The index is derived data, never a reason to refuse learning: this batch
            # is shown the scope's checkable rules (and, without retrieval, the rest).
            log.warning("learning without retrieval for this search: %s", exc)
            return []
