"""The rule index's SQLite tables: connection, transactions, meta, rows, the digest check."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IndexError_
from .core import (
    _digest,
    _row_hash,
)
from .records import (
    _CHUNK,
    _DIGEST_MOD,
    _TAG_SEP,
    DB_NAME,
    IndexedRule,
)


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


