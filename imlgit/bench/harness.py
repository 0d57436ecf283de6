"""The learning benchmark: iterations of act -> learn -> evaluate, one condition at a time.

Every condition runs on its own fresh memory repository (a real git repository
through :class:`~imlgit.store.Store`) over the same training stream and the same
held-out set. One iteration takes the next batch of experiences and

1. **acts**: the agent answers each input of the batch with its current memory;
   its answer becomes the experience's ``output`` and the reward says whether
   it was right (``act_accuracy``: learning online, before the batch is learned);
2. **learns** from the batch (conditions that learn; the learning engine of
   :mod:`imlgit.learn`: induce, revise, verify, damp, commit);
3. **evaluates** on the held-out set.

Conditions (``DESCRIPTIONS``: memory, learner, how held-out questions are answered).
Without a model:

- ``majority``: no memory; the commonest class seen so far (the floor);
- ``episodic-knn``: the raw experiences, the k most similar retrieved by
  embedding, a vote over their outcomes (episodic memory without a model);
- ``covering``, ``covering-no-momentum``: IML with the learner that needs no
  model, momentum 0.25 (the default) and 0;
- ``hidden-rules``: the environment's hidden rules written into memory, answered
  by checked inference (inference ability alone: the ceiling).

With a chat model (any :class:`~imlgit.llm.ChatModel`: the embedded server, an
OpenAI-compatible endpoint, a fake in tests):

- ``none``: no memory; the model answers alone (``prompts/infer.md`` with no rule);
- ``episodic``: the k most similar past experiences as few-shot examples;
- ``model``, ``model-no-momentum``: the paper's IML with the language-model
  learner, momentum 0.25 and 0;
- ``model-no-verification``: ``model`` with evidence verification off: the engine
  runs with ``LearnSettings(min_coverage=0, min_precision=0.0)``, so no proposed
  checkable rule is refused for deciding too few experiences or getting too
  many wrong (validation, e.g. that a statement says what its form says, stays);
- ``hidden-rules-model``: the hidden rules in the model's prompt (the model's
  inference ability alone).

Model answers cost a call each, so model-answered accuracy is measured on the
first ``model_test`` held-out questions; the model's answer is free text, read
as a class by :func:`~imlgit.bench.chat.match_class`. For conditions whose
memory holds rules, ``checked_accuracy`` is checked inference (code) over the
whole held-out set, and ``ask_accuracy`` on the sample is what ``imlgit ask``
does: checked inference where a checkable rule applies, the model elsewhere.

Per iteration: accuracy, active rules, operations by kind, oscillations (a rule
edited back to an earlier statement, or a retired rule brought back), prompt
and completion tokens (the server's usage), model calls that failed, seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..commits import CommitMessage, Identity
from ..embed import Embedder
from ..errors import LearnError
from ..experience import Experience
from ..infer import checked_answer
from ..learn import BatchResult, Learning, LearnSettings
from ..learners.base import Learner
from ..learners.rulelearner import CoveringLearner
from ..llm import ChatModel
from ..rules import Rule, now_utc, render_rule
from ..store import Store
from .chat import MeteredChat, episodic_answer, input_text, model_learner, rules_answer
from .episodic import EpisodicMemory
from .scoring import (
    RewardVote,
    held_out_accuracy,
    predicted_works,
    reward_scored,
    split_held_out,
)

__all__ = [
    "CONDITIONS",
    "DESCRIPTIONS",
    "MODEL_CONDITIONS",
    "NO_MODEL_CONDITIONS",
    "Iteration",
    "OscillationCounter",
    "RunResult",
    "no_verification",
    "run_condition",
    "write_hidden_rules",
]

NO_MODEL_CONDITIONS = (
    "majority",
    "episodic-knn",
    "covering-no-momentum",
    "covering",
    "hidden-rules",
)
MODEL_CONDITIONS = (
    "none",
    "episodic",
    "model-no-momentum",
    "model",
    "model-no-verification",
    "hidden-rules-model",
)
CONDITIONS = NO_MODEL_CONDITIONS + MODEL_CONDITIONS

# condition -> (memory, learner, answered by)
DESCRIPTIONS: dict[str, tuple[str, str, str]] = {
    "majority": ("none", "-", "the commonest class seen"),
    "episodic-knn": ("raw experiences", "-", "vote of the k most similar"),
    "covering-no-momentum": ("rules", "no-model, momentum 0", "checked inference"),
    "covering": ("rules", "no-model, momentum 0.25", "checked inference"),
    "hidden-rules": ("the hidden rules", "-", "checked inference"),
    "none": ("none", "-", "the model alone"),
    "episodic": ("raw experiences", "-", "the model, k most similar as examples"),
    "model-no-momentum": ("rules", "model, momentum 0", "the model with the rules"),
    "model": ("rules", "model, momentum 0.25", "the model with the rules"),
    "model-no-verification": (
        "rules",
        "model, momentum 0.25, no verification",
        "the model with the rules",
    ),
    "hidden-rules-model": ("the hidden rules", "-", "the model with the rules"),
}

_MODEL_LEARNS = {"model", "model-no-momentum", "model-no-verification"}
_LEARNS = {"covering", "covering-no-momentum", *_MODEL_LEARNS}
_EPISODIC = {"episodic", "episodic-knn"}
_HIDDEN = {"hidden-rules", "hidden-rules-model"}
_CONSTANT = {"none", "hidden-rules-model"}  # memory never changes: evaluate once
_OPS = ("added", "edited", "merged", "retired", "agreed", "damped", "restored")
# The bench writes an environment's hidden rules as its setup: a person's stand-in
# (an address at imlgit.invalid is imlgit's own, whose commits need an approval).
BENCH_AUTHOR = Identity("imlgit bench", "bench@bench.example")
# Learning happens on this branch of the bench's throwaway memory, as it would on a
# proposal: imlgit's commits reach main only inside an approval.
LEARNING = "learning"
MAX_NOTES = 5
MAX_RULES_SHOWN = 20
MAX_ANSWERS_SHOWN = 5


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def no_verification(settings: LearnSettings) -> LearnSettings:
    """``settings`` with evidence verification off: nothing is refused for its counts."""
    return replace(settings, min_coverage=0, min_precision=0.0, default_precision=0.0)


@dataclass
class Iteration:
    """One act -> learn -> evaluate step."""

    seen: int  # experiences learned from so far
    accuracy: float  # held-out, answered as the condition answers
    rules: int  # active rules of the scope
    operations: dict[str, int]
    oscillations: int
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tested: int = 0  # held-out questions ``accuracy`` is over
    act_accuracy: float | None = None  # share of the batch answered right before learning
    checked_accuracy: float | None = None  # checked inference, whole held-out set
    ask_accuracy: float | None = None  # checked where a rule applies, else the model
    failed: int = 0  # model calls that failed (a learning step that failed: operations)


@dataclass
class RunResult:
    condition: str
    seed: int
    iterations: list[Iteration] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # failed learning steps, first few
    rules: list[str] = field(default_factory=list)  # statements of the rules at the end
    answers: dict[str, int] = field(default_factory=dict)  # the model's commonest answers
    refusals: list[str] = field(default_factory=list)  # refused operations, first few

    @property
    def final(self) -> float:
        return self.iterations[-1].accuracy if self.iterations else 0.0

    @property
    def oscillations(self) -> int:
        return sum(i.oscillations for i in self.iterations)

    @property
    def tokens(self) -> int:
        return sum(i.prompt_tokens + i.completion_tokens for i in self.iterations)

    @property
    def seconds(self) -> float:
        return sum(i.seconds for i in self.iterations)

    def operations(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for it in self.iterations:
            total.update(it.operations)
        return dict(sorted(total.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "seed": self.seed,
            "final_accuracy": self.final,
            "oscillations": self.oscillations,
            "operations": self.operations(),
            "tokens": self.tokens,
            "seconds": self.seconds,
            "notes": self.notes,
            "rules": self.rules,
            "model_answers": self.answers,
            "refusals": self.refusals,
            "iterations": [asdict(i) for i in self.iterations],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            data["condition"],
            data["seed"],
            [Iteration(**i) for i in data["iterations"]],
            list(data.get("notes", [])),
            list(data.get("rules", [])),
            dict(data.get("model_answers", {})),
            list(data.get("refusals", [])),
        )


class OscillationCounter:
    """Oscillations of rules: an edit back to a statement the rule had before its
    current one, or a retired rule brought back (restored)."""

    def __init__(self) -> None:
        self.statements: dict[str, list[str]] = {}

    def added(self, rule_id: str, statement: str) -> int:
        self.statements.setdefault(rule_id, []).append(statement)
        return 0

    def edited(self, rule_id: str, statement: str) -> int:
        """Record an edit (or merge into ``rule_id``); 1 if it goes back to an earlier
        statement of the rule, else 0."""
        history = self.statements.setdefault(rule_id, [])
        back = int(statement in history[:-1])
        if not history or history[-1] != statement:
            history.append(statement)
        return back

    def restored(self, rule_id: str) -> int:
        return 1

    def batch(self, result: BatchResult, statement: Callable[[str], str]) -> int:
        """Record one learned batch; ``statement(rule_id)`` reads a rule's statement now."""
        n = 0
        for rid in result.added:
            n += self.added(rid, statement(rid))
        for rid in [*result.edited, *result.merged]:
            n += self.edited(rid, statement(rid))
        for rid in result.restored:
            n += self.restored(rid)
        return n


def _scope_rules(store: Store, scope: str) -> list[Rule]:
    """The scope's active rules, checkable or not."""
    rules = store.read_rules(LEARNING if store.head(LEARNING) else None)
    return [r for r in rules.values() if r.status == "active" and r.scope == scope]


def _checkable(rules: Sequence[Rule]) -> list[Rule]:
    return [r for r in rules if r.checkable]


def _checked(rules: Sequence[Rule], question: Any) -> str | None:
    hit = checked_answer(rules, question)
    return hit[0] if hit is not None else None


def hidden_rules(hidden: Sequence[tuple[Any, str]], scope: str) -> list[Rule]:
    """The environment's hidden rules (``when``, ``then`` pairs) as checkable rules."""
    from ..statements import render_statement

    now = now_utc()
    return [
        Rule(
            id=f"r-hidden-{i:02d}",
            title=f"Hidden rule {i}",
            statement=render_statement(when, then),
            scope=scope,
            created=now,
            updated=now,
            when=tuple(when),
            then=then,
            support=1,
        )
        for i, (when, then) in enumerate(hidden)
    ]


def write_hidden_rules(store: Store, hidden: Sequence[tuple[Any, str]], scope: str) -> None:
    """Commit the environment's hidden rules (checkable) into ``store``."""
    steps = []
    for r in hidden_rules(hidden, scope):
        msg = CommitMessage.make(
            "add", f"add {r.id}", "The environment's hidden rule.", rules=[r.id]
        )
        steps.append(({r.path: render_rule(r).encode()}, msg))
    store.commit_many(steps, author=BENCH_AUTHOR)


def _prompt_rules(
    rules: Sequence[Rule], question: Any, embedder: Embedder | None, k: int
) -> list[Rule]:
    """The rules a model's prompt gets: all of the scope's when they are at most k,
    else the k nearest the question (by embedding; without an embedder, the k with
    the most support)."""
    if len(rules) <= k:
        return list(rules)
    if embedder is None:
        return sorted(rules, key=lambda r: (-r.support, r.id))[:k]
    from ..index import rule_text

    vectors = embedder.embed([rule_text(r.title, r.statement, r.scope, r.tags) for r in rules])
    query = embedder.embed([input_text(question)])[0]
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [rules[int(i)] for i in order]


def _acted(exp: Experience, answer: str | None) -> Experience:
    reward = 1.0 if answer is not None and answer == exp.outcome.expected else 0.0
    return replace(exp, output=answer, outcome=replace(exp.outcome, reward=reward))


def run_condition(
    condition: str,
    train: Sequence[Experience],
    test: Sequence[Experience],
    *,
    seed: int,
    batch: int,
    hidden: Sequence[tuple[Any, str]] = (),
    classes: Sequence[str] = (),
    momentum: float = 0.25,
    learner: Learner | None = None,
    chat: ChatModel | None = None,
    embedder: Embedder | None = None,
    k: int = 8,
    model_test: int = 20,
    model_batch: int | None = None,
    act_with_model: bool = False,
    logged: bool = False,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Run one condition over the training stream; act, learn and evaluate per batch.

    ``learner`` replaces the no-model learner of the covering conditions (e.g. a
    CoveringLearner with a window); the model conditions use the language-model
    learner on ``chat``, learning each batch in steps of ``model_batch``
    experiences (default: the whole batch). ``embedder`` is needed by the
    episodic conditions (and ranks rules for a model's prompt when a scope has
    more than ``k``). ``act_with_model``: in the act step, model conditions ask
    the model where no checkable rule answers (default: they give no answer, to
    save calls). A learning step that fails (the learner's model timed out, or
    never gave a valid answer) commits nothing and is counted in
    ``operations["failed"]``; a model call that fails is counted in ``failed``
    (an answer that fails counts as wrong); the run goes on.

    ``logged``: the training experiences are another agent's log (its actions and
    the rewards they got), learned as they are: the act step does not replace
    them (and measures nothing). Held-out experiences without an expected answer
    are scored, in the conditions without a model, by whether the condition
    predicts their reward (:mod:`imlgit.bench.scoring`).
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    if condition in MODEL_CONDITIONS and chat is None:
        raise ValueError(f"condition {condition!r} needs a chat model")
    if condition in _EPISODIC and embedder is None:
        raise ValueError(f"condition {condition!r} needs an embedder")
    if not train or not test:
        raise ValueError("need training and held-out experiences")
    scope = train[0].scope
    classes = tuple(classes) or tuple(sorted({e.label for e in [*train, *test] if e.label}))
    metered: MeteredChat | None = None
    if chat is not None and condition in MODEL_CONDITIONS:
        metered = chat if isinstance(chat, MeteredChat) else MeteredChat(chat)
    sample = list(test[: max(1, model_test)])
    result = RunResult(condition, seed)

    def note(text: str) -> None:
        if len(result.notes) < MAX_NOTES:
            result.notes.append(text[:300])

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        store = Store.init(Path(tmp) / "memory", author=BENCH_AUTHOR, install_hooks=False)
        if condition in _HIDDEN:
            write_hidden_rules(store, hidden, scope)
        engine: Learning | None = None
        if condition in _LEARNS:
            m = 0.0 if condition.endswith("no-momentum") else momentum
            chosen: Learner
            if condition in _MODEL_LEARNS:
                assert metered is not None
                chosen = model_learner(metered)
                settings = LearnSettings(batch=model_batch or batch, momentum=m, branch=LEARNING)
                if condition == "model-no-verification":
                    settings = no_verification(settings)
            else:
                chosen = learner if learner is not None else CoveringLearner()
                settings = LearnSettings(batch=batch, momentum=m, branch=LEARNING)
            store.create_branch(LEARNING)
            engine = Learning(store, chosen, settings=settings)
        episodes = (
            EpisodicMemory(embedder, k) if embedder is not None and condition in _EPISODIC else None
        )
        by_answer, by_reward = split_held_out(test)
        rewards = (
            RewardVote(embedder, k)
            if embedder is not None and condition == "episodic-knn" and by_reward
            else None
        )
        seen_right: Counter[bool] = Counter()
        oscillation = OscillationCounter()
        seen_labels: Counter[str] = Counter()
        constant: list[str | None] | None = None
        raw_answers: Counter[str] = Counter()

        def model_answers(rules: Sequence[Rule], questions: Sequence[Experience]) -> list[Any]:
            assert metered is not None
            out: list[str | None] = []
            for e in questions:
                if condition == "episodic":
                    assert episodes is not None
                    examples = episodes.examples(e.input)
                    got, raw = episodic_answer(
                        metered, e.input, examples, scope=scope, classes=classes
                    )
                else:
                    shown = _prompt_rules(rules, e.input, embedder, k)
                    got, raw = rules_answer(metered, e.input, shown, scope=scope, classes=classes)
                out.append(got)
                raw_answers[_clip(" ".join(raw.split())) if raw is not None else "(failed)"] += 1
            return out

        def act(rules: Sequence[Rule], part: Sequence[Experience]) -> list[str | None]:
            if condition == "majority":
                guess = seen_labels.most_common(1)[0][0] if seen_labels else None
                return [guess] * len(part)
            if condition == "episodic-knn":
                assert episodes is not None
                return episodes.vote([e.input for e in part])
            checkable = _checkable(rules)
            answers = [_checked(checkable, e.input) for e in part]
            if condition in MODEL_CONDITIONS and act_with_model:
                missing = [i for i, a in enumerate(answers) if a is None]
                got = model_answers(rules, [part[i] for i in missing])
                for i, a in zip(missing, got, strict=True):
                    answers[i] = a
            return answers

        with store.deferred_worktree():
            for start in range(0, len(train), batch):
                part = train[start : start + batch]
                t0 = time.perf_counter()
                before = metered.meter.copy() if metered is not None else None
                rules = _scope_rules(store, scope)
                act_acc: float | None = None
                if logged:
                    acted = list(part)
                else:
                    answers = act(rules, part)
                    act_acc = sum(a == e.label for a, e in zip(answers, part, strict=True)) / len(
                        part
                    )
                    acted = [_acted(e, a) for e, a in zip(part, answers, strict=True)]
                ops: Counter[str] = Counter()
                osc = 0
                if engine is not None:
                    size = engine.settings.batch
                    for s in range(0, len(acted), size):
                        try:
                            res = engine.learn_batch(acted[s : s + size])
                        except LearnError as exc:
                            ops["failed"] += 1
                            note(f"after {start + s}: {exc}")
                            continue
                        for name in _OPS:
                            if getattr(res, name):
                                ops[name] += len(getattr(res, name))
                        if res.refused:
                            ops["refused"] += len(res.refused)
                            for refusal in res.refused:
                                if len(result.refusals) < MAX_NOTES:
                                    result.refusals.append(_clip(str(refusal), 300))
                        osc += oscillation.batch(
                            res, lambda rid: store.read_rule(rid, LEARNING).statement
                        )
                seen_labels.update(e.label for e in acted if e.label)
                seen_right.update(bool(e.right) for e in acted if reward_scored(e))
                if episodes is not None:
                    episodes.add(acted)
                if rewards is not None:
                    rewards.add(acted)
                rules = _scope_rules(store, scope)
                checkable = _checkable(rules)
                checked_acc: float | None = None
                ask_acc: float | None = None
                if condition == "majority":
                    guess = seen_labels.most_common(1)[0][0] if seen_labels else None
                    usual = seen_right.most_common(1)[0][0] if seen_right else None
                    acc = held_out_accuracy(
                        by_answer, [guess] * len(by_answer), by_reward, [usual] * len(by_reward)
                    )
                    tested = len(test)
                elif condition == "episodic-knn":
                    assert episodes is not None
                    votes = episodes.vote([e.input for e in by_answer])
                    predicted = rewards.predict(by_reward) if rewards else [None] * len(by_reward)
                    acc = held_out_accuracy(by_answer, votes, by_reward, predicted)
                    tested = len(test)
                elif condition in MODEL_CONDITIONS:
                    if condition in _CONSTANT and constant is not None:
                        got = constant
                    else:
                        got = model_answers(rules, sample)
                        if condition in _CONSTANT:
                            constant = got
                    acc = sum(a == e.label for a, e in zip(got, sample, strict=True)) / len(sample)
                    tested = len(sample)
                    if condition not in ("none", "episodic"):
                        checked_acc = sum(
                            _checked(checkable, e.input) == e.label for e in test
                        ) / len(test)
                        mixed = [
                            c if (c := _checked(checkable, e.input)) is not None else a
                            for a, e in zip(got, sample, strict=True)
                        ]
                        ask_acc = sum(
                            a == e.label for a, e in zip(mixed, sample, strict=True)
                        ) / len(sample)
                else:
                    acc = held_out_accuracy(
                        by_answer,
                        [_checked(checkable, e.input) for e in by_answer],
                        by_reward,
                        [predicted_works(checkable, e) for e in by_reward],
                    )
                    tested = len(test)
                spent = metered.meter.since(before) if metered and before else None
                it = Iteration(
                    seen=start + len(part),
                    accuracy=acc,
                    rules=len(rules),
                    operations=dict(sorted(ops.items())),
                    oscillations=osc,
                    seconds=time.perf_counter() - t0,
                    prompt_tokens=spent.prompt_tokens if spent else 0,
                    completion_tokens=spent.completion_tokens if spent else 0,
                    tested=tested,
                    act_accuracy=act_acc,
                    checked_accuracy=checked_acc,
                    ask_accuracy=ask_acc,
                    failed=spent.failed if spent else 0,
                )
                result.iterations.append(it)
                result.rules = [r.statement for r in rules[:MAX_RULES_SHOWN]]
                result.answers = dict(raw_answers.most_common(MAX_ANSWERS_SHOWN))
                if progress is not None:
                    progress(
                        f"{condition} seed {seed}: {it.seen} seen, accuracy {acc:.1%}, "
                        f"{it.rules} rules, {it.seconds:.1f}s"
                    )
    return result
