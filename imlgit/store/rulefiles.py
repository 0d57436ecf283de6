"""The rule files of a tree: where each rule lives, parsed once, checked.

A rule is a file anywhere under ``rules/`` named ``<id>.md``. A tree's map of
ids to files is kept for the last trees read or written (a tree never changes,
so neither does its map), and a rule file is parsed once per blob and path,
the parsed rules cached in the derived directory for the next process
(:mod:`imlgit.parsecache`).
"""

from __future__ import annotations

import stat
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import RuleError, StoreError
from ..git.objects import Objects, hexsha
from ..ruleids import RuleEntry
from ..rules import RULES_DIR, Rule, parse_rule, rule_id_from_path, shard_path, validate_rule_id

__all__ = ["RuleEntry", "RuleFiles", "check_rule_file", "MAX_CHECKED_FILES"]

MAX_PARSED = 200_000  # parsed rules kept (about 2 KB each)
SAVE_PARSED_AFTER = 64  # rules newly parsed by one read of memory that make it write the cache
FLAT_SCOPE_FILES = 100  # new rules of a scope folder this full go a level deeper
MAX_CHECKED_FILES = 100_000
"""``check`` reads at most this many files of a working tree's rules/."""


@dataclass
class RuleMap:
    """A tree's rule files by id; ``twins`` are the files that claim an id another
    file has (check reports them; nothing reads them)."""

    entries: dict[str, RuleEntry]
    twins: dict[str, str]  # path -> the path that holds its id

    def derive(self, blobs: Mapping[str, bytes | None]) -> RuleMap | None:
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
                entries[rid] = RuleEntry(hexsha(blob), path)
            else:
                twins[path] = held.path
        return RuleMap(entries, twins)


class RuleFiles:
    """The rules of a repository's trees, read through its objects."""

    def __init__(self, objects: Objects, derived_dir: Callable[[], Path]) -> None:
        self.objects = objects
        self._derived_dir = derived_dir
        self._maps: dict[bytes | None, RuleMap] = {}  # root tree -> its rule files
        # Parsed rules by (blob, path): a file is parsed once per process however many
        # revisions or questions read it (a Rule is immutable, so sharing is safe).
        self.parsed: OrderedDict[tuple[str, str], Rule] = OrderedDict()
        self._disk_read = False  # the parsed-rule cache of the derived dir loaded
        self._unsaved = 0  # rules parsed since it was last written

    # ------------------------------------------------------------------ where rules are

    def map(self, tree: bytes | None) -> RuleMap:
        """The rule files of a root tree, kept for the last few trees."""
        cached = self._maps.get(tree)
        if cached is not None:
            return cached
        entries: dict[str, RuleEntry] = {}
        twins: dict[str, str] = {}
        for path, sha in self.objects.files_under(tree, RULES_DIR):
            rid = rule_id_from_path(path)
            if rid is None:
                continue
            if rid in entries:
                twins[path] = entries[rid].path
            else:
                entries[rid] = RuleEntry(hexsha(sha), path)
        made = RuleMap(entries, twins)
        self.keep(tree, made)
        return made

    def keep(self, tree: bytes | None, found: RuleMap) -> None:
        for stale in list(self._maps)[: max(0, len(self._maps) - 2)]:
            del self._maps[stale]
        self._maps[tree] = found

    def after(self, base: bytes | None, tree: bytes, blobs: Mapping[str, bytes | None]) -> None:
        """Derive the map of ``tree`` (``base`` with ``blobs`` applied) when ``base``'s
        is at hand, so the next read of the new head walks nothing."""
        known = self._maps.get(base)
        derived = known.derive(blobs) if known is not None else None
        if derived is not None:
            self.keep(tree, derived)

    def entries(self, tree: bytes | None) -> dict[str, RuleEntry]:
        """rule id -> (path, blob); :class:`RuleError` when two files claim one id."""
        found = self.map(tree)
        if found.twins:
            path, other = next(iter(sorted(found.twins.items())))
            rid = rule_id_from_path(path)
            raise RuleError(f"duplicate rule id {rid!r}, also in {other}", path=path)
        return found.entries

    def entry(self, tree: bytes | None, rule_id: str) -> RuleEntry | None:
        validate_rule_id(rule_id)  # an unsafe id is an error, not a rule not found
        return self.map(tree).entries.get(rule_id)

    def refuse_twins(self, tree: bytes | None, blobs: Mapping[str, bytes | None]) -> None:
        """A write may not give an id a second file: a rule keeps the file it has
        (wherever a person put it), so ``rules/a/x.md`` beside ``rules/b/x.md`` is
        refused before anything is written."""
        written = {
            p: rid for p, b in blobs.items() if b is not None and (rid := rule_id_from_path(p))
        }
        if not written:
            return
        held = self.map(tree).entries
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

    def path_for(self, tree: bytes | None, rule: Rule) -> str:
        """Where to write ``rule`` in ``tree``: the file that holds its id there, else
        the file it was read from, else its scope's folder,
        :func:`~imlgit.rules.new_rule_path`. A scope folder that already holds
        ``FLAT_SCOPE_FILES`` entries gets a second level, ``rules/<scope>/<xx>/``
        (``xx`` as in :func:`~imlgit.rules.shard_path`), so that no git tree a
        commit rewrites grows past a few hundred entries."""
        held = self.entry(tree, rule.id)
        found = held.path if held is not None else rule.file
        if found is not None:
            return found
        flat = rule.path
        folder = flat.rsplit("/", 1)[0]
        if len(self.objects.dir_entries(tree, folder)) >= FLAT_SCOPE_FILES:
            return f"{folder}/{shard_path(rule.id).split('/', 1)[1]}"
        return flat

    # ------------------------------------------------------------------ parsed rules

    def parse(self, blob: str, path: str) -> Rule:
        """The rule file stored as ``blob`` at ``path``, parsed (errors name ``path``).
        Parsed once: the same blob at the same path (the id and the defaults come from
        the path) is answered from memory, the last ``MAX_PARSED`` kept."""
        key = (blob, path)
        hit = self.parsed.get(key)
        if hit is None and not self._disk_read:
            self._read_parsed()
            hit = self.parsed.get(key)
        if hit is not None:
            self.parsed.move_to_end(key)
            return hit
        rule = parse_rule(self.objects.read_blob(blob), path=path)
        self.parsed[key] = rule
        self._unsaved += 1
        if len(self.parsed) > MAX_PARSED:
            self.parsed.popitem(last=False)
        return rule

    def parse_entry(self, path: str, entry: tuple[int, bytes] | None) -> Rule | None:
        """The rule a tree entry holds, or None (not a rule file, or one that does not
        parse)."""
        if entry is None or rule_id_from_path(path) is None or not stat.S_ISREG(entry[0]):
            return None
        try:
            return self.parse(hexsha(entry[1]), path)
        except RuleError:
            return None

    def _read_parsed(self) -> None:
        from .. import parsecache

        self._disk_read = True
        if MAX_PARSED:
            for key, rule in parsecache.load(self._derived_dir()).items():
                self.parsed.setdefault(key, rule)
            while len(self.parsed) > MAX_PARSED:
                self.parsed.popitem(last=False)

    def save(self, *, least: int = SAVE_PARSED_AFTER) -> None:
        """Write the parsed rules to the derived directory's cache, when at least
        ``least`` were parsed since it was last written."""
        if self._unsaved >= max(1, least) and MAX_PARSED:
            from .. import parsecache

            parsecache.save(self._derived_dir(), self.parsed)
            self._unsaved = 0

    # ------------------------------------------------------------------ checks

    def check(self, tree: bytes | None) -> list[RuleError]:
        """Every problem with the rule files of ``tree``."""
        problems: list[RuleError] = []
        seen: dict[str, str] = {}
        for path, sha in self.objects.files_under(tree, RULES_DIR):
            problems.extend(check_rule_file(path, self.objects.read_blob(hexsha(sha)), seen))
        return problems


def check_worktree(
    wt: Path, each: Callable[[str, bytes], None] | None = None
) -> list[RuleError]:
    """Every problem with the rule files under ``wt``'s rules/, as a linter reads them
    (files a person has not committed yet too); at most ``MAX_CHECKED_FILES`` files
    read, ``each(path, data)`` called on every one."""
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
