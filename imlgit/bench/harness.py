"""The learning benchmark: iterations of learn (a batch) -> evaluate on held-out data.

Conditions run in the same process, each on its own fresh memory repository:

- ``covering``: the learner that needs no model, with momentum (the default);
- ``covering-no-momentum``: the same with momentum 0 (the ablation);
- ``hidden-rules``: the environment's hidden rules written into memory
  (inference ability alone: an upper bound for checked inference);
- ``majority``: no memory, answer the commonest class seen so far (a floor);
- ``model``: the paper's IML with a language model (the embedded one, or any
  configured endpoint); its held-out accuracy is measured on ``model_test``
  questions per iteration because each answer is a model call.

Per iteration: accuracy, active rules, operations, oscillations (a retired rule
brought back, or a rule edited back to an earlier statement), seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..commits import CommitMessage, Identity
from ..experience import Experience
from ..infer import checked_answer
from ..learn import Learning, LearnSettings
from ..learners.base import Learner
from ..learners.rulelearner import CoveringLearner
from ..rules import Rule, now_utc, render_rule
from ..store import Store

__all__ = ["Iteration", "RunResult", "run_condition", "CONDITIONS"]

CONDITIONS = ("covering", "covering-no-momentum", "hidden-rules", "majority", "model")
_BENCH = Identity("imlgit bench", "bench@imlgit.invalid")


@dataclass
class Iteration:
    seen: int
    accuracy: float
    rules: int
    operations: dict[str, int]
    oscillations: int
    seconds: float
    prompt_tokens: int = 0


@dataclass
class RunResult:
    condition: str
    seed: int
    iterations: list[Iteration] = field(default_factory=list)

    @property
    def final(self) -> float:
        return self.iterations[-1].accuracy if self.iterations else 0.0

    @property
    def oscillations(self) -> int:
        return sum(i.oscillations for i in self.iterations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "seed": self.seed,
            "final_accuracy": self.final,
            "oscillations": self.oscillations,
            "iterations": [i.__dict__ for i in self.iterations],
        }


def _active(store: Store, scope: str) -> list[Rule]:
    return [
        r
        for r in store.read_rules().values()
        if r.status == "active" and r.scope == scope and r.checkable
    ]


def _accuracy(rules: Sequence[Rule], test: Sequence[Experience]) -> float:
    ok = 0
    for e in test:
        hit = checked_answer(rules, e.input)
        ok += hit is not None and hit[0] == e.label
    return ok / len(test) if test else 0.0


def _write_hidden(store: Store, hidden: Sequence[tuple[Any, str]], scope: str) -> None:
    from ..conditions import render_statement

    steps = []
    for i, (when, then) in enumerate(hidden):
        now = now_utc()
        r = Rule(
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
        msg = CommitMessage.make(
            "add", f"add {r.id}", "The environment's hidden rule.", rules=[r.id]
        )
        steps.append(({r.path: render_rule(r).encode()}, msg))
    store.commit_many(steps, author=_BENCH)


def run_condition(
    condition: str,
    train: Sequence[Experience],
    test: Sequence[Experience],
    *,
    seed: int,
    batch: int,
    hidden: Sequence[tuple[Any, str]] = (),
    momentum: float = 0.25,
    learner: Learner | None = None,
    model_answer: Callable[[list[Rule], Experience], str | None] | None = None,
    model_test: int = 50,
    workdir: Path | None = None,
) -> RunResult:
    """Run one condition over the training stream; evaluate after every batch."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}")
    scope = train[0].scope
    result = RunResult(condition, seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        store = Store.init(Path(tmp) / "memory", author=_BENCH, install_hooks=False)
        if condition == "hidden-rules":
            _write_hidden(store, hidden, scope)
        engine = None
        if condition.startswith("covering") or condition == "model":
            chosen = learner if learner is not None else CoveringLearner()
            m = 0.0 if condition == "covering-no-momentum" else momentum
            engine = Learning(store, chosen, settings=LearnSettings(batch=batch, momentum=m))
        statements: dict[str, list[str]] = {}
        seen_labels: Counter[str] = Counter()
        with store.deferred_worktree():
            for start in range(0, len(train), batch):
                part = train[start : start + batch]
                t0 = time.perf_counter()
                ops: dict[str, int] = {}
                osc = 0
                if engine is not None:
                    res = engine.learn_batch(part)
                    for name in (
                        "added",
                        "edited",
                        "merged",
                        "retired",
                        "agreed",
                        "damped",
                        "restored",
                    ):
                        n = len(getattr(res, name))
                        if n:
                            ops[name] = n
                    if res.refused:
                        ops["refused"] = len(res.refused)
                    osc += len(res.restored)
                    for rid in res.edited:
                        stmt = store.read_rule(rid).statement
                        history = statements.setdefault(rid, [])
                        if stmt in history[:-1]:
                            osc += 1
                        history.append(stmt)
                    for rid in res.added:
                        statements.setdefault(rid, []).append(store.read_rule(rid).statement)
                seen_labels.update(e.label for e in part if e.label)
                rules = _active(store, scope)
                if condition == "majority":
                    guess = seen_labels.most_common(1)[0][0] if seen_labels else None
                    acc = sum(e.label == guess for e in test) / len(test)
                elif condition == "model" and model_answer is not None:
                    sample = test[:model_test]
                    acc = sum(model_answer(rules, e) == e.label for e in sample) / len(sample)
                else:
                    acc = _accuracy(rules, test)
                result.iterations.append(
                    Iteration(
                        start + len(part), acc, len(rules), ops, osc, time.perf_counter() - t0
                    )
                )
    return result
