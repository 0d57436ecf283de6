"""The git layer: a memory repository read and written at dulwich's object level.

Writes are atomic: blobs, trees and the commit are written first, and the branch
ref is moved last with a compare-and-swap. When the ref moved meanwhile, a change
that touches other paths is re-applied on the new head; one that touches a path
changed meanwhile raises :class:`ConflictError` naming the rule. Nothing is lost.

The store knows nothing of the retrieval index or of language models.
"""

from __future__ import annotations

import binascii
import bisect
import difflib
import hashlib
import itertools
import os
import random
import shutil
import stat
import time
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dulwich.errors import NotGitRepository
from dulwich.file import FileLocked
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from . import approvals, locking, worktree
from . import history as _history
from .commits import POLICY, CommitMessage, Identity, parse_identity
from .config import Settings
from .errors import (
    ConflictError,
    ImlgitError,
    NotAMemoryRepo,
    RevisionNotFound,
    RuleError,
    RuleNotFound,
    StoreError,
    UnapprovedChange,
)
from .git import signing
from .resources import hooks_dir, template_dir
from .rules import (
    RULES_DIR,
    Rule,
    now_utc,
    parse_rule,
    render_rule,
    rule_id_from_path,
    same_meaning,
    shard_path,
    validate_rule_id,
)

__all__ = [
    "Store",
    "CommitInfo",
    "RuleEntry",
    "RuleChange",
    "MergeResult",
    "CONFIG_FILE",
]

CONFIG_FILE = "imlgit.toml"
NO_REFLOG = b"refs/imlgit/evidence"  # refs whose old values must not be kept (erasure)
DEFAULT_BRANCH = "main"
INDEX_DIR = "index"  # the retrieval index, in the derived directory (never committed)
_MAIN_REF = b"refs/heads/" + DEFAULT_BRANCH.encode()
_FILE_MODE = 0o100644
_TREE_MODE = 0o040000
_TREE_ENTRIES_KEPT = 400_000  # tree entries cached in all (about 40 MB)
_TREE_LINES_KEPT = 8  # serialized trees kept for the next commit's incremental write
_MAX_CAS_ATTEMPTS = 10_000
MAX_PARSED = 200_000  # parsed rules a Store keeps (about 2 KB each)
SAVE_PARSED_AFTER = 64  # rules newly parsed by one read of memory that make it write the cache
FLAT_SCOPE_FILES = 100  # new rules of a scope folder this full go a level deeper
_MAX_REVERT_WALK = 100_000  # commits a refused revert looks through for what blocks it
_MAX_LISTED = 20  # commits a refused revert lists
_TMP_COUNTER = itertools.count()
_T = TypeVar("_T")
_REFLOG_WHO = Identity("imlgit", "imlgit@localhost")  # in the reflog of a branch it creates


def _no_fault(point: str) -> None:
    pass


MAX_CHECKED_FILES = 100_000
"""``check`` reads at most this many files of a working tree's rules/."""


@dataclass(frozen=True)
class RuleEntry:
    """A rule file in a tree: its path and blob SHA."""

    path: str
    blob: str


@dataclass
class _RuleMap:
    """A tree's rule files by id; ``twins`` are the files that claim an id another
    file has (check reports them; nothing reads them)."""

    entries: dict[str, RuleEntry]
    twins: dict[str, str]  # path -> the path that holds its id

    def derive(self, blobs: Mapping[str, bytes | None]) -> _RuleMap | None:
        """The map of the tree these changes make, or None when only a walk can
        tell (a file holding an id that another file also claims was deleted)."""
        entries, twins = dict(self.entries), dict(self.twins)
        for path, blob in blobs.items():
            rid = rule_id_from_path(path)
            if rid is None:
                continue
            held = entries.get(rid)
            if blob is None:
                twins.pop(path, None)
                if held is not None and held.path == path:
                    if any(owner == path for owner in twins.values()):
                        return None
                    del entries[rid]
            elif held is None or held.path == path:
                entries[rid] = RuleEntry(path, _hex(blob))
            else:
                twins[path] = held.path
        return _RuleMap(entries, twins)


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


@dataclass(frozen=True)
class RuleChange:
    """How one rule differs between two revisions."""

    rule_id: str
    kind: str  # added | removed | modified
    old: str | None
    new: str | None
    path: str
    old_path: str | None = None  # where the file was, when it moved

    def unified(self) -> str:
        a = (self.old or "").splitlines(keepends=True)
        b = (self.new or "").splitlines(keepends=True)
        from_name = "a/" + (self.old_path or self.path) if self.old is not None else "/dev/null"
        to_name = "b/" + self.path if self.new is not None else "/dev/null"
        return "".join(difflib.unified_diff(a, b, from_name, to_name))

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule_id, "kind": self.kind, "path": self.path, "diff": self.unified()}


@dataclass(frozen=True)
class MergeResult:
    sha: str
    fast_forward: bool
    changed: tuple[str, ...] = field(default=())


class _Unset:
    """The default of ``expected_head``: the branch's head at the time of the call."""


_UNSET = _Unset()


def _oid(sha: str | bytes) -> ObjectID:
    return ObjectID(sha if isinstance(sha, bytes) else sha.encode("ascii"))


def _hex(sha: bytes) -> str:
    return sha.decode("ascii")


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class Store:
    """A memory repository. Open with :meth:`open`, create with :meth:`init`."""

    def __init__(
        self,
        repo: Repo,
        *,
        clock: Callable[[], int] | None = None,
        fsync: bool = False,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.repo = repo
        self.fsync = fsync
        # For crash tests only: called with the name of each point where a kill
        # leaves the most to repair ("objects", "ref-lock", "ref-moved", "worktree",
        # "index-lock"); a test's callback ends the process there.
        self._fault = fault or _no_fault
        # Seconds a write waits for a lock held by a live process before it fails.
        self.lock_wait = locking.WAIT
        # dulwich keeps pack files open; close them when the store goes away.
        self._finalizer = weakref.finalize(self, repo.close)
        self.path = Path(repo.path)
        self._clock = clock or (lambda: int(time.time()))
        self._history: _history.HistoryIndex | None = None
        self._defer = False
        self._cache: dict[bytes, object] = {}
        self._peeled: dict[bytes, str] = {}  # ref target -> the commit it peels to (immutable)
        self._settings_at: dict[bytes | None, Settings | None] = {}  # imlgit.toml blob -> read
        self._signatures: dict[tuple[str, str, bytes | None], signing.Verified] = {}
        self._tree_entries: dict[bytes, dict[bytes, tuple[int, bytes]]] = {}
        self._tree_entry_count = 0  # entries held by _tree_entries, to bound its memory
        # The last trees written, serialized in git's order: (sort keys, entry lines).
        # A commit changes one entry of a large tree; it is re-serialized by a bisect
        # and a join rather than by sorting and formatting every entry again.
        self._tree_lines: dict[bytes, tuple[list[bytes], list[bytes]]] = {}
        self._rule_maps: dict[bytes | None, _RuleMap] = {}  # root tree -> its rule files
        # Parsed rules by (blob, path): a file is parsed once per process however many
        # revisions or questions read it (a Rule is immutable, so sharing is safe).
        self._parsed: OrderedDict[tuple[str, str], Rule] = OrderedDict()
        self._disk_read = False  # the parsed-rule cache of the derived dir loaded
        self._unsaved = 0  # rules parsed since it was last written
        self._objects_dir = Path(repo.object_store.path)
        self._pending: dict[str, str] = {}  # path -> branch, written while deferred
        self._deferred_record: Path | None = None  # see imlgit.worktree

    # ------------------------------------------------------------------ open / init

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], int] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> Store:
        """Open the memory repository at ``path`` (``fault``: see :class:`Store`)."""
        p = Path(path)
        try:
            repo = Repo(str(p))
        except NotGitRepository:
            raise NotAMemoryRepo(str(p), "no git repository") from None
        except FileNotFoundError:
            raise NotAMemoryRepo(str(p), "no such directory") from None
        store = cls(repo, clock=clock, fault=fault)
        head = store.head()
        if head is None:
            raise NotAMemoryRepo(str(p), f"branch {DEFAULT_BRANCH} has no commits")
        if store.read_file(CONFIG_FILE, head) is None:
            raise NotAMemoryRepo(str(p), f"no {CONFIG_FILE} on {DEFAULT_BRANCH}")
        return store

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        *,
        author: Identity,
        template: str | os.PathLike[str] | None = None,
        clock: Callable[[], int] | None = None,
        install_hooks: bool = True,
    ) -> Store:
        """Create a memory repository at ``path`` from the template, as one commit.

        ``path`` must not exist or be an empty directory: init never overwrites.
        """
        p = Path(path)
        if p.exists() and (not p.is_dir() or any(p.iterdir())):
            raise StoreError(f"{p}: exists and is not empty; init only creates new memory")
        src = Path(template) if template is not None else template_dir()
        created = not p.exists()
        try:
            p.mkdir(parents=True, exist_ok=True)
            repo = Repo.init(str(p))
            repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/" + DEFAULT_BRANCH.encode()))
            config = repo.get_config()
            config.set((b"core",), b"logallrefupdates", True)
            config.write_to_path()
            store = cls(repo, clock=clock)
            files: dict[str, bytes | None] = {}
            for f in sorted(src.rglob("*")):
                if f.is_file() and "__pycache__" not in f.parts and f.name != "__init__.py":
                    files[f.relative_to(src).as_posix()] = f.read_bytes()
            for rel, data in files.items():
                rid = rule_id_from_path(rel)
                if rid is not None and data is not None:
                    parse_rule(data, path=rel)
            msg = CommitMessage.make(
                "init",
                "new imlgit memory",
                "A new memory repository, made from imlgit's template: a README for "
                "reviewers, imlgit.toml with the defaults, and one example rule.",
            )
            store.commit(files, msg, author=author, expected_head=None)
            if install_hooks:
                store.install_hooks()
        except BaseException:
            if created:
                shutil.rmtree(p, ignore_errors=True)
            else:
                for child in p.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink()
            raise
        return store

    def close(self) -> None:
        """Close the files dulwich keeps open (also done when the store is collected)."""
        self._finalizer()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def install_hooks(self) -> list[str]:
        """Copy imlgit's git hooks into this repository, pointing at this Python."""
        import sys

        target = Path(self.repo.controldir()) / "hooks"
        target.mkdir(exist_ok=True)
        installed = []
        for hook in sorted(hooks_dir().iterdir()):
            if not hook.is_file() or hook.name.startswith(("_", ".")) or hook.suffix == ".py":
                continue
            text = hook.read_text(encoding="utf-8").replace("@PYTHON@", sys.executable)
            dest = target / hook.name
            dest.write_text(text, encoding="utf-8")
            dest.chmod(dest.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            installed.append(hook.name)
        return installed

    @property
    def gitdir(self) -> Path:
        return Path(self.repo.controldir())

    @property
    def derived_dir(self) -> Path:
        """``<git dir>/imlgit``: derived data (index, caches); never committed."""
        d = self.gitdir / "imlgit"
        d.mkdir(exist_ok=True)
        return d

    # ------------------------------------------------------------------ refs

    @staticmethod
    def _ref(branch: str) -> Ref:
        if branch.startswith("refs/"):
            return Ref(branch.encode())
        return Ref(b"refs/heads/" + branch.encode())

    @staticmethod
    def branch_name(spelling: str) -> str:
        """The branch ``spelling`` names, as the store reads it: ``refs/heads/X`` is
        ``X``; anything else is itself (``heads/main`` is a branch of that name)."""
        return spelling.removeprefix("refs/heads/")

    def head(self, branch: str = DEFAULT_BRANCH) -> str | None:
        """The commit a branch points at, or None when it has no commits."""
        try:
            return _hex(self.repo.refs[self._ref(branch)])
        except KeyError:
            return None

    def resolve(self, rev: str | None = None) -> str:
        """A revision (sha, short sha, branch, tag, HEAD, ``X~n``, ``X^``) -> commit sha."""
        rev = rev or "HEAD"
        steps: list[int]
        base, steps = rev, []
        while True:
            if base.endswith("^"):
                steps.append(1)
                base = base[:-1]
                continue
            if "~" in base:
                head, _, n = base.rpartition("~")
                if n.isdigit() or n == "":
                    steps.append(int(n) if n else 1)
                    base = head
                    continue
            break
        sha = self._resolve_name(base, rev)
        for count in reversed(steps):
            for _ in range(count):
                parents = self._commit(sha).parents
                if not parents:
                    raise RevisionNotFound(rev)
                sha = _hex(parents[0])
        return sha

    def _resolve_name(self, name: str, rev: str) -> str:
        if not name:
            raise RevisionNotFound(rev)
        if len(name) == 40 and all(c in "0123456789abcdef" for c in name.lower()):
            # a full sha names its object before any ref, as in git (get_oid_basic)
            key = name.lower().encode()
            if key in self._peeled or _oid(name.lower()) in self.repo.object_store:
                return self._peel(key, rev)
        refs = self.repo.refs
        for candidate in (
            name,
            "refs/heads/" + name,
            "refs/tags/" + name,
            "refs/remotes/" + name,
            "refs/" + name,
        ):
            try:
                sha = refs[Ref(candidate.encode())]
            except (KeyError, ValueError):
                continue
            return self._peel(sha, rev)
        if 4 <= len(name) <= 40 and all(c in "0123456789abcdef" for c in name.lower()):
            name = name.lower()
            if len(name) == 40:
                if _oid(name) in self.repo.object_store:
                    return self._peel(name.encode(), rev)
                raise RevisionNotFound(rev)
            matches = {_hex(s) for s in self.repo.object_store if _hex(s).startswith(name)}
            commits = [m for m in matches if isinstance(self.repo[m.encode()], Commit)]
            if len(commits) == 1:
                return commits[0]
            if len(commits) > 1:
                raise StoreError(f"revision {rev!r} is ambiguous: {len(commits)} commits match")
        raise RevisionNotFound(rev)

    def _peel(self, sha: bytes, rev: str) -> str:
        """The commit ``sha`` (a commit or a tag) names. Objects never change, so the
        answer is kept: resolving main at every question read and inflated its head
        commit each time."""
        found = self._peeled.get(sha)
        if found is not None:
            return found
        obj = self.repo[sha]
        while not isinstance(obj, Commit):
            target = getattr(obj, "object", None)
            if target is None:
                raise RevisionNotFound(rev)
            obj = self.repo[target[1]]
        if len(self._peeled) >= 4096:
            self._peeled.clear()
        self._peeled[sha] = found = _hex(obj.id)
        return found

    def _commit(self, sha: str) -> Commit:
        obj = self._get(sha.encode())
        if not isinstance(obj, Commit):
            raise RevisionNotFound(sha)
        return obj

    # ------------------------------------------------------------------ read

    def _tree_of(self, rev: str | None) -> bytes:
        return self._commit(self.resolve(rev)).tree

    def _lookup(self, tree: bytes | None, path: str) -> tuple[int, bytes] | None:
        """(mode, sha) of ``path`` in ``tree``, or None."""
        if tree is None:
            return None
        current = tree
        parts = path.split("/")
        for i, part in enumerate(parts):
            found = self._entries(current).get(part.encode())
            if found is None:
                return None
            mode, sha = found
            if i == len(parts) - 1:
                return mode, sha
            if not stat.S_ISDIR(mode):
                return None
            current = sha
        return None

    def read_file(self, path: str, rev: str | None = None) -> bytes | None:
        """A file's bytes at a revision, or None when it is not there."""
        found = self._lookup(self._tree_of(rev), path)
        if found is None or stat.S_ISDIR(found[0]):
            return None
        return self.read_blob(_hex(found[1]))

    def read_blob(self, sha: str) -> bytes:
        obj = self.repo[sha.encode()]
        if not isinstance(obj, Blob):
            raise StoreError(f"{sha} is not a blob")
        return obj.as_raw_string()

    def _walk_files(self, tree: bytes, prefix: str) -> Iterator[tuple[str, bytes]]:
        obj = self._get(tree)
        assert isinstance(obj, Tree)
        for item in obj.iteritems():
            name = prefix + _utf8(item.path)
            if stat.S_ISDIR(item.mode):
                yield from self._walk_files(item.sha, name + "/")
            elif stat.S_ISREG(item.mode):
                yield name, item.sha

    def with_git_dates(self, rule: Rule, rev: str | None = None) -> Rule:
        """``rule`` with the dates its file leaves out taken from git: created from
        the first commit that touched it, updated from the last (a hand-written rule
        needs no dates)."""
        if rule.created and rule.updated:
            return rule
        commits = self.history(rule.id, rev)
        if not commits:
            return rule

        def utc(t: int) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

        return rule.with_changes(
            created=rule.created or utc(commits[-1].time),
            updated=rule.updated or utc(commits[0].time),
        )

    def rule_entries(self, rev: str | None = None) -> dict[str, RuleEntry]:
        """rule id -> (path, blob) for every rule file at ``rev``, wherever under
        ``rules/`` it is.

        Raises :class:`RuleError` when two files claim the same id.
        """
        found = self._rule_map(self._tree_of(rev))
        if found.twins:
            path, other = next(iter(sorted(found.twins.items())))
            rid = rule_id_from_path(path)
            raise RuleError(f"duplicate rule id {rid!r}, also in {other}", path=path)
        return found.entries

    def _rule_map(self, tree: bytes | None) -> _RuleMap:
        """The rule files of a root tree, kept for the last few trees read or written
        (a tree never changes, so neither does its map)."""
        cached = self._rule_maps.get(tree)
        if cached is not None:
            return cached
        entries: dict[str, RuleEntry] = {}
        twins: dict[str, str] = {}
        found = self._lookup(tree, RULES_DIR) if tree is not None else None
        if found is not None and stat.S_ISDIR(found[0]):
            for path, sha in self._walk_files(found[1], RULES_DIR + "/"):
                rid = rule_id_from_path(path)
                if rid is None:
                    continue
                if rid in entries:
                    twins[path] = entries[rid].path
                else:
                    entries[rid] = RuleEntry(path, _hex(sha))
        made = _RuleMap(entries, twins)
        self._keep_rule_map(tree, made)
        return made

    def _keep_rule_map(self, tree: bytes | None, found: _RuleMap) -> None:
        for stale in list(self._rule_maps)[: max(0, len(self._rule_maps) - 2)]:
            del self._rule_maps[stale]
        self._rule_maps[tree] = found

    def _refuse_twins(self, tree: bytes | None, blobs: Mapping[str, bytes | None]) -> None:
        """A write may not give an id a second file: a rule keeps the file it has
        (wherever a person put it), so ``rules/a/x.md`` beside ``rules/b/x.md`` is
        refused before anything is written."""
        written = {
            p: rid for p, b in blobs.items() if b is not None and (rid := rule_id_from_path(p))
        }
        if not written:
            return
        held = self._rule_map(tree).entries
        claimed: dict[str, str] = {}
        for path, rid in sorted(written.items()):
            other = claimed.setdefault(rid, path)
            if other == path and rid in held and held[rid].path != path:
                other = held[rid].path
                if other in blobs and blobs[other] is None:
                    continue  # the rule moves: its old file is deleted in this change
            if other != path:
                raise StoreError(
                    f"{path}: the rule {rid!r} lives at {other}; a rule keeps its file "
                    "(edit it there, or move it with git mv); nothing was written"
                )

    def locate(self, rule_id: str, rev: str | None = None) -> str | None:
        """The path of the rule file with this id at ``rev``, or None."""
        entry = self._entry(rule_id, rev)
        return entry.path if entry is not None else None

    def _entry(self, rule_id: str, rev: str | None) -> RuleEntry | None:
        validate_rule_id(rule_id)  # an unsafe id is an error, not a rule not found
        return self._rule_map(self._tree_of(rev)).entries.get(rule_id)

    def path_for(self, rule: Rule, rev: str | None = None) -> str:
        """Where to write ``rule`` on ``rev``: the file that holds its id there, else
        the file it was read from, else its scope's folder,
        :func:`~imlgit.rules.new_rule_path`. A scope folder that already holds
        ``FLAT_SCOPE_FILES`` entries gets a second level, ``rules/<scope>/<xx>/``
        (``xx`` as in :func:`~imlgit.rules.shard_path`), so that no git tree a
        commit rewrites grows past a few hundred entries."""
        found = self.locate(rule.id, rev) or rule.file
        if found is not None:
            return found
        flat = rule.path
        folder = flat.rsplit("/", 1)[0]
        hit = self._lookup(self._tree_of(rev), folder)
        entries = self._entries(hit[1]) if hit is not None and stat.S_ISDIR(hit[0]) else {}
        if len(entries) >= FLAT_SCOPE_FILES:
            return f"{folder}/{shard_path(rule.id).split('/', 1)[1]}"
        return flat

    def files_under(self, prefix: str, rev: str | None = None) -> list[tuple[str, str]]:
        """(path, blob sha) of every file under directory ``prefix`` at ``rev``."""
        found = self._lookup(self._tree_of(rev), prefix)
        if found is None or not stat.S_ISDIR(found[0]):
            return []
        return [(p, _hex(sha)) for p, sha in self._walk_files(found[1], prefix + "/")]

    def rule_from_blob(self, blob: str, path: str) -> Rule:
        """The rule file stored as ``blob`` at ``path``, parsed (errors name ``path``).
        Parsed once: the same blob at the same path (the id and the defaults come from
        the path) is answered from memory, the last ``MAX_PARSED`` kept."""
        key = (blob, path)
        hit = self._parsed.get(key)
        if hit is None and not self._disk_read:
            self._read_parsed()
            hit = self._parsed.get(key)
        if hit is not None:
            self._parsed.move_to_end(key)
            return hit
        rule = parse_rule(self.read_blob(blob), path=path)
        self._parsed[key] = rule
        self._unsaved += 1
        if len(self._parsed) > MAX_PARSED:
            self._parsed.popitem(last=False)
        return rule

    def _read_parsed(self) -> None:
        from . import parsecache

        self._disk_read = True
        if MAX_PARSED:
            for key, rule in parsecache.load(self.derived_dir).items():
                self._parsed.setdefault(key, rule)
            while len(self._parsed) > MAX_PARSED:
                self._parsed.popitem(last=False)

    def save_parsed(self, *, least: int = SAVE_PARSED_AFTER) -> None:
        """Write the parsed rules to the derived directory's cache, when at least
        ``least`` were parsed since it was last written (what a read of many rules
        calls, so the next process does not parse them again)."""
        if self._unsaved >= max(1, least) and MAX_PARSED:
            from . import parsecache

            parsecache.save(self.derived_dir, self._parsed)
            self._unsaved = 0

    def read_rules(self, rev: str | None = None) -> dict[str, Rule]:
        """Every rule at ``rev``, parsed and validated (errors name the file)."""
        got = {
            rid: self.rule_from_blob(e.blob, e.path)
            for rid, e in sorted(self.rule_entries(rev).items())
        }
        self.save_parsed()
        return got

    def read_rule(self, rule_id: str, rev: str | None = None) -> Rule:
        """One rule at ``rev``; :class:`RuleNotFound` when it is not there."""
        entry = self._entry(rule_id, rev)
        if entry is None:
            raise RuleNotFound(rule_id, rev)
        return self.rule_from_blob(entry.blob, entry.path)

    def check(self, rev: str | None = None) -> list[RuleError]:
        """Every problem with the rule files at ``rev`` (an empty list when all is well)."""
        problems: list[RuleError] = []
        found = self._lookup(self._tree_of(rev), RULES_DIR)
        if found is None:
            return problems
        seen: dict[str, str] = {}
        for path, sha in self._walk_files(found[1], RULES_DIR + "/"):
            problems.extend(check_rule_file(path, self.read_blob(_hex(sha)), seen))
        return problems

    def check_worktree(
        self, each: Callable[[str, bytes], None] | None = None
    ) -> list[RuleError] | None:
        """Every problem with the rule files in the working tree, as a linter reads
        them (files a person has not committed yet too), or None for a repository
        without a working tree. At most ``MAX_CHECKED_FILES`` files are read;
        ``each(path, data)`` is called on every file read (``check`` scans it)."""
        wt = self._worktree()
        if wt is None:
            return None
        root = wt / RULES_DIR
        problems: list[RuleError] = []
        seen: dict[str, str] = {}
        if not root.is_dir():
            return problems
        files: list[Path] = []
        for path in sorted(root.rglob("*")):
            if len(files) >= MAX_CHECKED_FILES:
                problems.append(RuleError(f"more than {MAX_CHECKED_FILES} files; the rest "
                                          "were not checked", path=RULES_DIR))  # fmt: skip
                break
            if path.is_symlink():
                rel = path.relative_to(wt).as_posix()
                problems.append(RuleError("a symbolic link: rule files are files", path=rel))
            elif path.is_file():
                files.append(path)
        for path in files:
            rel = path.relative_to(wt).as_posix()
            try:
                data = path.read_bytes()
            except OSError as exc:
                problems.append(RuleError(f"cannot be read: {exc.strerror}", path=rel))
                continue
            problems.extend(check_rule_file(rel, data, seen))
            if each is not None:
                each(rel, data)
        return problems

    # ------------------------------------------------------------------ write

    def _write_tree(self, tree: bytes | None, changes: Mapping[str, bytes | None]) -> bytes | None:
        """Apply {path: blob sha or None} to ``tree``; write new trees; return the root.

        Returns None for a tree left empty (git has no empty directories).
        """
        new = dict(self._entries(tree)) if tree is not None else {}
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
                    new[name] = (_FILE_MODE, _oid(sha))
        for head, sub in groups.items():
            name = head.encode()
            existing = None
            if name in new:
                mode, sha = new[name]
                if not stat.S_ISDIR(mode):
                    raise StoreError(f"{head} is a file, not a directory")
                existing = sha
            subtree = self._write_tree(existing, sub)
            if subtree is None:
                new.pop(name, None)
            else:
                new[name] = (_TREE_MODE, subtree)
        if not new:
            return None
        keys, lines = self._serialize(tree, new, touched)
        raw = b"".join(lines)
        sha = hashlib.sha1(b"tree %d\0" % len(raw) + raw).hexdigest().encode("ascii")
        self._remember_tree(sha, new)
        if len(self._tree_lines) >= _TREE_LINES_KEPT:
            del self._tree_lines[next(iter(self._tree_lines))]
        self._tree_lines[sha] = (keys, lines)
        self._write_raw(b"tree", raw, sha)
        return sha

    def _serialize(
        self,
        base: bytes | None,
        new: dict[bytes, tuple[int, bytes]],
        touched: set[bytes],
    ) -> tuple[list[bytes], list[bytes]]:
        """The entries of ``new`` as git serializes a tree, in git's order (a directory
        sorts as if its name ended in "/"): sort keys and entry lines. From the base
        tree's lines when they are at hand and only ``touched`` names differ."""

        def key(name: bytes, mode: int) -> bytes:
            return name + b"/" if mode == _TREE_MODE else name

        def line(name: bytes, mode: int, sha: bytes) -> bytes:
            return b"%o %s\0%s" % (mode, name, binascii.unhexlify(sha))

        cached = self._tree_lines.get(base) if base is not None else None
        if base is None or cached is None or len(touched) * 8 > len(new):
            names = sorted(new, key=lambda n: key(n, new[n][0]))
            return [key(n, new[n][0]) for n in names], [line(n, *new[n]) for n in names]
        keys, lines = list(cached[0]), list(cached[1])
        old = self._entries(base)
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

    def _remember_tree(self, sha: bytes, entries: dict[bytes, tuple[int, bytes]]) -> None:
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

    def _entries(self, tree: bytes) -> dict[bytes, tuple[int, bytes]]:
        """A tree's entries, name -> (mode, hex sha); cached, as trees never change."""
        found = self._tree_entries.get(tree)
        if found is None:
            obj = self._get(tree)
            assert isinstance(obj, Tree)
            found = {e.path: (e.mode, e.sha) for e in obj.iteritems()}
            self._remember_tree(tree, found)
        return found

    def _get(self, sha: bytes) -> object:
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

    def _add_object(self, obj: Blob | Tree | Commit) -> None:
        """Write a loose object (see :meth:`_write_raw`)."""
        if not isinstance(obj, Blob):
            self._cache[obj.id] = obj
        self._write_raw(obj.type_name, obj.as_raw_string(), obj.id)

    def _write_raw(self, type_name: bytes, raw: bytes, sha: bytes) -> None:
        """Write a loose object: compressed in one piece to a temporary file, then
        renamed into place (what git does; dulwich compresses entry by entry)."""
        hexsha = sha.decode("ascii")
        directory = os.path.join(self._objects_dir, hexsha[:2])
        path = os.path.join(directory, hexsha[2:])
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
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # same name, same content: replacing a twin is harmless

    def commit(
        self,
        changes: Mapping[str, bytes | None],
        message: CommitMessage,
        *,
        author: Identity,
        committer: Identity | None = None,
        branch: str = DEFAULT_BRANCH,
        expected_head: str | None | _Unset = _UNSET,
        sync_worktree: bool = True,
    ) -> str:
        """Commit ``changes`` ({path: bytes, or None to delete}) atomically; return the sha.

        ``expected_head`` is the commit the change was prepared on (by default the
        branch's head now). When the branch has moved past it, the change is
        re-applied on the new head unless a path it touches changed meanwhile:
        then :class:`ConflictError` names those rules and nothing is written.
        Pass ``expected_head=None`` only to create a branch's first commit.
        """
        return self.commit_many(
            [(changes, message)],
            author=author,
            committer=committer,
            branch=branch,
            expected_head=expected_head,
            sync_worktree=sync_worktree,
        )[0]

    def commit_many(
        self,
        steps: Sequence[tuple[Mapping[str, bytes | None], CommitMessage]],
        *,
        author: Identity,
        committer: Identity | None = None,
        branch: str = DEFAULT_BRANCH,
        expected_head: str | None | _Unset = _UNSET,
        sync_worktree: bool = True,
    ) -> list[str]:
        """Commit a chain of changes, one commit each, and move the branch once.

        All or nothing: the commits are written first and the branch moves to the
        last one in a single compare-and-swap, so a failure part-way leaves the
        branch where it was. Conflicts are handled as in :meth:`commit`.
        """
        if not steps:
            raise StoreError("nothing to commit")
        return self._commit_chain(steps, author, committer, branch, expected_head, sync_worktree)

    def rewrite(
        self,
        branch: str,
        base: str,
        steps: Sequence[tuple[Mapping[str, bytes | None], CommitMessage]],
        *,
        expected_head: str,
        author: Identity,
    ) -> list[str]:
        """Replace the commits ``base..expected_head`` of ``branch`` by ``steps`` (a
        chain on ``base``) whose last tree is the one ``expected_head`` has: the
        history is rewritten, no file changes (so neither the working tree nor the
        index need to). Refused when the chain ends elsewhere; ConflictError when the
        branch is no longer at ``expected_head``."""
        if not steps:
            raise StoreError("nothing to commit")
        want = self._commit(expected_head).tree
        parent = base
        made: list[tuple[Commit, list[str]]] = []
        for changes, message in steps:
            blobs = self._blobs(changes)
            parent_tree = self._commit(parent).tree
            tree = self._write_tree(parent_tree, blobs)
            if tree is None or tree == parent_tree:
                raise StoreError(f"no change in the rewritten commit {message.subject!r}")
            c = self._new_commit(tree, [parent], message.render().encode("utf-8"), author, author)
            made.append((c, sorted(blobs)))
            parent = _hex(c.id)
        if made[-1][0].tree != want:
            raise StoreError(
                f"rewriting {branch} would change its files: the new history does not end "
                f"at the tree of {expected_head[:12]}; nothing was changed"
            )
        last = made[-1][0]
        if not self._cas_ref(
            self._ref(branch), expected_head, _hex(last.id), author, last.commit_time,
            f"rewrite: {len(made)} commits",
        ):
            raise ConflictError(f"branch {branch} moved while its history was rewritten", [])
        for c, paths in made:
            self._record(c, paths)
        return [_hex(c.id) for c, _ in made]

    def _blobs(self, changes: Mapping[str, bytes | None]) -> dict[str, bytes | None]:
        """Each changed path's blob written ({path: blob id}; None: deleted)."""
        blobs: dict[str, bytes | None] = {}
        for path, data in changes.items():
            _check_path(path)
            if data is None:
                blobs[path] = None
            else:
                blob = Blob.from_string(data)
                self._add_object(blob)
                blobs[path] = blob.id
        return blobs

    def _new_commit(
        self,
        tree: bytes,
        parents: Sequence[str],
        text: bytes,
        author: Identity,
        committer: Identity,
        *,
        sign: bool = False,
    ) -> Commit:
        """A commit object written (the clock's time, UTC, UTF-8), no ref moved;
        ``sign``: signed as ``git commit -S`` would (:mod:`imlgit.git.signing`)."""
        c = Commit()
        c.tree = _oid(tree)
        c.parents = [_oid(p) for p in parents]
        c.author = author.to_bytes()
        c.committer = committer.to_bytes()
        c.author_time = c.commit_time = self._clock()
        c.author_timezone = c.commit_timezone = 0
        c.encoding = b"UTF-8"
        c.message = text
        if sign:
            c.gpgsig = signing.sign(c.as_raw_string(), self.signing_setup())
        self._add_object(c)
        return c

    def _commit_chain(
        self,
        steps: Sequence[tuple[Mapping[str, bytes | None], CommitMessage]],
        author: Identity,
        committer: Identity | None,
        branch: str,
        expected_head: str | None | _Unset,
        sync_worktree: bool,
    ) -> list[str]:
        ref = self._ref(branch)
        prepared: list[tuple[dict[str, bytes | None], bytes, str]] = []
        touched: dict[str, bytes | None] = {}
        for changes, message in steps:
            if not changes:
                raise StoreError("nothing to commit")
            text = message.render().encode("utf-8")
            blobs = self._blobs(changes)
            prepared.append((blobs, text, message.subject))
            touched.update(blobs)
        worktree.repair(self)  # the index updates of a process that died, first
        keeps = (sync_worktree or self._defer) and worktree.keeps_worktree(self, branch)
        base = self.head(branch) if isinstance(expected_head, _Unset) else expected_head
        prepared_on = base
        self._check_worktree_clean(branch, touched, base)
        committer = committer or author
        record = self._begin_sync(branch) if keeps else None
        try:
            return self._move(
                ref, branch, prepared, touched, base, prepared_on, author, committer, sync_worktree
            )
        finally:
            worktree.end(record)

    def _begin_sync(self, branch: str) -> Path | None:
        """Record, before the branch moves, that the index must follow it (see
        :mod:`imlgit.worktree`); a deferred batch keeps one record to its end."""
        if not self._defer:
            return worktree.begin(self, branch, self.head(branch))
        if self._deferred_record is None:
            self._deferred_record = worktree.begin(self, branch, self.head(branch))
        return None

    def _move(
        self,
        ref: Ref,
        branch: str,
        prepared: list[tuple[dict[str, bytes | None], bytes, str]],
        touched: dict[str, bytes | None],
        base: str | None,
        prepared_on: str | None,
        author: Identity,
        committer: Identity,
        sync_worktree: bool,
    ) -> list[str]:
        for attempt in range(_MAX_CAS_ATTEMPTS):
            parent = base
            base_tree = self._commit(base).tree if base else None
            self._refuse_twins(base_tree, touched)
            made: list[tuple[Commit, list[str]]] = []
            for blobs, text, _subject in prepared:
                parent_tree = self._commit(parent).tree if parent else None
                tree = self._write_tree(parent_tree, blobs)
                if tree is None:
                    empty = Tree()
                    self._add_object(empty)
                    tree_id: bytes = empty.id
                else:
                    tree_id = tree
                if parent_tree == tree_id:
                    raise StoreError("no change: the files already have this content")
                c = self._new_commit(tree_id, [parent] if parent else [], text, author, committer)
                made.append((c, sorted(blobs)))
                parent = _hex(c.id)
            last = made[-1][0]
            subject = prepared[-1][2] if len(prepared) == 1 else f"{len(prepared)} commits"
            self._fault("objects")
            if self._cas_ref(ref, base, _hex(last.id), committer, last.commit_time, subject):
                for c, paths in made:
                    self._record(c, paths)
                known = self._rule_maps.get(base_tree)
                after = known.derive(touched) if known is not None else None
                if after is not None:
                    self._keep_rule_map(last.tree, after)
                if self._defer:
                    self._pending.update(dict.fromkeys(touched, branch))
                elif sync_worktree:
                    self._sync_worktree(branch, touched)
                return [_hex(c.id) for c, _ in made]
            current = self.head(branch)
            if current is None:
                raise ConflictError(f"branch {branch} was deleted meanwhile", [])
            if current != base:
                self._check_unchanged(prepared_on, current, touched)
                base = current
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
        raise StoreError(f"could not move {branch}: too much contention")

    def _cas_ref(
        self, ref: bytes, old: str | None, new: str, who: Identity, when: int, why: str
    ) -> bool:
        """Move ``ref`` from ``old`` (None: must not exist) to ``new``, atomically.

        git's protocol: hold ``<ref>.lock``, compare under the lock, rename the new
        value over the ref, append to the reflog. The lock names its owner, so one
        left by a killed process is taken over (:mod:`imlgit.locking`), and a live
        holder is waited for briefly, then named in a :class:`StoreError`. Like
        git's default it does not fsync (``fsync=True`` on the store turns that on).
        Returns False when the ref is not at ``old``; the caller retries.
        """
        if ref == _MAIN_REF and old is not None and old != new:
            self.check_main_move(old, new)
        name = ref.decode()
        path = self.gitdir / name
        lock = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        locking.acquire(lock, wait=self.lock_wait, what=f"the ref {name}")
        try:
            self._fault("ref-lock")
            try:
                current: str | None = path.read_text().strip() or None
            except FileNotFoundError:
                packed = self.repo.refs.get_packed_refs().get(Ref(ref))
                current = _hex(packed) if packed else None
            if current != old:
                return False
            # The new value goes in a file of its own, renamed over the ref while the
            # lock (with its owner) stays whole until the ref has moved.
            tmp = lock.with_name(f".{lock.name}.value.{os.getpid()}.{next(_TMP_COUNTER)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, (new + "\n").encode())
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            self._fault("ref-moved")
        finally:
            locking.release(lock)
        if ref.startswith(NO_REFLOG):
            return True  # a reflog would keep what an erasure removes reachable
        log = self.gitdir / "logs" / name
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            line = f"{old or '0' * 40} {new} {who} {when} +0000\t{why}\n"
            with open(log, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            pass  # the reflog is a convenience; the ref itself has moved
        return True

    def _check_unchanged(self, old: str | None, new: str, paths: Iterable[str]) -> None:
        old_tree = self._commit(old).tree if old else None
        new_tree = self._commit(new).tree
        conflicts = []
        for path in paths:
            if self._lookup(old_tree, path) != self._lookup(new_tree, path):
                conflicts.append(path)
        if conflicts:
            ids = [rule_id_from_path(p) or p for p in conflicts]
            raise ConflictError(
                "changed by someone else since this change was prepared: "
                + ", ".join(ids)
                + "; nothing was written — read the rule again and redo the change",
                ids,
            )

    def put_rule(
        self,
        rule: Rule,
        message: CommitMessage,
        *,
        author: Identity,
        branch: str = DEFAULT_BRANCH,
        expected_head: str | _Unset = _UNSET,
        extra: Mapping[str, bytes | None] | None = None,
    ) -> str:
        """Write one rule (add or change) as one commit."""
        on = self.head(branch) if isinstance(expected_head, _Unset) else expected_head
        path = self.path_for(rule, on) if on is not None else rule.path
        changes: dict[str, bytes | None] = {path: render_rule(rule).encode("utf-8")}
        if extra:
            changes.update(extra)
        return self.commit(
            changes, message, author=author, branch=branch, expected_head=expected_head
        )

    # ------------------------------------------------------------------ worktree

    def _checked_out(self) -> bytes | None:
        try:
            names, _ = self.repo.refs.follow(Ref(b"HEAD"))
        except (KeyError, IndexError):
            return None
        return names[-1] if names else None

    def _worktree(self) -> Path | None:
        if self.repo.bare:
            return None
        return Path(self.repo.path)

    def _check_worktree_clean(
        self, branch: str, blobs: Mapping[str, bytes | None], base: str | None
    ) -> None:
        """Refuse to write a path a person has edited in the working tree, uncommitted.

        A file that differs from the last commit is either a person's edit (refused)
        or a working tree that has not caught up with a commit yet (fine to update):
        it has caught up when the file matches git's index and the index holds a
        version of the file that some commit had.
        """
        wt = self._worktree()
        if wt is None or base is None or self._checked_out() != self._ref(branch):
            return
        base_tree = self._commit(base).tree
        index = None
        dirty = []
        for path in blobs:
            if path in self._pending:
                continue
            in_base = self._lookup(base_tree, path)
            committed = in_base[1] if in_base else None
            f = wt / path
            on_disk = Blob.from_string(f.read_bytes()).id if f.is_file() else None
            if on_disk == committed:
                continue
            if index is None:
                index = self.repo.open_index()
            key = path.encode()
            indexed = getattr(index[key], "sha", None) if key in index else None
            if on_disk == indexed and self._was_committed(path, indexed, base):
                continue
            dirty.append(path)
        if dirty:
            ids = [rule_id_from_path(p) or p for p in dirty]
            raise ConflictError(
                "uncommitted edits in the working tree: "
                + ", ".join(dirty)
                + "; commit them with git (or discard them) first, nothing was written",
                ids,
            )

    def _was_committed(self, path: str, blob: bytes | None, rev: str) -> bool:
        if blob is None:
            return True
        for sha in self._history_index().touching(path, rev):
            found = self._lookup(self._commit(sha).tree, path)
            if found is not None and found[1] == blob:
                return True
        return False

    @contextmanager
    def deferred_worktree(self) -> Iterator[None]:
        """Commit many changes, then bring the working tree up to date once.

        Updating git's index after every commit costs a read and a write of the
        whole index; a batch of commits pays it once, at the end.
        """
        outer = self._defer
        self._defer = True
        try:
            yield
        finally:
            self._defer = outer
            if not outer:
                pending, self._pending = self._pending, {}
                record, self._deferred_record = self._deferred_record, None
                for branch, paths in _group_by_branch(pending).items():
                    self._sync_worktree(branch, dict.fromkeys(paths))
                worktree.end(record)

    def _sync_worktree(self, branch: str, blobs: Mapping[str, bytes | None]) -> None:
        """Bring the working tree and index up to the branch head for these paths."""
        worktree.sync(self, branch, blobs)

    def repair(self) -> tuple[list[str], list[str]]:
        """Finish what a killed imlgit process left: the index updates it had not made,
        and its stale lock files. Returns (paths brought up to date, locks removed)."""
        fixed = worktree.repair(self)
        return fixed, [str(info.path) for info in worktree.sweep(self)]

    def checkout_worktree(self) -> None:
        """Rebuild the whole working tree and index from HEAD (after init or a merge)."""
        from dulwich.index import build_index_from_tree

        wt = self._worktree()
        head = self.head(DEFAULT_BRANCH)
        if wt is None or head is None:
            return
        build_index_from_tree(
            str(wt), self.repo.index_path(), self.repo.object_store, self._commit(head).tree
        )

    # ------------------------------------------------------------------ log and history

    def commit_info(self, sha: str) -> CommitInfo:
        return self._info(self._commit(sha))

    @staticmethod
    def _info(c: Commit) -> CommitInfo:
        msg = CommitMessage.parse(_utf8(c.message))
        return CommitInfo(
            sha=_hex(c.id),
            subject=msg.subject,
            rationale=msg.rationale,
            trailers=msg.trailers,
            author=_utf8(c.author),
            committer=_utf8(c.committer),
            time=c.commit_time,
            parents=tuple(_hex(p) for p in c.parents),
        )

    def log(self, rev: str | None = None, *, limit: int | None = None) -> list[CommitInfo]:
        """Commits reachable from ``rev``, newest first."""
        start = self.resolve(rev)
        walker = self.repo.get_walker(include=[_oid(start)], max_entries=limit)
        return [self.commit_info(_hex(entry.commit.id)) for entry in walker]

    def history(
        self, rule_id: str, rev: str | None = None, *, limit: int | None = None
    ) -> list[CommitInfo]:
        """The commits that changed a rule, newest first, each with its rationale.

        Served from a derived index of which rules each commit touched, kept in
        ``<git dir>/imlgit/`` and extended incrementally, so it stays fast on long
        histories. Every file the rule had counts (``rules/.../<id>.md``): its
        history goes on across a ``git mv`` and stays once it is deleted.
        """
        start = self.resolve(rev)
        index = self._history_index()
        shas = index.touching_rule(rule_id, start)  # every file it had: moves, deletion
        if limit is not None:
            shas = shas[:limit]
        out = []
        for sha in shas:
            known = index.info(sha)
            if known is None:
                out.append(self.commit_info(sha))
                continue
            author, committer, text = known
            msg = CommitMessage.parse(text)
            out.append(
                CommitInfo(
                    sha,
                    msg.subject,
                    msg.rationale,
                    msg.trailers,
                    author,
                    committer,
                    index.time(sha),
                    tuple(index.parents(sha)),
                )
            )
        return out

    def _history_index(self) -> _history.HistoryIndex:
        if self._history is None:
            self._history = _history.HistoryIndex(self)
        return self._history

    def _record(self, c: Commit, paths: list[str]) -> None:
        try:
            self._history_index().record(
                _hex(c.id),
                [_hex(p) for p in c.parents],
                c.commit_time,
                paths,
                (_utf8(c.author), _utf8(c.committer), _utf8(c.message)),
            )
        except OSError:
            pass  # derived data: the next history() call catches up from git

    def changed_paths(self, sha: str) -> list[str]:
        """Paths a commit changed (against its first parent; against all, for merges)."""
        c = self._commit(sha)
        parents = [self._commit(_hex(p)).tree for p in c.parents] or [None]
        changed: set[str] | None = None
        for ptree in parents:
            paths = set(self._diff_trees(ptree, c.tree))
            changed = paths if changed is None else changed & paths
        return sorted(changed or ())

    def _diff_trees(self, a: bytes | None, b: bytes | None, prefix: str = "") -> Iterator[str]:
        if a == b:
            return
        ea = self._entries(a) if a is not None else {}
        eb = self._entries(b) if b is not None else {}
        for name in sorted(set(ea) | set(eb)):
            x, y = ea.get(name), eb.get(name)
            if x == y:
                continue
            path = prefix + _utf8(name)
            xdir = x is not None and stat.S_ISDIR(x[0])
            ydir = y is not None and stat.S_ISDIR(y[0])
            if xdir or ydir:
                yield from self._diff_trees(
                    x[1] if xdir and x else None, y[1] if ydir and y else None, path + "/"
                )
                if (x is not None and not xdir) or (y is not None and not ydir):
                    yield path
            else:
                yield path

    def diff(self, a: str, b: str | None = None) -> list[RuleChange]:
        """How the rules differ between revisions ``a`` and ``b`` (default HEAD)."""
        ta, tb = self._tree_of(a), self._tree_of(b)
        out = []
        for path in self._diff_trees(ta, tb):
            rid = rule_id_from_path(path)
            if rid is None:
                continue
            fa, fb = self._lookup(ta, path), self._lookup(tb, path)
            old = _utf8(self.read_blob(_hex(fa[1]))) if fa else None
            new = _utf8(self.read_blob(_hex(fb[1]))) if fb else None
            kind = "added" if old is None else "removed" if new is None else "modified"
            out.append(RuleChange(rid, kind, old, new, path))
        return _pair_moves(out)

    # ------------------------------------------------------------------ revert / restore

    def revert(
        self,
        rev: str,
        rationale: str,
        *,
        author: Identity,
        branch: str = DEFAULT_BRANCH,
    ) -> str:
        """Undo one commit as a new commit carrying its own rationale (``git revert``).

        A merge (an approval) is undone against its first parent, as ``git revert
        -m 1`` does: the whole proposal goes. A later commit that changed only the
        figures of a rule this commit changed does not block it (the figures go back
        with the meaning they counted; the next learning run recounts them). A later
        change of meaning does: :class:`ConflictError` lists those commits, newest
        first, and nothing is written.
        """
        sha = self.resolve(rev)
        c = self._commit(sha)
        if not c.parents:
            raise StoreError(f"{sha[:12]} is the first commit; it cannot be reverted")
        head = self.head(branch)
        if head is None or not self.is_ancestor(sha, head):
            raise StoreError(f"{sha[:12]} is not on {branch}")
        parent_tree = self._commit(_hex(c.parents[0])).tree
        paths = list(self._diff_trees(parent_tree, c.tree))
        if not paths:
            raise StoreError(f"{sha[:12]} changed nothing; there is nothing to revert")
        changes: dict[str, bytes | None] = {}
        head_tree = self._commit(head).tree
        blocked = []
        for path in paths:
            mine, now = self._lookup(c.tree, path), self._lookup(head_tree, path)
            target = path
            rid = rule_id_from_path(path)
            if now is None and mine is not None and rid is not None:
                moved = self.locate(rid, head)  # a person moved the file since (git mv)
                if moved is not None:
                    target, now = moved, self._lookup(head_tree, moved)
            if now != mine and not self._figures_only(path, mine, now):
                blocked.append(path)
            before = self._lookup(parent_tree, path)
            changes[target] = self.read_blob(_hex(before[1])) if before else None
        if blocked:
            raise self._revert_first(sha, head, blocked)
        info = self.commit_info(sha)
        rules = sorted({rid for p in paths if (rid := rule_id_from_path(p))})
        what = "merge " if len(c.parents) > 1 else ""
        msg = CommitMessage.make(
            "rollback",
            f"revert {what}{sha[:12]} ({_clip(info.subject, 80)})",
            rationale,
            rules=rules,
            trailers=[("Imlgit-Reverts", sha)],
        )
        return self.commit(changes, msg, author=author, branch=branch, expected_head=head)

    def _rule_or_none(self, path: str, entry: tuple[int, bytes] | None) -> Rule | None:
        if entry is None or rule_id_from_path(path) is None or not stat.S_ISREG(entry[0]):
            return None
        try:
            return self.rule_from_blob(_hex(entry[1]), path)
        except RuleError:
            return None

    def _figures_only(
        self, path: str, a: tuple[int, bytes] | None, b: tuple[int, bytes] | None
    ) -> bool:
        """Whether two versions of a file are one rule saying the same thing."""
        ra, rb = self._rule_or_none(path, a), self._rule_or_none(path, b)
        return ra is not None and rb is not None and same_meaning(ra, rb)

    def _changes_meaning(self, a: bytes | None, b: bytes | None, ids: set[str]) -> bool:
        """Whether going from tree ``a`` to ``b`` changes what one of the rules ``ids``
        (rule ids, or paths of other files) says. A rule is compared with itself
        wherever its file is, so a move (``git mv``) alone changes nothing."""
        touched: dict[str, list[str]] = {}
        for path in self._diff_trees(a, b):
            key = rule_id_from_path(path) or path
            if key in ids:
                touched.setdefault(key, []).append(path)
        for paths in touched.values():
            old = next((x for p in paths if (x := self._lookup(a, p)) is not None), None)
            new = next((x for p in paths if (x := self._lookup(b, p)) is not None), None)
            if old != new and not self._figures_only(paths[0], old, new):
                return True
        return False

    def _revert_first(self, sha: str, head: str, blocked: list[str]) -> ConflictError:
        """The refusal of a revert: the commits after ``sha`` that changed what the
        blocked rules say, newest first, each with what reverts it."""
        later: list[str] = []
        merges: list[str] = []  # merges that changed them (listed when nothing else is)
        proposals: dict[str, str] = {}  # commit -> the approval that merged it
        ids = {rule_id_from_path(p) or p for p in blocked}
        walker = self.repo.get_walker(include=[_oid(head)], exclude=[_oid(sha)])
        for entry in itertools.islice(walker, _MAX_REVERT_WALK):
            commit = entry.commit
            sha_c = _hex(commit.id)
            if not commit.parents:
                continue
            parent_tree = self._commit(_hex(commit.parents[0])).tree
            changed = self._changes_meaning(parent_tree, commit.tree, ids)
            if len(commit.parents) > 1:
                if changed:
                    merges.append(sha_c)
                side = self.repo.get_walker(
                    include=[commit.parents[1]], exclude=[commit.parents[0]]
                )
                for inner in itertools.islice(side, _MAX_REVERT_WALK):
                    proposals.setdefault(_hex(inner.commit.id), sha_c)
            elif changed:
                later.append(sha_c)
        later = later or merges
        lines = []
        for x in later[:_MAX_LISTED]:
            info = self.commit_info(x)
            via = f" (merged by {proposals[x][:12]}: rolling that back undoes its proposal)" \
                if x in proposals else ""  # fmt: skip
            lines.append(f"  {x[:12]} {_clip(info.subject, 70)}{via}")
        if len(later) > _MAX_LISTED:
            lines.append(f"  ... and {len(later) - _MAX_LISTED} more")
        names = [rule_id_from_path(p) or p for p in blocked]
        return ConflictError(
            f"later commits changed the meaning of {', '.join(names)} after {sha[:12]}; "
            "nothing was written. Roll these back first, newest first (imlgit rollback SHA "
            "--why ...):\n" + "\n".join(lines),
            names,
        )

    def restore(
        self,
        rule_id: str,
        rationale: str,
        *,
        author: Identity,
        branch: str = DEFAULT_BRANCH,
    ) -> str:
        """Bring back a retired or deleted rule: its last active version, active again."""
        head = self.head(branch)
        if head is None:
            raise RevisionNotFound(branch)
        try:
            current: Rule | None = self.read_rule(rule_id, head)
        except RuleNotFound:
            current = None
        if current is not None and current.status == "active":
            raise StoreError(f"rule {rule_id!r} is active; there is nothing to restore")
        last_active: Rule | None = None
        for info in self.history(rule_id, head):
            try:
                old = self.read_rule(rule_id, info.sha)
            except RuleNotFound:
                continue
            if old.status == "active":
                last_active = old
                break
        if last_active is None:
            raise RuleNotFound(rule_id, f"any active revision of {branch}")
        restored = last_active.with_changes(updated=now_utc())
        msg = CommitMessage.make("restore", f"restore {rule_id}", rationale, rules=[rule_id])
        return self.put_rule(restored, msg, author=author, branch=branch, expected_head=head)

    # ------------------------------------------------------------------ branches

    def branches(self) -> dict[str, str]:
        """branch name -> head sha."""
        out = {}
        for ref in self.repo.refs.keys(base=Ref(b"refs/heads/")):
            out[_utf8(ref)] = _hex(self.repo.refs[Ref(b"refs/heads/" + ref)])
        return dict(sorted(out.items()))

    def check_main_move(self, old: str | None, new: str) -> None:
        """Refuse to move main from ``old`` to ``new`` when that brings commits imlgit
        wrote which no approval record covers (:mod:`imlgit.approvals`): the one
        guard every write of main passes, whatever the caller."""
        if old is not None and not self.is_ancestor(old, new):
            raise UnapprovedChange(
                f"{DEFAULT_BRANCH} moves only forward: {new[:12]} does not descend from "
                f"{old[:12]}, where it is now (its history is never rewritten; to undo a "
                "change: imlgit rollback)"
            )
        found = self.uncovered(new, old)
        if found:
            shown = "; ".join(str(u) for u in found[:3])
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            raise UnapprovedChange(
                f"{DEFAULT_BRANCH} takes imlgit's commits only inside an approval: {shown}"
                f"{more} (approve the proposal: imlgit approve NAME)",
                tuple(found),
            )

    def uncovered(self, new: str, old: str | None = None) -> list[approvals.Uncovered]:
        """The commits imlgit wrote, reachable from ``new`` and not from ``old`` (all
        of them without ``old``), that no valid approval among those commits covers."""
        exclude = [_oid(old)] if old else []
        trees: dict[str, bytes] = {}
        commits: list[CommitInfo] = []
        for e in self.repo.get_walker(include=[_oid(new)], exclude=exclude):
            info = self._info(e.commit)  # each commit read once, by the walk
            trees[info.sha] = e.commit.tree
            commits.append(info)

        def tree_of(sha: str) -> bytes:
            found = trees.get(sha)
            return found if found is not None else self._commit(sha).tree

        # what a commit is judged under: signing is required when any of its parents
        # or main before this move (``old``) requires it, so a merge cannot pick an
        # older, laxer main as a parent to escape what main says now
        floor = [old] if old else []

        def parents_of(c: CommitInfo) -> list[bytes]:
            return [tree_of(p) for p in c.parents]

        memo: dict[str, str | None] = {}

        def guarded(c: CommitInfo) -> str | None:
            if c.sha not in memo:
                memo[c.sha] = self._guarded(c, tree_of(c.sha), parents_of(c), floor)
            return memo[c.sha]

        if not any(approvals.is_imlgit(c.author) or approvals.is_imlgit(c.committer)
                   or approvals.is_approval(c) or guarded(c) for c in commits):  # fmt: skip
            return []

        def side(a: CommitInfo) -> list[CommitInfo]:
            brought = self.repo.get_walker(include=[_oid(p) for p in a.parents[1:]],
                                           exclude=[_oid(a.parents[0])])  # fmt: skip
            return [self._info(e.commit) for e in brought]

        def changed(a: CommitInfo) -> list[str]:
            return sorted(self._diff_trees(tree_of(a.parents[0]), tree_of(a.sha)))

        def policy_before(a: CommitInfo) -> str:
            found = [self._policy_in(t) for t in parents_of(a) + [tree_of(f) for f in floor]]
            return min(found, key=lambda p: approvals.TRUST.get(p, 0)) if found else "manual"

        def signature_problem(a: CommitInfo, brought: Sequence[CommitInfo]) -> str | None:
            return self._signature_problem(a, floor)

        return approvals.uncovered(commits, side, policy_before,
                                   may_approve=signature_problem, changed=changed,
                                   guarded=guarded)  # fmt: skip

    def unapproved_history(self, head: str) -> list[approvals.Uncovered]:
        """:meth:`uncovered` over the whole history of ``head`` (``imlgit doctor``),
        remembering the last head found clean (in the derived directory), so a
        later check walks only what came since: what an approval covers is fixed
        by the history before it."""
        mark = self.derived_dir / "approvals-clean"
        try:
            clean: str | None = mark.read_text().strip() or None
        except OSError:
            clean = None
        rewritten: list[approvals.Uncovered] = []
        if clean is not None and not (_oid(clean) in self.repo.object_store
                                      and self.is_ancestor(clean, head)):  # fmt: skip
            rewritten.append(approvals.Uncovered(
                clean, "", f"{DEFAULT_BRANCH} was rewritten: {clean[:12]}, its head when it was "
                "last found clean, is no longer in its history (where that was intended, delete "
                f"{self.derived_dir / 'approvals-clean'} to check from here on)"))  # fmt: skip
            clean = None
        found = rewritten + self.uncovered(head, clean)
        if not found and clean != head:
            with suppress(OSError):
                mark.parent.mkdir(parents=True, exist_ok=True)
                tmp = mark.with_name(f".{mark.name}.{os.getpid()}")
                tmp.write_text(head + "\n")
                os.replace(tmp, mark)
        return found

    def _guarded(
        self, c: CommitInfo, tree: bytes, parents: Sequence[bytes], floor: Sequence[str]
    ) -> str | None:
        """Where signed approvals are required (by any of ``c``'s parents, or by main
        before the move, ``floor``), a commit that changes imlgit.toml or the allowed
        signers against any of its parents (whether signatures are required, and
        whose count) must be signed itself by a key listed for its committer, or be
        brought by an approval that counts; else turning signing off, or merging a
        history that never had it, would take one unsigned commit in a person's
        name."""
        if approvals.is_approval(c):
            return None
        strict = [t for t in list(parents) + [self._commit(f).tree for f in floor]
                  if self._requires_signing(t)]  # fmt: skip
        if not strict:
            return None
        against = list(parents) or [self._commit(f).tree for f in floor]  # a root: main's
        touched: list[str] = []
        for base in against:
            for path in (CONFIG_FILE, self._signers_path(base), self._signers_path(tree)):
                if path not in touched and self._lookup(base, path) != self._lookup(tree, path):
                    touched.append(path)
        if not touched:
            return None
        result = self._verify(c, c.committer, floor)
        if result.ok:
            return None
        return (f"changes {' and '.join(touched)} while {DEFAULT_BRANCH} requires signed "
                f"approvals, and is {result.detail}")  # fmt: skip

    def blob_at(self, path: str, rev: str | None) -> str | None:
        """The blob sha of file ``path`` at ``rev``, or None when it is not there."""
        blob = self._file_blob(self._tree_of(rev), path)
        return None if blob is None else _hex(blob)

    def _file_blob(self, tree: bytes | None, path: str) -> bytes | None:
        """The blob id of file ``path`` in ``tree`` (None: absent, or a directory)."""
        found = self._lookup(tree, path)
        return None if found is None or stat.S_ISDIR(found[0]) else found[1]

    def move_ref(self, ref: str, old: str | None, new: str | None) -> None:
        """Move ``ref`` (not main) from ``old`` to ``new`` (None: delete it) by
        compare-and-swap; :class:`ConflictError` when it is no longer at ``old``."""
        name = self._ref(ref)
        if name == _MAIN_REF:
            raise StoreError(f"{DEFAULT_BRANCH} moves only through commits and merges")
        if new is None:
            if old is not None:
                self.update_ref(name, self.repo.refs.remove_if_equals, name, _oid(old))
            return
        if not self._cas_ref(name, old, new, _REFLOG_WHO, self._clock(), "moved"):
            raise ConflictError(f"{ref} moved meanwhile; nothing changed", [])

    def rewrite_ref(
        self, ref: str, edit: Callable[[str, bytes], bytes | None], under: str
    ) -> tuple[str, str, set[bytes]]:
        """Rewrite every commit reachable from ``ref`` (not main: its history is what
        people audit) with each file under ``under`` replaced by ``edit(path, data)``
        (None: kept as it is); authors, times and messages kept. The ref moves by
        compare-and-swap. Returns (old head, new head, the objects of the old history
        the new one does not have). Nothing moves when nothing changed."""
        if self._ref(ref) == _MAIN_REF:
            raise StoreError(f"{DEFAULT_BRANCH} is never rewritten")
        old = self.head(ref)
        if old is None:
            raise RevisionNotFound(ref)
        others = self._ref_heads(skip=self._ref(ref))
        own = {e.commit.id for e in self.repo.get_walker(include=[_oid(old)], exclude=others)}
        walker = list(self.repo.get_walker(include=[_oid(old)], reverse=True))
        shared = [e.commit.id for e in walker if e.commit.id not in own]
        if shared:
            raise StoreError(
                f"{ref} shares history with other refs ({len(shared)} commits, e.g. "
                f"{_hex(shared[0])[:12]}); it is not rewritten, so nothing else is touched"
            )
        mapped: dict[ObjectID, ObjectID] = {}
        blobs: dict[bytes, bytes | None] = {}
        before: set[bytes] = set()
        for entry in walker:
            c = entry.commit
            before.add(c.id)
            self._tree_objects(c.tree, before)
            changes: dict[str, bytes | None] = {}
            found = self._lookup(c.tree, under)
            files = (self._walk_files(found[1], under + "/")
                     if found is not None and stat.S_ISDIR(found[0]) else iter(()))  # fmt: skip
            for path, blob in files:
                if blob not in blobs:
                    data = self.read_blob(_hex(blob))
                    new_data = edit(path, data)
                    blobs[blob] = None if new_data is None or new_data == data else new_data
                if blobs[blob] is not None:
                    changes[path] = blobs[blob]
            parents = [mapped.get(p, p) for p in c.parents]
            if not changes and parents == list(c.parents):
                mapped[c.id] = c.id
                continue
            tree = self._write_tree(c.tree, self._blobs(changes)) or self._empty_tree()
            n = Commit()
            n.tree, n.parents, n.message = tree, parents, c.message
            n.author, n.committer, n.encoding = c.author, c.committer, c.encoding
            n.author_time, n.commit_time = c.author_time, c.commit_time
            n.author_timezone, n.commit_timezone = c.author_timezone, c.commit_timezone
            self._add_object(n)
            mapped[c.id] = n.id
        new = _hex(mapped[_oid(old)])
        if new == old:
            return old, old, set()
        after = self.objects_between(new, None)
        if not self._cas_ref(self._ref(ref), old, new, _REFLOG_WHO, self._clock(), "rewritten"):
            raise ConflictError(f"{ref} moved while it was rewritten; nothing changed", [])
        return old, new, before - after

    def _empty_tree(self) -> bytes:
        empty = Tree()
        self._add_object(empty)
        return empty.id

    def _tree_objects(self, tree: bytes, seen: set[bytes]) -> None:
        """Add ``tree`` and every tree and blob below it to ``seen`` (a tree already
        there is not walked again)."""
        if tree in seen:
            return
        seen.add(tree)
        obj = self._get(tree)
        assert isinstance(obj, Tree)
        for item in obj.iteritems():
            if stat.S_ISDIR(item.mode):
                self._tree_objects(item.sha, seen)
            elif item.mode != 0o160000:  # a gitlink names a commit elsewhere
                seen.add(item.sha)

    def is_commit(self, sha: str) -> bool:
        try:
            return isinstance(self.repo[_oid(sha)], Commit)
        except (KeyError, ValueError):
            return False

    def commits_between(self, head: str, stop: str | None) -> list[str]:
        """The commits reachable from ``head`` and not from ``stop``."""
        exclude = [_oid(stop)] if stop else []
        return [_hex(e.commit.id) for e in self.repo.get_walker(include=[_oid(head)],
                                                                  exclude=exclude)]  # fmt: skip

    def top_names(self, sha: str) -> set[str]:
        """The names at the top of commit ``sha``'s tree."""
        tree = self._get(self._commit(sha).tree)
        assert isinstance(tree, Tree)
        return {_utf8(item.path) for item in tree.iteritems()}

    def objects_between(self, head: str, stop: str | None) -> set[bytes]:
        """Commits reachable from ``head`` and not ``stop``, and their trees and blobs."""
        seen: set[bytes] = set()
        for sha in self.commits_between(head, stop):
            seen.add(_oid(sha))
            self._tree_objects(self._commit(sha).tree, seen)
        return seen

    def _ref_heads(self, skip: bytes | None = None) -> list[ObjectID]:
        """What every ref but ``skip`` (and a detached HEAD) points at, each once."""
        heads: list[ObjectID] = []
        for name in self.repo.refs.allkeys():
            if name != skip:
                with suppress(KeyError):
                    heads.append(self.repo.refs[name])
        return list(dict.fromkeys(heads))

    def reachable(self) -> set[bytes]:
        """Every object a ref (or a detached HEAD) reaches."""
        seen: set[bytes] = set()
        for e in self.repo.get_walker(include=self._ref_heads()):
            seen.add(e.commit.id)
            self._tree_objects(e.commit.tree, seen)
        return seen

    def expunge(self, objects: Iterable[bytes], ref: str) -> int:
        """Remove those of ``objects`` that no ref reaches (what :meth:`rewrite_ref`
        left behind, or a fetch brought and nothing kept) from this repository's
        object store, loose or packed, and drop ``ref``'s reflog, which would still
        name the old history. Returns how many objects were removed."""
        store = self.repo.object_store
        gone = {ObjectID(o) for o in objects} - self.reachable()
        packed = {o for o in gone if any(o in pack for pack in store.packs)}
        removed = 0
        for sha in gone - packed:
            try:
                store.delete_loose_object(sha)
                removed += 1
            except (FileNotFoundError, KeyError):
                continue
        if packed:
            store.repack(exclude=packed)
            removed += len(packed)
            pack_dir = self.gitdir / "objects" / "pack"
            for extra in pack_dir.glob("pack-*.*"):  # a bitmap or reverse index of a pack gone
                orphan = not extra.with_suffix(".pack").exists()
                if orphan and extra.suffix not in (".pack", ".idx"):
                    extra.unlink(missing_ok=True)
        # git's commit-graph and multi-pack index name the old commits: git rebuilds them
        info = self.gitdir / "objects" / "info"
        for derived in ("commit-graph", "multi-pack-index"):
            (info / derived).unlink(missing_ok=True)
        shutil.rmtree(info / "commit-graphs", ignore_errors=True)
        (self.gitdir / "objects" / "pack" / "multi-pack-index").unlink(missing_ok=True)
        self._cache = {k: v for k, v in self._cache.items() if k not in gone}
        log = self.gitdir / "logs" / self._ref(ref).decode()
        log.unlink(missing_ok=True)
        return removed

    def see_objects(self, path: str) -> None:
        """Read objects from the object directory ``path`` too, for this process only
        (git's quarantine of a push being received: the pre-receive hook judges
        commits that are not in the repository yet)."""
        from dulwich.object_store import DiskObjectStore

        self.repo.object_store.alternates.append(DiskObjectStore(path))

    def paths_between(self, a: str | None, b: str) -> list[str]:
        """Every path that differs between revisions ``a`` (None: nothing) and ``b``,
        files of any kind, sorted."""
        ta = self._tree_of(a) if a is not None else None
        return sorted(self._diff_trees(ta, self._tree_of(b)))

    def committed_settings(self, rev: str) -> Settings | None:
        """The settings imlgit.toml at ``rev`` says, the committed file alone (no
        environment, no flag); None when it cannot be read. What trusts main (the
        policy, signed approvals, the secret scan's allow-list) reads this."""
        return self._settings_in(self._tree_of(rev))

    def _settings_in(self, tree: bytes) -> Settings | None:
        from .config import load_settings

        blob = self._file_blob(tree, CONFIG_FILE)
        if blob not in self._settings_at:
            result: Settings | None
            try:
                data = self.read_blob(_hex(blob)) if blob is not None else None
                result = load_settings(data.decode("utf-8") if data is not None else None,
                                       env={}, where=CONFIG_FILE)  # fmt: skip
            except (ImlgitError, UnicodeDecodeError):
                result = None
            if len(self._settings_at) >= 256:
                self._settings_at.clear()
            self._settings_at[blob] = result
        return self._settings_at[blob]

    def scan_allow(self, rev: str = DEFAULT_BRANCH) -> tuple[str, ...]:
        """``[scan] allow`` as imlgit.toml at ``rev`` says (the committed file alone;
        nothing when it cannot be read)."""
        settings = self.committed_settings(rev)
        return tuple(settings.get("scan", "allow")) if settings is not None else ()

    def policy_at(self, rev: str) -> str:
        """``[review] policy`` in imlgit.toml at ``rev`` (:meth:`committed_settings`);
        "manual" when it cannot be read, since what is unreadable grants nothing."""
        return self._policy_in(self._tree_of(rev))

    def signing_required_at(self, rev: str) -> bool:
        """Whether imlgit.toml at ``rev`` makes a person's approval count only when
        signed; True when it cannot be read (what is unreadable grants nothing)."""
        return self._requires_signing(self._tree_of(rev))

    def signing_setup(self) -> signing.SigningSetup:
        """git's signing settings for this repository (its config, the user's)."""
        return signing.signing_setup(self.repo.get_config_stack())

    def approval_signature(self, a: CommitInfo) -> signing.Verified:
        """Whether approval ``a`` is signed by a key the allowed signers on main before
        it list for its approver: its author, or for the policy's approvals its
        committer (the person who ran the policy)."""
        return self._verify(a, self._signer_of(a), [])

    @staticmethod
    def _signer_of(a: CommitInfo) -> str:
        by_policy = approvals.identity_key(a.author) == approvals.identity_key(POLICY)
        return a.committer if by_policy else a.author

    def _requires_signing(self, tree: bytes) -> bool:
        settings = self._settings_in(tree)
        return settings is None or bool(settings.get("review", "require_signed_approvals"))

    def _policy_in(self, tree: bytes) -> str:
        settings = self._settings_in(tree)
        return "manual" if settings is None else str(settings.get("review", "policy"))

    def _signers_path(self, tree: bytes) -> str:
        settings = self._settings_in(tree)
        return str(settings.get("review", "allowed_signers")) if settings else "allowed_signers"

    def _verify(self, c: CommitInfo, who: str, floor: Sequence[str]) -> signing.Verified:
        """Whether commit ``c`` is signed by a key listed for ``who``'s address in the
        allowed signers of its first parent or of ``floor`` (main before the move),
        valid when it was made: its time, or its parents' or main's before the move
        when it claims to be older (so a backdated signature does not revive a key
        past its ``valid-before``)."""
        obj = self._commit(c.sha)
        payload, signature = signing.split_signature(obj.as_raw_string())
        when = max([obj.commit_time] + [self._commit(p).commit_time
                                        for p in list(c.parents) + list(floor)])  # fmt: skip
        try:
            email = parse_identity(who).email
        except ImlgitError:
            email = ""
        lists: list[tuple[str, bytes | None]] = []
        for rev in list(c.parents[:1]) + list(floor):
            base = self._commit(rev).tree
            where = self._signers_path(base)
            blob = self._file_blob(base, where)
            if (where, blob) not in lists:
                lists.append((where, blob))
        result = signing.Verified(False, "not signed: no allowed signers to check it against")
        for where, blob in lists:
            key = (c.sha, who, blob)
            if key not in self._signatures:
                self._signatures[key] = signing.verify(
                    payload, signature, self.read_blob(_hex(blob)) if blob is not None else None,
                    email, when, program=self.signing_setup().program, where=where,
                )  # fmt: skip
            result = self._signatures[key]
            if result.ok:
                return result
        return result

    def _signature_problem(self, a: CommitInfo, floor: Sequence[str]) -> str | None:
        trees = [self._commit(p).tree for p in list(a.parents) + list(floor)]
        if not any(self._requires_signing(t) for t in trees):
            return None
        result = self._verify(a, self._signer_of(a), floor)
        return None if result.ok else (
            f"imlgit.toml on {DEFAULT_BRANCH} requires signed approvals, and this one is "
            + result.detail
        )

    def create_branch(self, name: str, at: str | None = None) -> str:
        from dulwich.refs import check_ref_format

        ref = self._ref(name)
        if not check_ref_format(ref):
            raise StoreError(f"bad branch name {name!r}")
        sha = self.resolve(at or DEFAULT_BRANCH)
        worktree.repair(self)  # every write finishes what a killed process left
        # Through the store's own compare-and-swap, which heals a stale lock.
        if not self._cas_ref(ref, None, sha, _REFLOG_WHO, self._clock(), "branch: created"):
            raise StoreError(f"branch {name!r} exists")
        return sha

    def delete_branch(self, name: str) -> None:
        if name == DEFAULT_BRANCH:
            raise StoreError(f"refusing to delete {DEFAULT_BRANCH}")
        if self._checked_out() == self._ref(name):
            raise StoreError(f"{name} is checked out")
        ref = self._ref(name)
        if ref not in self.repo.refs:
            raise RevisionNotFound(name)
        self.update_ref(ref, self.repo.refs.remove_if_equals, ref, None)

    def update_ref(self, ref: bytes, update: Callable[..., _T], *args: object) -> _T:
        """``update(*args)``: a dulwich update of ``ref`` (``set_if_equals``, ...).

        dulwich refuses a held lock with FileLocked; a stale lock (its owner gone,
        see :mod:`imlgit.locking`) is taken over and the update retried, and a held
        one waited for briefly, then named in a :class:`StoreError`.
        """
        locks = [self.gitdir / (ref.decode() + ".lock"), self.gitdir / "packed-refs.lock"]
        start = time.monotonic()
        while True:
            try:
                return update(*args)
            except FileLocked as exc:
                held = Path(os.fsdecode(exc.lockfilename))
                if held not in locks:
                    locks.append(held)
            infos = [i for i in map(locking.inspect, locks) if i is not None]
            if any([locking.take_over(i.path, i) for i in infos if i.stale]):
                continue
            if infos and time.monotonic() - start >= self.lock_wait:
                raise StoreError(
                    f"{infos[0].path} is locked: {infos[0].why}; "
                    "if no imlgit or git command is still running, remove that file"
                )
            time.sleep(0.01)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (``git merge-base
        --is-ancestor``). A walk over every parent, newest first, that gives up on a
        line of history once it is a day older than ``ancestor``: commit times may go
        backwards a little (clocks differ, one second holds many commits), and
        dulwich's can_fast_forward, which trusts them exactly, said no to commits a
        merge brought onto main."""
        import heapq

        if ancestor == descendant:
            return True
        floor = self._commit(ancestor).commit_time - 86_400
        seen = {descendant}
        queue = [(-self._commit(descendant).commit_time, descendant)]
        while queue:
            _, sha = heapq.heappop(queue)
            for parent in map(_hex, self._commit(sha).parents):
                if parent == ancestor:
                    return True
                if parent in seen:
                    continue
                seen.add(parent)
                when = self._commit(parent).commit_time
                if when >= floor:
                    heapq.heappush(queue, (-when, parent))
        return False

    def merge_base(self, a: str, b: str) -> str | None:
        from dulwich.graph import find_merge_base

        bases = find_merge_base(self.repo, [_oid(a), _oid(b)])
        return _hex(bases[0]) if bases else None

    def merge(
        self,
        source: str,
        message: CommitMessage,
        *,
        author: Identity,
        into: str = DEFAULT_BRANCH,
        fast_forward: bool = True,
        sign: bool = False,
        committer: Identity | None = None,
    ) -> MergeResult:
        """Merge branch ``source`` into ``into``, rule file by rule file.

        Fast-forwards when it can (and ``fast_forward``); otherwise a merge commit,
        signed with the person's SSH key when ``sign``. The same path changed on
        both sides is a :class:`ConflictError` naming the rules, and nothing is
        written.
        """
        src = self.resolve(source)
        worktree.repair(self)
        keeps = worktree.keeps_worktree(self, into)
        record = self._begin_sync(into) if keeps else None
        try:
            return self._merge(src, source, message, author, into, fast_forward, sign,
                               committer or author)  # fmt: skip
        finally:
            worktree.end(record)

    def _merge(
        self,
        src: str,
        source: str,
        message: CommitMessage,
        author: Identity,
        into: str,
        fast_forward: bool,
        sign: bool = False,
        committer: Identity | None = None,
    ) -> MergeResult:
        for _ in range(100):
            dst = self.head(into)
            if dst is None:
                raise RevisionNotFound(into)
            if self.is_ancestor(src, dst):
                return MergeResult(dst, True, ())
            base = self.merge_base(src, dst)
            base_tree = self._commit(base).tree if base else None
            ours = set(self._diff_trees(base_tree, self._commit(dst).tree))
            theirs = set(self._diff_trees(base_tree, self._commit(src).tree))
            src_tree = self._commit(src).tree
            dst_tree = self._commit(dst).tree
            both = sorted(
                p for p in ours & theirs if self._lookup(src_tree, p) != self._lookup(dst_tree, p)
            )
            if both:
                ids = [rule_id_from_path(p) or p for p in both]
                raise ConflictError(
                    f"{source} and {into} both changed {', '.join(ids)}; nothing was merged",
                    ids,
                )
            self._check_worktree_clean(into, dict.fromkeys(theirs), dst)
            if fast_forward and base == dst:
                changed = tuple(sorted(theirs))
                if self._cas_ref(self._ref(into), dst, src, author, self._clock(), message.subject):
                    self._sync_worktree(into, dict.fromkeys(changed))
                    return MergeResult(src, True, changed)
                continue
            changes = {p: self._blob_of(src_tree, p) for p in sorted(theirs)}
            self._refuse_twins(dst_tree, changes)  # one id given a file on each side
            tree = self._write_tree(dst_tree, changes)
            empty = Tree()
            if tree is None:
                self._add_object(empty)
            c = self._new_commit(
                tree if tree is not None else empty.id,
                [dst, src],
                message.render().encode("utf-8"),
                author,
                committer or author,
                sign=sign,
            )
            if self._cas_ref(
                self._ref(into), dst, _hex(c.id), author, c.commit_time, message.subject
            ):
                self._record(c, self.changed_paths(_hex(c.id)))
                self._sync_worktree(into, dict.fromkeys(theirs))
                return MergeResult(_hex(c.id), False, tuple(sorted(theirs)))
        raise StoreError(f"could not move {into}: too much contention")

    def _blob_of(self, tree: bytes, path: str) -> bytes | None:
        found = self._lookup(tree, path)
        return found[1] if found else None


def _pair_moves(changes: list[RuleChange]) -> list[RuleChange]:
    """A rule file deleted at one path and added at another (``git mv``) is one
    change of that rule, not a removal and an addition of it."""
    removed = {c.rule_id: c for c in changes if c.kind == "removed"}
    added = {c.rule_id: c for c in changes if c.kind == "added"}
    moved = removed.keys() & added.keys()
    if not moved:
        return changes
    out = []
    for c in changes:
        if c.rule_id in moved and c.kind == "removed":
            continue
        if c.rule_id in moved and c.kind == "added":
            gone = removed[c.rule_id]
            c = RuleChange(c.rule_id, "modified", gone.old, c.new, c.path, gone.path)
        out.append(c)
    return out


def _check_path(path: str) -> None:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or any(p in ("", ".", "..", ".git") for p in parts)
        or any(ord(ch) < 32 for ch in path)
    ):
        raise StoreError(f"unsafe path {path!r}")


def _group_by_branch(pending: Mapping[str, str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, branch in pending.items():
        out.setdefault(branch, []).append(path)
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _prune_empty_dirs(d: Path, stop: Path) -> None:
    while d != stop and d.is_dir() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent


def check_rule_file(path: str, data: bytes, seen: dict[str, str]) -> list[RuleError]:
    """The problems with one file under rules/ (used by ``check`` and the hooks)."""
    rid = rule_id_from_path(path)
    if rid is None:
        return [RuleError("only rule files (*.md) belong under rules/", path=path)]
    try:
        rule = parse_rule(data, path=path)
    except RuleError as exc:
        return [exc]
    problems = []
    if rule.id in seen:
        problems.append(
            RuleError(f"duplicate rule id {rule.id!r}, also in {seen[rule.id]}", path=path)
        )
    seen[rule.id] = path
    return problems
