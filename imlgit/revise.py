"""Revision: what one proposed operation does to the working rules, or why it is refused.

:class:`Revision` holds a learner's operation (ADD, EDIT, MERGE, RETIRE, AGREE,
RESTORE) against the rules of its scope and the batch's evidence: validation
(ids, sizes, the statement against its ``when``/``then`` form), verification of
checkable rules (counted support and contradictions, the precision and coverage
gates), momentum (an EDIT or RETIRE of a supported rule goes through only when
its contradictions outweigh ``momentum`` x its support; below that they are
recorded and accumulate) and the records of rejected proposals. It plans the
commits (:class:`Planned`); :mod:`imlgit.learn` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .commits import MAX_RATIONALE, plain_rationale
from .counting import Counted
from .errors import ConfigError, RuleError
from .identity import duplicate_of, same_rule
from .identity import normalize_statement as _norm_statement
from .learners.base import OPS, Candidate, Operation
from .privacy import redact_text
from .rules import STATEMENT_DISAGREES, Rule, learned_rule_id, now_utc, validate_rule_id
from .statements import render_statement
from .verify import scope_ranked

if TYPE_CHECKING:
    from .proposals import Rejected

__all__ = ["BatchResult", "LearnSettings", "Planned", "Refusal", "Revision"]

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


@dataclass
class Planned:
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


class Revision:
    """The revision step of one learning engine (see the module's docstring)."""

    def __init__(self, settings: LearnSettings, rejected: list[Rejected]) -> None:
        self.settings = settings
        self.rejected = rejected

    def apply(
        self,
        op: Operation,
        work: dict[str, Rule],
        scope: str,
        batch_ids: set[str],
        evidence: Counted,
        planned: list[Planned],
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
            self.agree(target, rationale, op.evidence, work, planned, result)
            return None
        if (
            op.op == "EDIT"
            and target is not None
            and op.candidate is not None
            and _says_the_same(target, op.candidate)
        ):
            # An EDIT that changes nothing is the batch agreeing with the rule.
            self.agree(target, rationale, op.evidence, work, planned, result)
            return None
        if op.op == "RETIRE":
            assert target is not None
            no = self.rejected_retirement(target)
            if no is not None:
                return Refusal(op.op, target.id, no)
        if op.op in ("EDIT", "RETIRE"):
            assert target is not None
            contra = target.contradictions + (0 if target.checkable else len(op.contradicting))
            if self.damped(target, contra):
                self.record_damped(target, contra, op, rationale, work, planned, result)
                return None
        if op.op == "RETIRE":
            assert target is not None
            work[target.id] = replace(target, status="retired", updated=now)
            planned.append(
                Planned(
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
            _candidate_problem(cand) or self.rejected_candidate(cand) or self.secret(cand)
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
                no = self.rejected_retirement(source)
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
            self.recount(trial, scope, evidence)
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
            held = self.merge_holds_evidence(
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
        p = Planned(
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

    def damped(self, rule: Rule, contradictions: int) -> bool:
        """Whether momentum holds ``rule`` against a change: its contradictions do not
        outweigh ``momentum`` x its support. A rule with no support has nothing to
        protect; ``momentum = 0`` turns damping off."""
        m = self.settings.momentum
        return m > 0 and rule.support > 0 and not contradictions > m * rule.support

    def record_damped(
        self,
        target: Rule,
        contra: int,
        op: Operation,
        rationale: str,
        work: dict[str, Rule],
        planned: list[Planned],
        result: BatchResult,
    ) -> None:
        """A damped EDIT or RETIRE: the rule stands; a plain rule's contradictions are
        recorded, so they accumulate batch after batch (a checkable rule's are counted)."""
        if not target.checkable and op.contradicting:
            work[target.id] = replace(target, contradictions=contra)
            planned.append(
                Planned(
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

    def merge_holds_evidence(
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
            if not self.damped(rule, contra):
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

    def agree(
        self,
        target: Rule,
        rationale: str,
        evidence: Sequence[str],
        work: dict[str, Rule],
        planned: list[Planned],
        result: BatchResult,
    ) -> None:
        """The batch supports ``target``: a plain rule's support grows by the evidence
        cited (a checkable rule's figures are counted, not cited)."""
        if not target.checkable and evidence:
            work[target.id] = replace(target, support=target.support + len(evidence))
            planned.append(
                Planned(
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

    def secret(self, cand: Candidate) -> str | None:
        from .scan import scan_text

        text = f"{cand.title}\n{cand.statement}"
        found = scan_text(text, path="candidate", allow=self.settings.scan_allow)
        if not found:
            return None
        kinds = ", ".join(sorted({f.kind for f in found}))
        return f"the rule contains what looks like {kinds} ({found[0]}); rules may not keep it"

    # ------------------------------------------------------------------ rejections

    def rejected_candidate(self, cand: Candidate) -> str | None:
        """Why ``cand`` may not be proposed: people rejected the same rule before."""
        for r in self.rejected:
            if not r.retired and same_rule(r, cand):
                return f"people rejected this rule in proposal {r.proposal}: {_clip(r.why)}"
        return None

    def rejected_retirement(self, target: Rule) -> str | None:
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

    def recount(self, work: dict[str, Rule], scope: str, evidence: Counted) -> None:
        """Set support / contradictions of the scope's active checkable rules, counted
        under the ranking their figures give now (one count: counted again until the
        figures agree with the ranking they give, momentum lost its hold on the
        windowed benchmark, 92.6% -> 84.3%, so the ranking stays one count behind)."""
        ids, ranked = scope_ranked(work, scope)
        for rid, (right, wrong) in zip(ids, evidence.counts(ranked), strict=True):
            work[rid] = replace(work[rid], support=right, contradictions=wrong)


_Decisions = dict[tuple[str, str], tuple[str, bool]]


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
