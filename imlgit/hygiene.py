"""Importance of each rule, and pruning by it: memory that does not only grow.

A rule's importance comes from figures anyone can check:

- **evidence**: its support and contradictions (counted, for checkable rules);
- **use**: how often retrieval put it in a prompt and how often an answer cited
  it (``<git dir>/imlgit/usage.jsonl``, written by ``ask``; local to this copy);
- **outcome credit**: stored experiences that name the rules their answer cited
  (the ``rules`` field) and whether that answer was right: cited in a right
  answer counts for a rule, in a wrong one against it;
- **age**: days since the rule last changed; the evidence counts for less as it
  ages (halved every 180 days), while use and outcome credit keep a rule that is
  still working.

    score = (support - 2 x contradictions) x 0.5 ** (age in days / 180)
            + cited / 2 + retrieved / 10 + 2 x right - 3 x wrong

Pruning retires the lowest-scoring active rules until at most ``max_rules``
remain (or those below a score), one commit a rule whose rationale names the
rule and its figures, on a proposal branch that goes through review like
anything learned. ``imlgit restore`` brings any of them back.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .commits import CommitMessage, Identity
from .errors import ConfigError, ImlgitError, RevisionNotFound
from .experience import MAX_LINE_BYTES, Experience, decode_json_line, parse_jsonl_text
from .rules import Rule, now_utc, render_rule
from .store import DEFAULT_BRANCH, Store

log = logging.getLogger(__name__)

__all__ = [
    "HYGIENE",
    "Importance",
    "usage_counts",
    "outcome_credit",
    "importance",
    "plan_prune",
    "commit_prune",
    "ranked",
    "Pruned",
]

HYGIENE = Identity("imlgit hygiene", "hygiene@imlgit.invalid")
HALF_LIFE_DAYS = 180


@dataclass(frozen=True)
class Importance:
    """A rule's figures and the score made from them."""

    rule_id: str
    support: int = 0
    contradictions: int = 0
    retrieved: int = 0
    cited: int = 0
    right: int = 0
    wrong: int = 0
    age_days: float = 0.0

    @property
    def score(self) -> float:
        evidence = (self.support - 2 * self.contradictions) * 0.5 ** (
            self.age_days / HALF_LIFE_DAYS
        )
        return evidence + self.cited / 2 + self.retrieved / 10 + 2 * self.right - 3 * self.wrong

    def figures(self) -> str:
        return (
            f"support {self.support}, contradictions {self.contradictions}, retrieved "
            f"{self.retrieved} times, cited {self.cited} times, cited in {self.right} right "
            f"and {self.wrong} wrong answers, {self.age_days:.0f} days since its last "
            f"change: importance {self.score:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "score": round(self.score, 3),
            "support": self.support,
            "contradictions": self.contradictions,
            "retrieved": self.retrieved,
            "cited": self.cited,
            "right": self.right,
            "wrong": self.wrong,
            "age_days": round(self.age_days, 1),
        }


def usage_counts(store: Store) -> tuple[Counter[str], Counter[str]]:
    """(retrieved, cited) counts per rule from this copy's usage log.

    The log is derived data: a line that is not a usage record (a torn last line,
    bytes that are not UTF-8, anything else) is skipped with a warning naming
    ``path:line``, never a reason to fail.
    """
    retrieved: Counter[str] = Counter()
    cited: Counter[str] = Counter()
    path = store.derived_dir / "usage.jsonl"
    try:
        f = open(path, "rb")
    except OSError:
        return retrieved, cited
    with f:
        for lineno, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), 1):
            while not raw.endswith(b"\n") and len(raw) > MAX_LINE_BYTES:
                rest = f.readline(MAX_LINE_BYTES)  # skip the rest of an over-long line
                if not rest or rest.endswith(b"\n"):
                    break
            if not raw.strip():
                continue
            try:
                rec = decode_json_line(raw.rstrip(b"\n"), path=str(path), line=lineno)
                counts = [rec.get(key) for key in ("retrieved", "cited")]
                if not all(isinstance(c, list) for c in counts):
                    raise ValueError("not a usage record")
            except (ImlgitError, ValueError, AttributeError) as exc:
                why = getattr(exc, "message", None) or str(exc)  # without a second path:line
                log.warning("%s:%d: skipped a line of the usage log: %s", path, lineno, why)
                continue
            retrieved.update(str(r) for r in counts[0])
            cited.update(str(r) for r in counts[1])
    return retrieved, cited


def stored_experiences(
    store: Store, rev: str | None = None, *, skip_invalid: bool = False
) -> list[Experience]:
    """The experiences stored at ``rev`` (none with hashes-only storage); with
    ``skip_invalid`` the lines that are not valid experiences are left out rather
    than refused (a proposal branch anyone can push may hold anything)."""
    from .evidence import batch_texts

    out: list[Experience] = []
    for path, _, text in batch_texts(store, rev or DEFAULT_BRANCH):
        if '"sha256"' in text.split("\n", 1)[0] and '"input"' not in text:
            continue  # hashes-only storage
        out.extend(parse_jsonl_text(text, path=path, skip_invalid=skip_invalid).experiences)
    return out


def outcome_credit(experiences: Iterable[Experience]) -> tuple[Counter[str], Counter[str]]:
    """(right, wrong): per rule, the answers citing it that were right / wrong."""
    right: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for exp in experiences:
        verdict = exp.right
        if verdict is None or not exp.rules:
            continue
        (right if verdict else wrong).update(exp.rules)
    return right, wrong


def _age_days(rule: Rule, now: _dt.datetime) -> float:
    try:
        then = _dt.datetime.strptime(rule.updated, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        return 0.0
    return max(0.0, (now - then).total_seconds() / 86400)


def importance(
    rules: Iterable[Rule],
    *,
    retrieved: Mapping[str, int] | None = None,
    cited: Mapping[str, int] | None = None,
    right: Mapping[str, int] | None = None,
    wrong: Mapping[str, int] | None = None,
    now: _dt.datetime | None = None,
) -> list[Importance]:
    """The importance of each active rule, lowest first (ties: oldest, then id)."""
    now = now or _dt.datetime.now(_dt.UTC)
    retrieved, cited = retrieved or {}, cited or {}
    right, wrong = right or {}, wrong or {}
    out = [
        Importance(
            r.id,
            r.support,
            r.contradictions,
            retrieved.get(r.id, 0),
            cited.get(r.id, 0),
            right.get(r.id, 0),
            wrong.get(r.id, 0),
            _age_days(r, now),
        )
        for r in rules
        if r.status == "active"
    ]
    out.sort(key=lambda i: (i.score, -i.age_days, i.rule_id))
    return out


def ranked(store: Store) -> list[Importance]:
    """The active rules on main, least important first, from the figures this copy
    has (usage log, stored experiences, each rule's git dates). A rule file that does
    not parse refuses the ranking (:class:`~imlgit.errors.RuleError`): pruning around
    it would rank a memory that is not the one on main."""
    from .rulefiles import read_rules

    retrieved, cited = usage_counts(store)
    right, wrong = outcome_credit(stored_experiences(store))
    every = read_rules(store).require(what="prune")
    return importance(
        [store.with_git_dates(r) for r in every.values()],  # a hand-written rule's age
        retrieved=retrieved, cited=cited, right=right, wrong=wrong,
    )  # fmt: skip


@dataclass(frozen=True)
class Pruned:
    """What a prune did, or would do: ``retire`` the rules chosen (least important
    first) of the ``active`` ones. ``proposal`` is None when nothing was written (a
    dry run, or nothing to retire); else its ``commits``, one a rule, and what the
    review policy made of it (``decision``, ``approval``). ``head``: the approval's
    merge, else the proposal's last commit, else main."""

    retire: list[Importance]
    active: int
    head: str
    proposal: str | None = None
    commits: list[str] = field(default_factory=list)
    decision: Any = None
    approval: Any = None

    def to_dict(self) -> dict[str, Any]:
        if self.proposal is None:
            return {"dry_run": True, "retire": self.retire, "active": self.active}
        return {"proposal": self.proposal, "commits": self.commits, "retire": self.retire,
                "decision": self.decision, "approval": self.approval}  # fmt: skip


def plan_prune(
    ranked: Sequence[Importance], *, max_rules: int | None = None, below: float | None = None
) -> list[Importance]:
    """Which rules to retire: the lowest until ``max_rules`` remain, and any below ``below``."""
    if max_rules is None and below is None:
        raise ConfigError("say how to prune: --max-rules N, --below SCORE, or [prune] max_rules")
    if max_rules is not None and max_rules < 0:
        raise ConfigError("max_rules must be 0 or more")
    chosen: dict[str, Importance] = {}
    if max_rules is not None:
        for imp in ranked[: max(0, len(ranked) - max_rules)]:
            chosen[imp.rule_id] = imp
    if below is not None:
        for imp in ranked:
            if imp.score < below:
                chosen.setdefault(imp.rule_id, imp)
    return sorted(chosen.values(), key=lambda i: (i.score, i.rule_id))


def commit_prune(
    store: Store,
    plan: Sequence[Importance],
    *,
    branch: str,
    reason: str,
    author: Identity = HYGIENE,
) -> list[str]:
    """Retire each planned rule on ``branch``, one commit each; all or nothing."""
    head = store.head(branch)
    if head is None:
        raise RevisionNotFound(branch)
    rules = {rid: store.with_git_dates(r, head) for rid, r in store.read_rules(head).items()}
    now = now_utc()
    steps = []
    for imp in plan:
        rule = rules.get(imp.rule_id)
        if rule is None or rule.status != "active":
            continue
        retired = rule.with_changes(status="retired", updated=now)
        rationale = (
            f"{imp.rule_id} is among the least important active rules ({imp.figures()}). "
            f"{reason} `imlgit restore {imp.rule_id}` brings it back."
        )
        msg = CommitMessage.make(
            "prune",
            f"retire {imp.rule_id}",
            rationale,
            rules=[imp.rule_id],
            trailers=[("Imlgit-Importance", f"{imp.score:.3f}")],
        )
        steps.append(({rule.path: render_rule(retired).encode("utf-8")}, msg))
    if not steps:
        return []
    return store.commit_many(steps, author=author, branch=branch, expected_head=head)
