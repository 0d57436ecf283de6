"""A learning run (:meth:`imlgit.memory.Memory.learn`): the experiences screened,
the learner chosen, the target opened (a proposal branch, or another branch), the
batches and epochs learned by the batch engine (:class:`imlgit.learn.Learning`),
the proposal's bookkeeping folded, and the review policy's decision.

A run of the journal holds its turn (a lock the system releases if the process
dies) and, once learning has committed, removes from the journal what it learned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import journal as journal_file
from . import locking
from .commits import LEARNER
from .config import Settings
from .errors import LearnError, ReviewError
from .experience import Experience
from .fold import fold
from .learn import BatchResult, Learning, LearnSettings
from .policy import Gate, conclude
from .privacy import screen
from .proposals import PREFIX, get_proposal, open_proposal, rejected_rules
from .retrieval import IndexRetriever
from .store import DEFAULT_BRANCH, Store

if TYPE_CHECKING:
    from .fold import Folded
    from .index import RuleIndex
    from .learners.choice import LearnerChoice
    from .policy import Decision
    from .proposals import Approval

__all__ = ["Learned", "learn", "learn_settings"]


@dataclass
class Learned:
    """What :meth:`Memory.learn` did: the batches, where they went, what the policy decided."""

    batches: list[BatchResult]
    branch: str
    proposal: str | None = None
    decision: Decision | None = None
    approval: Approval | None = None
    choice: LearnerChoice | None = None  # which learner, and why
    note: str | None = None  # e.g. why no proposal was opened
    folded: Folded | None = None  # the proposal's bookkeeping folded (imlgit.proposals)
    redacted: str = ""  # what [privacy] redacted before learning ("3 email in 2 experiences")

    @property
    def head(self) -> str | None:
        """Where the branch is now: after a fold, not the last batch's head (a batch's
        head is kept in each BatchResult: its commit stays in the object store, off the
        branch)."""
        if self.folded is not None:
            return self.folded.head
        return self.batches[-1].head if self.batches else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "proposal": self.proposal,
            "redacted": self.redacted,
            "decision": self.decision.to_dict() if self.decision else None,
            "approval": self.approval.to_dict() if self.approval else None,
            "batches": [b.to_dict() for b in self.batches],
            "learner": self.choice.to_dict() if self.choice else None,
            "note": self.note,
            "head": self.head,
            "folded": self.folded.to_dict() if self.folded else None,
        }


def learn_settings(s: Settings, *, target: str, batch: int | None, epochs: int) -> LearnSettings:
    """The batch engine's settings from imlgit.toml's ``[learn]``, ``[retrieval]``,
    ``[privacy]`` and ``[scan]``, learning into ``target``."""
    return LearnSettings(
        batch=batch or s.get("learn", "batch"),
        epochs=epochs,
        momentum=float(s.get("learn", "momentum")),
        min_precision=float(s.get("learn", "min_precision")),
        default_precision=float(s.get("learn", "default_precision")),
        min_coverage=s.get("learn", "min_coverage"),
        k=s.get("retrieval", "k"),
        store_experiences=(
            "hashes"
            if s.get("privacy", "experiences") == "hashes"
            else s.get("learn", "store_experiences")
        ),  # fmt: skip
        branch=target,
        scan_allow=tuple(s.get("scan", "allow")),
    )


def learn(
    store: Store,
    settings: Settings,
    experiences: Sequence[Experience] | None,
    *,
    choose: Callable[[Sequence[Experience]], LearnerChoice],
    index: Callable[[str], RuleIndex],
    journal: Path,
    batch: int | None = None,
    epochs: int = 1,
    propose: str | None = None,
    branch: str | None = None,
    retrieval: bool | None = None,
    progress: Callable[[BatchResult], None] | None = None,
) -> Learned:
    """One learning run (the options of :meth:`imlgit.memory.Memory.learn`).

    ``experiences`` None learns the journal at ``journal``; ``choose(experiences)``
    picks the learner; ``index(branch)`` is the retrieval index synced to a branch.
    """
    journal_turn = (
        nullcontext()
        if experiences is not None
        else locking.exclusive(
            store.derived_dir / "locks" / "learn-journal.lock",
            "waiting for another learn of the journal",
        )
    )
    with journal_turn:
        from_journal = experiences is None
        if experiences is None:
            experiences = journal_file.read(journal)
            if not experiences:
                raise LearnError("nothing to learn: the journal is empty")
        if not experiences:
            raise LearnError("no experiences to learn from")
        # screened before anything is learned or written: the same ids, in the same order
        screened = screen(experiences, settings.get("privacy", "experiences"),
                          tuple(settings.get("scan", "allow")))  # fmt: skip
        experiences = screened.experiences
        choice = choose(experiences)
        chosen = choice.learner
        policy = settings.get("review", "policy")
        proposal: str | None = None
        created = False
        if branch is not None:
            branch = store.branch_name(branch)
        if branch is not None and not branch.startswith(PREFIX):
            if branch == DEFAULT_BRANCH:
                raise ReviewError(
                    f"{DEFAULT_BRANCH} takes learned changes only through an approval "
                    f"(policy = {policy!r} in imlgit.toml): learn into a proposal (the "
                    "default), which the gated or auto policy approves when it may"
                )
            if store.head(branch) is None:
                store.create_branch(branch, "main")
            target = branch
        else:
            target, created = open_proposal(store, propose or branch)
            proposal = target[len(PREFIX) :]
        opened_at = store.head(target)
        if retrieval is None:
            retrieval = bool(getattr(chosen, "uses_retrieval", True))
        refusals = store.derived_dir / journal_file.REFUSALS
        engine = Learning(
            store,
            chosen,
            settings=learn_settings(settings, target=target, batch=batch, epochs=epochs),
            retriever=IndexRetriever(store, index, target) if retrieval else None,
            author=LEARNER,
            rejected=rejected_rules(store),
            refusals=journal_file.read_refusals(refusals),
        )
        kept = len(engine.refusals)
        try:
            with store.deferred_worktree():
                results = engine.learn(experiences, progress=progress)
        except BaseException:
            if created and proposal and store.head(target) == opened_at:
                store.delete_branch(target)  # this learn's own, and still empty
            raise
        finally:
            journal_file.keep_refusals(refusals, engine.refusals[kept:])
        out = Learned(results, target, proposal, choice=choice, redacted=screened.summary())
        if proposal is not None and opened_at is not None:
            out.folded = fold(store, target, opened_at)
        p = get_proposal(store, proposal) if proposal is not None else None
        if p is not None and created and not p.changes:
            # a proposal of this learn that changes no rule file is no proposal:
            # nothing to review; its experiences stay where they were (the
            # journal keeps them), so nothing is lost
            store.delete_branch(target)
            out.proposal = None
            out.branch = DEFAULT_BRANCH
            out.note = (
                f"no rule changed: no proposal opened ({len(experiences)} experiences "
                "learned, none stored)"
            )
            return out
        if from_journal:
            journal_file.remove(journal, {e.id for e in experiences})
        if p is None or proposal is None:
            return out
        if not p.commits:
            if created:
                store.delete_branch(target)
            out.proposal = None
            return out
        gate = Gate.from_settings(settings.section("review"), settings.section("scan"))
        out.decision, out.approval = conclude(store, proposal, policy, gate)
        return out
