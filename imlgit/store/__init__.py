"""The store: a memory repository's rules read and committed, its history, its branches.

Writes are atomic: blobs, trees and the commit are written first, and the branch
ref is moved last with a compare-and-swap. When the ref moved meanwhile, a change
that touches other paths is re-applied on the new head; one that touches a path
changed meanwhile raises :class:`ConflictError` naming the rule. Nothing is lost.

:class:`Store` is a facade over the git layer (:mod:`imlgit.git`: objects, refs,
the working tree, the history index) and the parts beside it here: the rule
files of a tree (:mod:`.rulefiles`), the guard of main (:mod:`.guard`), reverts
(:mod:`.revert`) and merges (:mod:`.merge`). It knows nothing of the retrieval
index or of language models.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..commits import CommitMessage, Identity
from ..errors import (
    ConflictError,
    NotAMemoryRepo,
    RevisionNotFound,
    RuleError,
    RuleNotFound,
    StoreError,
)
from ..git import rewrite as _rewrite
from ..git import signing
from ..git import worktree as _worktree
from ..git.history import HistoryCheck, files_of
from ..git.objects import Commit, CommitInfo, hexsha
from ..git.refs import NO_REFLOG, ref_name
from ..git.repo import GitRepo
from ..git.worktree import Unsynced
from ..locking import LockInfo
from ..resources import hooks_dir, template_dir
from ..rules import Rule, render_rule, validate_rule_id
from .changes import MergeResult, RuleChange, diff_trees_of_rules
from .create import install_hooks, new_directory, template_files
from .guard import CONFIG_FILE, MainGuard
from .merge import merge_into
from .revert import restore_rule, revert_commit
from .rulefiles import (
    FLAT_SCOPE_FILES,
    MAX_CHECKED_FILES,
    RuleEntry,
    RuleFiles,
    check_rule_file,
    check_worktree,
)
from .writer import Steps, Writer

__all__ = ["Store", "CommitInfo", "RuleEntry", "RuleChange", "MergeResult", "CONFIG_FILE",
           "DEFAULT_BRANCH", "INDEX_DIR", "NO_REFLOG", "FLAT_SCOPE_FILES", "MAX_CHECKED_FILES",
           "check_rule_file"]  # fmt: skip

DEFAULT_BRANCH = "main"
INDEX_DIR = "index"  # the retrieval index, in the derived directory (never committed)
_MAIN_REF = ref_name(DEFAULT_BRANCH)
_REFLOG_WHO = Identity("imlgit", "imlgit@localhost")  # in the reflog of a branch it creates


class _Unset:
    """The default of ``expected_head``: the branch's head at the time of the call."""


_UNSET = _Unset()


class Store:
    """A memory repository. Open with :meth:`open`, create with :meth:`init`."""

    def __init__(self, git: GitRepo) -> None:
        self.git = git
        self.path = git.path
        self.objects = git.objects
        self.refs = git.refs
        self.rules = RuleFiles(git.objects, lambda: git.derived_dir)
        self.guard = MainGuard(git)
        git.refs.guards[_MAIN_REF] = self.guard.check_move  # every move of main passes it
        self.writer = Writer(git, self.rules)

    # ------------------------------------------------------------------ open / init

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], int] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> Store:
        """Open the memory repository at ``path``. ``fault``, for crash tests only, is
        called with the name of each point where a kill leaves the most to repair
        ("objects", "ref-lock", "ref-moved", "worktree", "index-lock")."""
        p = Path(path)
        store = cls(GitRepo.open(p, clock=clock, fault=fault))
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
        src = Path(template) if template is not None else template_dir()
        with new_directory(p, "init only creates new memory"):
            store = cls(GitRepo.create(p, DEFAULT_BRANCH, clock=clock))
            files = template_files(src)
            msg = CommitMessage.make(
                "init",
                "new imlgit memory",
                "A new memory repository, made from imlgit's template: a README for "
                "reviewers, imlgit.toml with the defaults, and one example rule.",
            )
            store.commit(files, msg, author=author, expected_head=None)
            if install_hooks:
                store.install_hooks()
        return store

    def close(self) -> None:
        """Close the files dulwich keeps open (also done when the store is collected)."""
        self.git.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def install_hooks(self) -> list[str]:
        """Copy imlgit's git hooks into this repository, pointing at this Python."""
        return install_hooks(self.git.hooks_dir, hooks_dir())

    @property
    def repo(self) -> Any:
        """The dulwich ``Repo`` (for tests of the git layer; code goes through ``git``)."""
        return self.git.repo

    @property
    def gitdir(self) -> Path:
        return self.git.gitdir

    @property
    def derived_dir(self) -> Path:
        """``<git dir>/imlgit``: derived data (index, caches); never committed."""
        return self.git.derived_dir

    @property
    def lock_wait(self) -> float:
        """Seconds a write waits for a lock held by a live process before it fails."""
        return self.git.lock_wait

    @lock_wait.setter
    def lock_wait(self, seconds: float) -> None:
        self.git.lock_wait = seconds

    def now(self) -> int:
        """The store's clock (seconds; a test's clock when one was given)."""
        return self.git.clock()

    # ------------------------------------------------------------------ revisions

    @staticmethod
    def branch_name(spelling: str) -> str:
        """The branch ``spelling`` names, as the store reads it: ``refs/heads/X`` is
        ``X``; anything else is itself (``heads/main`` is a branch of that name)."""
        return spelling.removeprefix("refs/heads/")

    def head(self, branch: str = DEFAULT_BRANCH) -> str | None:
        """The commit a branch points at, or None when it has no commits."""
        return self.refs.head(branch)

    def resolve(self, rev: str | None = None) -> str:
        """A revision (sha, short sha, branch, tag, HEAD, ``X~n``, ``X^``) -> commit sha."""
        return self.refs.resolve(rev or "HEAD")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (``git merge-base
        --is-ancestor``; see :meth:`imlgit.git.objects.Objects.is_ancestor`)."""
        return self.objects.is_ancestor(ancestor, descendant)

    def _tree_of(self, rev: str | None) -> bytes:
        return self.objects.commit(self.resolve(rev)).tree

    # ------------------------------------------------------------------ read

    def read_file(self, path: str, rev: str | None = None) -> bytes | None:
        """A file's bytes at a revision, or None when it is not there."""
        blob = self.objects.file_blob(self._tree_of(rev), path)
        return None if blob is None else self.objects.read_blob(hexsha(blob))

    def read_blob(self, sha: str) -> bytes:
        return self.objects.read_blob(sha)

    def blob_at(self, path: str, rev: str | None) -> str | None:
        """The blob sha of file ``path`` at ``rev``, or None when it is not there."""
        blob = self.objects.file_blob(self._tree_of(rev), path)
        return None if blob is None else hexsha(blob)

    def files_under(self, prefix: str, rev: str | None = None) -> list[tuple[str, str]]:
        """(path, blob sha) of every file under directory ``prefix`` at ``rev``."""
        return [(p, hexsha(s)) for p, s in self.objects.files_under(self._tree_of(rev), prefix)]

    def rule_entries(self, rev: str | None = None) -> dict[str, RuleEntry]:
        """rule id -> (path, blob) for every rule file at ``rev``, wherever under
        ``rules/`` it is; :class:`RuleError` when two files claim the same id."""
        return self.rules.entries(self._tree_of(rev))

    def locate(self, rule_id: str, rev: str | None = None) -> str | None:
        """The path of the rule file with this id at ``rev``, or None."""
        entry = self.rules.entry(self._tree_of(rev), rule_id)
        return entry.path if entry is not None else None

    def path_for(self, rule: Rule, rev: str | None = None) -> str:
        """Where to write ``rule`` on ``rev`` (:meth:`.rulefiles.RuleFiles.path_for`)."""
        return self.rules.path_for(self._tree_of(rev), rule)

    def rule_from_blob(self, blob: str, path: str) -> Rule:
        """The rule file stored as ``blob`` at ``path``, parsed once (errors name ``path``)."""
        return self.rules.parse(blob, path)

    def read_rules(self, rev: str | None = None) -> dict[str, Rule]:
        """Every rule at ``rev``, parsed and validated (errors name the file)."""
        got = {rid: self.rules.parse(e.blob, e.path)
               for rid, e in sorted(self.rule_entries(rev).items())}  # fmt: skip
        self.rules.save()
        return got

    def read_rule(self, rule_id: str, rev: str | None = None) -> Rule:
        """One rule at ``rev``; :class:`RuleNotFound` when it is not there."""
        entry = self.rules.entry(self._tree_of(rev), rule_id)
        if entry is None:
            raise RuleNotFound(rule_id, rev)
        return self.rules.parse(entry.blob, entry.path)

    def with_git_dates(self, rule: Rule, rev: str | None = None) -> Rule:
        """``rule`` with the dates its file leaves out taken from git: created from
        the first commit that touched it, updated from the last."""
        if rule.created and rule.updated:
            return rule
        commits = self.history(rule.id, rev)
        if not commits:
            return rule

        def utc(t: int) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))

        return rule.with_changes(created=rule.created or utc(commits[-1].time),
                                 updated=rule.updated or utc(commits[0].time))  # fmt: skip

    def check(self, rev: str | None = None) -> list[RuleError]:
        """Every problem with the rule files at ``rev`` (an empty list when all is well)."""
        return self.rules.check(self._tree_of(rev))

    def check_worktree(
        self, each: Callable[[str, bytes], None] | None = None
    ) -> list[RuleError] | None:
        """Every problem with the rule files in the working tree (uncommitted ones
        too), or None without a working tree (:func:`.rulefiles.check_worktree`)."""
        wt = self.git.worktree_path()
        return None if wt is None else check_worktree(wt, each)

    # ------------------------------------------------------------------ write

    def commit(self, changes: Mapping[str, bytes | None], message: CommitMessage, *,
               author: Identity, committer: Identity | None = None,
               branch: str = DEFAULT_BRANCH, expected_head: str | None | _Unset = _UNSET,
               sync_worktree: bool = True) -> str | None:  # fmt: skip
        """Commit ``changes`` ({path: bytes, or None to delete}) atomically; return the
        sha, or None when the files already hold those contents (nothing is written).

        ``expected_head`` is the commit the change was prepared on (by default the
        branch's head now). When the branch has moved past it, the change is
        re-applied on the new head unless a path it touches changed meanwhile:
        then :class:`ConflictError` names those rules and nothing is written.
        Pass ``expected_head=None`` only to create a branch's first commit.
        """
        made = self.commit_many([(changes, message)], author=author, committer=committer,
                                branch=branch, expected_head=expected_head,
                                sync_worktree=sync_worktree)  # fmt: skip
        return made[0] if made else None

    def commit_many(self, steps: Steps, *, author: Identity, committer: Identity | None = None,
                    branch: str = DEFAULT_BRANCH, expected_head: str | None | _Unset = _UNSET,
                    sync_worktree: bool = True) -> list[str]:  # fmt: skip
        """Commit a chain of changes, one commit each, and move the branch once.

        All or nothing: the commits are written first and the branch moves to the
        last one in a single compare-and-swap, so a failure part-way leaves the
        branch where it was. Conflicts are handled as in :meth:`commit`.
        """
        base = self.head(branch) if isinstance(expected_head, _Unset) else expected_head
        return self.writer.commit_many(steps, author=author, committer=committer or author,
                                       branch=branch, base=base,
                                       sync_worktree=sync_worktree)  # fmt: skip

    def rewrite(self, branch: str, base: str, steps: Steps, *, expected_head: str,
                author: Identity) -> list[str]:  # fmt: skip
        """Replace the commits ``base..expected_head`` of ``branch`` by ``steps`` (a
        chain on ``base``) whose last tree is the one ``expected_head`` has: the
        history is rewritten, no file changes (so neither the working tree nor the
        index need to). Refused when the chain ends elsewhere; ConflictError when the
        branch is no longer at ``expected_head``."""
        return self.writer.rewrite(branch, base, steps, expected_head=expected_head,
                                   author=author)  # fmt: skip

    def put_rule(self, rule: Rule, message: CommitMessage, *, author: Identity,
                 branch: str = DEFAULT_BRANCH, expected_head: str | _Unset = _UNSET,
                 extra: Mapping[str, bytes | None] | None = None) -> str | None:  # fmt: skip
        """Write one rule (add or change) as one commit; None when its file already
        says exactly that (nothing is written)."""
        on = self.head(branch) if isinstance(expected_head, _Unset) else expected_head
        path = self.path_for(rule, on) if on is not None else rule.path
        changes: dict[str, bytes | None] = {path: render_rule(rule).encode("utf-8")}
        changes.update(extra or {})
        return self.commit(changes, message, author=author, branch=branch,
                           expected_head=expected_head)  # fmt: skip

    # ------------------------------------------------------------------ worktree

    def dirty_paths(self, branch: str, paths: Iterable[str], base: str | None) -> list[str]:
        """The ``paths`` a person has edited in the working tree, uncommitted, that a
        write of ``branch`` from ``base`` would overwrite (empty: none, or not checked out)."""
        return self.writer.dirty_paths(branch, paths, base)

    def refuse_dirty(self, branch: str, paths: Iterable[str], base: str | None) -> None:
        """Refuse to write a path a person has edited in the working tree, uncommitted."""
        self.writer.refuse_dirty(branch, paths, base)

    def deferred_worktree(self) -> AbstractContextManager[None]:
        """Commit many changes, then bring the working tree up to date once.

        Updating git's index after every commit costs a read and a write of the
        whole index; a batch of commits pays it once, at the end.
        """
        return self.writer.deferred()

    def repair(self) -> tuple[list[str], list[str]]:
        """Finish what a killed imlgit process left: the index updates it had not made,
        and its stale lock files. Returns (paths brought up to date, locks removed)."""
        fixed = _worktree.repair(self.git)
        return fixed, [str(info.path) for info in _worktree.sweep(self.git)]

    def unsynced(self) -> list[Unsynced]:
        """Paths where git's index lags a branch because an imlgit process died."""
        return _worktree.unsynced(self.git)

    def stale_locks(self) -> list[LockInfo]:
        """Every lock file in the repository, with whether it is stale."""
        return _worktree.stale_locks(self.git)

    def checkout_worktree(self) -> None:
        """Rebuild the whole working tree and index from main (after init or a merge)."""
        head = self.head(DEFAULT_BRANCH)
        if head is not None:
            self.git.checkout(self.objects.commit(head).tree)

    # ------------------------------------------------------------------ log and history

    def commit_info(self, sha: str) -> CommitInfo:
        return self.objects.info(sha)

    def log(self, rev: str | None = None, *, limit: int | None = None) -> list[CommitInfo]:
        """Commits reachable from ``rev``, newest first."""
        return [self.commit_info(hexsha(c.id))
                for c in self.objects.walk([self.resolve(rev)], limit=limit)]  # fmt: skip

    def history(
        self, rule_id: str, rev: str | None = None, *, limit: int | None = None
    ) -> list[CommitInfo]:
        """The commits that changed a rule, newest first, each with its rationale.

        Served from a derived index of which rules each commit touched, kept in
        ``<git dir>/imlgit/`` and extended incrementally, so it stays fast on long
        histories. Every file the rule had counts (``rules/.../<id>.md``): its
        history goes on across a ``git mv`` and stays once it is deleted.
        """
        return self.git.history().rule_log(rule_id, self.resolve(rev), limit)

    def verify_history(self, rule_id: str, rev: str | None = None) -> HistoryCheck:
        """``imlgit history RULE --verify``: one rule's history from the index against
        git, the index rebuilt when they differ (every file the rule had)."""
        validate_rule_id(rule_id)
        start = self.resolve(rev)
        name = self.locate(rule_id, start) or rule_id  # its file now, when it has one
        return self.git.history().verify(files_of(rule_id), start, name=name)

    def record_commit(self, c: Commit, paths: list[str]) -> None:
        """Note a commit just written in the history index (derived data)."""
        self.writer.record_commit(c, paths)

    def paths_between(self, a: str | None, b: str) -> list[str]:
        """Every path that differs between revisions ``a`` (None: nothing) and ``b``."""
        ta = self._tree_of(a) if a is not None else None
        return sorted(self.objects.diff_trees(ta, self._tree_of(b)))

    def diff(self, a: str, b: str | None = None) -> list[RuleChange]:
        """How the rules differ between revisions ``a`` and ``b`` (default HEAD)."""
        return diff_trees_of_rules(self.objects, self._tree_of(a), self._tree_of(b))

    # ------------------------------------------------------------------ revert / restore

    def revert(self, rev: str, rationale: str, *, author: Identity,
               branch: str = DEFAULT_BRANCH) -> str | None:  # fmt: skip
        """Undo one commit as a new commit carrying its own rationale (``git revert``;
        :mod:`.revert`): a merge (an approval) against its first parent, the whole
        proposal going; a later change of meaning of one of its rules is a
        :class:`ConflictError` listing those commits, and nothing is written. None
        when there is nothing to undo (the commit changed nothing, or is undone)."""
        return revert_commit(self, self.resolve(rev), rationale, author=author, branch=branch)

    def restore(self, rule_id: str, rationale: str, *, author: Identity,
                branch: str = DEFAULT_BRANCH) -> str | None:  # fmt: skip
        """Bring back a retired or deleted rule: its last active version, active again;
        None when it is active (nothing to restore: nothing is written)."""
        return restore_rule(self, rule_id, rationale, author=author, branch=branch)

    # ------------------------------------------------------------------ branches and refs

    def branches(self) -> dict[str, str]:
        """branch name -> head sha."""
        return self.refs.branches()

    def create_branch(self, name: str, at: str | None = None) -> str:
        ref = ref_name(name)
        if not self.refs.valid_name(ref):
            raise StoreError(f"bad branch name {name!r}")
        sha = self.resolve(at or DEFAULT_BRANCH)
        _worktree.repair(self.git)  # every write finishes what a killed process left
        # Through the store's own compare-and-swap, which heals a stale lock.
        if not self.refs.cas(ref, None, sha, _REFLOG_WHO, self.now(), "branch: created"):
            raise StoreError(f"branch {name!r} exists")
        return sha

    def delete_branch(self, name: str) -> None:
        if name == DEFAULT_BRANCH:
            raise StoreError(f"refusing to delete {DEFAULT_BRANCH}")
        ref = ref_name(name)
        if self.refs.checked_out() == ref:
            raise StoreError(f"{name} is checked out")
        if not self.refs.exists(ref):
            raise RevisionNotFound(name)
        self.refs.remove(ref, None)

    def move_ref(self, ref: str, old: str | None, new: str | None) -> None:
        """Move ``ref`` (not main) from ``old`` to ``new`` (None: delete it) by
        compare-and-swap; :class:`ConflictError` when it is no longer at ``old``."""
        name = ref_name(ref)
        if name == _MAIN_REF:
            raise StoreError(f"{DEFAULT_BRANCH} moves only through commits and merges")
        if new is None:
            if old is not None:
                self.refs.remove(name, old)
            return
        if not self.refs.cas(name, old, new, _REFLOG_WHO, self.now(), "moved"):
            raise ConflictError(f"{ref} moved meanwhile; nothing changed", [])

    def merge(self, source: str, message: CommitMessage, *, author: Identity,
              into: str = DEFAULT_BRANCH, fast_forward: bool = True, sign: bool = False,
              committer: Identity | None = None) -> MergeResult:  # fmt: skip
        """Merge branch ``source`` into ``into``, rule file by rule file
        (:func:`.merge.merge_into`): a fast-forward when it can (and
        ``fast_forward``), else a merge commit, signed with the person's SSH key when
        ``sign``; the same path changed on both sides is a :class:`ConflictError`
        naming the rules, and nothing is written."""
        src = self.resolve(source)
        _worktree.repair(self.git)
        keeps = _worktree.keeps_worktree(self.git, into)
        record = self.writer.begin_sync(into) if keeps else None
        signer = None
        if sign:
            setup = self.guard.signing_setup()

            def signer(payload: bytes) -> bytes:
                return signing.sign(payload, setup)

        try:
            return merge_into(self, src, source, message, author, into, fast_forward, signer,
                              committer or author)  # fmt: skip
        finally:
            _worktree.end(record)

    # ------------------------------------------------------------------ erasure

    def rewrite_ref(self, ref: str, edit: Callable[[str, bytes], bytes | None],
                    under: str) -> tuple[str, str, set[bytes]]:  # fmt: skip
        """Rewrite every commit reachable from ``ref`` (not main: its history is what
        people audit) with each file under ``under`` replaced by ``edit(path, data)``
        (:func:`imlgit.git.rewrite.rewrite_ref`)."""
        if ref_name(ref) == _MAIN_REF:
            raise StoreError(f"{DEFAULT_BRANCH} is never rewritten")
        return _rewrite.rewrite_ref(self.git, ref, edit, under, _REFLOG_WHO)

    def expunge(self, objects: Iterable[bytes], ref: str) -> int:
        """Remove those of ``objects`` no ref reaches, and ``ref``'s reflog
        (:func:`imlgit.git.rewrite.expunge`); how many objects were removed."""
        return _rewrite.expunge(self.git, objects, ref)

    def see_objects(self, path: str) -> None:
        """Read objects from the object directory ``path`` too (a push's quarantine)."""
        self.git.see_objects(path)

    # ------------------------------------------------------------------ main's guard
    # store.guard (:class:`.guard.MainGuard`): every move of main passes its
    # check_move; uncovered / unapproved_history find what no approval covers;
    # settings_at / scan_allow / policy_at / signing_required_at read the committed
    # imlgit.toml that trusts main.
