"""Learning: per batch, retrieve -> induce -> revise -> validate, verify, damp -> commit.

A learner (the language model's, or the one that needs no model) proposes; this
module decides what is committed, the same way for both:

- **validation**: ids, sizes, operations, and that a checkable rule's statement
  says what its ``when``/``then`` form says;
- **verification** of checkable rules against the evidence (the batch and the
  experiences stored in the memory repo): a rule *decides* an experience when
  checked inference would answer it with that rule (the order of
  :func:`imlgit.conditions.choose`); its support and contradictions are the
  decided experiences it gets right and wrong, counted, never estimated
  (:mod:`imlgit.counting`: each condition set is evaluated once per experience and
  a recount is bit arithmetic, however many times a batch counts). An ADD
  or EDIT whose rule decides fewer than ``min_coverage`` experiences or gets a
  share below ``min_precision`` right is refused, and the refusal is shown to the
  learner on the next batch;
- **momentum (damping)**: an EDIT or RETIRE of an existing rule goes through only
  when its contradictions C exceed ``momentum`` x its support S. Below that the
  contradictions are recorded in the rule's counters and accumulate, batch after
  batch, until they outweigh the support. ``momentum = 0`` turns damping off.
  The learner also sees each relevant rule's counters and the rationales of its
  last commits (read from git);
- **commits**: the batch's experiences, then one commit per rule change, with the
  rationale and trailers (``Imlgit-Batch`` groups the batch). The whole batch
  moves the branch in one compare-and-swap: a failure part-way leaves it as it was.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from . import evidence as evidence_store
from .commits import (
    LEARNER,
    CommitMessage,
    Identity,
    evidence_trailer,
    with_notes,
)
from .counting import Tally
from .errors import ConflictError, ImlgitError, LearnError, LLMError
from .experience import Experience, parse_jsonl_text
from .inputs import describe
from .learners.base import LearnContext, Learner, RuleContext
from .revise import BatchResult, LearnSettings, Planned, Refusal, Revision
from .rules import (
    EXPERIENCES_DIR,
    Rule,
    render_rule,
    rule_id_from_path,
)
from .store import Store

if TYPE_CHECKING:
    from .proposals import Rejected

log = logging.getLogger("imlgit.learn")

__all__ = [
    "LearnSettings",
    "Refusal",
    "BatchResult",
    "Retriever",
    "Learning",
    "experience_text",
    "batch_id",
    "EXPERIENCES_DIR",
]

# The learner is shown the rationales of a rule's last changes of meaning: not the
# commits that store experiences or recount figures (its counters show those).
_NOT_SHOWN = ("experiences", "recount")
CONFLICT_RETRIES = 5  # a batch re-learned from the new head when its rules changed meanwhile


class _Moved(Exception):
    """The branch moved under a batch and changed what it touches: plan it again."""


class Retriever(Protocol):
    """Finds the rules relevant to a text (the FAISS index, in practice)."""

    def search(self, query: str, k: int, scope: str | None) -> list[str]: ...


def experience_text(exp: Experience) -> str:
    """The text an experience is retrieved by: its input, then what the agent did."""
    text = describe(exp.input)
    if exp.output:
        text += f" -> {exp.output}"
    return text


def batch_id(batch: Sequence[Experience]) -> str:
    """A batch's id: derived from its experiences, so relearning one is recognised."""
    digest = hashlib.sha256("\n".join(e.id for e in batch).encode("utf-8")).hexdigest()
    return f"b-{digest[:12]}"


def _experiences_path(bid: str) -> str:
    return f"{EXPERIENCES_DIR}/{bid[2:4]}/{bid}.jsonl"


class Learning:
    """The learning engine over one memory repository and one learner."""

    def __init__(
        self,
        store: Store,
        learner: Learner,
        *,
        settings: LearnSettings | None = None,
        retriever: Retriever | None = None,
        author: Identity = LEARNER,
        rejected: Sequence[Rejected] = (),
        refusals: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.revision = Revision(settings or LearnSettings(), list(rejected))
        self.learner = learner
        self.retriever = retriever
        self.author = author
        # Why proposals were refused (earlier runs' too, when the caller keeps them):
        # the learner is shown the last ten.
        self.refusals: list[str] = list(refusals)
        self._evidence_cache: dict[str, list[Experience]] = {}
        self._tallies: dict[str, Tally] = {}  # scope -> its evidence, numbered for counting
        # (time, rationale) of each rule's last commits at ``_recent_at``, newest first:
        # kept from batch to batch, with the batch's own commits added, rather than one
        # walk of the whole history a rule a batch.
        self._recent: dict[str, tuple[tuple[int, str], ...]] = {}
        self._recent_at: str | None = None

    @property
    def settings(self) -> LearnSettings:
        return self.revision.settings

    @settings.setter
    def settings(self, value: LearnSettings) -> None:
        self.revision.settings = value

    @property
    def rejected(self) -> list[Rejected]:
        """Records of rejected proposals: refused if proposed again unchanged."""
        return self.revision.rejected

    @rejected.setter
    def rejected(self, value: Sequence[Rejected]) -> None:
        self.revision.rejected = list(value)

    # ------------------------------------------------------------------ reading

    def _rules(self, rev: str) -> dict[str, Rule]:
        # parsed once per (blob, path) by the store: the path gives a hand-written
        # rule its id and scope, so the same bytes elsewhere are another rule
        return {
            rid: self.store.rule_from_blob(entry.blob, entry.path)
            for rid, entry in self.store.rule_entries(rev).items()
        }

    def evidence(self, rev: str, scope: str | None) -> list[Experience]:
        """The experiences stored in the memory repo at ``rev`` (full mode only)."""
        out: list[Experience] = []
        for path, key, text in evidence_store.batch_texts(self.store, rev):
            cached = self._evidence_cache.get(key)
            if cached is None:
                if '"sha256"' in text.split("\n", 1)[0] and '"input"' not in text:
                    cached = []  # hashes-only storage: nothing to count with
                else:
                    cached = parse_jsonl_text(text, path=path).experiences
                self._evidence_cache[key] = cached
            out.extend(e for e in cached if scope is None or e.scope == scope)
        return out

    # ------------------------------------------------------------------ learning

    def learn(
        self,
        experiences: Sequence[Experience],
        *,
        progress: Callable[[BatchResult], None] | None = None,
    ) -> list[BatchResult]:
        """Learn from experiences in batches (``settings.batch``), ``epochs`` times."""
        gone = evidence_store.erased(self.store)
        if gone and any(e.id in gone for e in experiences):
            # what a person erased is never stored again (imlgit forget)
            skipped = sorted({e.id for e in experiences if e.id in gone})
            log.warning("not learned: %d experiences erased before (imlgit forget): %s",
                        len(skipped), ", ".join(skipped[:5]))  # fmt: skip
            experiences = [e for e in experiences if e.id not in gone]
        results = []
        size = self.settings.batch
        for _ in range(self.settings.epochs):
            for start in range(0, len(experiences), size):
                result = self.learn_batch(experiences[start : start + size])
                results.append(result)
                if progress is not None:
                    progress(result)
        return results

    def learn_batch(self, batch: Sequence[Experience]) -> BatchResult:
        """Learn from one batch; commits all its changes, or none of them.

        When another writer changed the same rules on the branch meanwhile (another
        learner continuing the same proposal), the batch is learned again from the
        new head, up to ``CONFLICT_RETRIES`` times, rather than lost."""
        if not batch:
            raise LearnError("an empty batch")
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                return self._refused_shown(self._learn_batch(batch))
            except _Moved as moved:
                if attempt == CONFLICT_RETRIES:
                    raise LearnError(
                        f"batch {batch_id(batch)} was not committed: {moved.args[0]} (tried "
                        f"{CONFLICT_RETRIES} times); learn it again"
                    ) from None
        raise AssertionError("unreachable")

    def _refused_shown(self, result: BatchResult) -> BatchResult:
        """A learned batch's refusals join those shown to the learner next (an attempt
        learned again after a conflict adds none)."""
        self.refusals.extend(str(r) for r in result.refused)
        return result

    def _learn_batch(self, batch: Sequence[Experience]) -> BatchResult:
        s = self.settings
        scopes = sorted({e.scope for e in batch})
        bid = batch_id(batch)
        result = BatchResult(bid, len(batch))
        head = self.store.head(s.branch)
        if head is None:
            raise LearnError(f"branch {s.branch} does not exist")
        rules = self._rules(head)
        planned: list[Planned] = []
        exp_path = _experiences_path(bid)
        already = self.store.read_file(exp_path, head) is not None
        if not already:
            planned.append(self._plan_experiences(batch, bid, exp_path))
        for scope in scopes:
            part = [e for e in batch if e.scope == scope]
            stored = self.evidence(head, scope)
            seen = {e.id for e in stored}
            evidence = stored + [e for e in part if e.id not in seen]
            self._learn_scope(part, scope, rules, stored, evidence, head, planned, result, bid)
        if not any(p.rules for p in planned):
            result.head = head
            if already:
                return result
        content = [(path, p.evidence_data) for p in planned if p.evidence_data is not None
                   for path in p.extra]  # fmt: skip
        kept: list[str | None] = []  # the evidence commits this batch made
        try:
            steps = self._steps(_one_recount(planned, bid), bid, head)
            if not steps:
                result.head = head
                return result
            for path, data in content:  # the experiences first, on their own ref
                kept.append(evidence_store.store_batch(self.store, path, data,
                                                         author=self.author))  # fmt: skip
            result.commits = self.store.commit_many(
                steps, author=self.author, branch=s.branch, expected_head=head
            )
        except ConflictError as exc:
            self._unstore(kept)
            if self.store.head(s.branch) == head:  # not a race: e.g. a person's edit
                raise LearnError(f"batch {bid} was not committed: {exc}") from exc
            raise _Moved(str(exc)) from exc
        except ImlgitError as exc:
            self._unstore(kept)
            raise LearnError(f"batch {bid} was not committed: {exc}") from exc
        except BaseException:
            self._unstore(kept)
            raise
        if len(result.commits) == len(steps):
            result.head = result.commits[-1]
            self._keep_recent(head, steps, result.commits)
        else:
            # the branch moved under the batch and holds some of its changes already:
            # those steps made no commit (Store.commit_many), the rest did
            result.head = result.commits[-1] if result.commits else self.store.head(s.branch)
            self._recent_at = None  # the rationales kept are read from git again
        return result

    def _unstore(self, made: Sequence[str | None]) -> None:
        """A batch that was not committed leaves no experiences on the evidence ref."""
        for sha in reversed(made):
            evidence_store.unstore(self.store, sha)

    def _keep_recent(
        self,
        head: str,
        steps: Sequence[tuple[dict[str, bytes | None], CommitMessage]],
        commits: Sequence[str],
    ) -> None:
        """Add a batch's commits (made on ``head``) to the rationales kept for the rules
        they change, in the order :meth:`Store.history` gives: newest commit time first,
        and of equal times the descendant first (each of these descends from all before)."""
        if self._recent_at != head:
            return
        mine: dict[str, list[tuple[int, int, int, str]]] = {}
        for pos, ((changes, message), sha) in enumerate(zip(steps, commits, strict=True)):
            if message.op in _NOT_SHOWN:
                continue
            touched = [rid for path in changes if (rid := rule_id_from_path(path)) in self._recent]
            if touched:
                info = self.store.commit_info(sha)
                for rid in touched:
                    mine.setdefault(rid, []).append((info.time, 1, pos, info.rationale))
        for rid, new in mine.items():
            old = [(t, 0, -i, why) for i, (t, why) in enumerate(self._recent[rid])]
            merged = sorted(new + old, reverse=True)[:3]
            self._recent[rid] = tuple((t, why) for t, _, _, why in merged)
        self._recent_at = commits[-1]

    def _plan_experiences(self, batch: Sequence[Experience], bid: str, path: str) -> Planned:
        content = None
        if self.settings.store_experiences == "full":
            # the experiences on the evidence ref, where they can be erased; the
            # branch gets their ids (imlgit.evidence)
            content = "".join(e.to_json() + "\n" for e in batch).encode("utf-8")
            data = evidence_store.pointer(bid, [(e.id, e.scope) for e in batch]).decode()
        else:
            data = "".join(
                json.dumps({"id": e.id, "scope": e.scope, "sha256": e.content_hash()}) + "\n"
                for e in batch
            )
        return Planned(
            "experiences",
            f"store batch {bid} ({len(batch)} experiences)",
            f"The {len(batch)} experiences batch {bid} learns from, stored so that every "
            "evidence id in this batch's rationales resolves.",
            [],
            [e.id for e in batch],
            extra={path: data.encode("utf-8")},
            evidence_data=content,
        )

    def _context(
        self,
        batch: Sequence[Experience],
        scope: str,
        rules: Mapping[str, Rule],
        stored: Sequence[Experience],
        head: str,
    ) -> LearnContext:
        relevant: dict[str, Rule] = {}
        if self.retriever is not None:
            for exp in batch:
                for rid in self.retriever.search(experience_text(exp), self.settings.k, scope):
                    r = rules.get(rid)
                    if r is not None and r.status == "active":
                        relevant[rid] = r
        for rid, r in rules.items():
            if r.scope == scope and r.checkable and r.status == "active":
                relevant[rid] = r
        if self.retriever is None:
            cap = 4 * self.settings.k
            for rid, r in rules.items():
                if r.scope == scope and r.status == "active" and len(relevant) < cap:
                    relevant.setdefault(rid, r)
        if self._recent_at != head:  # moved by another writer too: read every rule's again
            self._recent, self._recent_at = {}, head
        contexts = []
        for rid, r in sorted(relevant.items()):
            recent = self._recent.get(rid)
            if recent is None:
                last = [
                    c
                    for c in self.store.history(rid, head, limit=12)
                    if c.trailer("Imlgit-Op") not in _NOT_SHOWN
                ][:3]
                recent = tuple((c.time, c.rationale) for c in last)
                self._recent[rid] = recent
            contexts.append(RuleContext(r, tuple(why for _, why in recent)))
        return LearnContext(
            rules=tuple(contexts),
            refused=tuple(self.refusals[-10:]),
            rejected=tuple(r.describe() for r in self.rejected if r.scope == scope)[-20:],
            scope=scope,
            evidence=tuple(stored),
        )

    def _learn_scope(
        self,
        batch: Sequence[Experience],
        scope: str,
        rules: dict[str, Rule],
        stored: Sequence[Experience],
        evidence: Sequence[Experience],
        head: str,
        planned: list[Planned],
        result: BatchResult,
        bid: str,
    ) -> None:
        s = self.settings
        ctx = self._context(batch, scope, rules, stored, head)
        try:
            candidates = self.learner.induce(batch, ctx)
            ops = self.learner.revise(batch, candidates, ctx)
        except LLMError as exc:
            raise LearnError(f"the learner failed; nothing was committed: {exc}") from exc
        if len(ops) > s.max_operations:
            raise LearnError(
                f"the learner proposed {len(ops)} operations for one batch (at most "
                f"{s.max_operations}); nothing was committed"
            )
        batch_ids = {e.id for e in batch}
        work = dict(rules)
        counted = self._tallies.setdefault(scope, Tally()).view(evidence)
        self.revision.recount(work, scope, counted)
        for op in ops:
            refusal = self.revision.apply(op, work, scope, batch_ids, counted, planned, result)
            if refusal is not None:
                result.refused.append(refusal)
        self.revision.recount(work, scope, counted)
        touched = {rid for p in planned for rid in p.rules}
        for rid, r in sorted(work.items()):
            if r.scope != scope or rid in touched or rid not in rules:
                continue
            if (r.support, r.contradictions) != (rules[rid].support, rules[rid].contradictions):
                old_s, old_c = rules[rid].support, rules[rid].contradictions
                note = ""
                if rid in result.damped:
                    note = (
                        f"{rid}: a change was proposed, but the contradictions do not yet "
                        f"outweigh the support (momentum {s.momentum}), so the rule stands."
                    )
                planned.append(
                    Planned(
                        "recount",
                        f"the figures of {rid}",
                        note,
                        [rid],
                        [],
                        states={rid: r},
                        figures=f"{rid}: support {old_s} -> {r.support}, contradictions "
                        f"{old_c} -> {r.contradictions}",
                    )
                )
        for p in planned:
            for rid in p.rules:
                if rid in work and work[rid].checkable:
                    final = work[rid]
                    p.states[rid] = replace(
                        p.states.get(rid, final),
                        support=final.support,
                        contradictions=final.contradictions,
                    )
        rules.update(work)

    # ------------------------------------------------------------------ one operation

    # ------------------------------------------------------------------ commits

    def _steps(
        self, planned: Sequence[Planned], bid: str, head: str
    ) -> list[tuple[dict[str, bytes | None], CommitMessage]]:
        """The commits to make: a planned step's files that already hold what it would
        write are left out, and a step left with nothing is no commit at all."""
        current: dict[str, bytes | None] = {}
        steps = []
        for p in planned:
            changes: dict[str, bytes | None] = {}
            for path, data in self._changes(p, head).items():
                if path not in current:
                    current[path] = self.store.read_file(path, head)
                if current[path] != data:
                    changes[path] = current[path] = data
            if changes:
                steps.append((changes, self._message(p, bid)))
        return steps

    def _changes(self, p: Planned, head: str) -> dict[str, bytes | None]:
        changes: dict[str, bytes | None] = dict(p.extra)
        for rid in p.rules:
            rule = p.states[rid]
            changes[self.store.path_for(rule, head)] = render_rule(rule).encode("utf-8")
        return changes

    def _message(self, p: Planned, bid: str) -> CommitMessage:
        trailers = []
        if p.evidence:
            trailers.append(("Imlgit-Evidence", evidence_trailer(p.evidence)))
        for rid in p.rules[:1] if p.op != "recount" else ():
            rule = p.states[rid]
            if rule.checkable:
                trailers.append(
                    ("Imlgit-Support", f"{rule.support}/{rule.support + rule.contradictions}")
                )
        trailers.append(("Imlgit-Batch", bid))
        trailers.append(("Imlgit-Model", self.learner.identity))
        return CommitMessage.make(p.op, p.summary, p.rationale, rules=p.rules, trailers=trailers)


def _rules_n(n: int) -> str:
    return "1 rule" if n == 1 else f"{n} rules"


def _one_recount(planned: Sequence[Planned], bid: str) -> list[Planned]:
    """The batch's plans with its figure-only ones (recounts, a plain rule's agreement
    or recorded contradictions) folded into one ``recount`` commit, last: a batch's
    figures are one commit, not one a rule."""
    recounts = [p for p in planned if p.op == "recount"]
    out = [p for p in planned if p.op != "recount"]
    if not recounts:
        return out
    rules = list(dict.fromkeys(rid for p in recounts for rid in p.rules))
    states = {rid: st for p in recounts for rid, st in p.states.items()}
    lines = "\n".join(f"- {p.figures}" for p in recounts if p.figures)
    notes = [p.rationale for p in recounts if p.rationale]
    head = (
        f"Batch {bid}'s evidence moves the figures of {_rules_n(len(rules))} it does not "
        "otherwise change; no statement or form changes here."
    )
    text = with_notes(head + "\n\n" + lines, notes)
    summary = f"the figures of {rules[0] if len(rules) == 1 else _rules_n(len(rules))}"
    evidence = list(dict.fromkeys(e for p in recounts for e in p.evidence))
    out.append(Planned("recount", summary, text, rules, evidence, states=states))
    return out
