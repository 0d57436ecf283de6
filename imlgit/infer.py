"""Inference: answer with the relevant rules, and say which rules answered.

Order of paths:

1. **checked**: when the question is an input the active checkable rules of its
   scope can be checked against, code answers: among the matching rules, the most
   specific wins, then the highest precision (support / (support +
   contradictions)), then the highest support (:func:`imlgit.conditions.choose`);
2. **model**: otherwise the language model answers with the top-k retrieved rules
   in its prompt, and must cite the ids it used (only ids it was given);
3. **none**: no checkable rule applies and no model is available.

Which rules were retrieved and cited is appended to ``<git dir>/imlgit/usage.jsonl``
(local statistics for pruning; never committed).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .checkindex import CheckIndex, action_of, active_checkable
from .conditions import FAILS, WORKS, checkable, choose
from .errors import ExperienceError
from .inputs import View, describe, view_of
from .retrieval import warn_unparsable
from .rules import Rule
from .verify import CLASS, OUTCOME, kind_of, precision, scored

if TYPE_CHECKING:
    from .llm import ChatModel
    from .store import Store

__all__ = [
    "Answer",
    "Ask",
    "CheckIndex",
    "CheckedRules",
    "Decision",
    "Evaluation",
    "MAX_ASK_MANY",
    "answer",
    "ask",
    "questions_of",
    "checked_answer",
    "decide",
    "evaluate",
    "record_usage",
]

Input = str | Mapping[str, Any]


@dataclass(frozen=True)
class Answer:
    answer: str | None
    path: str  # checked | model | none
    rules: tuple[str, ...]
    commit: str
    scope: str | None
    retrieved: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "path": self.path,
            "rules": list(self.rules),
            "commit": self.commit,
            "scope": self.scope,
            "retrieved": list(self.retrieved),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@dataclass(frozen=True)
class Decision:
    """What the checkable rules decide for a question, and every rule it rests on.

    ``how``: ``rule`` (the rule that decides), ``outcome`` (an outcome rule says the
    action works, or fails, there) or ``elimination`` (outcome rules say every other
    action they name fails there; ``rules`` are those rules)."""

    answer: str
    rules: tuple[Rule, ...]
    how: str = "rule"


def checked_answer(
    rules: Sequence[Rule], question: Input, *, action: str | None = None
) -> tuple[str, Rule] | None:
    """The checkable rules' answer for ``question`` and the first rule it rests on,
    or None when none applies (:func:`decide` says more)."""
    got = decide(rules, question, action=action)
    return None if got is None else (got.answer, got.rules[0])


def decide(
    rules: Sequence[Rule] | CheckIndex, question: Input, *, action: str | None = None
) -> Decision | None:
    """The checkable rules' answer for ``question``, or None when none applies.

    Without ``action``: the answer (or the action to take) the class rules give. A
    question is checkable when some rule with conditions can be evaluated on it
    (every field it tests is in the question); a rule without conditions (a
    default) never decides alone a question no other rule can check. Outcome
    rules then have their say: the class rules' action stands unless an outcome
    rule says it fails there; then (or with no class answer) the best-supported
    action an outcome rule says works there; else, when the outcome rules say every
    action they name but one fails there, that one (an answer by elimination,
    citing those rules; one of them must test more than the action); else the
    class rules' action, if any (the rules disagree, and the answer cites the
    class rule).

    With ``action``: whether that action is predicted to work there, ``works`` or
    ``fails``: by the outcome rules for the action, else by the class rules alone
    (the action works where they recommend it, fails where they recommend another;
    another action's outcome rules say nothing about this one).

    ``rules``: a list (every rule is tested: the reference) or a :class:`CheckIndex`
    of them (only the rules the question can match are: what ``ask`` uses); both
    give the same decision.
    """
    finder = rules if isinstance(rules, CheckIndex) else _Listed(rules)
    if action is not None:
        rule = finder.choose_outcome(action, view_of(question), view_of(question, action))
        if rule is not None:
            return Decision(rule.then or "", (rule,), "outcome")
        got = _by_class(finder, view_of(question))
        if got is None:
            return None
        return Decision(WORKS if got.answer == action else FAILS, got.rules)
    view = view_of(question)
    got = _by_class(finder, view)
    if not finder.actions:
        return got
    verdicts: dict[str, tuple[str, Rule]] = {}
    for act in finder.outcome_acts(view):
        rule = finder.choose_outcome(act, view, view_of(question, act))
        if rule is not None:
            verdicts[act] = (rule.then or "", rule)
    if got is not None and (got.answer not in verdicts or verdicts[got.answer][0] == WORKS):
        return got
    working = [(act, hit[1]) for act, hit in verdicts.items() if hit[0] == WORKS]
    if working:
        act, rule = max(working, key=lambda ar: (precision(ar[1]), ar[1].support, ar[0]))
        return Decision(act, (rule,), "outcome")
    left = _eliminated(finder.actions, verdicts)
    if left is not None:
        return left
    return got  # said to fail, and no other action is said to work: the rules disagree


def _by_class(finder: CheckIndex | _Listed, view: View) -> Decision | None:
    if not finder.any_class_evaluable(view):
        return None
    rule = finder.choose_class(view)
    return None if rule is None else Decision(rule.then or "", (rule,))


class _Listed:
    """Every rule tested against every question: the reference :class:`CheckIndex`
    is held to."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        active = active_checkable(rules)
        self.plain = [r for r in active if kind_of(r) == CLASS]
        self.outcome = [r for r in active if kind_of(r) == OUTCOME]
        self.actions = frozenset(a for a in map(action_of, self.outcome) if a is not None)

    def any_class_evaluable(self, view: View) -> bool:
        return any(r.when and checkable(r.when, view) for r in self.plain)

    def choose_class(self, view: View) -> Rule | None:
        return _choose([r for r in self.plain if checkable(r.when or (), view)], view)

    def outcome_acts(self, view: View) -> list[str]:
        return sorted(self.actions)

    def choose_outcome(self, act: str, view: View, act_view: View) -> Rule | None:
        return _choose(self.outcome, act_view)


def _eliminated(
    actions: frozenset[str], verdicts: Mapping[str, tuple[str, Rule]]
) -> Decision | None:
    """The one action the outcome rules name that they do not say fails here, when
    they say every other fails and at least one of those rules tests the question
    itself (not only the action: a rule that an action always fails decides no
    question alone)."""
    failing = {a: hit[1] for a, hit in verdicts.items() if hit[0] == FAILS}
    if len(actions) < 2 or len(actions) - len(failing) != 1:  # verdicts name actions only
        return None
    if not any(len(r.when or ()) > 1 for r in failing.values()):
        return None
    open_ = next(a for a in actions if a not in failing)
    return Decision(open_, tuple(r for _, r in sorted(failing.items())), "elimination")


def _choose(rules: Sequence[Rule], view: View) -> Rule | None:
    hit = choose([scored(r) for r in rules], view)
    return None if hit is None else rules[hit[1]]


def answer(
    question: Input,
    *,
    scope_rules: Sequence[Rule] | CheckIndex,
    retrieved: Sequence[Rule],
    commit: str,
    scope: str | None,
    model: Callable[[Input, Sequence[Rule]], tuple[str, Sequence[str], int, int]] | None = None,
    action: str | None = None,
) -> Answer:
    """Answer ``question``: checked by code where the rules allow it, else by the model.

    ``scope_rules`` are the checkable candidates (the scope's active rules),
    ``retrieved`` the top-k rules for the model's prompt; ``model`` returns
    (answer, cited ids, prompt tokens, completion tokens).
    """
    hit = decide(scope_rules, question, action=action)
    retrieved_ids = tuple(r.id for r in retrieved)
    if hit is not None:
        used = tuple(dict.fromkeys(r.id for r in hit.rules))
        return Answer(hit.answer, "checked", used, commit, scope, retrieved_ids)
    if model is None:
        return Answer(None, "none", (), commit, scope, retrieved_ids)
    text, cited, pt, ct = model(question, retrieved)
    allowed = set(retrieved_ids)
    return Answer(
        text,
        "model",
        tuple(c for c in cited if c in allowed),
        commit,
        scope,
        retrieved_ids,
        pt,
        ct,
    )


@dataclass(frozen=True)
class Scored:
    """Checked answers on one kind of held-out experience."""

    correct: int = 0
    answered: int = 0
    total: int = 0
    majority: int = 0  # right answers of the commonest outcome, on the same experiences

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.correct / self.total if self.total else 0.0,
            "correct": self.correct,
            "answered": self.answered,
            "total": self.total,
            "majority_baseline": self.majority / self.total if self.total else 0.0,
        }


KINDS = {
    "expected": "an expected answer: is the rules' answer that answer",
    "reward": "a reward for the action taken: do the rules predict whether it worked",
}


@dataclass(frozen=True)
class Evaluation:
    """Checked answers against held-out experiences, by kind (see :data:`KINDS`).

    Unanswered questions count as wrong; ``unscored`` experiences carry neither an
    expected answer nor a reward for an action (a text outcome only)."""

    correct: int
    answered: int
    total: int
    majority: int = 0
    kinds: dict[str, Scored] = field(default_factory=dict)
    unscored: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def majority_baseline(self) -> float:
        return self.majority / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "answered": self.answered,
            "total": self.total,
            "majority_baseline": self.majority_baseline,
            "unscored": self.unscored,
            "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
            "how": {k: KINDS[k] for k in self.kinds},
        }


def evaluate(rules: Sequence[Rule], experiences: Sequence[Any]) -> Evaluation:
    """Checked inference on held-out experiences, each scored by what it carries:
    an expected answer (is the answer right), or a reward for the action taken
    (do the rules predict the reward). The majority baseline answers every
    question of a kind with its commonest outcome in the same file."""
    tallies: dict[str, list[int]] = {}
    truths: dict[str, Counter[str]] = {}
    unscored = 0
    for exp in experiences:
        scoped = [r for r in rules if r.scope == exp.scope]
        if exp.outcome.expected is not None:
            kind, truth = "expected", exp.outcome.expected
            hit = checked_answer(scoped, exp.input)
        elif exp.outcome.reward is not None and exp.output is not None:
            kind, truth = "reward", WORKS if exp.right else FAILS
            hit = checked_answer(scoped, exp.input, action=exp.output)
        else:
            unscored += 1
            continue
        t = tallies.setdefault(kind, [0, 0, 0])
        truths.setdefault(kind, Counter())[truth] += 1
        t[2] += 1
        if hit is not None:
            t[1] += 1
            t[0] += hit[0] == truth
    kinds = {
        k: Scored(t[0], t[1], t[2], max(truths[k].values()))
        for k, t in sorted(tallies.items())
    }
    return Evaluation(
        sum(k.correct for k in kinds.values()),
        sum(k.answered for k in kinds.values()),
        sum(k.total for k in kinds.values()),
        sum(k.majority for k in kinds.values()),
        kinds,
        unscored,
    )


def record_usage(directory: os.PathLike[str] | str, ans: Answer) -> None:
    """Append which rules were retrieved and cited (local, never committed)."""
    line = json.dumps(
        {
            "t": int(time.time()),
            "commit": ans.commit,
            "path": ans.path,
            "retrieved": list(ans.retrieved),
            "cited": list(ans.rules),
        },
        separators=(",", ":"),
    )
    try:
        with open(os.path.join(directory, "usage.jsonl"), "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:
        pass  # statistics are a convenience; an answer never fails for them


# ---------------------------------------------------------------------- questions asked of memory

MAX_ASK_MANY = 100_000
"""Questions one :meth:`imlgit.memory.Memory.ask_many` (``imlgit ask --file``) answers."""


@dataclass(frozen=True)
class Ask:
    """One question of :meth:`imlgit.memory.Memory.ask_many` with its own scope or action."""

    input: str | Mapping[str, Any]
    scope: str | None = None
    action: str | None = None


class CheckedRules:
    """The active checkable rules of a scope at a commit, filed for checked answers:
    read once per (commit, scope) in a process (a commit's content never changes, so
    this is never stale), the last ``kept`` pairs kept (an agent asks at main)."""

    def __init__(self, store: Store, kept: int = 8) -> None:
        self.store = store
        self.kept = kept
        # (commit, scope) -> (the filed rules, the paths of rule files that do not parse)
        self._filed: dict[tuple[str, str | None], tuple[CheckIndex, list[str]]] = {}

    def get(self, commit: str, scope: str | None) -> tuple[CheckIndex, list[str]]:
        """The rules of ``scope`` (None: every scope) at ``commit``, filed, and the
        rule files that did not parse."""
        got = self._filed.get((commit, scope))
        if got is None:
            from .rulefiles import read_rules

            readable = read_rules(self.store, commit)
            index = CheckIndex(
                r
                for r in readable.rules.values()
                if r.checkable and r.status == "active" and (scope is None or r.scope == scope)
            )
            got = (index, [e.path or rid for rid, e in readable.problems.items()])
            if len(self._filed) >= self.kept:
                self._filed.pop(next(iter(self._filed)))
            self._filed[(commit, scope)] = got
        return got


Recall = Callable[[str, "int | None", "str | None", str], Sequence[Rule]]
"""``recall(text, k, scope, commit)``: the rules retrieved for a model's prompt."""


def ask(
    commit: str,
    question: Input,
    *,
    scope: str | None,
    k: int | None,
    use_model: bool,
    action: str | None,
    rules: CheckedRules,
    recall: Recall,
    chat: Callable[[], ChatModel],
    usage_dir: os.PathLike[str] | str,
) -> Answer:
    """Answer ``question`` at ``commit`` (:func:`answer`), and log which rules did
    (:func:`record_usage`). Retrieval is for the model's prompt: an answer only code
    may give (no model, or whether ``action`` works) retrieves nothing, so the
    embedder (and torch) is never loaded for it; ``chat()`` is called only when the
    model answers."""
    text = describe(question)
    if action is not None:
        text += f" -> {action}"
    needs_model = use_model and action is None
    retrieved = list(recall(text, k, scope, commit)) if needs_model else []
    index, unparsable = rules.get(commit, scope)
    if unparsable and not needs_model:  # else recall warned of them
        warn_unparsable("ask", unparsable)
    model = None
    if needs_model:
        from .learners.model import answer_with_model

        def model(q: Any, shown: Sequence[Rule]) -> tuple[str, Sequence[str], int, int]:
            got = answer_with_model(chat(), q, shown, scope=scope)
            return got.answer, got.cited, got.prompt_tokens, got.completion_tokens

    ans = answer(
        question,
        scope_rules=index,
        retrieved=retrieved,
        commit=commit,
        scope=scope,
        model=model,
        action=action,
    )
    record_usage(usage_dir, ans)
    return ans


def questions_of(
    questions: Sequence[Input | Ask], *, scope: str | None, action: str | None
) -> list[tuple[Input, str | None, str | None]]:
    """A batch of questions as (question, scope, action), in order: an :class:`Ask`
    item carries its own scope or action, the others take ``scope`` and ``action``.
    At most :data:`MAX_ASK_MANY` questions (:class:`ExperienceError`)."""
    if len(questions) > MAX_ASK_MANY:
        raise ExperienceError(f"{len(questions):,} questions; ask at most {MAX_ASK_MANY:,} at once")
    return [
        (q.input, q.scope if q.scope is not None else scope,
         q.action if q.action is not None else action) if isinstance(q, Ask)
        else (q, scope, action)
        for q in questions
    ]  # fmt: skip
