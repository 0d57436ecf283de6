"""The policy: the checks of ``gated``, what a policy decides, and the trust it earns.

A proposal (:mod:`imlgit.proposals`) is merged by a person, or by the policy in
force (``[review] policy`` in imlgit.toml on main): ``manual`` decides nothing,
``gated`` approves only when every check holds (:class:`Gate`, :func:`decide`:
the files it changes, how many rules, their evidence recounted by code, the rules
it retires, accuracy on an evaluation set, a secret scan), ``auto`` approves
everything; both approve as ``imlgit policy``, never as the learner
(:func:`approve_by_policy`, :func:`conclude`). A policy asked for may lower what
main says, never raise it. :func:`stats` replays every decided proposal to show
how often ``gated`` agrees with the people who decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import approvals
from .commits import POLICY
from .errors import ReviewError, SigningError, UnapprovedChange
from .evidence import is_pointer
from .experience import Experience, parse_jsonl_text
from .infer import Evaluation, evaluate
from .proposals import (
    REJECTED_REF,
    Approval,
    Proposal,
    change_kind,
    commits_between,
    evidence_texts,
    get_proposal,
    list_proposals,
    merge_approval,
    parse_or_none,
    stored_experiences,
)
from .rules import Rule
from .scan import Finding, scan_text
from .store import DEFAULT_BRANCH, Store

__all__ = [
    "Gate",
    "Check",
    "Decision",
    "Stats",
    "accuracy",
    "evaluate_on",
    "scan_changes",
    "rule_limit",
    "rules_changed_check",
    "recount",
    "evidence_check",
    "decide",
    "approve_by_policy",
    "conclude",
    "stats",
]


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
        new = parse_or_none(ch.new, ch.path)
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
    return evaluate_on(store, p, exps)


def evaluate_on(
    store: Store, p: Proposal, exps: Sequence[Experience]
) -> tuple[Evaluation, Evaluation]:
    """Checked-inference accuracy on ``exps``: main now, and after approving ``p``."""
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
        if change_kind(parse_or_none(ch.old, ch.path), parse_or_none(ch.new, ch.path)) == "figures":
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
        old, new = parse_or_none(ch.old, ch.path), parse_or_none(ch.new, ch.path)
        if new is None or new.status != "active" or change_kind(old, new) == "figures":
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
        old = parse_or_none(ch.old, ch.path)
        new = parse_or_none(ch.new, ch.path)
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


# ---------------------------------------------------------------------- the policy approves


def approve_by_policy(store: Store, p: Proposal, decision: Decision) -> Approval:
    """Merge ``p`` because the policy approves it (never called for ``manual``)."""
    if not decision.approve:
        raise ReviewError(f"the {decision.policy} policy does not approve {p.name}")
    why = f"Approved by the {decision.policy} policy: " + (
        "; ".join(f"{c.name}: {c.detail}" for c in decision.checks)
        if decision.policy == "gated"
        else 'every proposal is approved (policy = "auto" in imlgit.toml).'
    )
    return merge_approval(store, p, POLICY, why, f"policy {decision.policy} <{POLICY.email}>")


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
    committed = store.guard.policy_at(p.main)
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
        if not store.guard.signing_required_at(p.main):
            raise
        # approvals must be signed here, and this process cannot sign one that counts
        note = (f"the {decision.policy} policy approves, but approvals must be signed "
                f"(require_signed_approvals) and it could not sign: {exc}; left for a person")
        return Decision(decision.policy, decision.checks, decision.person_only, note), None


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
    commits = commits_between(store, head, main_then)
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
            void = store.guard.uncovered(c.sha, c.parents[0])
            if void:
                out.void += 1
                out.rows.append({"proposal": name, "decided": "approved, does not count",
                                 "by": c.author, "gated": None,
                                 "why": void[0].why})  # fmt: skip
                continue
            out.approved += 1
            out.approved_by_policy += not human
        else:
            head = store.refs.get((REJECTED_REF + name).encode())
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
