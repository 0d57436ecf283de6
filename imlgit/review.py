"""Memory changes reviewed like pull requests: proposals, approval, rejection, a policy.

A proposal is a branch ``proposals/NAME`` off ``main``; the learner commits there,
never on main while the policy is ``manual``. A person reviews it (each commit's
rule diff, rationale and evidence, the rule's recent history, accuracy on an
evaluation set before and after) and approves it, which merges it into main with
a merge commit carrying ``Imlgit-Approved-By``, or rejects it, which removes the
branch and commits a record of what was rejected and why under
``reviews/rejected/`` on main. Learning reads those records: a rejected rule is
shown to the learner and refused if proposed again unchanged.

Nobody approves their own change: imlgit's own identities (the learner, the
policy) are not persons, and a person who wrote a commit of a proposal cannot
approve it. The policy ``gated`` approves only when every check holds; ``auto``
approves everything; both approve as ``imlgit policy``, never as the learner.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import approvals
from .commits import POLICY, CommitMessage, Identity, evidence_ids
from .conditions import when_to_yaml_obj
from .errors import (
    RationaleRequired,
    ReviewError,
    RevisionNotFound,
    RuleError,
    SelfApprovalError,
    SigningError,
    StoreError,
    UnapprovedChange,
)
from .evidence import is_pointer, text_at
from .experience import Experience, parse_jsonl_text
from .infer import Evaluation, evaluate
from .privacy import check_rationale, placeholders_in
from .proposals import REJECTIONS_DIR
from .rules import EXPERIENCES_DIR, Rule, parse_rule, same_meaning
from .scan import Finding, scan_text
from .store import DEFAULT_BRANCH, CommitInfo, RuleChange, Store

__all__ = [
    "PREFIX",
    "POLICY",
    "Gate",
    "Check",
    "Decision",
    "Proposal",
    "ReviewEntry",
    "Review",
    "proposal_branch",
    "new_proposal_name",
    "start_proposal",
    "list_proposals",
    "track_proposals",
    "get_proposal",
    "review",
    "decide",
    "approve",
    "approve_by_policy",
    "conclude",
    "reject",
    "stats",
    "check_approver",
]

PREFIX = "proposals/"
_REJECTED_REF = "refs/imlgit/rejected/"
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


def _commits_between(store: Store, head: str, exclude: str) -> list[CommitInfo]:
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
    commits = _commits_between(store, head, main)
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


# ---------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Gate:
    """The conditions of the ``gated`` policy (``[review]`` in imlgit.toml)."""

    max_rules: int = 5
    protect_support: int = 10
    eval_set: str | None = None
    allow: tuple[str, ...] = ()
    max_rules_per_100: int = 10  # more rules may change when more evidence backs them
    min_support: int = 3  # each rule added or changed: at least this much evidence

    @classmethod
    def from_settings(cls, review: Mapping[str, Any], scan: Mapping[str, Any]) -> Gate:
        return cls(
            max_rules_per_100=int(review.get("max_rules_per_100", 10)),
            min_support=int(review.get("min_support", 3)),
            max_rules=int(review.get("max_rules", 5)),
            protect_support=int(review.get("protect_support", 10)),
            eval_set=review.get("eval_set") or None,
            allow=tuple(scan.get("allow") or ()),
        )


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Decision:
    """What a policy decides on a proposal, check by check."""

    policy: str
    checks: tuple[Check, ...]
    person_only: tuple[str, ...] = ()  # paths no policy approves (the configuration, ...)
    note: str = ""  # why the policy deciding is not the one asked for

    @property
    def gated_ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.person_only

    @property
    def approve(self) -> bool:
        if self.person_only:
            return False
        return self.policy == "auto" or (self.policy == "gated" and self.gated_ok)

    def summary(self) -> str:
        said = self._summary()
        return f"{said}; {self.note}" if self.note else said

    def _summary(self) -> str:
        failed = [c for c in self.checks if not c.ok]
        if self.policy == "auto":
            if self.person_only:
                return (f"auto: left for a person (it changes {', '.join(self.person_only[:3])}, "
                        "which only a person approves)")  # fmt: skip
            return "auto: approved without checks"
        why = "; ".join(f"{c.name}: {c.detail}" for c in failed) or "every check holds"
        if self.policy == "gated":
            return f"gated: {'approved' if not failed else 'left for a person'} ({why})"
        # manual: a person decides; the gated checks are shown as advice, named as such
        gated = "gated would approve" if not failed else "gated would leave it for a person"
        return f"{self.policy}: left for a person ({gated}: {why})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "approve": self.approve,
            "gated": self.gated_ok,
            "person_only": list(self.person_only),
            "checks": [c.to_dict() for c in self.checks],
        }


def _parse_or_none(text: str | None, path: str) -> Rule | None:
    if text is None:
        return None
    try:
        return parse_rule(text, path=path)
    except RuleError:
        return None


def _eval_experiences(store: Store, gate: Gate, main: str) -> list[Experience] | None:
    if not gate.eval_set:
        return None
    data = store.read_file(gate.eval_set, main)
    if data is None:
        raise ReviewError(
            f"[review] eval_set = {gate.eval_set!r}: no such file on {DEFAULT_BRANCH} "
            "(commit the evaluation set to the memory repo)"
        )
    return parse_jsonl_text(data.decode("utf-8"), path=gate.eval_set).experiences


def _rules_after(store: Store, p: Proposal) -> dict[str, Rule]:
    """Main's rules with the proposal's rule changes applied (what approving gives)."""
    rules = dict(store.read_rules(p.main))
    for ch in p.changes:
        new = _parse_or_none(ch.new, ch.path)
        if new is None:
            rules.pop(ch.rule_id, None)
        else:
            rules[ch.rule_id] = new
    return rules


def _active(rules: Mapping[str, Rule]) -> list[Rule]:
    return [r for r in rules.values() if r.status == "active"]


def accuracy(store: Store, p: Proposal, gate: Gate) -> tuple[Evaluation, Evaluation] | None:
    """Checked-inference accuracy on the evaluation set: main now, and after approval."""
    exps = _eval_experiences(store, gate, p.main)
    if exps is None:
        return None
    before = evaluate(_active(store.read_rules(p.main)), exps)
    after = evaluate(_active(_rules_after(store, p)), exps)
    return before, after


def scan_changes(store: Store, p: Proposal, gate: Gate) -> list[Finding]:
    """Secrets and personal data in what approving ``p`` would bring: every file it
    adds or changes (rules, the evidence, the configuration, anything), and every
    commit's message."""
    out: list[Finding] = []
    for path in p.paths:
        data = store.read_file(path, p.head)
        if data is not None:
            out.extend(scan_text(data.decode("utf-8", "replace"), path=path, allow=gate.allow))
    for path, text in evidence_texts(store, p):
        data = store.read_file(path, p.head) or b""
        if is_pointer(data.decode("utf-8", "replace")):  # its experiences, on the evidence ref
            out.extend(scan_text(text, path=f"{path} (evidence)", allow=gate.allow))
    for c in p.commits:
        text = "\n".join([c.subject, c.rationale, *(f"{k}: {v}" for k, v in c.trailers)])
        out.extend(scan_text(text, path=f"commit {c.sha[:12]}", allow=gate.allow))
    return out


def rule_limit(gate: Gate, experiences: int) -> int:
    """The changes of meaning ``gated`` lets one proposal make: ``max_rules``, or
    ``max_rules_per_100`` for every 100 experiences it learned from when that is
    more (a first run over 200 experiences may add 20 rules; a hand-made proposal
    that stores no experience, 5)."""
    return max(gate.max_rules, -(-gate.max_rules_per_100 * experiences // 100))


def rules_changed_check(store: Store, p: Proposal, gate: Gate) -> Check:
    """Changes of meaning (rules added, changed, retired, restored, removed) against
    :func:`rule_limit`; a rule whose figures alone moved does not count."""
    meaning = figures = 0
    for ch in p.changes:
        if _kind(_parse_or_none(ch.old, ch.path), _parse_or_none(ch.new, ch.path)) == "figures":
            figures += 1
        else:
            meaning += 1
    stored = stored_experiences(store, p)
    limit = rule_limit(gate, stored)
    how = f"at most {limit}"
    if limit > gate.max_rules:
        how += f": {gate.max_rules_per_100} per 100 of the {stored} experiences it learned from"
    more = f"; figures only: {figures}" if figures else ""
    return Check("rules changed", meaning <= limit, f"{meaning} ({how}){more}")


def recount(store: Store, p: Proposal) -> dict[str, int]:
    """Support of the checkable rules active once ``p`` is approved, counted by code
    against the experiences stored at its head (what the rule files say is not
    trusted: a proposal branch may be written by anyone who can push to it). The
    same count as learning's (:mod:`imlgit.counting`)."""
    from .counting import Tally
    from .hygiene import stored_experiences as experiences_at
    from .verify import scope_ranked

    rules = _rules_after(store, p)
    stored = experiences_at(store, p.head, skip_invalid=True)
    out: dict[str, int] = {}
    tally = Tally()
    for scope in sorted({r.scope for r in rules.values() if r.checkable}):
        ids, ranked = scope_ranked(rules, scope)
        if not ids:
            continue
        counted = tally.view([e for e in stored if e.scope == scope])
        for rid, (right, _wrong) in zip(ids, counted.counts(ranked), strict=True):
            out[rid] = right
    return out


def evidence_check(store: Store, p: Proposal, gate: Gate) -> Check:
    """Each rule the proposal adds, changes or restores (active after it) has support
    of at least ``min_support``: for a checkable rule, recounted by code against the
    stored experiences (:func:`recount`), whatever its file says; for a plain one,
    the agreements the learner recorded in later batches. The experiences a plain
    rule cites when it is written do not count (code cannot hold a plain statement
    against them), so a new plain rule waits for a person."""
    thin = []
    counted: dict[str, int] | None = None
    for ch in p.changes:
        old, new = _parse_or_none(ch.old, ch.path), _parse_or_none(ch.new, ch.path)
        if new is None or new.status != "active" or _kind(old, new) == "figures":
            continue
        support = new.support
        if new.checkable:
            counted = recount(store, p) if counted is None else counted
            support = counted.get(new.id, 0)
        if support < gate.min_support:
            plain = "" if new.checkable else ", plain"
            claimed = f"; its file says {new.support}" if new.support != support else ""
            thin.append(f"{new.id} (support {support}{plain}{claimed})")
    detail = (", ".join(thin[:5]) + (f" and {len(thin) - 5} more" if len(thin) > 5 else "")
              if thin else f"every rule added or changed has support of {gate.min_support} "
              "or more")  # fmt: skip
    return Check("evidence", not thin, detail)


def decide(
    store: Store,
    p: Proposal,
    gate: Gate,
    policy: str,
    *,
    measured: tuple[Evaluation, Evaluation] | None | bool = True,
) -> Decision:
    """Every check of the ``gated`` policy on ``p``; the policy's verdict.

    ``measured=True`` runs the evaluation set; pass a measured pair to reuse it.
    """
    checks = []
    outside = p.person_only
    checks.append(Check(
        "files only a person approves", not outside,
        ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        if outside else "none: rules and evidence only",
    ))  # fmt: skip
    checks.append(rules_changed_check(store, p, gate))
    checks.append(evidence_check(store, p, gate))
    heavy = []
    for ch in p.changes:
        old = _parse_or_none(ch.old, ch.path)
        new = _parse_or_none(ch.new, ch.path)
        retired = new is None or new.status == "retired"
        if old is not None and old.status == "active" and retired:
            if old.support >= gate.protect_support:
                heavy.append(f"{old.id} (support {old.support})")
    checks.append(
        Check(
            "retires well-supported rules",
            not heavy,
            ", ".join(heavy) or f"none with support of {gate.protect_support} or more",
        )
    )
    pair = accuracy(store, p, gate) if measured is True else measured or None
    if pair is None:
        why = (
            f"{gate.eval_set} is not on main at {p.main[:12]}: not checked"
            if gate.eval_set
            else "no eval_set in imlgit.toml: the policy does not check accuracy"
        )
        checks.append(Check("accuracy", True, why))
    else:
        before, after = pair
        checks.append(
            Check(
                "accuracy",
                after.correct >= before.correct,
                f"{before.accuracy:.1%} -> {after.accuracy:.1%} on {before.total} "
                f"experiences of {gate.eval_set}",
            )
        )
    found = scan_changes(store, p, gate)
    checks.append(
        Check(
            "secret scan",
            not found,
            "; ".join(str(f) for f in found[:5]) or "clean",
        )
    )
    return Decision(policy, tuple(checks), tuple(outside))


# ---------------------------------------------------------------------- review


@dataclass(frozen=True)
class ReviewEntry:
    commit: CommitInfo
    changes: tuple[RuleChange, ...]
    history: Mapping[str, tuple[CommitInfo, ...]]  # rule -> its last commits on main

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit.to_dict(),
            "changes": [c.to_dict() for c in self.changes],
            "history": {
                rid: [{"sha": h.sha, "subject": h.subject} for h in hs]
                for rid, hs in self.history.items()
            },
        }


@dataclass(frozen=True)
class NetChange:
    """One rule, as approving the proposal would change it (main -> proposal head).

    ``kind``: added, changed (statement, form, title or scope), retired, restored,
    removed (its file deleted), or figures (only support and contradictions moved)."""

    rule_id: str
    kind: str
    path: str
    before: Rule | None
    after: Rule | None
    commits: int  # the proposal's commits that touched it

    def to_dict(self) -> dict[str, Any]:
        """Before and after in the shape of ``imlgit rule show --json`` (None: none)."""
        return {
            "rule": self.rule_id,
            "kind": self.kind,
            "path": self.path,
            "commits": self.commits,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
        }


NET_KINDS = ("added", "changed", "retired", "restored", "removed", "figures")


def _kind(before: Rule | None, after: Rule | None) -> str:
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


def net_changes(store: Store, p: Proposal) -> tuple[NetChange, ...]:
    """What approving ``p`` changes, a rule each: changes of meaning first (added,
    changed, retired, restored, removed), then the rules whose figures alone moved."""
    touched: Counter[str] = Counter()
    for c in p.commits:
        touched.update(c.message.rules)
    out = []
    for ch in p.changes:
        before, after = _parse_or_none(ch.old, ch.path), _parse_or_none(ch.new, ch.path)
        out.append(NetChange(ch.rule_id, _kind(before, after), ch.path, before, after,
                             touched[ch.rule_id]))
    out.sort(key=lambda n: (NET_KINDS.index(n.kind), n.rule_id))
    return tuple(out)


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


def redacted_in_evidence(store: Store, p: Proposal) -> dict[str, int]:
    """The placeholders ``[privacy] experiences = "redact"`` left in the evidence the
    proposal stores (kind -> how many): what was redacted, never what it was."""
    found: Counter[str] = Counter()
    for _, text in evidence_texts(store, p):
        found.update(placeholders_in(text))
    return dict(sorted(found.items()))


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


@dataclass(frozen=True)
class Review:
    proposal: Proposal
    entries: tuple[ReviewEntry, ...]
    accuracy: tuple[Evaluation, Evaluation] | None
    decision: Decision
    net: tuple[NetChange, ...] = ()
    stored: int = 0  # experiences the proposal stores
    eval_name: str | None = None  # what the accuracy was measured on
    files: tuple[tuple[str, str], ...] = ()  # (path, diff) of each person-only path, shown first
    redacted: Mapping[str, int] = field(default_factory=dict)  # placeholders in its evidence

    def to_dict(self) -> dict[str, Any]:
        acc = None
        if self.accuracy is not None:
            acc = {"before": self.accuracy[0].to_dict(), "after": self.accuracy[1].to_dict(),
                   "on": self.eval_name}
        return {
            "proposal": self.proposal.to_dict(),
            "person_only": [{"path": path, "diff": diff} for path, diff in self.files],
            "net": [n.to_dict() for n in self.net],
            "stored_experiences": self.stored,
            "redacted": dict(self.redacted),
            "accuracy": acc,
            "decision": self.decision.to_dict(),
            "entries": [e.to_dict() for e in self.entries],
        }


def review(
    store: Store,
    name: str,
    gate: Gate,
    policy: str,
    *,
    head: str | None = None,
    main: str | None = None,
    evaluation: tuple[Sequence[Experience], str] | None = None,
) -> Review:
    """Everything a reviewer needs to judge proposal ``name``: the net change, the
    accuracy before and after (on ``evaluation`` when given, else on the gate's
    evaluation set), the policy's decision, and each commit."""
    p = get_proposal(store, name, head=head, main=main)
    entries = []
    for c in p.commits:
        changes = tuple(store.diff(c.parents[0], c.sha)) if c.parents else ()
        hist = {ch.rule_id: tuple(store.history(ch.rule_id, p.main, limit=3)) for ch in changes}
        entries.append(ReviewEntry(c, changes, hist))
    measured = accuracy(store, p, gate)
    decision = decide(store, p, gate, policy, measured=measured)
    shown, on = measured, gate.eval_set
    if evaluation is not None:
        exps, on = evaluation
        shown = (
            evaluate(_active(store.read_rules(p.main)), exps),
            evaluate(_active(_rules_after(store, p)), exps),
        )
    files = tuple((path, file_diff(store, p.base, p.head, path)) for path in p.person_only)
    return Review(p, tuple(entries), shown, decision, net_changes(store, p),
                  stored_experiences(store, p), on if shown is not None else None, files,
                  redacted_in_evidence(store, p))  # fmt: skip


MAX_DIFF_LINES = 200


def file_diff(store: Store, a: str | None, b: str, path: str) -> str:
    """``path`` from revision ``a`` to ``b`` as a unified diff (the first
    :data:`MAX_DIFF_LINES` lines); a file that is not text is described by its size."""
    import difflib

    old = store.read_file(path, a) if a is not None else None
    new = store.read_file(path, b)
    try:
        before = old.decode("utf-8").splitlines() if old is not None else []
        after = new.decode("utf-8").splitlines() if new is not None else []
    except UnicodeDecodeError:
        sizes = [f"{len(x):,} bytes" if x is not None else "none" for x in (old, new)]
        return f"(not text: {sizes[0]} -> {sizes[1]})"
    lines = list(difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return "\n".join(lines)


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


def _merge(store: Store, p: Proposal, by: Identity, why: str, approved_by: str) -> Approval:
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
    sign = store.signing_required_at(p.main)
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
        check_rationale(why, store.scan_allow(), what="the approval's rationale")
    why = why.strip() or (
        f"Reviewed and approved by {approver.name}: {len(p.commits)} commits changing "
        f"{', '.join(p.rules) or 'no rules'}."
    )
    return _merge(store, p, approver, why, str(approver))


def approve_by_policy(store: Store, p: Proposal, decision: Decision) -> Approval:
    """Merge ``p`` because the policy approves it (never called for ``manual``)."""
    if not decision.approve:
        raise ReviewError(f"the {decision.policy} policy does not approve {p.name}")
    why = f"Approved by the {decision.policy} policy: " + (
        "; ".join(f"{c.name}: {c.detail}" for c in decision.checks)
        if decision.policy == "gated"
        else 'every proposal is approved (policy = "auto" in imlgit.toml).'
    )
    return _merge(store, p, POLICY, why, f"policy {decision.policy} <{POLICY.email}>")


def conclude(
    store: Store, name: str, policy: str, gate: Gate
) -> tuple[Decision | None, Approval | None]:
    """After a proposal is written: what the policy decides, and its approval if any.

    ``manual`` decides nothing (a person will); ``gated`` and ``auto`` decide
    and, when they approve, merge as the policy.
    """
    if policy == "manual":
        return None, None
    p = get_proposal(store, name)
    committed = store.policy_at(p.main)
    if approvals.TRUST.get(policy, 0) > approvals.TRUST.get(committed, 0):
        # automation is raised in imlgit.toml on main, where raising it is reviewed:
        # an environment variable or a flag may lower the policy, never raise it
        decision = decide(store, p, gate, committed)
        note = (f"policy {policy!r} was asked for, but imlgit.toml on {DEFAULT_BRANCH} says "
                f"{committed!r}, and only what main says may approve")  # fmt: skip
        decision = Decision(decision.policy, decision.checks, decision.person_only, note)
        if committed == "manual":
            return decision, None
    else:
        decision = decide(store, p, gate, policy)
    if not decision.approve:
        return decision, None
    try:
        return decision, approve_by_policy(store, p, decision)
    except (SigningError, UnapprovedChange) as exc:
        if not store.signing_required_at(p.main):
            raise
        # approvals must be signed here, and this process cannot sign one that counts
        note = (f"the {decision.policy} policy approves, but approvals must be signed "
                f"(require_signed_approvals) and it could not sign: {exc}; left for a person")
        return Decision(decision.policy, decision.checks, decision.person_only, note), None




def _record(p: Proposal, person: Identity, why: str) -> dict[str, Any]:
    changes = []
    for ch in p.changes:
        old = _parse_or_none(ch.old, ch.path)
        new = _parse_or_none(ch.new, ch.path)
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
    check_rationale(why, store.scan_allow(), what="the rejection's rationale")
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
    store.refs.force((_REJECTED_REF + p.name).encode(), p.head)
    store.delete_branch(p.branch)
    return sha


# ---------------------------------------------------------------------- stats


@dataclass
class Stats:
    approved: int = 0
    approved_by_policy: int = 0
    rejected: int = 0
    open: int = 0
    void: int = 0  # approvals that do not count (imlgit.approvals.uncovered)
    # what gated would have decided on every proposal people decided
    gated_agrees: int = 0
    gated_disagrees: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "approved": self.approved,
            "approved_by_policy": self.approved_by_policy,
            "rejected": self.rejected,
            "open": self.open,
            "void": self.void,
            "gated_agrees": self.gated_agrees,
            "gated_disagrees": self.gated_disagrees,
            "proposals": self.rows,
        }


def _replay(store: Store, name: str, head: str, main_then: str) -> Proposal:
    base = store.objects.merge_base(head, main_then)
    commits = _commits_between(store, head, main_then)
    changes = store.diff(base, head) if base else []
    paths = store.paths_between(base, head) if base else []
    return Proposal(name, head, base, main_then, tuple(commits), tuple(changes), tuple(paths))


def stats(
    store: Store,
    gate: Gate,
    *,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Stats:
    """Approved and rejected counts, and what ``gated`` would have decided on each.

    Replays each decided proposal against main as it was when it was decided (the
    approval's first parent; for a rejection, the commit before the record).
    """
    # open as `proposals` lists them: a branch main already has (approved, not yet
    # deleted) is not open
    out = Stats(open=len(list_proposals(store)))
    for c in store.log(DEFAULT_BRANCH, limit=limit):
        op = c.trailer("Imlgit-Op")
        if op not in ("approve", "reject"):
            continue
        name = c.trailer("Imlgit-Proposal") or c.sha[:12]
        if op == "approve":
            if len(c.parents) < 2:
                continue
            p = _replay(store, name, c.parents[1], c.parents[0])
            # who approved is the merge's author, not what a trailer says; an
            # approval that does not count (unsigned where main requires a
            # signature, by an author of it, ...) earns no trust
            by = approvals.approver_of(c)
            human = approvals.identity_key(by) != approvals.identity_key(POLICY)
            void = store.uncovered(c.sha, c.parents[0])
            if void:
                out.void += 1
                out.rows.append({"proposal": name, "decided": "approved, does not count",
                                 "by": c.author, "gated": None,
                                 "why": void[0].why})  # fmt: skip
                continue
            out.approved += 1
            out.approved_by_policy += not human
        else:
            head = store.refs.get((_REJECTED_REF + name).encode())
            if head is None or not c.parents:
                out.rejected += 1
                out.rows.append(
                    {
                        "proposal": name,
                        "decided": "rejected",
                        "gated": None,
                        "why": "its commits are not in this clone",
                    }
                )
                continue
            p = _replay(store, name, head, c.parents[0])
            human = True
            out.rejected += 1
        if progress is not None:
            progress(name)
        try:
            d = decide(store, p, gate, "gated")
        except ReviewError:  # no evaluation set on main back then: judge without it
            d = decide(store, p, gate, "gated", measured=None)
        people_said = op == "approve"
        if human:
            if d.gated_ok == people_said:
                out.gated_agrees += 1
            else:
                out.gated_disagrees += 1
        out.rows.append(
            {
                "proposal": name,
                "decided": "approved" if people_said else "rejected",
                "by": (c.trailer("Imlgit-Approved-By") or c.trailer("Imlgit-Rejected-By")),
                "gated": d.gated_ok,
                "failed": [ck.to_dict() for ck in d.checks if not ck.ok],
            }
        )
    return out
