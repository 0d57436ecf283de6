"""The guard of main: nothing imlgit wrote reaches it without an approval that counts.

Every move of main passes :meth:`MainGuard.check_move`, whatever the caller
(a commit, a merge, a fast-forward): main moves only forward, and the commits
it takes that imlgit wrote must be covered by an approval record
(:mod:`imlgit.approvals`) which, where imlgit.toml on main asks for it, is
signed by a key the allowed signers on main list for the approver
(:mod:`imlgit.git.signing`). What trusts main (the policy, signed approvals,
the secret scan's allow-list) reads imlgit.toml as committed, never the
environment.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress

from .. import approvals
from ..commits import POLICY, parse_identity
from ..config import Settings, load_settings
from ..errors import ImlgitError, UnapprovedChange
from ..git import signing
from ..git.objects import CommitInfo, hexsha, info_of
from ..git.repo import GitRepo

__all__ = ["MainGuard", "CONFIG_FILE", "MAIN"]

CONFIG_FILE = "imlgit.toml"
MAIN = "main"


class MainGuard:
    """What main may take, judged from its history and its committed settings."""

    def __init__(self, git: GitRepo) -> None:
        self.git = git
        self.objects = git.objects
        self._settings_at: dict[bytes | None, Settings | None] = {}  # imlgit.toml blob -> read
        self._signatures: dict[tuple[str, str, bytes | None], signing.Verified] = {}

    # ------------------------------------------------------------------ settings

    def settings_in(self, tree: bytes) -> Settings | None:
        """imlgit.toml of ``tree``, the committed file alone; None when unreadable."""
        blob = self.objects.file_blob(tree, CONFIG_FILE)
        if blob not in self._settings_at:
            result: Settings | None
            try:
                data = self.objects.read_blob(hexsha(blob)) if blob is not None else None
                result = load_settings(data.decode("utf-8") if data is not None else None,
                                       env={}, where=CONFIG_FILE)  # fmt: skip
            except (ImlgitError, UnicodeDecodeError):
                result = None
            if len(self._settings_at) >= 256:
                self._settings_at.clear()
            self._settings_at[blob] = result
        return self._settings_at[blob]

    def requires_signing(self, tree: bytes) -> bool:
        settings = self.settings_in(tree)
        return settings is None or bool(settings.get("review", "require_signed_approvals"))

    def policy_in(self, tree: bytes) -> str:
        settings = self.settings_in(tree)
        return "manual" if settings is None else str(settings.get("review", "policy"))

    def _at(self, rev: str) -> bytes:
        return self._tree(self.git.refs.resolve(rev))

    def settings_at(self, rev: str) -> Settings | None:
        """The settings imlgit.toml at ``rev`` says, the committed file alone (no
        environment, no flag); None when it cannot be read. What trusts main (the
        policy, signed approvals, the secret scan's allow-list) reads this."""
        return self.settings_in(self._at(rev))

    def scan_allow(self, rev: str = "main") -> tuple[str, ...]:  # main: DEFAULT_BRANCH
        """``[scan] allow`` as imlgit.toml at ``rev`` says (nothing when unreadable)."""
        settings = self.settings_at(rev)
        return tuple(settings.get("scan", "allow")) if settings is not None else ()

    def policy_at(self, rev: str) -> str:
        """``[review] policy`` in imlgit.toml at ``rev``; "manual" when it cannot be
        read, since what is unreadable grants nothing."""
        return self.policy_in(self._at(rev))

    def signing_required_at(self, rev: str) -> bool:
        """Whether imlgit.toml at ``rev`` makes a person's approval count only when
        signed; True when it cannot be read (what is unreadable grants nothing)."""
        return self.requires_signing(self._at(rev))

    def _signers_path(self, tree: bytes) -> str:
        settings = self.settings_in(tree)
        return str(settings.get("review", "allowed_signers")) if settings else "allowed_signers"

    def _tree(self, sha: str) -> bytes:
        return self.objects.commit(sha).tree

    # ------------------------------------------------------------------ moves of main

    def check_move(self, old: str | None, new: str) -> None:
        """Refuse to move main from ``old`` to ``new`` when that brings commits imlgit
        wrote which no approval record covers."""
        if old is not None and not self.objects.is_ancestor(old, new):
            raise UnapprovedChange(
                f"{MAIN} moves only forward: {new[:12]} does not descend from "
                f"{old[:12]}, where it is now (its history is never rewritten; to undo a "
                "change: imlgit rollback)"
            )
        found = self.uncovered(new, old)
        if found:
            shown = "; ".join(str(u) for u in found[:3])
            more = f" and {len(found) - 3} more" if len(found) > 3 else ""
            raise UnapprovedChange(
                f"{MAIN} takes imlgit's commits only inside an approval: {shown}"
                f"{more} (approve the proposal: imlgit approve NAME)",
                tuple(found),
            )

    def uncovered(self, new: str, old: str | None = None) -> list[approvals.Uncovered]:
        """The commits imlgit wrote, reachable from ``new`` and not from ``old`` (all
        of them without ``old``), that no valid approval among those commits covers."""
        trees: dict[str, bytes] = {}
        commits: list[CommitInfo] = []
        for c in self.objects.walk([new], [old] if old else []):
            info = info_of(c)  # each commit read once, by the walk
            trees[info.sha] = c.tree
            commits.append(info)

        def tree_of(sha: str) -> bytes:
            found = trees.get(sha)
            return found if found is not None else self._tree(sha)

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
            return [info_of(c) for c in self.objects.walk(a.parents[1:], a.parents[:1])]

        def changed(a: CommitInfo) -> list[str]:
            return sorted(self.objects.diff_trees(tree_of(a.parents[0]), tree_of(a.sha)))

        def policy_before(a: CommitInfo) -> str:
            found = [self.policy_in(t) for t in parents_of(a) + [tree_of(f) for f in floor]]
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
        mark = self.git.derived_dir / "approvals-clean"
        try:
            clean: str | None = mark.read_text().strip() or None
        except OSError:
            clean = None
        rewritten: list[approvals.Uncovered] = []
        if clean is not None and not (self.objects.has(clean)
                                      and self.objects.is_ancestor(clean, head)):  # fmt: skip
            rewritten.append(approvals.Uncovered(
                clean, "", f"{MAIN} was rewritten: {clean[:12]}, its head when it was "
                "last found clean, is no longer in its history (where that was intended, delete "
                f"{mark} to check from here on)"))  # fmt: skip
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
        strict = [t for t in list(parents) + [self._tree(f) for f in floor]
                  if self.requires_signing(t)]  # fmt: skip
        if not strict:
            return None
        against = list(parents) or [self._tree(f) for f in floor]  # a root: main's
        touched: list[str] = []
        lookup = self.objects.lookup
        for base in against:
            for path in (CONFIG_FILE, self._signers_path(base), self._signers_path(tree)):
                if path not in touched and lookup(base, path) != lookup(tree, path):
                    touched.append(path)
        if not touched:
            return None
        result = self._verify(c, c.committer, floor)
        if result.ok:
            return None
        return (f"changes {' and '.join(touched)} while {MAIN} requires signed "
                f"approvals, and is {result.detail}")  # fmt: skip

    # ------------------------------------------------------------------ signatures

    def signing_setup(self) -> signing.SigningSetup:
        """git's signing settings for this repository (its config, the user's)."""
        return signing.signing_setup(self.git.config_stack())

    def approval_signature(self, a: CommitInfo) -> signing.Verified:
        """Whether approval ``a`` is signed by a key the allowed signers on main before
        it list for its approver: its author, or for the policy's approvals its
        committer (the person who ran the policy)."""
        return self._verify(a, self._signer_of(a), [])

    @staticmethod
    def _signer_of(a: CommitInfo) -> str:
        by_policy = approvals.identity_key(a.author) == approvals.identity_key(POLICY)
        return a.committer if by_policy else a.author

    def _verify(self, c: CommitInfo, who: str, floor: Sequence[str]) -> signing.Verified:
        """Whether commit ``c`` is signed by a key listed for ``who``'s address in the
        allowed signers of its first parent or of ``floor`` (main before the move),
        valid when it was made: its time, or its parents' or main's before the move
        when it claims to be older (so a backdated signature does not revive a key
        past its ``valid-before``)."""
        obj = self.objects.commit(c.sha)
        payload, signature = signing.split_signature(obj.as_raw_string())
        when = max([obj.commit_time] + [self.objects.commit(p).commit_time
                                        for p in list(c.parents) + list(floor)])  # fmt: skip
        try:
            email = parse_identity(who).email
        except ImlgitError:
            email = ""
        lists: list[tuple[str, bytes | None]] = []
        for rev in list(c.parents[:1]) + list(floor):
            base = self._tree(rev)
            where = self._signers_path(base)
            blob = self.objects.file_blob(base, where)
            if (where, blob) not in lists:
                lists.append((where, blob))
        result = signing.Verified(False, "not signed: no allowed signers to check it against")
        for where, blob in lists:
            key = (c.sha, who, blob)
            if key not in self._signatures:
                allowed = self.objects.read_blob(hexsha(blob)) if blob is not None else None
                self._signatures[key] = signing.verify(
                    payload, signature, allowed, email, when,
                    program=self.signing_setup().program, where=where,
                )  # fmt: skip
            result = self._signatures[key]
            if result.ok:
                return result
        return result

    def _signature_problem(self, a: CommitInfo, floor: Sequence[str]) -> str | None:
        trees = [self._tree(p) for p in list(a.parents) + list(floor)]
        if not any(self.requires_signing(t) for t in trees):
            return None
        result = self._verify(a, self._signer_of(a), floor)
        return None if result.ok else (
            f"imlgit.toml on {MAIN} requires signed approvals, and this one is "
            + result.detail
        )
