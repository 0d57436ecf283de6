"""Proposals: the branches a person reviews like pull requests, approved or rejected.

A proposal is a branch ``proposals/NAME`` off ``main``; the learner commits there,
never on main while the policy is ``manual``. This module opens proposals
(:func:`start_proposal`, :func:`open_proposal`), reads them (:class:`Proposal`,
:func:`get_proposal`, :func:`list_proposals`, :func:`track_proposals`) and what
they change (:func:`change_kind`, :func:`stored_experiences`,
:func:`evidence_texts`).

A person approves a proposal, which merges it into main with a merge commit
carrying ``Imlgit-Approved-By`` (:func:`approve`, :func:`merge_approval`), or
rejects it, which removes the branch and commits a record of what was rejected
and why under ``reviews/rejected/`` on main (:func:`reject`). Learning reads those
records (:class:`Rejected`, :func:`rejected_rules`): a rejected rule is shown to
the learner and refused if proposed again unchanged.

Nobody approves their own change: imlgit's own identities (the learner, the
policy) are not persons, and a person who wrote a commit of a proposal cannot
approve it. What a policy decides and approves is :mod:`imlgit.policy`; the
review a person reads, :mod:`imlgit.review`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import approvals
from .commits import POLICY, CommitMessage, Identity, evidence_ids
from .conditions import when_to_yaml_obj
from .errors import (
    ImlgitError,
    RationaleRequired,
    ReviewError,
    RevisionNotFound,
    RuleError,
    SelfApprovalError,
    StoreError,
)
from .evidence import text_at
from .privacy import check_rationale
from .rules import EXPERIENCES_DIR, Rule, parse_rule, same_meaning
from .store import DEFAULT_BRANCH, CommitInfo, RuleChange, Store

__all__ = [
    "PREFIX",
    "REJECTED_REF",
    "REJECTIONS_DIR",
    "NET_KINDS",
    "Proposal",
    "Approval",
    "Rejected",
    "proposal_branch",
    "new_proposal_name",
    "start_proposal",
    "open_proposal",
    "get_proposal",
    "list_proposals",
    "track_proposals",
    "commits_between",
    "parse_or_none",
    "change_kind",
    "stored_experiences",
    "evidence_texts",
    "check_approver",
    "approve",
    "merge_approval",
    "reject",
    "rejected_rules",
]

PREFIX = "proposals/"
REJECTED_REF = "refs/imlgit/rejected/"
REJECTIONS_DIR = "reviews/rejected"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}\Z")  # \Z: "$" allows a final "\n"
_RESERVED_NAMES = {"stats"}


def proposal_branch(name: str) -> str:
    """``proposals/NAME`` for a valid proposal name (or a branch name given whole)."""
    if name.startswith(PREFIX):
        name = name[len(PREFIX) :]
    if (
        not _NAME.match(name)
        or ".." in name
        or name.endswith((".lock", "."))
        or name in _RESERVED_NAMES
    ):
        raise ReviewError(
            f"bad proposal name {name!r}: use 1-80 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit (and not {', '.join(sorted(_RESERVED_NAMES))})"
        )
    return PREFIX + name


def _short(branch: str) -> str:
    return branch[len(PREFIX) :] if branch.startswith(PREFIX) else branch


def new_proposal_name(store: Store, stem: str = "learn") -> str:
    """A fresh name: ``learn-YYYYMMDD-HHMMSS`` (with a suffix when taken)."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(store.now()))
    name, n = f"{stem}-{stamp}", 2
    taken = set(store.branches())
    while PREFIX + name in taken:
        name = f"{stem}-{stamp}-{n}"
        n += 1
    return name


def start_proposal(store: Store, name: str | None = None) -> str:
    """The branch of proposal ``name``, created off main when it does not exist yet.

    Without a name, a new proposal of its own: the name is made from the clock and
    the branch created atomically, with the next suffix when another learner created
    it first, so two learners started in the same second never share one."""
    return open_proposal(store, name)[0]


def open_proposal(store: Store, name: str | None = None, stem: str = "learn") -> tuple[str, bool]:
    """(branch, whether this call created it): see :func:`start_proposal`."""
    if name is not None:
        branch = proposal_branch(name)
        if store.head(branch) is not None:
            return branch, False
        try:
            store.create_branch(branch, DEFAULT_BRANCH)
            return branch, True
        except StoreError:
            if store.head(branch) is not None:  # another learner opened it meanwhile
                return branch, False
            raise
    for _ in range(1000):
        branch = proposal_branch(new_proposal_name(store, stem))
        try:
            store.create_branch(branch, DEFAULT_BRANCH)
            return branch, True
        except StoreError:
            if store.head(branch) is None:
                raise  # not a name taken meanwhile: a real failure
    raise ReviewError("could not find a free proposal name")


# ---------------------------------------------------------------------- proposals


@dataclass(frozen=True)
class Proposal:
    """An open proposal: the commits on its branch that main does not have."""

    name: str
    head: str
    base: str | None  # where it forked from main
    main: str  # main's head when read
    commits: tuple[CommitInfo, ...]  # oldest first
    changes: tuple[RuleChange, ...]  # the rules it changes (base -> head)
    paths: tuple[str, ...] = ()  # every path it changes, files of any kind (base -> head)

    @property
    def branch(self) -> str:
        return PREFIX + self.name

    @property
    def rules(self) -> list[str]:
        return [c.rule_id for c in self.changes]

    @property
    def ops(self) -> dict[str, int]:
        return dict(Counter(c.trailer("Imlgit-Op") or "other" for c in self.commits))

    @property
    def evidence(self) -> int:
        """Distinct experiences cited by its commits (``(+N more)`` counted)."""
        ids: set[str] = set()
        more = 0
        for c in self.commits:
            if c.trailer("Imlgit-Op") == "experiences":
                continue
            named, extra = evidence_ids(c.trailer("Imlgit-Evidence"))
            ids.update(named)
            more += extra
        return len(ids) + more

    @property
    def behind(self) -> bool:
        """Main has moved since the proposal forked."""
        return self.base != self.main

    @property
    def authors(self) -> list[str]:
        return sorted({c.author for c in self.commits})

    @property
    def person_only(self) -> list[str]:
        """The paths it changes outside the rules and the evidence (the configuration
        first): no policy approves those, only a person."""
        return approvals.person_only_paths(self.paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "branch": self.branch,
            "head": self.head,
            "base": self.base,
            "main": self.main,
            "behind_main": self.behind,
            "commits": len(self.commits),
            "rules": self.rules,
            "ops": self.ops,
            "evidence": self.evidence,
            "authors": self.authors,
            "paths": list(self.paths),
            "person_only": self.person_only,
        }


def commits_between(store: Store, head: str, exclude: str) -> list[CommitInfo]:
    out = [store.commit_info(sha) for sha in store.objects.commits_between(head, exclude)]
    out.reverse()
    return out


def get_proposal(
    store: Store, name: str, *, head: str | None = None, main: str | None = None
) -> Proposal:
    """Proposal ``name``; ``head`` and ``main`` override where its branch and main
    are (a forge's CI has the proposal checked out and main as ``origin/main``)."""
    branch = proposal_branch(name)
    head = store.resolve(head) if head else store.head(branch)
    if head is None:
        raise ReviewError(f"no proposal {_short(branch)!r} (see `imlgit proposals`)")
    main = store.resolve(main) if main else store.head(DEFAULT_BRANCH)
    if main is None:
        raise RevisionNotFound(DEFAULT_BRANCH)
    base = store.objects.merge_base(head, main)
    commits = commits_between(store, head, main)
    changes = store.diff(base, head) if base else store.diff(head, head)
    paths = store.paths_between(base, head) if base else []
    return Proposal(_short(branch), head, base, main, tuple(commits), tuple(changes),
                    tuple(paths))  # fmt: skip


def list_proposals(store: Store) -> list[Proposal]:
    """Open proposals: ``proposals/*`` branches with commits main does not have."""
    found = [get_proposal(store, b) for b in store.branches() if b.startswith(PREFIX)]
    return [p for p in found if p.commits]


def track_proposals(store: Store, remote_heads: Mapping[str, str]) -> list[str]:
    """Open local ``proposals/*`` branches for a remote's open proposals (after a fetch).

    ``remote_heads`` is {branch: sha} as :func:`imlgit.sync.fetch` returns it. A
    proposal main already has (approved) or that has a rejection record is left
    out; a local branch behind the remote's is fast-forwarded, one ahead or
    diverged is left alone. Returns the names opened or moved.
    """
    main = store.head(DEFAULT_BRANCH)
    rejected = {
        p.rsplit("/", 1)[-1].removesuffix(".json")
        for p, _ in store.files_under(REJECTIONS_DIR, DEFAULT_BRANCH)
    }
    out = []
    for branch, sha in sorted(remote_heads.items()):
        if not branch.startswith(PREFIX):
            continue
        try:
            proposal_branch(branch)
        except ReviewError:
            continue
        name = _short(branch)
        if name in rejected or (main is not None and store.is_ancestor(sha, main)):
            continue
        ref = ("refs/heads/" + branch).encode()
        local = store.head(branch)
        if local is None or (local != sha and store.is_ancestor(local, sha)):
            if store.refs.set(ref, local, sha):
                out.append(name)
    return out


# ---------------------------------------------------------------------- what a proposal changes


def parse_or_none(text: str | None, path: str) -> Rule | None:
    """The rule a file at ``path`` holds, or None: no file, or not one that parses."""
    if text is None:
        return None
    try:
        return parse_rule(text, path=path)
    except RuleError:
        return None


NET_KINDS = ("added", "changed", "retired", "restored", "removed", "figures")


def change_kind(before: Rule | None, after: Rule | None) -> str:
    """What a rule's change from ``before`` to ``after`` is, one of :data:`NET_KINDS`."""
    if after is None:
        return "removed"
    if before is None:
        return "added" if after.status == "active" else "retired"
    if before.status == "active" and after.status != "active":
        return "retired"
    if before.status != "active" and after.status == "active":
        return "restored"
    if not same_meaning(before, after):
        return "changed"
    return "figures"


def stored_experiences(store: Store, p: Proposal) -> int:
    """Experiences the proposal stores: valid experience lines (JSON objects with an
    id) of the evidence files it adds or grows. What is not an experience does not
    count, so junk cannot raise the gated policy's limit."""
    if p.base is None:
        return 0
    n = 0
    old = dict(store.files_under(EXPERIENCES_DIR, p.base))
    for path, blob in store.files_under(EXPERIENCES_DIR, p.head):
        if old.get(path) == blob:
            continue
        before = old.get(path)
        was = _experience_lines(store, before) if before else 0
        n += max(0, _experience_lines(store, blob) - was)
    return n


def evidence_texts(store: Store, p: Proposal) -> list[tuple[str, str]]:
    """(path, experiences) of each evidence file the proposal adds or changes, a
    pointer resolved on the evidence ref (:mod:`imlgit.evidence`)."""
    if p.base is None:
        return []
    old = dict(store.files_under(EXPERIENCES_DIR, p.base))
    out = []
    for path, blob in store.files_under(EXPERIENCES_DIR, p.head):
        if old.get(path) != blob and (got := text_at(store, path, blob)) is not None:
            out.append((path, got[1]))
    return out


def _experience_lines(store: Store, blob: str) -> int:
    """Lines of a stored evidence file that are experiences (or their hashes)."""
    count = 0
    for line in store.read_blob(blob).split(b"\n"):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            continue
        count += isinstance(item, dict) and isinstance(item.get("id"), str)
    return count


# ---------------------------------------------------------------------- approve / reject


def check_approver(approver: Identity, p: Proposal) -> None:
    """Refuse an approval by imlgit itself or by someone who wrote or committed part
    of ``p``, identities compared as identities (:func:`imlgit.approvals.identity_key`)."""
    approvals.check_approver(approver, p.commits, p.name)


@dataclass(frozen=True)
class Approval:
    name: str
    sha: str  # main after the approval
    merged: bool  # False when there was nothing to merge
    rules: tuple[str, ...]
    signature: str | None = None  # what checking its signature said, when it is signed

    def to_dict(self) -> dict[str, Any]:
        return {
            "proposal": self.name,
            "head": self.sha,
            "merged": self.merged,
            "rules": list(self.rules),
            "signature": self.signature,
        }


def merge_approval(store: Store, p: Proposal, by: Identity, why: str, approved_by: str) -> Approval:
    """Merge ``p`` into main as approved by ``by`` (trailer ``approved_by``), the branch
    removed. Whether ``by`` may approve is the caller's to check: :func:`approve`
    for a person, :func:`imlgit.policy.approve_by_policy` for the policy."""
    summary = f"proposal {p.name} ({len(p.changes)} rule{'s' if len(p.changes) != 1 else ''})"
    msg = CommitMessage.make(
        "approve",
        summary,
        why,
        rules=p.rules,
        trailers=[("Imlgit-Proposal", p.name), ("Imlgit-Approved-By", approved_by)],
    )
    # signed where main says approvals must be: a person's with their key; the
    # policy's by the person who ran it (its committer), so none can be forged
    sign = store.guard.signing_required_at(p.main)
    committer = by
    if sign and by == POLICY:
        from .config import person_identity

        committer = person_identity(repo_path=str(store.gitdir))
    result = store.merge(p.branch, msg, author=by, committer=committer, fast_forward=False,
                         sign=sign)  # fmt: skip
    # The branch goes only once main has the proposal's commits.
    store.delete_branch(p.branch)
    signature = None
    if sign and not result.fast_forward:
        signature = store.guard.approval_signature(store.commit_info(result.sha)).detail
    return Approval(p.name, result.sha, bool(result.changed), tuple(p.rules), signature)


def approve(store: Store, name: str, *, approver: Identity, why: str = "") -> Approval:
    """A person approves proposal ``name``: merged into main, the branch removed."""
    p = get_proposal(store, name)
    check_approver(approver, p)
    if why.strip():
        check_rationale(why, store.guard.scan_allow(), what="the approval's rationale")
    why = why.strip() or (
        f"Reviewed and approved by {approver.name}: {len(p.commits)} commits changing "
        f"{', '.join(p.rules) or 'no rules'}."
    )
    return merge_approval(store, p, approver, why, str(approver))


def _record(p: Proposal, person: Identity, why: str) -> dict[str, Any]:
    changes = []
    for ch in p.changes:
        old = parse_or_none(ch.old, ch.path)
        new = parse_or_none(ch.new, ch.path)
        shown = new or old
        if shown is None:
            continue
        entry: dict[str, Any] = {
            "rule": ch.rule_id,
            "kind": ch.kind,
            "scope": shown.scope,
            "statement": shown.statement,
            "retired": new is None or new.status == "retired",
        }
        if shown.when is not None:
            entry["when"] = when_to_yaml_obj(shown.when)
            entry["then"] = shown.then
        changes.append(entry)
    return {
        "proposal": p.name,
        "head": p.head,
        "rejected_by": str(person),
        "why": why,
        "changes": changes,
    }


def reject(store: Store, name: str, *, person: Identity, why: str) -> str:
    """Reject proposal ``name``: a record on main, the branch removed; returns main's head.

    The rejected commits stay reachable from ``refs/imlgit/rejected/NAME`` so that
    ``stats`` can replay them; the record under ``reviews/rejected/`` travels with
    the memory (push, pull) and is what later learning is shown.
    """
    if not why or not why.strip():
        raise RationaleRequired("say why the proposal is rejected (--why)")
    check_rationale(why, store.guard.scan_allow(), what="the rejection's rationale")
    p = get_proposal(store, name)
    if approvals.is_imlgit(person):
        raise SelfApprovalError(f"{person} is imlgit's own identity; a person rejects")
    record = _record(p, person, why.strip())
    path = f"{REJECTIONS_DIR}/{p.name}.json"
    if store.read_file(path, DEFAULT_BRANCH) is not None:
        path = f"{REJECTIONS_DIR}/{p.name}-{p.head[:8]}.json"
    msg = CommitMessage.make(
        "reject",
        f"proposal {p.name}",
        why.strip(),
        rules=p.rules,
        trailers=[("Imlgit-Proposal", p.name), ("Imlgit-Rejected-By", str(person))],
    )
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    # None: main holds this very record already (the same rejection, recorded again)
    sha = store.commit({path: data}, msg, author=person, branch=DEFAULT_BRANCH)
    sha = sha or store.resolve(DEFAULT_BRANCH)
    store.refs.force((REJECTED_REF + p.name).encode(), p.head)
    store.delete_branch(p.branch)
    return sha


# ---------------------------------------------------------------------- rejections


@dataclass(frozen=True)
class Rejected:
    """A rule change people rejected, as learning reads it back."""

    proposal: str
    why: str
    rule_id: str
    scope: str
    statement: str
    retired: bool
    when: tuple[Any, ...] | None = None
    then: str | None = None

    def describe(self) -> str:
        verb = "retiring" if self.retired else "the rule"
        return f"{verb} {self.rule_id}: {self.statement} (rejected: {self.why})"


def rejected_rules(store: Store, rev: str | None = None) -> list[Rejected]:
    """Every rejected rule change recorded at ``rev`` (default main)."""
    from .conditions import parse_when

    out: list[Rejected] = []
    for path, blob in store.files_under(REJECTIONS_DIR, rev or DEFAULT_BRANCH):
        if not path.endswith(".json"):
            continue
        try:
            record = json.loads(store.read_blob(blob).decode("utf-8"))
            for ch in record.get("changes", ()):
                when = None
                if ch.get("when") is not None:
                    when = tuple(parse_when(ch["when"], path=path))
                out.append(
                    Rejected(
                        proposal=str(record.get("proposal", path)),
                        why=str(record.get("why", "")),
                        rule_id=str(ch["rule"]),
                        scope=str(ch.get("scope", "")),
                        statement=str(ch.get("statement", "")),
                        retired=bool(ch.get("retired")),
                        when=when,
                        then=ch.get("then"),
                    )
                )
        except (ValueError, KeyError, TypeError, ImlgitError) as exc:
            raise ReviewError(f"{path}: not a rejection record imlgit can read: {exc}") from None
    return out
