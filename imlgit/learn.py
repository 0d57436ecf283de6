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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from . import evidence as evidence_store
from .commits import (
    LEARNER,
    MAX_RATIONALE,
    CommitMessage,
    Identity,
    evidence_trailer,
    plain_rationale,
    with_notes,
)
from .conditions import render_statement
from .counting import Counted, Tally
from .errors import ConfigError, ConflictError, ImlgitError, LearnError, LLMError, RuleError
from .experience import Experience, parse_jsonl_text
from .identity import duplicate_of, same_rule
from .identity import normalize_statement as _norm_statement
from .inputs import describe
from .learners.base import OPS, Candidate, LearnContext, Learner, Operation, RuleContext
from .privacy import redact_text
from .rules import (
    EXPERIENCES_DIR,
    STATEMENT_DISAGREES,
    Rule,
    learned_rule_id,
    now_utc,
    render_rule,
    rule_id_from_path,
    validate_rule_id,
)
from .store import Store
from .verify import scope_ranked

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
MAX_SOURCES = 50


@dataclass(frozen=True)
class LearnSettings:
    batch: int = 16
    epochs: int = 1
    momentum: float = 0.25
    min_precision: float = 0.75
    # a default rule (no conditions) answers where no other rule does, where the
    # alternative is no answer at all: it needs this share instead of min_precision
    default_precision: float = 0.5
    min_coverage: int = 3
    k: int = 8
    store_experiences: str = "full"  # full | hashes
    branch: str = "main"
    max_operations: int = 64
    scan_allow: tuple[str, ...] = ()  # [scan] allow: matches the secret scan lets through

    def __post_init__(self) -> None:
        if self.batch < 1 or self.epochs < 1 or self.k < 1:
            raise ConfigError("batch, epochs and k must be at least 1")
        if not 0 <= self.momentum < 10:
            raise ConfigError(f"momentum must be at least 0 and below 10, not {self.momentum}")
        if not 0 <= self.min_precision <= 1:
            raise ConfigError("min_precision must be between 0 and 1")
        if not 0 <= self.default_precision <= 1:
            raise ConfigError("default_precision must be between 0 and 1")
        if self.store_experiences not in ("full", "hashes"):
            raise ConfigError("store_experiences is 'full' or 'hashes'")


@dataclass(frozen=True)
class Refusal:
    """A proposed operation that was not committed, and why."""

    op: str
    target: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.op} {self.target or ''}".strip() + f": {self.reason}"


@dataclass
class BatchResult:
    batch_id: str
    size: int
    commits: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    agreed: list[str] = field(default_factory=list)
    damped: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    head: str | None = None

    def summary(self) -> str:
        parts = [
            f"{len(v)} {k}"
            for k, v in (
                ("added", self.added),
                ("edited", self.edited),
                ("merged", self.merged),
                ("retired", self.retired),
                ("restored", self.restored),
                ("agreed", self.agreed),
                ("damped", self.damped),
                ("refused", self.refused),
            )
            if v
        ]
        return f"{self.batch_id}: " + (", ".join(parts) or "no change")

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": self.batch_id,
            "size": self.size,
            "commits": self.commits,
            "added": self.added,
            "edited": self.edited,
            "merged": self.merged,
            "retired": self.retired,
            "restored": self.restored,
            "agreed": self.agreed,
            "damped": self.damped,
            "refused": [str(r) for r in self.refused],
            "head": self.head,
        }


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


@dataclass
class _Planned:
    """One commit to be made: the rules it writes (final content filled in later)."""

    op: str
    summary: str
    rationale: str
    rules: list[str]
    evidence: list[str]
    extra: dict[str, bytes | None] = field(default_factory=dict)
    states: dict[str, Rule] = field(default_factory=dict)
    figures: str = ""  # a recount: the figures' move, one line a rule
    evidence_data: bytes | None = None  # the experiences, for the evidence ref


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
        self.rejected = list(rejected)
        self.learner = learner
        self.settings = settings or LearnSettings()
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
        planned: list[_Planned] = []
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
        result.head = result.commits[-1]
        self._keep_recent(head, steps, result.commits)
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

    def _plan_experiences(self, batch: Sequence[Experience], bid: str, path: str) -> _Planned:
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
        return _Planned(
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
        planned: list[_Planned],
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
        self._recount(work, scope, counted)
        for op in ops:
            refusal = self._apply(op, work, scope, batch_ids, counted, planned, result)
            if refusal is not None:
                result.refused.append(refusal)
        self._recount(work, scope, counted)
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
                    _Planned(
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

    def _apply(
        self,
        op: Operation,
        work: dict[str, Rule],
        scope: str,
        batch_ids: set[str],
        evidence: Counted,
        planned: list[_Planned],
        result: BatchResult,
    ) -> Refusal | None:
        s = self.settings
        if op.op not in OPS:
            return Refusal(op.op, op.target, "unknown operation")
        # The model's words, kept, made safe to commit (see commits.plain_rationale).
        # Personal data it quotes is redacted: a rationale is committed to history.
        rationale = redact_text(plain_rationale(op.rationale), s.scan_allow)[0].strip()
        if not rationale:
            return Refusal(op.op, op.target, "no rationale")
        if len(rationale) > MAX_RATIONALE // 2:
            return Refusal(
                op.op,
                op.target,
                f"the rationale has {len(rationale)} characters; at most {MAX_RATIONALE // 2}",
            )
        for rid in (op.target, *op.sources):
            if rid is not None:
                try:
                    validate_rule_id(rid)
                except RuleError as exc:
                    return Refusal(op.op, None, str(exc))
                if rid not in work:
                    return Refusal(op.op, rid, "no such rule in memory")
                if work[rid].scope != scope:
                    return Refusal(
                        op.op, rid, f"the rule is in scope {work[rid].scope}, not {scope}"
                    )
        bad = [e for e in (*op.evidence, *op.contradicting) if e not in batch_ids]
        if bad:
            return Refusal(op.op, op.target, f"evidence not in this batch: {', '.join(bad[:5])}")
        now = now_utc()
        target = work.get(op.target) if op.target else None
        if op.op in ("EDIT", "MERGE", "RETIRE", "AGREE") and target is None:
            return Refusal(op.op, None, "needs a target rule")
        if target is not None and target.status != "active":
            return Refusal(op.op, target.id, "the rule is retired")
        if op.op == "AGREE":
            assert target is not None
            self._agree(target, rationale, op.evidence, work, planned, result)
            return None
        if (
            op.op == "EDIT"
            and target is not None
            and op.candidate is not None
            and _says_the_same(target, op.candidate)
        ):
            # An EDIT that changes nothing is the batch agreeing with the rule.
            self._agree(target, rationale, op.evidence, work, planned, result)
            return None
        if op.op == "RETIRE":
            assert target is not None
            no = self._rejected_retirement(target)
            if no is not None:
                return Refusal(op.op, target.id, no)
        if op.op in ("EDIT", "RETIRE"):
            assert target is not None
            contra = target.contradictions + (0 if target.checkable else len(op.contradicting))
            if self._damped(target, contra):
                self._record_damped(target, contra, op, rationale, work, planned, result)
                return None
        if op.op == "RETIRE":
            assert target is not None
            work[target.id] = replace(target, status="retired", updated=now)
            planned.append(
                _Planned(
                    "retire",
                    f"retire {target.id}",
                    rationale,
                    [target.id],
                    list(op.contradicting) or list(op.evidence),
                    states={target.id: work[target.id]},
                )
            )
            result.retired.append(target.id)
            return None
        cand = op.candidate
        if cand is None:
            return Refusal(op.op, op.target, "needs a candidate rule")
        if cand.scope != scope:
            cand = replace(cand, scope=scope)
        problem = (
            _candidate_problem(cand) or self._rejected_candidate(cand) or self._secret(cand)
        )
        if problem:
            return Refusal(op.op, op.target, problem)
        if op.op == "ADD":
            dup = _duplicate(cand, work)
            if dup is not None and work[dup].status == "active":
                return Refusal("ADD", dup, "the same rule is already in memory")
            if dup is not None:
                new = replace(work[dup], status="active", updated=now)
                kind, summary = "restore", f"restore {dup}"
            else:
                rid = learned_rule_id(cand.scope, cand.statement, work)
                new = _rule_from(cand, rid, now)
                kind, summary = "induce", f"add {rid} ({_clip(new.title, 60)})"
        else:
            assert target is not None
            new = _rule_from(cand, target.id, now, base=target)
            kind, summary = (
                ("merge", f"merge into {target.id}")
                if op.op == "MERGE"
                else ("revise", f"revise {target.id} (now: {_clip(new.title, 60)})")
            )
        trial = dict(work)
        trial[new.id] = new
        retired_sources = []
        if op.op == "MERGE":
            for src in dict.fromkeys(op.sources):
                if src == new.id:
                    continue
                source = trial[src]
                if source.status != "active":
                    return Refusal(op.op, src, "a source of the merge is retired")
                no = self._rejected_retirement(source)
                if no is not None:
                    return Refusal(op.op, src, no)
                trial[src] = replace(source, status="retired", updated=now)
                retired_sources.append(src)
            if not new.checkable:
                # What a plain rule says cannot be checked against the evidence, so a
                # merge may rewrite or retire a plain rule only where an EDIT or a RETIRE
                # could: when its contradictions outweigh its support (momentum). The
                # merged rule keeps the sources' figures.
                new = replace(
                    new,
                    support=new.support + sum(work[r].support for r in retired_sources),
                    contradictions=new.contradictions
                    + sum(work[r].contradictions for r in retired_sources),
                )
                trial[new.id] = new
        dup = duplicate_of(new, trial)
        if dup is not None:
            return Refusal(op.op, dup, "the same rule is already in memory")
        if new.checkable:
            self._recount(trial, scope, evidence)
            counted = trial[new.id]
            decided = counted.support + counted.contradictions
            precision = counted.support / decided if decided else 0.0
            needed = s.min_precision if new.when else s.default_precision
            if decided < s.min_coverage or precision < needed:
                return Refusal(
                    op.op,
                    op.target or new.id,
                    f"'{_clip(new.statement)}' decides {decided} experiences and gets "
                    f"{counted.support} right; needs at least {s.min_coverage} and a share of "
                    f"{needed:.0%}" + ("" if new.when else " (a default rule)"),
                )
            new = counted
        if op.op == "MERGE":
            assert target is not None
            held = self._merge_holds_evidence(
                [target.id, *retired_sources], op, work, trial, scope, evidence
            )
            if held is not None:
                return Refusal(op.op, held[0], held[1])
        work.clear()
        work.update(trial)
        figures = ""
        if new.checkable:
            figures = (
                f"\n\nChecked against the evidence: it decides "
                f"{new.support + new.contradictions} experiences and gets {new.support} right."
            )
        p = _Planned(
            kind,
            summary,
            rationale + figures,
            [new.id, *retired_sources],
            list(op.evidence),
            states={new.id: new, **{r: work[r] for r in retired_sources}},
        )
        planned.append(p)
        {"induce": result.added, "restore": result.restored, "merge": result.merged}.get(
            kind, result.edited
        ).append(new.id)
        return None

    # ------------------------------------------------------------------ momentum

    def _damped(self, rule: Rule, contradictions: int) -> bool:
        """Whether momentum holds ``rule`` against a change: its contradictions do not
        outweigh ``momentum`` x its support. A rule with no support has nothing to
        protect; ``momentum = 0`` turns damping off."""
        m = self.settings.momentum
        return m > 0 and rule.support > 0 and not contradictions > m * rule.support

    def _record_damped(
        self,
        target: Rule,
        contra: int,
        op: Operation,
        rationale: str,
        work: dict[str, Rule],
        planned: list[_Planned],
        result: BatchResult,
    ) -> None:
        """A damped EDIT or RETIRE: the rule stands; a plain rule's contradictions are
        recorded, so they accumulate batch after batch (a checkable rule's are counted)."""
        if not target.checkable and op.contradicting:
            work[target.id] = replace(target, contradictions=contra)
            planned.append(
                _Planned(
                    "recount",
                    f"record contradictions of {target.id}",
                    f"{target.id}: {rationale} The change is damped: {contra} contradictions "
                    f"do not outweigh support {target.support} at momentum "
                    f"{self.settings.momentum}; the rule stands and the contradictions are "
                    "recorded.",
                    [target.id],
                    list(op.contradicting),
                    states={target.id: work[target.id]},
                    figures=f"{target.id}: contradictions {target.contradictions} -> {contra} "
                    "(recorded, not counted: a plain rule)",
                )
            )
        result.damped.append(target.id)

    def _merge_holds_evidence(
        self,
        changed: Sequence[str],
        op: Operation,
        before: Mapping[str, Rule],
        after: Mapping[str, Rule],
        scope: str,
        evidence: Counted,
    ) -> tuple[str, str] | None:
        """Why a MERGE may not change or retire one of ``changed``, or None.

        Each rule the merge rewrites or retires must either be one momentum would let
        an EDIT or RETIRE change, or be accounted for: every stored experience it got
        right is still decided right once merged (checkable rules, counted)."""
        decided: tuple[_Decisions, set[tuple[str, str]]] | None = None
        for rid in changed:
            rule = before[rid]
            if rule == after.get(rid):
                continue
            contra = rule.contradictions + (0 if rule.checkable else len(op.contradicting))
            if not self._damped(rule, contra):
                continue
            if rule.checkable:
                if decided is None:  # counted once, for every rule the merge changes
                    right_after = {
                        e for e, (_, ok) in _decisions(after, scope, evidence).items() if ok
                    }
                    decided = _decisions(before, scope, evidence), right_after
                lost = [
                    e[0]
                    for e, (who, ok) in decided[0].items()
                    if who == rid and ok and e not in decided[1]
                ]
                if not lost:
                    continue
                return rid, (
                    f"merging would lose {len(lost)} of the {rule.support} experiences {rid} "
                    f"gets right (e.g. {', '.join(lost[:3])}); its {rule.contradictions} "
                    f"contradictions do not outweigh that support at momentum "
                    f"{self.settings.momentum}"
                )
            return rid, (
                f"a merge would rewrite or retire {rid} (support {rule.support}, "
                f"{contra} contradictions); they do not outweigh the support at momentum "
                f"{self.settings.momentum}, and a plain rule's meaning cannot be checked"
            )
        return None

    def _agree(
        self,
        target: Rule,
        rationale: str,
        evidence: Sequence[str],
        work: dict[str, Rule],
        planned: list[_Planned],
        result: BatchResult,
    ) -> None:
        """The batch supports ``target``: a plain rule's support grows by the evidence
        cited (a checkable rule's figures are counted, not cited)."""
        if not target.checkable and evidence:
            work[target.id] = replace(target, support=target.support + len(evidence))
            planned.append(
                _Planned(
                    "recount",
                    f"{target.id} agrees with the batch",
                    f"{target.id} agrees with the batch: {rationale}",
                    [target.id],
                    list(evidence),
                    states={target.id: work[target.id]},
                    figures=f"{target.id}: support {target.support} -> "
                    f"{target.support + len(evidence)} (the evidence cited: a plain rule)",
                )
            )
        result.agreed.append(target.id)

    def _secret(self, cand: Candidate) -> str | None:
        from .scan import scan_text

        text = f"{cand.title}\n{cand.statement}"
        found = scan_text(text, path="candidate", allow=self.settings.scan_allow)
        if not found:
            return None
        kinds = ", ".join(sorted({f.kind for f in found}))
        return f"the rule contains what looks like {kinds} ({found[0]}); rules may not keep it"

    # ------------------------------------------------------------------ rejections

    def _rejected_candidate(self, cand: Candidate) -> str | None:
        """Why ``cand`` may not be proposed: people rejected the same rule before."""
        for r in self.rejected:
            if not r.retired and same_rule(r, cand):
                return f"people rejected this rule in proposal {r.proposal}: {_clip(r.why)}"
        return None

    def _rejected_retirement(self, target: Rule) -> str | None:
        for r in self.rejected:
            if (
                r.retired
                and r.rule_id == target.id
                and _norm_statement(r.statement) == _norm_statement(target.statement)
            ):
                return (
                    f"people rejected retiring {target.id} in proposal {r.proposal}: "
                    f"{_clip(r.why)}"
                )
        return None

    # ------------------------------------------------------------------ counting

    def _recount(self, work: dict[str, Rule], scope: str, evidence: Counted) -> None:
        """Set support / contradictions of the scope's active checkable rules, counted
        under the ranking their figures give now (one count: counted again until the
        figures agree with the ranking they give, momentum lost its hold on the
        windowed benchmark, 92.6% -> 84.3%, so the ranking stays one count behind)."""
        ids, ranked = scope_ranked(work, scope)
        for rid, (right, wrong) in zip(ids, evidence.counts(ranked), strict=True):
            work[rid] = replace(work[rid], support=right, contradictions=wrong)

    # ------------------------------------------------------------------ commits

    def _steps(
        self, planned: Sequence[_Planned], bid: str, head: str
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

    def _changes(self, p: _Planned, head: str) -> dict[str, bytes | None]:
        changes: dict[str, bytes | None] = dict(p.extra)
        for rid in p.rules:
            rule = p.states[rid]
            changes[self.store.path_for(rule, head)] = render_rule(rule).encode("utf-8")
        return changes

    def _message(self, p: _Planned, bid: str) -> CommitMessage:
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


_Decisions = dict[tuple[str, str], tuple[str, bool]]


def _rules_n(n: int) -> str:
    return "1 rule" if n == 1 else f"{n} rules"


def _one_recount(planned: Sequence[_Planned], bid: str) -> list[_Planned]:
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
    out.append(_Planned("recount", summary, text, rules, evidence, states=states))
    return out


def _decisions(rules: Mapping[str, Rule], scope: str, evidence: Counted) -> _Decisions:
    """(experience id, kind) -> (the rule that decides it, whether it is right), for
    the scope's active checkable rules, in the order checked inference applies them
    (:func:`imlgit.verify.decisions`, counted with bitsets: reward-only failures count
    against a rule)."""
    ids, ranked = scope_ranked(rules, scope)
    if not ids:
        return {}
    return {e: (ids[i], ok) for e, (i, ok) in evidence.decisions(ranked).items()}


def _says_the_same(rule: Rule, cand: Candidate) -> bool:
    """Whether ``cand`` would leave ``rule`` as it is (title, statement and form)."""
    return (
        rule.title == cand.title
        and rule.statement.strip() == cand.statement.strip()
        and (rule.then or None) == (cand.then or None)
        and (None if rule.when is None else frozenset(rule.when))
        == (None if cand.when is None else frozenset(cand.when))
    )


def _clip(text: str, n: int = 120) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _candidate_problem(cand: Candidate) -> str | None:
    try:
        if (cand.when is None) != (cand.then is None):
            return "'when' and 'then' go together"
        Rule(
            id="r-probe",
            title=cand.title,
            statement=cand.statement,
            scope=cand.scope,
            created="2000-01-01T00:00:00Z",
            updated="2000-01-01T00:00:00Z",
            when=cand.when,
            then=cand.then,
        )
    except RuleError as exc:
        if exc.message.startswith(STATEMENT_DISAGREES) and cand.when and cand.then:
            # the last check a Rule makes: show the learner the form it should say
            return (
                f"the statement {_clip(cand.statement)!r} does not say what its form says "
                f"({render_statement(cand.when, cand.then)!r})"
            )
        return exc.message if exc.field is None else f"{exc.field}: {exc.message}"
    return None


def _duplicate(cand: Candidate, work: Mapping[str, Rule]) -> str | None:
    """An existing rule (active or retired) that is the same rule as ``cand``."""
    return next((rid for rid, r in work.items() if same_rule(r, cand)), None)


def _rule_from(cand: Candidate, rid: str, now: str, base: Rule | None = None) -> Rule:
    sources = tuple(dict.fromkeys(cand.evidence))[:MAX_SOURCES]
    if base is not None:
        return replace(
            base,
            title=cand.title,
            statement=cand.statement,
            when=cand.when,
            then=cand.then,
            updated=now,
            sources=tuple(dict.fromkeys(base.sources + sources))[-MAX_SOURCES:],
        )
    return Rule(
        id=rid,
        title=cand.title,
        statement=cand.statement,
        scope=cand.scope,
        created=now,
        updated=now,
        sources=sources,
        when=cand.when,
        then=cand.then,
    )
