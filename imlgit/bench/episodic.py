"""Episodic memory, the baseline most memory systems are: keep the raw experiences,
retrieve the k most similar to a question by embedding, and answer from them.

Two ways to answer from what is retrieved: a k-nearest-neighbour vote over their
outcomes (:meth:`EpisodicMemory.vote`, no model: condition ``episodic-knn``) or a
chat model with them as few-shot examples (condition ``episodic``, in
:mod:`imlgit.bench.harness`). Nothing is induced; nothing is revised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..embed import Embedder
from ..experience import Experience
from .chat import input_text

__all__ = ["EpisodicMemory"]


class EpisodicMemory:
    """Past experiences, retrieved by the cosine similarity of their inputs' embeddings."""

    def __init__(self, embedder: Embedder, k: int = 8) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.embedder = embedder
        self.k = k
        self.experiences: list[Experience] = []
        self._vectors = np.zeros((0, int(embedder.dim)), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.experiences)

    def add(self, experiences: Sequence[Experience]) -> None:
        """Remember labelled experiences (those without an outcome class are skipped)."""
        kept = [e for e in experiences if e.label is not None]
        if not kept:
            return
        vectors = self.embedder.embed([input_text(e.input) for e in kept])
        self._vectors = np.vstack([self._vectors, np.asarray(vectors, dtype=np.float32)])
        self.experiences.extend(kept)

    def nearest(self, inputs: Sequence[str | Mapping[str, Any]]) -> list[list[tuple[int, float]]]:
        """For each input, up to k (index, similarity) of the most similar experiences."""
        if not inputs:
            return []
        if not self.experiences:
            return [[] for _ in inputs]
        queries = np.asarray(self.embedder.embed([input_text(x) for x in inputs]), np.float32)
        sims = queries @ self._vectors.T
        k = min(self.k, len(self.experiences))
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return [[(int(i), float(sims[row, i])) for i in order[row]] for row in range(len(inputs))]

    def examples(self, question: str | Mapping[str, Any]) -> list[Experience]:
        """The k experiences most similar to ``question``, most similar first."""
        return [self.experiences[i] for i, _ in self.nearest([question])[0]]

    def vote(self, inputs: Sequence[str | Mapping[str, Any]]) -> list[str | None]:
        """The commonest outcome among each input's k nearest experiences; a tie goes to
        the higher summed similarity, then to the name. None when memory is empty."""
        out: list[str | None] = []
        for hits in self.nearest(inputs):
            count: dict[str, int] = defaultdict(int)
            weight: dict[str, float] = defaultdict(float)
            for i, sim in hits:
                label = self.experiences[i].label
                assert label is not None
                count[label] += 1
                weight[label] += sim
            if not count:
                out.append(None)
                continue
            out.append(max(count, key=lambda c: (count[c], weight[c], c)))
        return out
