"""The checks ``imlgit check`` runs, for the git hooks and a forge's CI.

Each returns the problems it finds, one line of text each (an empty list: all is
well), and never stops at the first:

- :func:`check_memory`: the rule files of the working tree, as a linter would
  (uncommitted files too), and of a revision, each secret-scanned;
- :func:`check_paths`: rule files on disk, outside any memory;
- :func:`check_staged`, :func:`check_commit_msg`: git's index and a commit
  message, read through the git command in the current directory (the pre-commit
  and commit-msg hooks);
- :func:`check_move`, :func:`check_history`: that every commit imlgit wrote which
  main would get, or has, is inside an approval that counts.

The secret scan's allow-list is read from imlgit.toml as it stands (committed, or
staged), strictly: a check reports a broken imlgit.toml (:class:`ConfigError`)
rather than scan without the allow-list it says. Writes read it leniently
(:meth:`imlgit.store.Store.scan_allow`), since what is unreadable allows nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .commits import CommitMessage
from .config import load_settings
from .errors import ImlgitError, UnapprovedChange
from .rules import rule_id_from_path
from .scan import scan_text
from .store import CONFIG_FILE, Store, check_rule_file

__all__ = [
    "Checked",
    "check_memory",
    "check_paths",
    "check_staged",
    "check_commit_msg",
    "check_move",
    "check_history",
    "allow_in",
    "no_commit",
]


@dataclass(frozen=True)
class Checked:
    """The problems a check found (``ok`` when there are none)."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems}


def allow_in(toml_text: str | None) -> tuple[str, ...]:
    """``[scan] allow`` of an imlgit.toml's text (none: the defaults); a file that
    does not parse is :class:`~imlgit.errors.ConfigError`."""
    return tuple(load_settings(toml_text, env={}).get("scan", "allow"))


def _scanned(problems: list[str], path: str, data: bytes, allow: Sequence[str]) -> None:
    text = data.decode("utf-8", errors="replace")
    problems.extend(f"{f} (secret scan)" for f in scan_text(text, path=path, allow=allow))


def check_memory(store: Store, at: str | None = None) -> Checked:
    """The memory's rule files: without ``at``, the working tree (when there is one)
    and HEAD where it differs; with ``at``, that revision. Every file is scanned."""
    problems: list[str] = []
    data = store.read_file(CONFIG_FILE)
    allow = allow_in(data.decode("utf-8") if data else None)
    # like a linter: the files as they are now, committed or not (each scanned)
    on_disk = (
        store.check_worktree(
            lambda path, data: _scanned(problems, path, data, allow)
            if path.endswith(".md")
            else None
        )
        if at is None
        else None
    )
    if on_disk is not None:
        problems.extend(str(p) for p in on_disk)
    # the revision (HEAD without ``at``): what is committed, where it differs
    for problem in map(str, store.check(at)):
        if problem not in problems:
            problems.append(problem)
    if on_disk is None:
        for entry in store.rule_entries(at).values():
            _scanned(problems, entry.path, store.read_blob(entry.blob), allow)
    return Checked(problems)


def check_paths(paths: Sequence[str]) -> Checked:
    """Rule files on disk (their place taken from the ``rules/`` in their path),
    scanned without an allow-list."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for p in paths:
        rel = Path(p).as_posix()
        marker = rel.find("rules/")
        rel = rel[marker:] if marker >= 0 else rel
        try:
            data = Path(p).read_bytes()
        except OSError as exc:
            problems.append(f"{p}: {exc.strerror}")
            continue
        problems.extend(str(x) for x in check_rule_file(rel, data, seen))
        _scanned(problems, rel, data, ())
    return Checked(problems)


def check_staged(store: Store | None) -> Checked:
    """The rule files staged in git's index (the current directory's repository),
    scanned with the staged imlgit.toml's allow-list; then, with ``store``, the
    paths where a killed imlgit left git's index behind main."""
    problems: list[str] = []
    try:
        staged_toml = _git("show", ":imlgit.toml").decode("utf-8", errors="replace")
    except subprocess.CalledProcessError:
        staged_toml = None
    allow = allow_in(staged_toml)
    staged_files = _staged_rule_files()
    seen = _other_indexed_ids({path for path, _ in staged_files})
    for path, data in staged_files:
        problems.extend(str(p) for p in check_rule_file(path, data, seen))
        _scanned(problems, path, data, allow)
    if store is not None:
        problems.extend(_unsynced_index(store))
    return Checked(problems)


def check_commit_msg(file: str) -> Checked:
    """A commit message that changes rules/ must carry a rationale (merges excepted)."""
    names = _git("diff", "--cached", "--name-only", "-z", "--", "rules/")
    if not names.strip(b"\0"):
        return Checked()
    gitdir = _git("rev-parse", "--git-dir").decode().strip()
    if Path(gitdir, "MERGE_HEAD").exists():
        return Checked()
    text = Path(file).read_text(encoding="utf-8", errors="replace")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    msg = CommitMessage.parse("\n".join(lines))
    if not msg.rationale.strip():
        return Checked([
            f"{file}: this commit changes rules/ but its message has no rationale: "
            "add a paragraph after the subject line saying why"
        ])  # fmt: skip
    return Checked()


def no_commit(rev: str) -> bool:
    """Whether git names no commit: the all-zero object id."""
    return set(rev) == {"0"}


def check_move(
    store: Store, old: str | None, new: str, *, quarantine: str | None = None
) -> Checked:
    """Whether main may move from ``old`` to ``new`` (the reference-transaction and
    pre-receive hooks): every commit imlgit wrote that it brings is inside an
    approval. No ``old`` (git gives none when the caller named none) is main now;
    ``quarantine`` is where a pre-receive hook's pushed objects wait."""
    if quarantine:
        store.see_objects(quarantine)
    start = store.head() if old is None or no_commit(old) else old
    try:
        store.guard.check_move(store.resolve(start) if start else None, store.resolve(new))
    except UnapprovedChange as exc:
        return Checked([str(exc)])
    return Checked()


def check_history(store: Store, rev: str) -> Checked:
    """Whether every commit imlgit wrote in ``rev``'s history is inside an approval
    that counts (a forge's CI on main)."""
    return Checked([str(u) for u in store.guard.uncovered(store.resolve(rev))])


def _unsynced_index(store: Store) -> list[str]:
    """Paths where a killed imlgit left git's index behind main: committing would undo it."""
    try:
        found = store.unsynced()
    except ImlgitError:
        return []
    return [
        f"{u.path}: {u.detail()}; run imlgit doctor --repair, then commit again" for u in found
    ]


def _git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def _staged_rule_files() -> list[tuple[str, bytes]]:
    names = _git("diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z", "--", "rules/")
    out = []
    for raw in names.split(b"\0"):
        if raw:
            path = raw.decode("utf-8", errors="replace")
            out.append((path, _git("show", f":{path}")))
    return out


def _other_indexed_ids(staged: set[str]) -> dict[str, str]:
    """rule id -> path of the rule files in git's index that this commit leaves as they
    are: a staged file claiming one of those ids is a second file for it."""
    out: dict[str, str] = {}
    for raw in _git("ls-files", "-z", "--", "rules/").split(b"\0"):
        path = raw.decode("utf-8", errors="replace")
        rid = rule_id_from_path(path) if raw else None
        if rid is not None and path not in staged:
            out.setdefault(rid, path)
    return out
