"""Which words of the evidence mean much the same: the embedder's nearest words.

The learner that needs no model lists synonyms in one condition
(``mentions "cracked | shattered | dented"``); each word it adds must pay for
itself in the evidence (:mod:`imlgit.learners.covering`). Naming a word among
every word of the texts costs ``log2`` of their number; naming it among the few
words the embedder that retrieval already uses places nearest to a word already
listed costs ``log2`` of those few. The embedder only suggests: a suggested word
still has to decide more experiences right, and the condition is checked by code
like any other (no embedder is needed to read or check the rule).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from ..embed import Embedder

__all__ = ["EmbeddedRelated", "Related"]

NEAREST = 8
"""How many nearest words an embedder suggests for each word."""
MAX_WORDS = 4000
"""At most this many words are embedded for one induction (the most common kept)."""


class Related(Protocol):
    """Suggests, for each of ``words``, the words among them that mean much the same."""

    size: int  # how many words it suggests for each (the cost of naming one)

    def __call__(self, words: Sequence[str]) -> dict[str, tuple[str, ...]]: ...


class EmbeddedRelated:
    """The ``NEAREST`` words by cosine similarity of an embedder's vectors.

    ``load`` returns the embedder; it is called on first use (so a learner that never
    meets two text words never loads a model). Vectors are cached by word across
    calls."""

    def __init__(self, load: Callable[[], Embedder], size: int = NEAREST) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._load = load
        self._embedder: Embedder | None = None
        self.size = size
        self._vectors: dict[str, np.ndarray] = {}

    def _get(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._load()
        return self._embedder

    def __call__(self, words: Sequence[str]) -> dict[str, tuple[str, ...]]:
        unique = list(dict.fromkeys(words))[:MAX_WORDS]
        if len(unique) < 2:
            return {}
        missing = [w for w in unique if w not in self._vectors]
        if missing:
            raw = np.asarray(self._get().embed(missing), dtype=np.float64)
            norms = np.linalg.norm(raw, axis=1, keepdims=True)
            unit = raw / np.where(norms == 0, 1.0, norms)
            for w, v in zip(missing, unit, strict=True):
                self._vectors[w] = v
        mat = np.stack([self._vectors[w] for w in unique])
        sims = mat @ mat.T
        np.fill_diagonal(sims, -np.inf)
        k = min(self.size, len(unique) - 1)
        out: dict[str, tuple[str, ...]] = {}
        for i, w in enumerate(unique):
            top = np.argpartition(-sims[i], k - 1)[:k]
            top = top[np.argsort(-sims[i][top], kind="stable")]
            out[w] = tuple(unique[j] for j in top)
        return out
