"""The review a person reads before approving or rejecting a proposal.

:func:`review` gathers everything a reviewer needs to judge a proposal
(:mod:`imlgit.proposals`): each commit's rule diff, rationale and evidence, the
rule's recent history, the net change rule by rule (:class:`NetChange`), the
experiences it stores and what was redacted in them, a diff of each file only a
person approves, the accuracy before and after on an evaluation set, and what
the policy decides (:mod:`imlgit.policy`). :mod:`imlgit.reviewtext` renders it
for a terminal or a pull request.

The names of proposals and of the policy are importable from here as well, as
before the split (``from imlgit import review as rv; rv.approve(...)``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .commits import POLICY, Identity
from .experience import Experience
from .infer import Evaluation
from .policy import (
    Check,
    Decision,
    Gate,
    Stats,
    accuracy,
    approve_by_policy,
    conclude,
    decide,
    evaluate_on,
    evidence_check,
    recount,
    rule_limit,
    rules_changed_check,
    scan_changes,
    stats,
)
from .privacy import placeholders_in
from .proposals import (
    NET_KINDS,
    PREFIX,
    Approval,
    Proposal,
    approve,
    change_kind,
    check_approver,
    evidence_texts,
    get_proposal,
    list_proposals,
    new_proposal_name,
    open_proposal,
    parse_or_none,
    proposal_branch,
    reject,
    start_proposal,
    stored_experiences,
    track_proposals,
)
from .rules import Rule
from .store import CommitInfo, RuleChange, Store

__all__ = [
    "ReviewEntry",
    "NetChange",
    "NET_KINDS",
    "Review",
    "review",
    "net_changes",
    "file_diff",
    "redacted_in_evidence",
    "stored_experiences",
    "evidence_texts",
    # moved to imlgit.proposals and imlgit.policy, importable from here as before
    "PREFIX",
    "POLICY",
    "Identity",
    "Approval",
    "Check",
    "Decision",
    "Gate",
    "Proposal",
    "Stats",
    "accuracy",
    "approve",
    "approve_by_policy",
    "check_approver",
    "conclude",
    "decide",
    "evidence_check",
    "get_proposal",
    "list_proposals",
    "new_proposal_name",
    "open_proposal",
    "proposal_branch",
    "recount",
    "reject",
    "rule_limit",
    "rules_changed_check",
    "scan_changes",
    "start_proposal",
    "stats",
    "track_proposals",
]


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


def net_changes(store: Store, p: Proposal) -> tuple[NetChange, ...]:
    """What approving ``p`` changes, a rule each: changes of meaning first (added,
    changed, retired, restored, removed), then the rules whose figures alone moved."""
    touched: Counter[str] = Counter()
    for c in p.commits:
        touched.update(c.message.rules)
    out = []
    for ch in p.changes:
        before, after = parse_or_none(ch.old, ch.path), parse_or_none(ch.new, ch.path)
        out.append(NetChange(ch.rule_id, change_kind(before, after), ch.path, before, after,
                             touched[ch.rule_id]))
    out.sort(key=lambda n: (NET_KINDS.index(n.kind), n.rule_id))
    return tuple(out)


def redacted_in_evidence(store: Store, p: Proposal) -> dict[str, int]:
    """The placeholders ``[privacy] experiences = "redact"`` left in the evidence the
    proposal stores (kind -> how many): what was redacted, never what it was."""
    found: Counter[str] = Counter()
    for _, text in evidence_texts(store, p):
        found.update(placeholders_in(text))
    return dict(sorted(found.items()))


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
        shown = evaluate_on(store, p, exps)
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
