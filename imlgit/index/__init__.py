"""The rule index: which rules are relevant to a text, however large memory grows.

Derived data, never committed, always rebuildable: it lives under the memory
repository's git dir (``<git dir>/imlgit/index/``) and knows nothing of git.
:meth:`RuleIndex.sync` takes a commit id, that commit's rules as ``rule_id ->
RuleEntry`` (:class:`imlgit.ruleids.RuleEntry`, the store's own: only the blob is
read) and a loader that parses rules by id; it parses only blobs it has never seen
and embeds only blobs never embedded with this embedder.

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
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from itertools import compress
from operator import attrgetter, ne
from pathlib import Path
from typing import Any

import numpy as np

from ..embed import Embedder, unit_vectors
from ..errors import IndexError_
from ..locking import exclusive
from ..ruleids import RuleEntry
from .core import (
    IndexView,
    _blobs,
    _Core,
    _digest,
    _faiss,
    _Searchable,
    _snapshot_problem,
    _sound_vectors,
)
from .db import (
    Stored,
    _connect,
    _digest_after,
    _lookup,
    _meta,
    _put_meta,
    _rules_of,
    _split_tags,
    _table_problem,
    _transaction,
    stored,
)
from .records import (
    _TAG_SEP,
    ACTIVE,
    DB_NAME,
    DEFAULT_EF_SEARCH,
    FORMAT,
    HNSW_REBUILD_FRACTION,
    LOCK_NAME,
    SNAPSHOT_DRIFT,
    SNAPSHOT_GLOB,
    TEXT_VERSION,
    UNPARSABLE,
    Docs,
    Hit,
    IndexedRule,
    Loader,
    RuleDoc,
    SyncStats,
    _is_corruption,
    _Reset,
    _Vanished,
    log,
    rule_text,
)

__all__ = ["Hit", "IndexView", "IndexedRule", "RuleDoc", "RuleEntry"]
__all__ += ["RuleIndex", "Stored", "SyncStats", "UNPARSABLE", "rule_text", "stored"]


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

