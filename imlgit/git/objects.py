"""Git objects read and written at dulwich's object level, with the caches a
memory's hot paths need.

Trees and commits never change, so they are cached by id; a tree's entries are
kept for lookups and for the next commit's incremental write (a commit changes
one entry of a large scope's tree: it is re-serialized by a bisect and a join,
not by sorting every entry again). Loose objects are written the way git writes
them: compressed in one piece to a temporary file, renamed into place.
``bench/store_bench.py`` measures both against the git CLI and dulwich's own
writer; they stay while it shows them ahead.
"""

from __future__ import annotations

import binascii
import bisect
import hashlib
import heapq
import itertools
import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import Repo

from ..commits import CommitMessage, Identity
from ..errors import RevisionNotFound, StoreError

__all__ = ["CommitInfo", "Objects", "check_path", "oid", "hexsha"]

FILE_MODE = 0o100644
TREE_MODE = 0o040000
_TREE_ENTRIES_KEPT = 400_000  # tree entries cached in all (about 40 MB)
_TREE_LINES_KEPT = 8  # serialized trees kept for the next commit's incremental write
_TMP_COUNTER = itertools.count()

Entry = tuple[int, bytes]  # (mode, hex sha) of one tree entry


def oid(sha: str | bytes) -> ObjectID:
    return ObjectID(sha if isinstance(sha, bytes) else sha.encode("ascii"))


def hexsha(sha: bytes) -> str:
    return sha.decode("ascii")


def utf8(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class CommitInfo:
    """One commit, as ``log`` and ``history`` return it."""

    sha: str
    subject: str
    rationale: str
    trailers: tuple[tuple[str, str], ...]
    author: str
    committer: str
    time: int
    parents: tuple[str, ...]

    @property
    def message(self) -> CommitMessage:
        return CommitMessage(self.subject, self.rationale, self.trailers)

    def trailer(self, key: str) -> str | None:
        return self.message.trailer(key)

    def to_dict(self) -> dict[str, object]:
        return {
            "sha": self.sha,
            "subject": self.subject,
            "rationale": self.rationale,
            "trailers": {k: v for k, v in self.trailers},
            "author": self.author,
            "committer": self.committer,
            "time": self.time,
            "parents": list(self.parents),
        }


def info_of(c: Commit) -> CommitInfo:
    msg = CommitMessage.parse(utf8(c.message))
    return CommitInfo(
        sha=hexsha(c.id),
        subject=msg.subject,
        rationale=msg.rationale,
        trailers=msg.trailers,
        author=utf8(c.author),
        committer=utf8(c.committer),
        time=c.commit_time,
        parents=tuple(hexsha(p) for p in c.parents),
    )


def check_path(path: str) -> None:
    """Refuse a path git would not store safely (absolute, ``..``, ``.git``, control
    characters)."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..", ".git") for p in parts)
        or any(ord(ch) < 32 for ch in path)
    ):
        raise StoreError(f"unsafe path {path!r}")


class Objects:
    """A repository's objects: cached reads, incremental tree writes, loose writes."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._cache: dict[bytes, object] = {}
        self._tree_entries: dict[bytes, dict[bytes, Entry]] = {}
        self._tree_entry_count = 0  # entries held by _tree_entries, to bound its memory
        # The last trees written, serialized in git's order: (sort keys, entry lines).
        self._tree_lines: dict[bytes, tuple[list[bytes], list[bytes]]] = {}
        self._objects_dir = str(repo.object_store.path)

    # ------------------------------------------------------------------ read

    def get(self, sha: bytes) -> object:
        """An object by sha; trees and commits are cached (git objects never change)."""
        obj = self._cache.get(sha)
        if obj is None:
            obj = self.repo[sha]
            if not isinstance(obj, Blob):
                if len(self._cache) >= 8192:
                    for old in list(self._cache)[:2048]:  # the oldest quarter
                        del self._cache[old]
                self._cache[sha] = obj
        return obj

    def commit(self, sha: str) -> Commit:
        """The commit ``sha``; :class:`RevisionNotFound` when it is something else."""
        obj = self.get(sha.encode())
        if not isinstance(obj, Commit):
            raise RevisionNotFound(sha)
        return obj

    def has(self, sha: str | bytes) -> bool:
        try:
            return oid(sha) in self.repo.object_store
        except ValueError:
            return False

    def is_commit(self, sha: str) -> bool:
        try:
            return isinstance(self.repo[oid(sha)], Commit)
        except (KeyError, ValueError):
            return False

    def raw(self, sha: str) -> bytes:
        """An object's serialized form (a commit's, for signatures)."""
        return self.commit(sha).as_raw_string()

    def info(self, sha: str) -> CommitInfo:
        return info_of(self.commit(sha))

    def read_blob(self, sha: str) -> bytes:
        obj = self.repo[sha.encode()]
        if not isinstance(obj, Blob):
            raise StoreError(f"{sha} is not a blob")
        return obj.as_raw_string()

    def entries(self, tree: bytes) -> dict[bytes, Entry]:
        """A tree's entries, name -> (mode, hex sha); cached, as trees never change."""
        found = self._tree_entries.get(tree)
        if found is None:
            obj = self.get(tree)
            assert isinstance(obj, Tree)
            found = {e.path: (e.mode, e.sha) for e in obj.iteritems()}
            self._remember_tree(tree, found)
        return found

    def lookup(self, tree: bytes | None, path: str) -> Entry | None:
        """(mode, sha) of ``path`` in ``tree``, or None."""
        if tree is None:
            return None
        current = tree
        parts = path.split("/")
        for i, part in enumerate(parts):
            found = self.entries(current).get(part.encode())
            if found is None:
                return None
            mode, sha = found
            if i == len(parts) - 1:
                return mode, sha
            if not stat.S_ISDIR(mode):
                return None
            current = sha
        return None

    def file_blob(self, tree: bytes | None, path: str) -> bytes | None:
        """The blob id of file ``path`` in ``tree`` (None: absent, or a directory)."""
        found = self.lookup(tree, path)
        return None if found is None or stat.S_ISDIR(found[0]) else found[1]

    def dir_entries(self, tree: bytes | None, path: str) -> dict[bytes, Entry]:
        """The entries of directory ``path`` in ``tree`` (empty when it is not one)."""
        hit = self.lookup(tree, path)
        return self.entries(hit[1]) if hit is not None and stat.S_ISDIR(hit[0]) else {}

    def walk_files(self, tree: bytes, prefix: str) -> Iterator[tuple[str, bytes]]:
        """(path, blob id) of every regular file below ``tree``, paths from ``prefix``."""
        obj = self.get(tree)
        assert isinstance(obj, Tree)
        for item in obj.iteritems():
            name = prefix + utf8(item.path)
            if stat.S_ISDIR(item.mode):
                yield from self.walk_files(item.sha, name + "/")
            elif stat.S_ISREG(item.mode):
                yield name, item.sha

    def files_under(self, tree: bytes | None, prefix: str) -> Iterator[tuple[str, bytes]]:
        """:meth:`walk_files` of directory ``prefix`` of ``tree`` (nothing when absent)."""
        found = self.lookup(tree, prefix)
        if found is not None and stat.S_ISDIR(found[0]):
            yield from self.walk_files(found[1], prefix + "/")

    def top_names(self, tree: bytes) -> set[str]:
        obj = self.get(tree)
        assert isinstance(obj, Tree)
        return {utf8(item.path) for item in obj.iteritems()}

    def diff_trees(self, a: bytes | None, b: bytes | None, prefix: str = "") -> Iterator[str]:
        """The paths of files that differ between trees ``a`` and ``b`` (None: empty)."""
        if a == b:
            return
        ea = self.entries(a) if a is not None else {}
        eb = self.entries(b) if b is not None else {}
        for name in sorted(set(ea) | set(eb)):
            x, y = ea.get(name), eb.get(name)
            if x == y:
                continue
            path = prefix + utf8(name)
            xdir = x is not None and stat.S_ISDIR(x[0])
            ydir = y is not None and stat.S_ISDIR(y[0])
            if xdir or ydir:
                yield from self.diff_trees(
                    x[1] if xdir and x else None, y[1] if ydir and y else None, path + "/"
                )
                if (x is not None and not xdir) or (y is not None and not ydir):
                    yield path
            else:
                yield path

    def changed_paths(self, sha: str) -> list[str]:
        """Paths a commit changed (against its first parent; against all, for merges)."""
        c = self.commit(sha)
        parents = [self.commit(hexsha(p)).tree for p in c.parents] or [None]
        changed: set[str] | None = None
        for ptree in parents:
            paths = set(self.diff_trees(ptree, c.tree))
            changed = paths if changed is None else changed & paths
        return sorted(changed or ())

    def tree_objects(self, tree: bytes, seen: set[bytes]) -> None:
        """Add ``tree`` and every tree and blob below it to ``seen`` (a tree already
        there is not walked again)."""
        if tree in seen:
            return
        seen.add(tree)
        obj = self.get(tree)
        assert isinstance(obj, Tree)
        for item in obj.iteritems():
            if stat.S_ISDIR(item.mode):
                self.tree_objects(item.sha, seen)
            elif item.mode != 0o160000:  # a gitlink names a commit elsewhere
                seen.add(item.sha)

    # ------------------------------------------------------------------ history graph

    def walk(
        self,
        include: Iterable[str | bytes],
        exclude: Iterable[str | bytes] = (),
        *,
        limit: int | None = None,
        reverse: bool = False,
    ) -> Iterator[Commit]:
        """The commits reachable from ``include`` and not from ``exclude``, newest first."""
        walker = self.repo.get_walker(
            include=[oid(s) for s in include],
            exclude=[oid(s) for s in exclude],
            max_entries=limit,
            reverse=reverse,
        )
        for entry in walker:
            yield entry.commit

    def commits_between(self, head: str, stop: str | None) -> list[str]:
        """The commits reachable from ``head`` and not from ``stop``."""
        return [hexsha(c.id) for c in self.walk([head], [stop] if stop else [])]

    def objects_between(self, head: str, stop: str | None) -> set[bytes]:
        """Commits reachable from ``head`` and not ``stop``, and their trees and blobs."""
        seen: set[bytes] = set()
        for sha in self.commits_between(head, stop):
            seen.add(oid(sha))
            self.tree_objects(self.commit(sha).tree, seen)
        return seen

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (``git merge-base
        --is-ancestor``). A walk over every parent, newest first, that gives up on a
        line of history once it is a day older than ``ancestor``: commit times may go
        backwards a little (clocks differ, one second holds many commits), and
        dulwich's can_fast_forward, which trusts them exactly, said no to commits a
        merge brought onto main."""
        if ancestor == descendant:
            return True
        floor = self.commit(ancestor).commit_time - 86_400
        seen = {descendant}
        queue = [(-self.commit(descendant).commit_time, descendant)]
        while queue:
            _, sha = heapq.heappop(queue)
            for parent in map(hexsha, self.commit(sha).parents):
                if parent == ancestor:
                    return True
                if parent in seen:
                    continue
                seen.add(parent)
                when = self.commit(parent).commit_time
                if when >= floor:
                    heapq.heappush(queue, (-when, parent))
        return False

    def merge_base(self, a: str, b: str) -> str | None:
        from dulwich.graph import find_merge_base

        bases = find_merge_base(self.repo, [oid(a), oid(b)])
        return hexsha(bases[0]) if bases else None

    # ------------------------------------------------------------------ write

    def write_tree(self, tree: bytes | None, changes: Mapping[str, bytes | None]) -> bytes | None:
        """Apply {path: blob sha or None} to ``tree``; write new trees; return the root.

        Returns None for a tree left empty (git has no empty directories).
        """
        new = dict(self.entries(tree)) if tree is not None else {}
        groups: dict[str, dict[str, bytes | None]] = {}
        touched: set[bytes] = set()
        for path, sha in changes.items():
            head, sep, rest = path.partition("/")
            touched.add(head.encode())
            if sep:
                groups.setdefault(head, {})[rest] = sha
            else:
                name = head.encode()
                if sha is None:
                    new.pop(name, None)
                else:
                    if name in new and stat.S_ISDIR(new[name][0]):
                        raise StoreError(f"{path} is a directory")
                    new[name] = (FILE_MODE, oid(sha))
        for head, sub in groups.items():
            name = head.encode()
            existing = None
            if name in new:
                mode, sha = new[name]
                if not stat.S_ISDIR(mode):
                    raise StoreError(f"{head} is a file, not a directory")
                existing = sha
            subtree = self.write_tree(existing, sub)
            if subtree is None:
                new.pop(name, None)
            else:
                new[name] = (TREE_MODE, subtree)
        if not new:
            return None
        keys, lines = self._serialize(tree, new, touched)
        raw = b"".join(lines)
        sha = hashlib.sha1(b"tree %d\0" % len(raw) + raw).hexdigest().encode("ascii")
        self._remember_tree(sha, new)
        if len(self._tree_lines) >= _TREE_LINES_KEPT:
            del self._tree_lines[next(iter(self._tree_lines))]
        self._tree_lines[sha] = (keys, lines)
        self.write_raw(b"tree", raw, sha)
        return sha

    def write_tree_or_empty(self, tree: bytes | None, changes: Mapping[str, bytes | None]) -> bytes:
        """:meth:`write_tree`, with git's empty tree written for a tree left empty."""
        written = self.write_tree(tree, changes)
        return written if written is not None else self.empty_tree()

    def _serialize(
        self,
        base: bytes | None,
        new: dict[bytes, Entry],
        touched: set[bytes],
    ) -> tuple[list[bytes], list[bytes]]:
        """The entries of ``new`` as git serializes a tree, in git's order (a directory
        sorts as if its name ended in "/"): sort keys and entry lines. From the base
        tree's lines when they are at hand and only ``touched`` names differ."""

        def key(name: bytes, mode: int) -> bytes:
            return name + b"/" if mode == TREE_MODE else name

        def line(name: bytes, mode: int, sha: bytes) -> bytes:
            return b"%o %s\0%s" % (mode, name, binascii.unhexlify(sha))

        cached = self._tree_lines.get(base) if base is not None else None
        if base is None or cached is None or len(touched) * 8 > len(new):
            names = sorted(new, key=lambda n: key(n, new[n][0]))
            return [key(n, new[n][0]) for n in names], [line(n, *new[n]) for n in names]
        keys, lines = list(cached[0]), list(cached[1])
        old = self.entries(base)
        for name in touched:
            if name in old:
                i = bisect.bisect_left(keys, key(name, old[name][0]))
                del keys[i], lines[i]
            if name in new:
                k = key(name, new[name][0])
                i = bisect.bisect_left(keys, k)
                keys.insert(i, k)
                lines.insert(i, line(name, *new[name]))
        return keys, lines

    def _remember_tree(self, sha: bytes, entries: dict[bytes, Entry]) -> None:
        """Cache a tree's entries; the oldest go first once the cache holds more than
        _TREE_ENTRIES_KEPT entries in all (a long-running agent must not grow without
        bound: every commit makes a new copy of a large scope's tree)."""
        if sha in self._tree_entries:
            return
        self._tree_entries[sha] = entries
        self._tree_entry_count += len(entries)
        while self._tree_entry_count > _TREE_ENTRIES_KEPT and len(self._tree_entries) > 1:
            oldest = next(iter(self._tree_entries))
            self._tree_entry_count -= len(self._tree_entries.pop(oldest))

    def add(self, obj: Blob | Tree | Commit) -> None:
        """Write a loose object (see :meth:`write_raw`)."""
        if not isinstance(obj, Blob):
            self._cache[obj.id] = obj
        self.write_raw(obj.type_name, obj.as_raw_string(), obj.id)

    def write_raw(self, type_name: bytes, raw: bytes, sha: bytes) -> None:
        """Write a loose object: compressed in one piece to a temporary file, then
        renamed into place (what git does; dulwich compresses entry by entry)."""
        import zlib

        hexs = sha.decode("ascii")
        directory = os.path.join(self._objects_dir, hexs[:2])
        path = os.path.join(directory, hexs[2:])
        if os.path.exists(path):
            return
        # Level 1, as git compresses loose objects (core.looseCompression defaults to 1).
        data = zlib.compress(b"%s %d\0" % (type_name, len(raw)) + raw, 1)
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        tmp = os.path.join(directory, f"tmp_obj_{os.getpid()}_{next(_TMP_COUNTER)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # same name, same content: replacing a twin is harmless

    def blob(self, data: bytes) -> bytes:
        """Write ``data`` as a blob; its id."""
        b = Blob.from_string(data)
        self.add(b)
        return b.id

    def blobs(self, changes: Mapping[str, bytes | None]) -> dict[str, bytes | None]:
        """Each changed path's blob written ({path: blob id}; None: deleted)."""
        out: dict[str, bytes | None] = {}
        for path, data in changes.items():
            check_path(path)
            out[path] = None if data is None else self.blob(data)
        return out

    def empty_tree(self) -> bytes:
        empty = Tree()
        self.add(empty)
        return empty.id

    def new_commit(
        self,
        tree: bytes,
        parents: Sequence[str | bytes],
        text: bytes,
        author: Identity | bytes,
        committer: Identity | bytes,
        when: int,
        *,
        sign: object = None,
        like: Commit | None = None,
    ) -> Commit:
        """A commit object written (UTC, UTF-8), no ref moved. ``sign``: a callable
        given the unsigned commit's bytes that returns its signature (``gpgsig``);
        ``like``: a commit whose authorship, times and encoding are kept (a rewrite)."""
        c = Commit()
        c.tree = oid(tree)
        c.parents = [oid(p) for p in parents]
        c.message = text
        if like is not None:
            c.author, c.committer, c.encoding = like.author, like.committer, like.encoding
            c.author_time, c.commit_time = like.author_time, like.commit_time
            c.author_timezone, c.commit_timezone = like.author_timezone, like.commit_timezone
        else:
            c.author = author if isinstance(author, bytes) else author.to_bytes()
            c.committer = committer if isinstance(committer, bytes) else committer.to_bytes()
            c.author_time = c.commit_time = when
            c.author_timezone = c.commit_timezone = 0
            c.encoding = b"UTF-8"
        if callable(sign):
            c.gpgsig = sign(c.as_raw_string())
        self.add(c)
        return c

    def forget(self, gone: set[bytes]) -> None:
        """Drop cached objects that were removed from the store (an erasure)."""
        self._cache = {k: v for k, v in self._cache.items() if k not in gone}
