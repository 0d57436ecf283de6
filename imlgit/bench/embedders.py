"""Embedders for the benchmarks: a cache in front of any embedder, and a hashing
embedder that needs no model (for tests and quick runs; named as what it is).

Both satisfy :class:`imlgit.embed.Embedder`. The real runs use
:class:`~imlgit.embed.SentenceTransformerEmbedder` (MiniLM) behind the cache, so a
text is embedded once per process however many conditions and seeds ask for it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from ..embed import Embedder

__all__ = ["CachedEmbedder", "HashEmbedder", "bench_embedder", "hashed_vectors"]

_TOKEN = re.compile(r"[a-z0-9]+")


class HashEmbedder:
    """Hashed words and adjacent word pairs into a ``dim``-d unit vector; no model.

    Deterministic and instant. Word pairs keep ``glimmer = yes`` apart from
    ``glimmer = no``, so nearest neighbours of structured inputs still mean
    something. A stand-in for tests and quick runs, not a semantic embedder.
    """

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim
        self._identity = f"bench-hash:{dim}"

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return hashed_vectors(texts, self._dim, pairs=True)


def hashed_vectors(texts: Sequence[str], dim: int, *, pairs: bool) -> np.ndarray:
    """Each text's words (and with ``pairs``, adjacent word pairs) hashed into signed
    counts over ``dim`` slots, as unit vectors (an empty text: the first axis)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _TOKEN.findall(text.lower())
        features = words
        if pairs:
            features = words + [f"{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % dim
            out[row, slot] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(out[row]))
        if norm == 0.0:
            out[row, 0] = 1.0
        else:
            out[row] /= norm
    return out


class CachedEmbedder:
    """An embedder that remembers every text it embedded (same identity and vectors)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._cache: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts actually sent to the inner embedder

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = np.asarray(self.inner.embed(missing), dtype=np.float32)
            self.embedded += len(missing)
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)


def bench_embedder(name: str | Embedder) -> CachedEmbedder:
    """``"minilm"`` (the packaged all-MiniLM-L6-v2, the real path), ``"hash"``
    (:class:`HashEmbedder`), or an embedder object; always behind a cache."""
    if isinstance(name, CachedEmbedder):
        return name
    if not isinstance(name, str):
        return CachedEmbedder(name)
    if name == "hash":
        return CachedEmbedder(HashEmbedder())
    if name in ("minilm", "default"):
        from ..embed import SentenceTransformerEmbedder

        return CachedEmbedder(SentenceTransformerEmbedder())
    from ..embed import SentenceTransformerEmbedder

    return CachedEmbedder(SentenceTransformerEmbedder(name))
