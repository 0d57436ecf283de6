"""What the rule index stores and returns: its records, constants and the embedded text."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

log = logging.getLogger("imlgit")



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


