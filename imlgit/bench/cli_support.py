"""One entry point per benchmark, for ``imlgit bench`` and ``python -m imlgit.bench``.

:func:`run_truth_table` (and :func:`run_tickets`, the same on the text
environment) runs the conditions of :mod:`imlgit.bench.harness` over seeds and
writes into ``options.out``:

- ``truthtable.json``: everything (options, environment, every run, iteration by
  iteration, and the summaries);
- ``truthtable.md``: the main results (mean ± sd over seeds per condition), the
  learning curve, a noise table and a difficulty table;
- ``truthtable.png``: learning curves (skipped when matplotlib is missing).

Runs are shared between the tables: the main results at noise 0 are the noise
table's 0% column, and the base difficulty is the main environment.

Which conditions run by default: the ones that need no model; with a model
endpoint configured (``base_url`` here, or ``IMLGIT_BASE_URL`` / ``OPENAI_BASE_URL``)
the model conditions too, so one command gives the paper's comparison. The
embedded SmolLM2-135M is not used unless model conditions are named
(``conditions``): on 2 cores one learning step of 4 experiences takes it 1-2
minutes. Model conditions run on the first ``model_seeds`` seeds (default: all
with an endpoint, one on the embedded model) and are left out of the noise and
difficulty tables unless ``sweep_conditions`` names them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..embed import Embedder
from ..learners.synonyms import EmbeddedRelated
from ..llm import ChatModel, OpenAIChat
from .chat import MeteredChat, bench_chat, endpoint_configured, is_embedded
from .embedders import CachedEmbedder, bench_embedder
from .harness import (
    MODEL_CONDITIONS,
    RunResult,
    run_condition,
)
from .options import (
    EMBEDDED_MODEL_BATCH,
    BenchOptions,
    Difficulty,
    bench_options,
    parse_conditions,
    parse_difficulty,
    resolve_conditions,
    scale_options,
)
from .report import curve_table, main_table, plot_curves, summarize, sweep_table
from .scale import ScaleOptions, run_scale

__all__ = [
    "BenchOptions",
    "ScaleOptions",
    "bench_options",
    "scale_options",
    "markdown_from_json",
    "parse_conditions",
    "parse_difficulty",
    "resolve_conditions",
    "run_benchmark",
    "run_scale",
    "run_tickets",
    "run_truth_table",
]



def _make_env(env: str, difficulty: Difficulty, classes: int, seed: int) -> Any:
    if env == "tickets":
        from .tickets import Tickets

        return Tickets(clauses=difficulty[0], seed=seed)
    from .truthtable import TruthTable

    c, lit, a = difficulty
    return TruthTable(n_attributes=a, n_classes=classes, clauses=c, literals=lit, seed=seed)


def _describe_env(options: BenchOptions, difficulty: Difficulty) -> str:
    if options.env == "tickets":
        return (
            f"support tickets (text), a hidden policy of {difficulty[0]} phrase clauses, 3 classes"
        )
    c, lit, a = difficulty
    return (
        f"{a} yes/no attributes, {options.classes} classes, a hidden decision list of {c} "
        f"clauses of {lit} literals plus a default"
    )


def _difficulty_name(options: BenchOptions, d: Difficulty) -> str:
    base = " (main)" if d == options.base_difficulty() else ""
    if options.env == "tickets":
        return f"{d[0]} clauses{base}"
    return f"{d[0]} clauses × {d[1]} literals, {d[2]} attributes{base}"


class _Runner:
    """Runs (setting, seed, condition) once, however many tables need it."""

    def __init__(
        self,
        options: BenchOptions,
        chat: ChatModel | None,
        embedder: Embedder | None,
        model_seeds: int,
        model_batch: int | None,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.o = options
        self.chat = chat
        self.embedder = embedder
        self.model_seeds = model_seeds
        self.model_batch = model_batch
        self.progress = progress
        self.memo: dict[tuple[Difficulty, float, int, str], RunResult] = {}
        # synonyms for the no-model learner, as Memory.learn gives it: the bench's
        # embedder (MiniLM unless named), loaded only when a text needs it
        name = options.embedder or "minilm"
        self.related = EmbeddedRelated(
            lambda: embedder if embedder is not None else bench_embedder(name)
        )
        self.data: dict[tuple[Difficulty, float, int], tuple[Any, list[Any], list[Any]]] = {}

    def seeds_for(self, condition: str) -> tuple[int, ...]:
        if condition in MODEL_CONDITIONS:
            return self.o.seeds[: self.model_seeds]
        return self.o.seeds

    def _data(self, d: Difficulty, noise: float, seed: int) -> tuple[Any, list[Any], list[Any]]:
        key = (d, noise, seed)
        if key not in self.data:
            env = _make_env(self.o.env, d, self.o.classes, seed)
            train = env.sample(self.o.iterations * self.o.batch, seed * 1000 + 1, noise=noise)
            test = env.sample(self.o.test, seed * 1000 + 2)
            self.data[key] = (env, train, test)
        return self.data[key]

    def run(self, d: Difficulty, noise: float, conditions: Sequence[str]) -> list[RunResult]:
        from ..learners.rulelearner import CoveringLearner

        out = []
        for cond in conditions:
            for seed in self.seeds_for(cond):
                key = (d, noise, seed, cond)
                if key not in self.memo:
                    env, train, test = self._data(d, noise, seed)
                    self.memo[key] = run_condition(
                        cond,
                        train,
                        test,
                        seed=seed,
                        batch=self.o.batch,
                        hidden=env.hidden_rules(),
                        classes=env.classes,
                        momentum=self.o.momentum,
                        learner=CoveringLearner(window=self.o.window, related=self.related),
                        chat=self.chat,
                        embedder=self.embedder,
                        k=self.o.k,
                        model_test=self.o.model_test,
                        model_batch=self.model_batch,
                        act_with_model=self.o.act_with_model,
                        progress=self.progress,
                    )
                out.append(self.memo[key])
        return out


def run_benchmark(
    options: BenchOptions,
    *,
    chat: ChatModel | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the benchmark ``options`` describe; write JSON, Markdown and PNG into
    ``options.out``; return their paths (``json``, ``markdown``, ``png`` when drawn).

    ``chat`` and ``embedder`` replace the configured model and MiniLM (tests pass
    fakes); a chat model given counts as an endpoint for the default conditions.
    """
    started = time.perf_counter()
    o = options.resolved()
    endpoint = chat is not None or endpoint_configured(o.base_url)
    conditions = resolve_conditions(o.conditions, endpoint=endpoint, quick=o.quick)
    sweep = tuple(
        c for c in (o.sweep_conditions or [c for c in conditions if c not in MODEL_CONDITIONS])
    )
    wanted = set(conditions) | set(sweep)
    metered: MeteredChat | None = None
    if wanted & set(MODEL_CONDITIONS):
        given = chat if chat is not None else bench_chat(o.base_url, o.model, o.api_key)
        if o.model_timeout is not None and isinstance(given, OpenAIChat):
            settings = replace(given.settings, timeout=o.model_timeout)
            given = OpenAIChat(settings, identity=given.identity)
        metered = given if isinstance(given, MeteredChat) else MeteredChat(given)
    emb: CachedEmbedder | None = None
    if wanted & {"episodic-knn", *MODEL_CONDITIONS}:
        emb = bench_embedder(embedder if embedder is not None else (o.embedder or "minilm"))
    embedded = metered is not None and is_embedded(metered)
    model_seeds = o.model_seeds or (1 if embedded or metered is None else len(o.seeds))
    model_batch = o.model_batch or (min(o.batch, EMBEDDED_MODEL_BATCH) if embedded else None)
    runner = _Runner(o, metered, emb, model_seeds, model_batch, progress)

    base = o.base_difficulty()
    main_runs = runner.run(base, o.noise, conditions)
    noise_cols = [(f"{level:.0%}", runner.run(base, level, sweep)) for level in o.noise_levels]
    diff_cols = [
        (_difficulty_name(o, d), d, runner.run(d, o.noise, sweep)) for d in o.difficulties()
    ]
    seconds = time.perf_counter() - started

    o.out.mkdir(parents=True, exist_ok=True)
    paths = {"json": o.out / f"{o.stem}.json", "markdown": o.out / f"{o.stem}.md"}
    n_train = o.iterations * o.batch
    hidden_counts = {
        seed: len(runner._data(base, o.noise, seed)[0].hidden_rules()) for seed in o.seeds
    }
    info = {
        "benchmark": o.env,
        "command": options.command(),
        "options": o.to_dict(),
        "environment": _describe_env(o, base),
        "hidden_rules_per_seed": hidden_counts,
        "training_experiences": n_train,
        "model": metered.identity if metered is not None else None,
        "model_tokens_counted": (
            None
            if metered is None
            else "per request (server usage)"
            if metered.per_request
            else "per validated answer"
        ),
        "model_seeds": list(o.seeds[:model_seeds]) if metered is not None else [],
        "model_batch": model_batch,
        "embedder": emb.identity if emb is not None else None,
        "conditions": list(conditions),
        "sweep_conditions": list(sweep),
        "seconds": seconds,
        "cpus": os.cpu_count(),
    }
    doc = {
        **info,
        "main": {
            "noise": o.noise,
            "summary": summarize(main_runs),
            "runs": [r.to_dict() for r in main_runs],
        },
        "noise": [
            {"noise": level, "summary": summarize(runs), "runs": [r.to_dict() for r in runs]}
            for level, (_, runs) in zip(o.noise_levels, noise_cols, strict=True)
        ],
        "difficulty": [
            {
                "clauses": d[0],
                "literals": d[1],
                "attributes": d[2],
                "summary": summarize(runs),
                "runs": [r.to_dict() for r in runs],
            }
            for _, d, runs in diff_cols
        ],
    }
    paths["json"].write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    paths["markdown"].write_text(
        _markdown(o, info, main_runs, noise_cols, [(n, r) for n, _, r in diff_cols]),
        encoding="utf-8",
    )
    png = o.out / f"{o.stem}.png"
    if plot_curves(_panels(o, main_runs, noise_cols), png, suptitle=_title(o)):
        paths["png"] = png
    return paths


def _markdown(
    o: BenchOptions,
    info: dict[str, Any],
    main_runs: Sequence[RunResult],
    noise_cols: Sequence[tuple[str, Sequence[RunResult]]],
    diff_cols: Sequence[tuple[str, Sequence[RunResult]]],
) -> str:
    n_train = info["training_experiences"]
    lines = [
        f"# {o.env} benchmark",
        "",
        f"`{info['command']}`",
        "",
        f"- environment: {info['environment']}; seeds {', '.join(map(str, o.seeds))} "
        f"(hidden rules as checkable rules per seed: "
        f"{', '.join(str(v) for v in info['hidden_rules_per_seed'].values())})",
        f"- {n_train} training experiences in {o.iterations} iterations of {o.batch} "
        f"(act -> learn -> evaluate); {o.test} held-out experiences, never noisy",
        f"- momentum {o.momentum:g}; k = {o.k}; embedder: {info['embedder'] or '-'}",
    ]
    if info["model"]:
        lines.append(
            f"- model: {info['model']} on seeds {', '.join(map(str, info['model_seeds']))}; "
            f"model-answered accuracy over the first {o.model_test} held-out questions; "
            f"the model learner learns each batch in steps of {info['model_batch'] or o.batch}; "
            f"tokens counted {info['model_tokens_counted']}"
        )
    else:
        lines.append("- model: none (no model condition was run)")
    lines += [
        f"- wall time {info['seconds']:.0f} s on {info['cpus']} cores",
        "",
        f"## Results (noise {o.noise:.0%})",
        "",
        main_table(main_runs),
        "",
        "### Learning curve (held-out accuracy after each batch, mean over seeds)",
        "",
        curve_table(main_runs),
        "",
    ]
    if noise_cols and any(runs for _, runs in noise_cols):
        lines += [
            "## Noise (share of training outcomes flipped to another class)",
            "",
            "Final held-out accuracy, mean ± sd over seeds.",
            "",
            sweep_table(noise_cols),
            "",
        ]
    if diff_cols and any(runs for _, runs in diff_cols):
        lines += [
            f"## Difficulty (noise {o.noise:.0%})",
            "",
            "Final held-out accuracy, mean ± sd over seeds.",
            "",
            sweep_table(diff_cols),
            "",
        ]
    model_runs = [r for r in main_runs if r.condition in MODEL_CONDITIONS]
    if model_runs:
        lines += ["## What the model answered (commonest answers, and rules at the end)", ""]
        for r in model_runs:
            said = "; ".join(f"{a!r} x{n}" for a, n in r.answers.items()) or "-"
            lines.append(f"- {r.condition}, seed {r.seed}: {said}")
            if r.condition not in ("none", "episodic", "hidden-rules-model"):
                shown = "; ".join(repr(t) for t in r.rules[:5]) or "none"
                lines.append(f"  - rules: {shown}")
                if r.refusals:
                    lines.append(f"  - refused, first: {r.refusals[0]}")
        lines.append("")
    notes = [(r.condition, r.seed, n) for r in main_runs for n in r.notes]
    if notes:
        lines += ["## Notes (failed learning steps, first few)", ""]
        lines += [f"- {c}, seed {s}: {n}" for c, s, n in notes[:20]]
        lines.append("")
    return "\n".join(lines)


def _load(path: Path) -> tuple[dict[str, Any], BenchOptions]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    raw = dict(doc["options"])
    raw["api_key"] = None
    raw["out"] = Path(raw["out"])
    for key in ("seeds", "noise_levels", "conditions", "sweep_conditions"):
        if raw.get(key) is not None:
            raw[key] = tuple(raw[key])
    if raw.get("difficulty") is not None:
        raw["difficulty"] = tuple(tuple(d) for d in raw["difficulty"])
    return doc, BenchOptions(**raw)


def _runs(section: dict[str, Any]) -> list[RunResult]:
    return [RunResult.from_dict(r) for r in section["runs"]]


def markdown_from_json(path: Path) -> str:
    """The Markdown report of a benchmark's JSON (``truthtable.json``, ``tickets.json``),
    rendered again by this version of the code: no run is repeated."""
    doc, o = _load(path)
    info = {k: v for k, v in doc.items() if k not in ("main", "noise", "difficulty")}
    noise_cols = [(f"{sec['noise']:.0%}", _runs(sec)) for sec in doc["noise"]]
    diff_cols = [
        (_difficulty_name(o, (sec["clauses"], sec["literals"], sec["attributes"])), _runs(sec))
        for sec in doc["difficulty"]
    ]
    return _markdown(o, info, _runs(doc["main"]), noise_cols, diff_cols)


def _panels(
    o: BenchOptions,
    main_runs: Sequence[RunResult],
    noise_cols: Sequence[tuple[str, Sequence[RunResult]]],
) -> list[tuple[str, Sequence[RunResult]]]:
    panels: list[tuple[str, Sequence[RunResult]]] = [
        (f"noise {o.noise:.0%}: all conditions run", main_runs)
    ]
    panels += [
        (f"noise {name}", runs) for name, runs in noise_cols if runs and name != f"{o.noise:.0%}"
    ]
    return panels


def _title(o: BenchOptions) -> str:
    return f"{o.env}: held-out accuracy, mean of seeds (band: min to max)"


def run_truth_table(
    options: BenchOptions | None = None,
    *,
    chat: ChatModel | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """:func:`run_benchmark` on the truth table (``options.env`` is forced)."""
    opts = replace(options or BenchOptions(), env="truth-table")
    return run_benchmark(opts, chat=chat, embedder=embedder, progress=progress)


def run_tickets(
    options: BenchOptions | None = None,
    *,
    chat: ChatModel | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """:func:`run_benchmark` on the support tickets (text)."""
    opts = replace(options or BenchOptions(env="tickets"), env="tickets")
    return run_benchmark(opts, chat=chat, embedder=embedder, progress=progress)
