"""The rule index: which rules are relevant to a text, however large memory grows.

Derived data, never committed, always rebuildable: it lives under the memory
repository's git dir (``<git dir>/imlgit/index/``) and knows nothing of git.
:meth:`RuleIndex.sync` takes a commit id, that commit's rules as ``rule_id ->
RuleEntry(blob)`` and a loader that parses rules by id; it parses only blobs it
has never seen and embeds only blobs never embedded with this embedder.

The embedded text (:func:`rule_text`), one line each, empty parts left out,
whitespace runs collapsed; the evidence is not embedded::

    <title>
    <statement>
    scope: <scope>
    tags: <tag>, <tag>, ...

On disk:

``index.sqlite`` (SQLite, WAL)
    ``meta``: format, embedder identity, dim, the commit reflected, a generation
    bumped by every write, the next FAISS id, the snapshot file name and its
    drift. ``rules``: rule_id -> (FAISS id, blob, scope, status, tags).
    ``docs``: blob -> (scope, status, tags). ``vectors``: the embedding cache,
    ``(<identity>#t<TEXT_VERSION>, blob) -> float32 bytes``; a new text format
    or model never reuses a vector, a rollback or revert re-embeds nothing.
``faiss-<generation>-<nonce>.index``
    ``IndexIDMap2`` over ``IndexFlatIP`` (exact; the default) or, from
    ``hnsw_threshold`` active rules on, over ``IndexHNSWFlat`` (M=32). It may lag
    the tables: on open, ids the tables dropped are hidden and missing ones are
    added from the cache, so a small sync never rewrites a large file.
``write.lock``
    held by a writer for a whole sync (:func:`imlgit.locking.exclusive`).

Consistency: one writer at a time; the tables change in one SQLite transaction
and the snapshot is replaced atomically (temporary file + ``os.replace``), so a
reader sees the old state or the new. A missing, corrupt or stale (other
embedder) part is rebuilt with a warning on the ``imlgit`` logger, never an error:
from the cache when only the snapshot is lost, from the rules on the next sync
otherwise. What loads is checked, since a few garbled bytes still load and then
lie: every vector of the snapshot and of the cache must be finite and of unit
length (else the snapshot is rebuilt from the cache, a cached vector embedded
again), the snapshot's counts and ids must agree, and the rules table must match
the row count and digest its last writer stored with the commit (else it is
rebuilt from the rules). A sync to the commit the index claims that finds other
rules says so. A FAISS id names one version of one rule (a changed rule gets a new
id); ids of rules that left the active set are hidden from results, removed in
batches from a flat index, and rebuilt away (synchronously) once they are a
fifth of an HNSW index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import compress
from operator import attrgetter, ne
from pathlib import Path
from typing import Any

import numpy as np

from imlgit.embed import Embedder, unit_vectors
from imlgit.errors import IndexError_
from imlgit.locking import exclusive

__all__ = ["Hit", "IndexView", "IndexedRule", "RuleDoc", "RuleEntry"]
__all__ += ["RuleIndex", "Stored", "SyncStats", "UNPARSABLE", "rule_text", "stored"]

FORMAT = "1"
TEXT_VERSION = 1
ACTIVE = "active"
UNPARSABLE = "unparsable"  # a loader's status for a rule file that does not parse: never searched
DB_NAME = "index.sqlite"
LOCK_NAME = "write.lock"
SNAPSHOT_GLOB = "faiss-*.index"
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
DEFAULT_EF_SEARCH = 128  # bench/retrieval_bench.py, 100k: recall@8 0.998 (0.955 at 32)
HNSW_REBUILD_FRACTION = 0.2  # hidden rows beyond this share of an HNSW index: rebuild
FLAT_HIDDEN_LIMIT = 256  # hidden rows beyond this in a flat index: remove them
EXACT_LIMIT = 2048  # a filter keeping this few rules is searched exactly with numpy
SNAPSHOT_DRIFT = 1000  # ids added or hidden since the snapshot before it is rewritten
SMALL_BATCH = 64  # fewer queries than this are searched on one thread (see _Core.search)
_CHUNK = 900  # SQLite host parameters per query
_TAG_SEP = "\x1f"
NORM_TOLERANCE = 1e-3  # float32 unit vectors are within ~1e-6 of norm 1
_DIGEST_MOD = 2**64

Docs = dict[str, tuple[str, str, tuple[str, ...]]]  # blob -> (scope, status, tags)
# load(rule_ids) -> {rule_id: RuleDoc}, or any objects with the same attributes
# (imlgit.rules.Rule has them).
Loader = Callable[[list[str]], Mapping[str, Any]]

_faiss_module: Any = None
log = logging.getLogger("imlgit")


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


@dataclass(frozen=True)
class RuleEntry:
    """A rule as a commit holds it: the SHA of its file's blob."""

    blob: str


@dataclass(frozen=True)
class RuleDoc:
    """The parts of a parsed rule the index uses."""

    title: str
    statement: str
    scope: str
    status: str = ACTIVE
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexedRule:
    """What the index holds for a rule: its FAISS id, blob, scope, status and tags."""

    fid: int
    blob: str
    scope: str
    status: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncStats:
    """What a sync did; ``embedded`` counts texts sent to the model."""

    added: int
    changed: int
    removed: int
    embedded: int
    cache_hits: int
    seconds: float
    rebuilt: bool = False  # the FAISS index was rebuilt (HNSW switch or cleanup)


@dataclass(frozen=True)
class Hit:
    rule_id: str
    score: float  # inner product of unit vectors: cosine similarity


def rule_text(title: str, statement: str, scope: str, tags: Iterable[str] = ()) -> str:
    """The text embedded for a rule (format in the module docstring)."""
    lines = [" ".join(title.split()), " ".join(statement.split())]
    if scope.strip():
        lines.append("scope: " + " ".join(scope.split()))
    tag_list = [" ".join(t.split()) for t in tags if t.strip()]
    if tag_list:
        lines.append("tags: " + ", ".join(tag_list))
    return "\n".join(line for line in lines if line)


class _Reset(Exception):
    """The persisted state cannot be used and is reset; the reason is the message."""

    def __init__(
        self, reason: str, corrupt: bool = True, inode: int | None = None, lying: bool = False
    ) -> None:
        super().__init__(reason)
        self.corrupt = corrupt  # unreadable, rather than merely stale
        self.inode = inode  # the database file found unreadable
        self.lying = lying  # readable, but the rules table is not what the last sync wrote


class _Vanished(Exception):
    """A snapshot was replaced between reading its name and opening it: read again."""


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    name, text = getattr(exc, "sqlite_errorname", ""), str(exc)
    return name in {"SQLITE_CORRUPT", "SQLITE_NOTADB"} or "no such t" in text or "malformed" in text


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


def _connect(path: Path) -> sqlite3.Connection:
    # Processes that open a new index at once race for WAL mode and the tables; SQLite
    # answers "database is locked" at once there rather than waiting: try again briefly.
    for attempt in range(100):
        try:
            return _connect_once(path)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.02 * (1 + attempt % 10))
    raise AssertionError("unreachable")


def _connect_once(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA page_size=16384")  # only matters before the first table
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS rules(rule_id TEXT PRIMARY KEY,
                fid INTEGER NOT NULL UNIQUE, blob TEXT NOT NULL, scope TEXT NOT NULL,
                status TEXT NOT NULL, tags TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS docs(blob TEXT PRIMARY KEY, scope TEXT NOT NULL,
                status TEXT NOT NULL, tags TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS vectors(id INTEGER PRIMARY KEY, identity TEXT NOT NULL,
                blob TEXT NOT NULL, vec BLOB NOT NULL, UNIQUE(identity, blob));
            """
        )
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, mode: str = "") -> Iterator[sqlite3.Connection]:
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class Stored:
    """An index as it is on disk, read without opening, building or repairing it:
    the commit it claims to reflect, the embedder it was built with, and the blob
    of each rule it holds (``imlgit doctor`` holds these against the repository)."""

    commit: str | None
    identity: str | None
    rules: dict[str, str]


def stored(directory: str | Path) -> Stored | None:
    """The index in ``directory`` as it is on disk (read only), or None when none
    was built there. :class:`IndexError_` when its database cannot be read (it is
    rebuilt on use)."""
    path = Path(directory) / DB_NAME
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            meta = _meta(conn)
            held = dict(conn.execute("SELECT rule_id, blob FROM rules").fetchall())
    except sqlite3.Error as exc:
        raise IndexError_(f"the index database cannot be read ({exc})") from None
    return Stored(meta.get("commit") or None, meta.get("identity"), held)


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _put_meta(conn: sqlite3.Connection, **values: object) -> None:
    rows = [(key, str(value)) for key, value in values.items()]
    conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", rows)


def _lookup(
    conn: sqlite3.Connection, sql: str, first: tuple[Any, ...], keys: Sequence[str]
) -> list[Any]:
    """Rows of ``sql`` ("... WHERE <cond> AND blob IN ({})") whose blob (column 0) is a key."""
    if len(keys) > 8 * _CHUNK:  # many keys: one scan beats a hundred IN lists
        wanted = set(keys)
        scan = sql.replace(" AND blob IN ({})", "").replace(" WHERE blob IN ({})", "")
        return [row for row in conn.execute(scan, first) if row[0] in wanted]
    rows: list[Any] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows += conn.execute(sql.format(",".join("?" * len(chunk))), (*first, *chunk))
    return rows


def _split_tags(text: str) -> tuple[str, ...]:
    return tuple(text.split(_TAG_SEP)) if text else ()


def _rules_of(conn: sqlite3.Connection) -> dict[str, IndexedRule]:
    rows = conn.execute("SELECT rule_id, fid, blob, scope, status, tags FROM rules")
    return {
        rid: IndexedRule(int(fid), blob, scope, status, _split_tags(tags))
        for rid, fid, blob, scope, status, tags in rows
    }


def _digest_after(
    conn: sqlite3.Connection, meta: Mapping[str, str], removed: Sequence[str],
    upserts: Sequence[tuple[str, IndexedRule]],
) -> tuple[int, int]:
    """The rules table's digest and row count once ``removed`` and ``upserts`` are
    written, from the stored ones and the rows they replace: a small sync stays small."""
    if "digest" in meta and "rows" in meta:
        digest, rows = int(meta["digest"]), int(meta["rows"])
    else:  # an index from before the digest: count it once
        table = _rules_of(conn)
        digest, rows = _digest(table), len(table)
    ids = [*removed, *(rid for rid, _ in upserts)]
    old: dict[str, IndexedRule] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        sql = "SELECT rule_id, fid, blob, status FROM rules WHERE rule_id IN ({})"
        for rid, fid, blob, status in conn.execute(sql.format(",".join("?" * len(chunk))), chunk):
            old[rid] = IndexedRule(int(fid), blob, "", status)
    digest -= sum(_row_hash(rid, row) for rid, row in old.items())
    digest += sum(_row_hash(rid, row) for rid, row in upserts)
    rows += sum(rid not in old for rid, _ in upserts) - sum(rid in old for rid in removed)
    return digest % _DIGEST_MOD, rows


def _table_problem(
    meta: Mapping[str, str], rules: Mapping[str, IndexedRule], digest: int
) -> str | None:
    """Why the rules table is not what the last sync wrote (None when it is).

    An index written before the digest existed has none to compare with.
    """
    if "digest" not in meta:
        return None
    claimed, commit = meta.get("rows", "?"), (meta.get("commit") or "-")[:12]
    if claimed != str(len(rules)):
        return f"it claims {claimed} rules at commit {commit}, its table has {len(rules)}"
    if meta["digest"] != str(digest):
        return f"its rules table is not what was synced at commit {commit}"
    fids = [row.fid for row in rules.values()]
    if fids and max(fids) >= int(meta.get("next_fid", "0")):
        return "its rules table holds ids it never gave out"
    return None


class RuleIndex(_Searchable):
    """The persisted rule index of one memory repository, synced incrementally to commits.

    Searching reads memory; :meth:`refresh` picks up writes of other processes.
    """

    def __init__(self, directory: Path, embedder: Embedder, hnsw_threshold: int, ef_search: int):
        self.directory = Path(directory)
        self.hnsw_threshold, self.ef_search = hnsw_threshold, ef_search
        self._embedder = embedder
        self._identity, self._dim = embedder.identity, int(embedder.dim)
        self._cache_key = f"{self._identity}#t{TEXT_VERSION}"
        self._lock = threading.RLock()
        self._locked = False  # this instance holds write.lock
        self._conn: sqlite3.Connection | None = None
        self._inode: int | None = None  # of the database file self._conn has open
        self._gen = -1
        self._snapshot_stale = False
        self._core = _Core(self._dim, "flat", ef_search)
        self.repairs: list[str] = []  # what this instance found wrong and rebuilt, in words

    @classmethod
    def open(
        cls, directory: Path, embedder: Embedder, *, hnsw_threshold: int = 20_000,
        ef_search: int = DEFAULT_EF_SEARCH,
    ) -> RuleIndex:
        """Open the index in ``directory`` (created if need be), repairing what it must."""
        self = cls(Path(directory), embedder, hnsw_threshold, ef_search)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexError_(
                f"rule index {self.directory}: cannot be made ({exc.strerror}); it is derived "
                "data: remove what is in its place and it is rebuilt"
            ) from None
        with self._lock:
            self._load()
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> RuleIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def refresh(self) -> bool:
        """Reload if anyone wrote since this instance last read or wrote; True if so."""
        with self._lock:
            if self._generation() == self._gen:
                return False
            self._load()
            return True

    # -- reading and repair ----------------------------------------------------

    def _warn(self, message: str, damage: bool = True) -> None:
        if damage:  # not a mere change of embedder or format: something on disk was wrong
            self.repairs.append(message)
        log.warning("rule index %s: %s", self.directory, message)

    @contextlib.contextmanager
    def _writer(self, blocking: bool = True) -> Iterator[bool]:
        """Hold write.lock (re-entrant in this instance); yields False when busy."""
        if self._locked:
            yield True
            return
        with exclusive(self.directory / LOCK_NAME, blocking=blocking) as held:
            self._locked = held
            try:
                yield held
            finally:
                self._locked = False

    @contextlib.contextmanager
    def _sql(self, doing: str) -> Iterator[sqlite3.Connection]:
        """The connection; corruption becomes _Reset, other SQLite errors IndexError_.

        A database file replaced by a repair elsewhere is reopened, and this
        instance's state marked stale.
        """
        path = self.directory / DB_NAME
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            inode = None
        try:
            if self._conn is not None and inode != self._inode:
                self.close()
                self._gen = -1
            if self._conn is None:
                if inode is None and any(self.directory.glob(SNAPSHOT_GLOB)):
                    raise _Reset("the index database is missing")
                self._conn = _connect(path)
                self._inode = inode = os.stat(path).st_ino
            yield self._conn
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise _Reset(f"the index database is unreadable ({exc})", inode=inode) from exc
            raise IndexError_(f"rule index {self.directory}: {doing} failed: {exc}") from exc

    def _generation(self) -> int:
        try:
            with self._sql("reading") as conn:
                row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        except (_Reset, IndexError_):
            return -2  # unreadable: forces a reload, which repairs or reports
        return int(row[0]) if row else 0

    def _load(self) -> None:
        for _ in range(10):
            try:
                return self._read()
            except _Vanished:
                continue
            except _Reset as reset:
                self._reset(reset)
        raise IndexError_(f"rule index {self.directory} keeps changing under a reader")

    def _read(self) -> None:
        with self._sql("reading") as conn, _transaction(conn):  # one consistent read
            meta = _meta(conn)
            rules = _rules_of(conn)
        if meta.get("format", FORMAT) != FORMAT:
            raise _Reset(f"its format {meta['format']} is not {FORMAT}", corrupt=False)
        digest = _digest(rules)
        problem = _table_problem(meta, rules, digest)
        if problem is not None:
            raise _Reset(problem, corrupt=False, lying=True)
        identity = meta.get("identity")
        if identity is not None and (identity, meta.get("dim")) != (self._identity, str(self._dim)):
            reason = f"it was built with {identity}, the embedder is {self._identity}"
            raise _Reset(reason, corrupt=False)
        index, problem = self._read_snapshot(meta.get("snapshot"))
        core = self._assemble(rules, index)
        core.commit = meta.get("commit") or None
        core.digest = digest
        self._core, self._gen = core, int(meta.get("generation", "0"))
        if problem is not None:
            self._warn(f"{problem}; rebuilt from the embedding cache")
        # A snapshot of the other kind than this threshold wants (written under another
        # [retrieval] hnsw_threshold, or by an imlgit before HNSW) is switched now, not
        # on the next change of rules, which may never come.
        switched = index is not None and self._maintain()
        if (index is None and core.index.ntotal) or switched:
            # No usable snapshot (lost, or its writer died first), or one of the other
            # kind: write one now unless a writer is busy, in which case the next sync will.
            self._snapshot_stale = True
            with self._writer(blocking=False) as got:
                if got and self._generation() == self._gen:
                    self._write_snapshot()

    def _read_snapshot(self, name: str | None) -> tuple[Any, str | None]:
        if not name:
            return None, None
        path, faiss = self.directory / name, _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            if path.exists():
                return None, f"the FAISS snapshot {name} is unreadable"
            with self._sql("reading") as conn:
                if _meta(conn).get("snapshot") != name:
                    raise _Vanished() from exc
            return None, f"the FAISS snapshot {name} is missing"
        # read_index returns the owning, already downcast object: keep that reference.
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else None
        if not (
            isinstance(inner, faiss.IndexHNSWFlat | faiss.IndexFlat)
            and index.d == self._dim
            and inner.metric_type == faiss.METRIC_INNER_PRODUCT
        ):
            return None, f"the FAISS snapshot {name} is not an index this module writes"
        problem = _snapshot_problem(index, inner, self._dim)
        if problem is not None:
            return None, f"the FAISS snapshot {name} {problem}"
        if isinstance(inner, faiss.IndexHNSWFlat):
            inner.hnsw.efSearch = self.ef_search
        return index, None

    def _assemble(self, rules: dict[str, IndexedRule], index: Any) -> _Core:
        """A core holding ``rules``: the snapshot, plus what it lacks from the cache."""
        faiss = _faiss()
        if index is None:
            active = sum(r.status == ACTIVE for r in rules.values())
            kind = "hnsw" if active >= self.hnsw_threshold else "flat"
            present: set[int] = set()
        else:
            hnsw = isinstance(faiss.downcast_index(index.index), faiss.IndexHNSWFlat)
            kind = "hnsw" if hnsw else "flat"
            present = set(faiss.vector_to_array(index.id_map).tolist())
        core = _Core(self._dim, kind, self.ef_search, index)
        fresh = [(rid, r) for rid, r in rules.items() if r.fid not in present]
        needed = sorted({r.blob for _, r in fresh if r.status == ACTIVE})
        with self._sql("reading") as conn:
            sql = "SELECT blob, vec FROM vectors WHERE identity=? AND blob IN ({})"
            vec_of = dict(_lookup(conn, sql, (self._cache_key,), needed))
        garbled = _sound_vectors(vec_of, self._dim)
        if garbled:
            self._warn(f"{len(garbled)} cached vectors are garbled")
        lost = {rid for rid, r in fresh if r.status == ACTIVE and r.blob not in vec_of}
        if lost:  # left out here, so the next sync sees them as new and embeds them
            self._warn(f"{len(lost)} cached vectors are missing; the next sync re-embeds them")
        for rid, r in rules.items():
            if r.status == UNPARSABLE:
                core.unparsable.add(rid)
            if r.fid in present:
                core.rules[rid], core.blobs[rid] = r, r.blob
                if r.status == ACTIVE:
                    core._map(rid, r)
        core.hidden = present - core.by_fid.keys()
        core.apply((), [(rid, r) for rid, r in fresh if rid not in lost], vec_of)
        return core

    def _reset(self, reset: _Reset) -> None:
        """Start over empty; the rules come back on the next sync, cached vectors stay."""
        self._warn(f"{reset}; it is rebuilt from the rules on the next sync",
                   damage=reset.corrupt or reset.lying)
        path = self.directory / DB_NAME
        with self._writer():
            self._core, self._gen = _Core(self._dim, "flat", self.ef_search), -1
            self.close()
            inode = os.stat(path).st_ino if path.exists() else None
            if reset.corrupt and inode != reset.inode:
                return  # another process has already replaced that file
            try:
                if not reset.corrupt:
                    with self._sql("repairing") as conn, _transaction(conn, "IMMEDIATE"):
                        meta = _meta(conn)
                        ours = (self._identity, str(self._dim), FORMAT)
                        if reset.lying:
                            if _table_problem(meta, rows := _rules_of(conn), _digest(rows)) is None:
                                return  # another process has already rebuilt it
                        elif (meta.get("identity"), meta.get("dim"), meta.get("format")) == ours:
                            return  # another process has already rebuilt it for this embedder
                        conn.execute("DELETE FROM rules")
                        conn.execute("DELETE FROM meta WHERE key IN ('identity','dim','snapshot')")
                        generation = int(meta.get("generation", "0")) + 1
                        _put_meta(conn, format=FORMAT, generation=generation, commit="", drift=0,
                                  rows=0, digest=0)
                elif inode is not None:
                    # Set aside, not deleted: an inode SQLite still maps in this process
                    # must not be reused by the new database.
                    raise _Reset("unreadable")
            except _Reset:  # the embedding cache goes with it
                self.close()
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, self.directory / f"{DB_NAME}.corrupt")
                for suffix in ("-wal", "-shm"):
                    (self.directory / (DB_NAME + suffix)).unlink(missing_ok=True)
            for stale in self.directory.glob(SNAPSHOT_GLOB):
                stale.unlink(missing_ok=True)

    def _write_snapshot(self) -> None:
        """Replace the FAISS snapshot atomically; the caller holds write.lock."""
        name = f"faiss-{self._gen}-{uuid.uuid4().hex[:8]}.index"
        tmp = self.directory / f".{name}.tmp"
        try:
            _faiss().write_index(self._core.index, str(tmp))
            os.replace(tmp, self.directory / name)
        finally:
            tmp.unlink(missing_ok=True)
        with self._sql("writing") as conn, _transaction(conn, "IMMEDIATE"):
            previous = _meta(conn).get("snapshot")
            _put_meta(conn, snapshot=name, drift=0)
        self._snapshot_stale = False
        for old in self.directory.glob(SNAPSHOT_GLOB):
            if old.name not in (name, previous):  # a reader may be opening the previous one
                old.unlink(missing_ok=True)

    # -- writing ---------------------------------------------------------------

    def holds(self, commit: str) -> bool:
        """Whether this process's index is already synced to ``commit`` (searches read
        it, whatever other processes sync the persisted index to meanwhile)."""
        with self._lock:
            return self._core.commit == commit

    def sync(self, commit: str, entries: Mapping[str, RuleEntry], load: Loader) -> SyncStats:
        """Bring the index to ``commit``, whose rules are ``entries`` (rule id -> blob).

        ``load(rule_ids)`` returns parsed rules (:class:`RuleDoc` or alike) for those
        ids; it is only asked for blobs never seen. A rule whose file does not parse
        is given status :data:`UNPARSABLE`: indexed, never searched, listed by
        :meth:`unparsable`, so the rest of memory stays searchable. If it leaves one out
        (:class:`IndexError_`) or embedding fails (:class:`EmbedderError`), the
        persisted index is unchanged.
        """
        with self._lock, self._writer():
            return self._repairing(self._sync, commit, entries, load)

    def _repairing(self, step: Callable[..., Any], *args: Any) -> Any:
        """Run ``step``; if it finds the database unreadable, reset and run it once more."""
        try:
            return step(*args)
        except _Reset as reset:
            self._reset(reset)
            return step(*args)

    def _sync(self, commit: str, entries: Mapping[str, RuleEntry], load: Loader) -> SyncStats:
        started = time.perf_counter()
        if self._generation() != self._gen:
            self._load()
        # The diff is the one step of a small sync that grows with memory: keep it in C.
        core, current = self._core, self._core.blobs
        blobs = map(attrgetter("blob"), entries.values())
        todo = list(compress(entries, map(ne, map(current.get, entries), blobs)))
        added = [rid for rid in todo if rid not in current]
        changed = [rid for rid in todo if rid in current]
        gone = len(current) - (len(entries) - len(added))
        removed = list(current.keys() - entries.keys()) if gone else []
        if not todo and not removed and commit == core.commit:
            return SyncStats(0, 0, 0, 0, 0, time.perf_counter() - started)
        if commit == core.commit:
            self._warn(f"it claimed commit {commit[:12]} but held other rules; repaired")
        blob_of = {rid: entries[rid].blob for rid in todo}
        docs, vec_of, embedded = self._prepare(todo, blob_of, load)
        live = sum(docs[blob][1] == ACTIVE for blob in blob_of.values())
        hits = live - sum(docs[blob][1] == ACTIVE for blob in embedded)
        with self._sql("writing") as conn:
            meta = _meta(conn)
            # ids hidden or added since the snapshot (an upper bound: some were retired)
            drift = int(meta.get("drift", "0")) + len(removed) + len(changed) + live
            next_fid, gen = int(meta.get("next_fid", "0")), int(meta.get("generation", "0")) + 1
            upserts = [
                (rid, IndexedRule(next_fid + i, blob_of[rid], *docs[blob_of[rid]]))
                for i, rid in enumerate(todo)
            ]
            with _transaction(conn, "IMMEDIATE"):
                digest, rows = _digest_after(conn, meta, removed, upserts)
                self._cache(conn, docs, embedded)
                conn.executemany("DELETE FROM rules WHERE rule_id=?", [(r,) for r in removed])
                conn.executemany(
                    "INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?, ?)",
                    [(rid, r.fid, r.blob, r.scope, r.status, _TAG_SEP.join(r.tags))
                     for rid, r in upserts],
                )
                _put_meta(conn, format=FORMAT, identity=self._identity, dim=self._dim,
                          commit=commit, generation=gen, next_fid=next_fid + len(todo),
                          drift=drift, digest=digest, rows=rows)
        try:
            core.apply(removed, upserts, vec_of)
            core.commit, self._gen = commit, gen
            rebuilt = self._maintain()
            first = not meta.get("snapshot")
            if rebuilt or first or self._snapshot_stale or drift >= SNAPSHOT_DRIFT:
                self._write_snapshot()
        except BaseException:
            self._gen = -1  # memory may differ from disk: reload before the next write
            raise
        return SyncStats(len(added), len(changed), len(removed), len(embedded), hits,
                         time.perf_counter() - started, rebuilt)

    def _maintain(self) -> bool:
        """Switch flat <-> HNSW at the threshold; rebuild an HNSW index full of hidden ids."""
        core, active = self._core, len(self._core.by_fid)
        if core.kind == "flat" and active >= self.hnsw_threshold:
            core.rebuild("hnsw")
        elif core.kind == "hnsw" and active < 0.9 * self.hnsw_threshold:  # 10% hysteresis
            core.rebuild("flat")
        elif core.kind == "hnsw" and len(core.hidden) > HNSW_REBUILD_FRACTION * core.index.ntotal:
            core.rebuild("hnsw")  # synchronous: HNSW cannot delete in place
        else:
            return False
        return True

    def _cache(self, conn: sqlite3.Connection, docs: Docs, embedded: Mapping[str, bytes]) -> None:
        conn.executemany(
            # REPLACE: a vector embedded again replaces the garbled one it was cached as
            "INSERT OR REPLACE INTO vectors(identity, blob, vec) VALUES (?, ?, ?)",
            [(self._cache_key, blob, vec) for blob, vec in embedded.items()],
        )
        conn.executemany(  # an unparsable file is not cached: a later parser may read it
            "INSERT OR IGNORE INTO docs VALUES (?, ?, ?, ?)",
            [(blob, s, st, _TAG_SEP.join(t)) for blob, (s, st, t) in docs.items()
             if st != UNPARSABLE],
        )

    def _prepare(
        self, rule_ids: list[str], blob_of: Mapping[str, str], load: Loader
    ) -> tuple[Docs, dict[str, bytes], dict[str, bytes]]:
        """Docs and vectors for ``rule_ids``: cached, else parsed and embedded.

        Returns (docs by blob, vectors by blob, the newly embedded part of those).
        """
        if not rule_ids:
            return {}, {}, {}
        blobs = sorted({blob_of[rid] for rid in rule_ids})
        with self._sql("reading") as conn:
            sql = "SELECT blob, scope, status, tags FROM docs WHERE blob IN ({})"
            docs = {b: (s, st, _split_tags(t)) for b, s, st, t in _lookup(conn, sql, (), blobs)}
            wanted = [b for b in blobs if b not in docs or docs[b][1] == ACTIVE]
            sql = "SELECT blob, vec FROM vectors WHERE identity=? AND blob IN ({})"
            vec_of = dict(_lookup(conn, sql, (self._cache_key,), wanted))
        garbled = _sound_vectors(vec_of, self._dim)
        if garbled:
            self._warn(f"{len(garbled)} cached vectors are garbled; they are embedded again")
        need = [
            rid for rid in rule_ids
            if (b := blob_of[rid]) not in docs or (docs[b][1] == ACTIVE and b not in vec_of)
        ]
        texts: dict[str, str] = {}
        if need:
            parsed = load(list(need))
            missing = [rid for rid in need if rid not in parsed]
            if missing:
                raise IndexError_(
                    f"the rule loader returned nothing for {len(missing)} rules: "
                    + ", ".join(missing[:5])
                )
            for rid in need:
                doc, blob = parsed[rid], blob_of[rid]
                tags = tuple(doc.tags or ())
                docs[blob] = (doc.scope, doc.status, tags)
                if doc.status == ACTIVE and blob not in vec_of:
                    texts[blob] = rule_text(doc.title, doc.statement, doc.scope, tags)
        embedded: dict[str, bytes] = {}
        order = list(texts)
        for start in range(0, len(order), 4096):  # bounded memory for large rebuilds
            chunk = order[start : start + 4096]
            vectors = self._embedder.embed([texts[b] for b in chunk])
            vectors = unit_vectors(vectors, self._dim, len(chunk), self._identity)
            embedded.update(zip(chunk, (v.tobytes() for v in vectors), strict=True))
        vec_of.update(embedded)
        return docs, vec_of, embedded

    def at(self, commit: str, entries: Mapping[str, RuleEntry], load: Loader) -> IndexView:
        """Memory as it was at ``commit``, searchable; the persisted index is untouched.

        Vectors come from this index or its cache: only blobs never seen are parsed
        and embedded (and then cached). The view is an exact, in-memory index.
        """
        with self._lock:
            return self._repairing(self._at, commit, entries, load)

    def _at(self, commit: str, entries: Mapping[str, RuleEntry], load: Loader) -> IndexView:
        blob_of, current = _blobs(entries), self._core
        reuse = {
            r.blob: (r.fid, rid) for rid, r in current.rules.items() if r.fid in current.by_fid
        }
        elsewhere = [rid for rid, blob in blob_of.items() if blob not in reuse]
        docs, vec_of, embedded = self._prepare(elsewhere, blob_of, load)
        if embedded:
            with self._sql("writing") as conn, _transaction(conn, "IMMEDIATE"):
                self._cache(conn, docs, embedded)
        shared = sorted({b for b in blob_of.values() if b in reuse})
        vectors = current.vectors(np.array([reuse[b][0] for b in shared], np.int64))
        for blob, vector in zip(shared, vectors, strict=True):
            row = current.rules[reuse[blob][1]]
            vec_of[blob], docs[blob] = vector.tobytes(), (row.scope, row.status, row.tags)
        upserts = [
            (rid, IndexedRule(fid, blob, *docs[blob]))
            for fid, (rid, blob) in enumerate(sorted(blob_of.items()))
        ]
        core = _Core(self._dim, "flat", self.ef_search)
        core.apply((), upserts, vec_of)
        core.commit = commit
        return IndexView(core, self._embedder)
