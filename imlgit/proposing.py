"""A rule an agent proposes (:meth:`imlgit.memory.Memory.propose`): checked, then
one commit on a new proposal branch, never on main.

Nothing is written for a rule already active in its scope, one people rejected,
one the stored experiences contradict, or text that looks like a secret; the same
rule proposed again while its proposal is open returns that proposal.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from . import authoring
from .commits import LEARNER, CommitMessage, evidence_trailer
from .errors import ImlgitError, ReviewError, StoreError
from .identity import duplicate_of, same_rule
from .proposals import PREFIX, list_proposals, open_proposal, proposal_branch, rejected_rules
from .rules import Rule
from .store import Store

__all__ = ["pending_proposal", "propose"]


def propose(
    store: Store,
    statement: str,
    rationale: str,
    *,
    evidence: Sequence[str] = (),
    scope: str = "general",
    title: str | None = None,
    name: str | None = None,
    when: Any = None,
    then: str | None = None,
    min_precision: float,
    scan_allow: Sequence[str] = (),
) -> str:
    """Propose one rule on a new proposal branch (``name``, default ``agent-<time>``);
    returns the proposal's name. A checkable rule is counted against the experiences
    stored on main and refused below ``min_precision``; ``scan_allow`` are the
    patterns the secret scan lets through (see :meth:`imlgit.memory.Memory.propose`)."""
    rule, rationale, main, rules = authoring.proposed_rule(
        store, statement, rationale, evidence=evidence, scope=scope, title=title,
        when=when, then=then,
    )  # fmt: skip

    dup = duplicate_of(rule, rules)
    if dup is not None:
        raise ReviewError(f"the same rule is already in memory: {dup}")
    pending = pending_proposal(store, rule)
    if pending is not None:
        return pending  # proposed already: the same proposal, not a second one
    if rule.when is not None and rule.then is not None:
        rule = authoring.verified(store, rule, main, min_precision=min_precision)
    for r in rejected_rules(store, main):
        if not r.retired and same_rule(rule, r):
            raise ReviewError(f"people rejected this rule in proposal {r.proposal}: {r.why}")
    authoring.refuse_secret_fields(
        {"statement": rule.statement, "rationale": rationale, "title": rule.title}, scan_allow
    )
    trailers = []
    if rule.sources:
        trailers.append(("Imlgit-Evidence", evidence_trailer(rule.sources)))
    msg = CommitMessage.make(
        "induce", f"add {rule.id}", rationale, rules=[rule.id], trailers=trailers
    )
    if name is None:  # a name of its own, made atomically (see review.open_proposal)
        branch = open_proposal(store, None, stem="agent")[0]
        if store.head(branch) != main:  # main moved since the checks above read it
            store.delete_branch(branch)
            raise ReviewError("main moved while the rule was proposed; propose it again")
    else:
        branch = proposal_branch(name)
        try:  # atomically, at the commit the checks above read
            store.create_branch(branch, main)
        except StoreError:
            raise ReviewError(f"proposal {name!r} exists: propose under a new name") from None
    try:
        store.put_rule(rule, msg, author=LEARNER, branch=branch, expected_head=main)
    except BaseException:
        with suppress(ImlgitError, OSError):
            store.delete_branch(branch)  # the branch is this call's own: leave no trace
        raise
    return branch.removeprefix(PREFIX)


def pending_proposal(store: Store, rule: Rule) -> str | None:
    """The open proposal that adds the same rule (same scope and form, or the same
    statement), if any."""
    for p in list_proposals(store):
        for rid in p.rules:
            try:
                other = store.read_rule(rid, p.branch)
            except ImlgitError:
                continue  # retired or unreadable there: not this rule
            if other.status == "active" and same_rule(rule, other):
                return p.name
    return None
