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

from ..embed import Embedder, unit_vectors
from ..errors import ConfigError

__all__ = ["EmbeddedRelated", "Related"]

NEAREST = 8
"""How many nearest words an embedder suggests for each word."""
MAX_WORDS = 4000
"""At most this many words are compared for one induction: the first given (the
learner gives the most often said first)."""


class Related(Protocol):
    """Suggests, for each of ``words``, the words among them that mean much the same."""

    size: int  # how many words it suggests for each (the cost of naming one)

    def __call__(self, words: Sequence[str]) -> dict[str, tuple[str, ...]]: ...


class EmbeddedRelated:
    """The ``size`` nearest words by cosine similarity of an embedder's vectors.

    ``load`` returns the embedder; it is called on first use (so a learner that
    never meets two text words never loads a model). Vectors are cached by word,
    the last answer by its words. When the embedder cannot be loaded or answers
    with something that is not one finite vector per word, there are no
    suggestions (every word costs the same to list, as without an embedder) and
    :attr:`unavailable` says why; learning goes on. Ties in similarity go to the
    word given first."""

    def __init__(self, load: Callable[[], Embedder], size: int = NEAREST) -> None:
        if size < 1:
            raise ConfigError("size must be at least 1")
        self._load = load
        self._embedder: Embedder | None = None
        self.size = size
        self.unavailable: str | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._last: tuple[tuple[str, ...], dict[str, tuple[str, ...]]] | None = None

    def __call__(self, words: Sequence[str]) -> dict[str, tuple[str, ...]]:
        unique = tuple(dict.fromkeys(words))[:MAX_WORDS]
        if len(unique) < 2 or self.unavailable is not None:
            return {}
        if self._last is not None and self._last[0] == unique:
            return self._last[1]
        try:
            self._embed([w for w in unique if w not in self._vectors])
        except Exception as exc:  # noqa: BLE001 - any failure of the embedder: no suggestions
            self.unavailable = f"{type(exc).__name__}: {exc}"[:300]
            return {}
        mat = np.stack([self._vectors[w] for w in unique])
        # rounded, so that vectors a hair apart (batch effects) do not reorder ties
        sims = np.round(mat @ mat.T, 5)
        np.fill_diagonal(sims, -np.inf)
        k = min(self.size, len(unique) - 1)
        # stable sort on -similarity: ties go to the word given first
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        out = {w: tuple(unique[j] for j in order[i]) for i, w in enumerate(unique)}
        self._last = (unique, out)
        return out

    def _embed(self, missing: list[str]) -> None:
        if not missing:
            return
        if self._embedder is None:
            self._embedder = self._load()
        emb = self._embedder
        unit = unit_vectors(emb.embed(missing), emb.dim, len(missing), emb.identity)
        for w, v in zip(missing, unit, strict=True):
            self._vectors[w] = v
