"""The FAISS core of the rule index: vectors, ids, filters, exact and approximate search."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress
from typing import Any

import numpy as np

from ..embed import Embedder, unit_vectors
from ..ruleids import RuleEntry
from .records import (
    _DIGEST_MOD,
    ACTIVE,
    EXACT_LIMIT,
    FLAT_HIDDEN_LIMIT,
    HNSW_EF_CONSTRUCTION,
    HNSW_M,
    NORM_TOLERANCE,
    SMALL_BATCH,
    UNPARSABLE,
    Hit,
    IndexedRule,
)

_faiss_module: Any = None

def _faiss() -> Any:
    """Import faiss on first use, so that importing imlgit stays fast."""
    global _faiss_module
    if _faiss_module is None:
        import faiss

        # faiss-cpu 1.15 raised the default to 128000, which keeps batched
        # searches off BLAS and makes them about ten times slower.
        faiss.cvar.distance_compute_blas_threshold = 20
        _faiss_module = faiss
    return _faiss_module



def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Which rows are what the index stores: finite and of unit length (or zero).

    Everything stored went through :func:`imlgit.embed.unit_vectors`, so any other row was
    garbled on disk; a garbled row can score 1e34 and outrank every true match.
    One pass in float32 (~0.07 s for 10^6 x 384): a NaN or an overflow makes the
    squared norm non-finite.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        squares = np.einsum("ij,ij->i", matrix, matrix)
        return (np.abs(squares - 1.0) <= 2 * NORM_TOLERANCE) | (squares == 0.0)


def _sound_vectors(vec_of: dict[str, bytes], dim: int) -> list[str]:
    """Drop from ``vec_of`` the cached vectors that are garbled; return their blobs."""
    if not vec_of:
        return []
    size = 4 * dim
    bad = [blob for blob, vec in vec_of.items() if len(vec) != size]
    for blob in bad:
        del vec_of[blob]
    keys = list(vec_of)
    if keys:
        matrix = np.frombuffer(b"".join(vec_of[k] for k in keys), np.float32).reshape(-1, dim)
        bad += list(compress(keys, ~_unit_rows(matrix)))
    for blob in bad:
        vec_of.pop(blob, None)
    return bad


def _row_hash(rule_id: str, row: IndexedRule) -> int:
    # crc32, not a cryptographic hash: it guards against damage, not an adversary,
    # and costs a fifth of what reading the table does (0.5 s for 10^6 rows).
    return zlib.crc32(f"{rule_id}\0{row.fid}\0{row.blob}\0{row.status}".encode())


def _digest(rules: Mapping[str, IndexedRule]) -> int:
    """An order-free digest of the rules table, updated per row by a sync: a table
    edited behind the index's back (a rule given another's FAISS id) no longer
    matches the digest the last writer stored."""
    return sum(_row_hash(rid, row) for rid, row in rules.items()) % _DIGEST_MOD


def _snapshot_problem(index: Any, inner: Any, dim: int) -> str | None:
    """What is wrong with a FAISS snapshot that loaded, or None: its counts, its ids,
    its vectors (a few garbled bytes still load, and then lie)."""
    faiss = _faiss()
    hnsw = isinstance(inner, faiss.IndexHNSWFlat)
    storage = faiss.downcast_index(inner.storage) if hnsw else inner
    ids = faiss.vector_to_array(index.id_map)
    n = int(index.ntotal)
    if not (len(ids) == n == int(inner.ntotal) == int(storage.ntotal)):
        return f"counts {n} vectors but maps {len(ids)} ids"
    if len(np.unique(ids)) != n or (n and int(ids.min()) < 0):
        return "maps one id twice, or a negative id"
    if n == 0:
        return None
    stored = faiss.rev_swig_ptr(storage.get_xb(), n * dim).reshape(n, dim)
    bad = int(n - _unit_rows(stored).sum())
    if bad:
        return f"holds {bad} vectors that are not unit length (garbled)"
    return None


def _blobs(entries: Mapping[str, RuleEntry]) -> dict[str, str]:
    return {rid: entry.blob for rid, entry in entries.items()}


class _Core:
    """One searchable state in memory: a FAISS index and the rule maps around it."""

    def __init__(self, dim: int, kind: str, ef_search: int, index: Any = None) -> None:
        self.dim, self.kind, self.ef_search = dim, kind, ef_search
        self.index = index if index is not None else self._new_index(kind)
        self.commit: str | None = None
        self.digest = 0  # _digest(self.rules), kept up to date by apply
        self.unparsable: set[str] = set()  # rule ids whose file the loader could not parse
        self.rules: dict[str, IndexedRule] = {}
        self.blobs: dict[str, str] = {}  # rule_id -> blob, for a fast diff
        self.by_fid: dict[int, str] = {}  # searchable ids
        self.hidden: set[int] = set()  # ids still in FAISS, no longer searchable
        self.by_scope: dict[str, set[int]] = {}
        self.by_tag: dict[str, set[int]] = {}
        self._filters: dict[tuple[str | None, tuple[str, ...]], np.ndarray] = {}
        self._selectors: dict[int, tuple[np.ndarray, Any]] = {}
        self._order: tuple[np.ndarray, np.ndarray] | None = None

    def _new_index(self, kind: str) -> Any:
        faiss = _faiss()
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = self.ef_search
        else:
            inner = faiss.IndexFlatIP(self.dim)
        return faiss.IndexIDMap2(inner)  # the Python wrapper keeps ``inner`` alive

    def _map(self, rule_id: str, row: IndexedRule) -> None:
        self.by_fid[row.fid] = rule_id
        self.by_scope.setdefault(row.scope, set()).add(row.fid)
        for tag in row.tags:
            self.by_tag.setdefault(tag, set()).add(row.fid)

    def _unmap(self, row: IndexedRule) -> bool:
        if self.by_fid.pop(row.fid, None) is None:
            return False
        self.by_scope.get(row.scope, set()).discard(row.fid)
        for tag in row.tags:
            self.by_tag.get(tag, set()).discard(row.fid)
        return True

    def apply(
        self, removed: Iterable[str], upserts: Sequence[tuple[str, IndexedRule]], vec_of: Any
    ) -> None:
        """Drop and (re)insert rules; ``vec_of[blob]`` holds the bytes of each active one."""
        hide = []
        for rule_id in removed:
            row = self.rules.pop(rule_id)
            del self.blobs[rule_id]
            self.unparsable.discard(rule_id)
            if self._unmap(row):
                hide.append(row.fid)
        for rule_id, row in upserts:
            old = self.rules.get(rule_id)
            if old is not None and self._unmap(old):
                hide.append(old.fid)
            self.rules[rule_id], self.blobs[rule_id] = row, row.blob
            if row.status == UNPARSABLE:
                self.unparsable.add(rule_id)
            else:
                self.unparsable.discard(rule_id)
        self.hidden.update(hide)
        live = [(rid, row) for rid, row in upserts if row.status == ACTIVE]
        if live:
            matrix = np.frombuffer(b"".join(vec_of[row.blob] for _, row in live), np.float32)
            fids = np.fromiter((row.fid for _, row in live), np.int64, len(live))
            self.index.add_with_ids(matrix.reshape(len(live), self.dim), fids)
            for rule_id, row in live:
                self._map(rule_id, row)
        self._filters.clear()
        self._selectors.clear()
        self._order = None
        if self.kind == "flat" and len(self.hidden) > FLAT_HIDDEN_LIMIT:
            self.index.remove_ids(np.fromiter(sorted(self.hidden), np.int64, len(self.hidden)))
            self.hidden.clear()

    def rebuild(self, kind: str) -> None:
        """A fresh FAISS index of ``kind`` holding exactly the searchable rules."""
        fids = np.fromiter(sorted(self.by_fid), np.int64, len(self.by_fid))
        vectors = self.vectors(fids)
        self.kind, self.index = kind, self._new_index(kind)
        if len(fids):
            self.index.add_with_ids(vectors, fids)
        self.hidden.clear()
        self._order = None

    def vectors(self, fids: np.ndarray) -> np.ndarray:
        """Copies of the stored vectors of ``fids`` (all present in FAISS)."""
        if len(fids) == 0:
            return np.zeros((0, self.dim), np.float32)
        faiss = _faiss()
        inner = faiss.downcast_index(self.index.index)
        if self.kind == "hnsw":
            inner = faiss.downcast_index(inner.storage)
        n = int(inner.ntotal)
        stored = faiss.rev_swig_ptr(inner.get_xb(), n * self.dim).reshape(n, self.dim)
        if self._order is None:
            id_map = faiss.vector_to_array(self.index.id_map)
            self._order = (id_map, np.argsort(id_map, kind="stable"))
        id_map, order = self._order
        return np.ascontiguousarray(stored[order[np.searchsorted(id_map, fids, sorter=order)]])

    def allowed(self, scope: str | None, tags: Iterable[str] | None) -> np.ndarray | None:
        """The searchable ids passing the filters, or None for no filter."""
        tag_key = tuple(sorted({tags} if isinstance(tags, str) else set(tags or ())))
        if scope is None and not tag_key:
            return None
        found = self._filters.get((scope, tag_key))
        if found is None:
            sets = [self.by_tag.get(tag, set()) for tag in tag_key]
            if scope is not None:
                sets.append(self.by_scope.get(scope, set()))
            sets.sort(key=len)
            chosen = sets[0].intersection(*sets[1:])
            found = np.fromiter(sorted(chosen), np.int64, len(chosen))
            self._filters[(scope, tag_key)] = found
        if len(found) == len(self.by_fid):  # the filter keeps every searchable rule
            return None
        return found

    def _selector(self, allowed: np.ndarray) -> Any:
        """FAISS's selector for a filter, made once per filter array (building one over
        100,000 ids costs milliseconds, a query's whole budget)."""
        got = self._selectors.get(id(allowed))
        if got is None or got[0] is not allowed:
            if len(self._selectors) >= 16:
                self._selectors.clear()
            got = (allowed, _faiss().IDSelectorBatch(allowed))
            self._selectors[id(allowed)] = got
        return got[1]

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> list[list[Hit]]:
        want = min(k, len(self.by_fid) if allowed is None else len(allowed))
        if want <= 0:
            return [[] for _ in range(len(queries))]
        faiss = _faiss()
        keep: list[Any] = []  # selectors must stay alive while FAISS uses them
        fetch = want
        if allowed is not None:
            if len(allowed) <= EXACT_LIMIT:
                return self._exact(queries, want, allowed)
            keep.append(self._selector(allowed))
        elif self.hidden and len(self.hidden) <= FLAT_HIDDEN_LIMIT:
            fetch = want + len(self.hidden)  # over-fetch, then drop the hidden ids
        elif self.hidden:
            keep.append(faiss.IDSelectorBatch(np.fromiter(self.hidden, np.int64)))
            keep.append(faiss.IDSelectorNot(keep[-1]))
        fetch = min(fetch, int(self.index.ntotal))
        params: Any = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch))
        elif keep:
            params = faiss.SearchParameters()
        if keep:
            params.sel = keep[-1]
        if len(queries) < SMALL_BATCH:
            # OpenMP fans even one query out over every core; its spinning workers then
            # cost ~10-50 ms when the cores are busy (torch, other processes). One
            # thread is as fast idle and far faster loaded. The setting is per thread.
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.index.search(queries, fetch, params=params)
        finally:
            if len(queries) < SMALL_BATCH:
                faiss.omp_set_num_threads(threads)
        results = [
            [Hit(self.by_fid[f], d) for f, d in zip(i, s, strict=True) if f in self.by_fid][:want]
            for i, s in zip(ids.tolist(), scores.tolist(), strict=True)
        ]
        short = [row for row, hits in enumerate(results) if len(hits) < want]
        if short:  # HNSW can come back short under a tight filter: redo those rows exactly
            pool = allowed
            if pool is None:
                pool = np.fromiter(sorted(self.by_fid), np.int64, len(self.by_fid))
            for row, hits in zip(short, self._exact(queries[short], want, pool), strict=True):
                results[row] = hits
        return results

    def _exact(self, queries: np.ndarray, want: int, fids: np.ndarray) -> list[list[Hit]]:
        scores = queries @ self.vectors(fids).T
        out = []
        for row in scores:
            top = np.argpartition(-row, want - 1)[:want] if want < len(row) else np.arange(len(row))
            top = top[np.argsort(-row[top], kind="stable")]
            out.append([Hit(self.by_fid[int(fids[i])], float(row[i])) for i in top])
        return out


class _Searchable:
    """Search over a ``_Core``: shared by the persisted index and historical views."""

    _core: _Core
    _embedder: Embedder
    _lock: threading.RLock

    @property
    def commit(self) -> str | None:
        """The commit this index reflects (None before the first sync)."""
        return self._core.commit

    def __len__(self) -> int:
        """Number of searchable (active) rules."""
        return len(self._core.by_fid)

    def unparsable(self) -> list[str]:
        """The rules the loader could not parse (status ``unparsable``): never searched."""
        with self._lock:
            return sorted(self._core.unparsable)

    def mapping(self) -> dict[str, IndexedRule]:
        """Every indexed rule, retired ones included."""
        with self._lock:
            return dict(self._core.rules)

    def vectors(self, rule_ids: Sequence[str]) -> np.ndarray:
        """The stored unit vectors of ``rule_ids``, one row each, in their order: what
        was embedded for them, so a caller can search by a rule (``imlgit doctor``)
        without embedding it again. KeyError names a rule that is not searchable
        (not indexed, or retired)."""
        with self._lock:
            core = self._core
            fids = []
            for rule_id in rule_ids:
                row = core.rules.get(rule_id)
                if row is None or row.fid not in core.by_fid:
                    raise KeyError(rule_id)
                fids.append(row.fid)
            return core.vectors(np.array(fids, np.int64))

    def search(
        self, query: str | np.ndarray, k: int = 8, *, scope: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[Hit]:
        """The ``k`` active rules nearest ``query``, best first.

        ``query`` is a text (embedded here) or a vector of shape (dim,). ``scope``
        keeps rules of that scope, ``tags`` rules carrying every tag given; with
        filters, k results come back whenever k rules pass them.
        """
        if isinstance(query, str):
            return self.search_many([query], k, scope=scope, tags=tags)[0]
        return self.search_many(np.atleast_2d(query), k, scope=scope, tags=tags)[0]

    def search_many(
        self, queries: Sequence[str] | np.ndarray, k: int = 8, *, scope: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> list[list[Hit]]:
        """:meth:`search` for many queries: one embedding batch, one FAISS call."""
        count = len(queries)
        if count == 0 or k <= 0 or not self._core.by_fid:
            return [[] for _ in range(count)]
        dim = self._core.dim
        if isinstance(queries, np.ndarray):
            matrix = unit_vectors(queries, dim, count, "the query array")
        else:
            embedded = self._embedder.embed(list(queries))
            matrix = unit_vectors(embedded, dim, count, self._embedder.identity)
        with self._lock:
            core = self._core
            return core.search(matrix, k, core.allowed(scope, tags))


class IndexView(_Searchable):
    """A read-only, in-memory index of memory at one commit (from :meth:`RuleIndex.at`)."""

    def __init__(self, core: _Core, embedder: Embedder) -> None:
        self._core, self._embedder, self._lock = core, embedder, threading.RLock()


