"""Scale: a task's rules among 10 to 10,000 distractor rules from other scopes.

A memory repository holds the truth table's hidden rules (scope ``truth-table``,
written as checkable rules: what a perfect learner would have learned) and N
generated distractor rules in other scopes (``task-000``, ``task-001``, ...; 25
rules a scope). Half of the distractors are checkable, over attributes drawn
from the same 20-word list as the truth table's (so half of their attributes
are the task's own), the other half plain sentences in the same words: near in
wording, a hard case for retrieval. For each N, on the held-out questions:

- **accuracy of checked inference** with the rules of the question's scope
  (what ``imlgit ask --scope`` does), with the top k retrieved within the scope,
  with the top k retrieved from all scopes, and with every rule in memory;
- the share of the top k (all scopes) that are the task's rules;
- **prompt tokens** of the model's prompt (``prompts/infer.md``, rendered as
  :func:`~imlgit.learners.model.answer_with_model` renders it) with the top k
  rules against every rule in memory. Counted with a regex tokenizer (a word
  or a single punctuation mark is a token), not a model's tokenizer; with a
  model (``model_test`` > 0) the server's own counts and the model's accuracy
  are added for the top-k prompt, and for the all-rules prompt when it fits
  ``context_tokens``;
- retrieval time per query (query embedding + FAISS) and the index sync time.

Retrieval is the real index (:class:`~imlgit.index.RuleIndex` through
:class:`~imlgit.memory.Memory`); the embedder is MiniLM by default (embedding
10,000 short rules takes minutes on 2 cores) or the hash embedder for tests.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..commits import CommitMessage
from ..conditions import Condition
from ..embed import Embedder
from ..infer import checked_answer
from ..llm import ChatModel
from ..rules import Rule, render_rule
from ..statements import render_statement
from ..store import Store
from .chat import MeteredChat, bench_chat, input_text, match_class
from .embedders import bench_embedder
from .harness import BENCH_AUTHOR, write_hidden_rules
from .truthtable import ATTRIBUTE_WORDS, CLASS_WORDS, SCOPE, TruthTable

__all__ = ["ScaleOptions", "count_tokens", "distractor_rules", "infer_prompt", "run_scale"]

RULES_PER_SCOPE = 25
COMMIT_CHUNK = 200
LATENCY_QUERIES = 20
_T = "2026-11-27T08:00:00Z"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_NOUNS = (
    "request", "report", "ticket", "order", "invoice", "shipment", "account", "review",
    "log", "desk", "queue", "form",
)  # fmt: skip
_PLAIN = (
    "When a {a} {n1} mentions {b}, check the {c} {n2} before answering.",
    "A {n1} with {a} and {b} goes to the {c} {n2} first.",
    "Never close a {a} {n1} until the {b} {n2} agrees; then mark it {cls}.",
    "If the {n1} says {a}, ask about {b} and file it under {cls}.",
)


@dataclass(frozen=True)
class ScaleOptions:
    sizes: tuple[int, ...] = (10, 100, 1000, 10000)
    k: int = 8
    seed: int = 0
    test: int = 200
    embedder: str = "minilm"  # minilm | hash
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    model_test: int = 0  # > 0: the model answers this many questions per size
    context_tokens: int = 3500  # an all-rules prompt above this estimate is not sent
    out: Path = Path("bench-results")

    def __post_init__(self) -> None:
        if not self.sizes or min(self.sizes) < 0 or self.k < 1 or self.test < 1:
            raise ValueError("need sizes >= 0, k >= 1 and test >= 1")

    def command(self) -> str:
        default = ScaleOptions()
        words = ["imlgit", "bench", "scale"]
        for name in (
            "sizes",
            "k",
            "seed",
            "test",
            "embedder",
            "base_url",
            "model",
            "model_test",
            "out",
        ):
            value = getattr(self, name)
            if value == getattr(default, name):
                continue
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            words += ["--" + name.replace("_", "-"), text]
        return " ".join(words)


def count_tokens(text: str) -> int:
    """Tokens by a regex: each word (letters, digits, _) and each punctuation mark."""
    return len(_TOKEN.findall(text))


def infer_prompt(question: Any, rules: Sequence[Rule], scope: str | None) -> str:
    """The inference prompt, rendered as ``answer_with_model`` renders it."""
    from ..learners.model import load_prompt

    text = question if isinstance(question, str) else json.dumps(question, ensure_ascii=False)
    lines = "\n".join(
        json.dumps(
            {"id": r.id, "statement": r.statement}, ensure_ascii=False, separators=(",", ":")
        )
        for r in rules
    )
    return load_prompt("infer").substitute(
        scope=f' in scope "{scope}"' if scope else "", rules=lines or "(none)", question=text
    )


def distractor_rules(start: int, stop: int, seed: int = 0) -> list[Rule]:
    """Distractor rules ``start`` to ``stop - 1``: each the same whatever the range asked."""
    out = []
    for i in range(start, stop):
        rng = random.Random(f"distractor:{seed}:{i}")
        scope = f"task-{i // RULES_PER_SCOPE:03d}"
        words = rng.sample(ATTRIBUTE_WORDS, 3)
        cls = rng.choice(CLASS_WORDS)
        if i % 2 == 0:
            when = tuple(
                Condition(w, "=", rng.choice(("yes", "no"))) for w in words[: rng.randint(1, 3)]
            )
            out.append(
                Rule(
                    id=f"r-dx-{i:05d}",
                    title=f"{words[0]} rule {i}",
                    statement=render_statement(when, cls),
                    scope=scope,
                    created=_T,
                    updated=_T,
                    when=when,
                    then=cls,
                    support=rng.randint(3, 30),
                )
            )
        else:
            n1, n2 = rng.sample(_NOUNS, 2)
            statement = rng.choice(_PLAIN).format(
                a=words[0], b=words[1], c=words[2], n1=n1, n2=n2, cls=cls
            )
            out.append(
                Rule(
                    id=f"r-dx-{i:05d}",
                    title=f"{words[0]} {n1} rule {i}",
                    statement=statement,
                    scope=scope,
                    created=_T,
                    updated=_T,
                )
            )
    return out


def _fill(store: Store, start: int, stop: int, seed: int) -> None:
    steps = []
    rules = distractor_rules(start, stop, seed)
    for at in range(0, len(rules), COMMIT_CHUNK):
        chunk = rules[at : at + COMMIT_CHUNK]
        msg = CommitMessage.make(
            "add",
            f"add distractors {start + at}..{start + at + len(chunk) - 1}",
            "Benchmark distractor rules from other scopes.",
            rules=[r.id for r in chunk],
        )
        steps.append(({r.path: render_rule(r).encode("utf-8") for r in chunk}, msg))
    if steps:
        store.commit_many(steps, author=BENCH_AUTHOR, sync_worktree=False)


def _latency(embedder: Embedder, index: Any, texts: Sequence[str], k: int) -> tuple[float, float]:
    """Milliseconds per query: embedding it (uncached) and searching the index."""
    embedder.embed(texts[:1])  # warm
    index.search(embedder.embed(texts[:1])[0], k)
    embed_s = search_s = 0.0
    for text in texts:
        t0 = time.perf_counter()
        vector = embedder.embed([text])[0]
        t1 = time.perf_counter()
        index.search(vector, k)
        t2 = time.perf_counter()
        embed_s += t1 - t0
        search_s += t2 - t1
    n = max(1, len(texts))
    return embed_s / n * 1000, search_s / n * 1000


def _ask_latency(path: Path, emb: Embedder, test: Sequence[Any]) -> tuple[float, float, float]:
    """The whole checked ``Memory.ask``, reading memory included: the first question of
    a newly opened Memory (it reads the commit's rules, from the parsed-rule cache on
    disk when one is there, and files them), then p50 / p99 of the rest (ms)."""
    from ..memory import Memory

    mem = Memory.open(path, env={}, embedder=emb)
    try:
        t0 = time.perf_counter()
        mem.ask(test[0].input, scope=SCOPE, use_model=False)
        first = (time.perf_counter() - t0) * 1000
        times = []
        for e in test[1:] or test:
            t0 = time.perf_counter()
            mem.ask(e.input, scope=SCOPE, use_model=False)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        mem.store.close()
    times.sort()
    return first, statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def _share(hits: Sequence[bool]) -> float:
    return sum(hits) / len(hits) if hits else 0.0


def run_scale(
    options: ScaleOptions | None = None,
    *,
    embedder: Embedder | None = None,
    chat: ChatModel | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Run the scale benchmark; write ``scale.json`` and ``scale.md`` into ``options.out``."""
    from ..memory import Memory

    o = options or ScaleOptions()
    started = time.perf_counter()
    emb = bench_embedder(embedder if embedder is not None else o.embedder)
    metered: MeteredChat | None = None
    if o.model_test > 0:
        base = chat if chat is not None else bench_chat(o.base_url, o.model, o.api_key)
        metered = base if isinstance(base, MeteredChat) else MeteredChat(base)
    t0 = time.perf_counter()
    emb.inner.embed(["load the model"])  # so that no sync below times the model's loading
    load_s = time.perf_counter() - t0
    env = TruthTable(seed=o.seed)
    test = env.sample(o.test, o.seed * 1000 + 2)
    texts = [input_text(e.input) for e in test]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="imlgit-scale-") as tmp:
        path = Path(tmp) / "memory"
        store = Store.init(path, author=BENCH_AUTHOR, install_hooks=False)
        write_hidden_rules(store, env.hidden_rules(), SCOPE)
        mem = Memory.open(path, env={}, embedder=emb)
        have = 0
        for n in sorted(set(o.sizes)):
            t0 = time.perf_counter()
            _fill(store, have, n, o.seed)
            have = n
            fill_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            index = mem.index()
            sync_s = time.perf_counter() - t0
            rules = {r.id: r for r in store.read_rules().values() if r.status == "active"}
            task = [r for r in rules.values() if r.scope == SCOPE and r.checkable]
            every = [r for r in rules.values() if r.checkable]
            embed_ms, search_ms = _latency(emb.inner, index, texts[:LATENCY_QUERIES], o.k)
            in_scope = index.search_many(texts, o.k, scope=SCOPE)
            anywhere = index.search_many(texts, o.k)
            got: dict[str, list[bool]] = {"scope": [], "topk_scope": [], "topk_all": [], "all": []}
            share: list[float] = []
            tokens_topk: list[int] = []
            tokens_topk_all: list[int] = []
            t0 = time.perf_counter()
            for e, hs, ha in zip(test, in_scope, anywhere, strict=True):
                top_s = [rules[h.rule_id] for h in hs if h.rule_id in rules]
                top_a = [rules[h.rule_id] for h in ha if h.rule_id in rules]
                for name, pool in (
                    ("scope", task),
                    ("topk_scope", top_s),
                    ("topk_all", top_a),
                    ("all", every),
                ):
                    hit = checked_answer(pool, e.input)
                    got[name].append(hit is not None and hit[0] == e.label)
                share.append(_share([r.scope == SCOPE for r in top_a]))
                tokens_topk.append(count_tokens(infer_prompt(e.input, top_s, SCOPE)))
                tokens_topk_all.append(count_tokens(infer_prompt(e.input, top_a, None)))
            all_rules = sorted(rules.values(), key=lambda r: r.id)
            tokens_all = statistics.fmean(
                count_tokens(infer_prompt(e.input, all_rules, None)) for e in test[:3]
            )
            eval_s = time.perf_counter() - t0
            first_ms, ask_p50, ask_p99 = _ask_latency(path, emb, test[:LATENCY_QUERIES])
            row: dict[str, Any] = {
                "distractors": n,
                "rules_in_memory": len(rules),
                "task_rules": len(task),
                "accuracy_scope_rules": _share(got["scope"]),
                "accuracy_topk_in_scope": _share(got["topk_scope"]),
                "accuracy_topk_all_scopes": _share(got["topk_all"]),
                "accuracy_all_rules": _share(got["all"]),
                "task_share_of_topk_all_scopes": statistics.fmean(share),
                "prompt_tokens_topk": statistics.fmean(tokens_topk),
                "prompt_tokens_topk_all_scopes": statistics.fmean(tokens_topk_all),
                "prompt_tokens_all_rules": tokens_all,
                "query_embed_ms": embed_ms,
                "query_search_ms": search_ms,
                "fill_seconds": fill_s,
                "index_sync_seconds": sync_s,
                "eval_seconds": eval_s,
                "ask_first_ms": first_ms,
                "ask_p50_ms": ask_p50,
                "ask_p99_ms": ask_p99,
            }
            if metered is not None:
                row.update(_model_row(metered, test, in_scope, rules, all_rules, o, tokens_all))
            rows.append(row)
            if progress is not None:
                progress(
                    f"scale {n}: scope {row['accuracy_scope_rules']:.1%}, top-k in scope "
                    f"{row['accuracy_topk_in_scope']:.1%}, top-k all "
                    f"{row['accuracy_topk_all_scopes']:.1%}, all {row['accuracy_all_rules']:.1%};"
                    f" tokens {row['prompt_tokens_topk']:.0f} vs {tokens_all:.0f}; "
                    f"sync {sync_s:.1f}s"
                )
        mem.index().close()
    doc = {
        "benchmark": "scale",
        "command": o.command(),
        "options": {**asdict(o), "out": str(o.out), "api_key": "(set)" if o.api_key else None},
        "embedder": emb.identity,
        "texts_embedded": emb.embedded,
        "embedder_load_seconds": load_s,
        "model": metered.identity if metered is not None else None,
        "token_counter": "regex: \\w+|[^\\w\\s] (a word or one punctuation mark)",
        "seconds": time.perf_counter() - started,
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    o.out.mkdir(parents=True, exist_ok=True)
    paths = {"json": o.out / "scale.json", "markdown": o.out / "scale.md"}
    paths["json"].write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    paths["markdown"].write_text(_markdown(o, doc), encoding="utf-8")
    return paths


def _model_row(
    chat: MeteredChat,
    test: Sequence[Any],
    in_scope: Sequence[Sequence[Any]],
    rules: dict[str, Rule],
    all_rules: Sequence[Rule],
    o: ScaleOptions,
    tokens_all: float,
) -> dict[str, Any]:
    from ..errors import LLMError
    from ..learners.model import answer_with_model

    def ask(rule_lists: Sequence[Sequence[Rule]]) -> tuple[float, float]:
        right, tokens = [], []
        for e, shown in zip(test, rule_lists, strict=False):
            try:
                got = answer_with_model(chat, e.input, shown, scope=SCOPE)
            except LLMError:
                right.append(False)
                continue
            right.append(match_class(got.answer, CLASS_WORDS) == e.label)
            tokens.append(got.prompt_tokens)
        return _share(right), statistics.fmean(tokens) if tokens else 0.0

    n = min(o.model_test, len(test))
    top = [[rules[h.rule_id] for h in hs if h.rule_id in rules] for hs in in_scope[:n]]
    acc_top, tok_top = ask(top)
    out: dict[str, Any] = {
        "model_accuracy_topk": acc_top,
        "model_prompt_tokens_topk": tok_top,
        "model_questions": n,
    }
    if tokens_all <= o.context_tokens:
        acc_all, tok_all = ask([all_rules] * n)
        out.update(model_accuracy_all_rules=acc_all, model_prompt_tokens_all_rules=tok_all)
    else:
        out.update(model_accuracy_all_rules=None, model_prompt_tokens_all_rules=None)
    return out


def _markdown(o: ScaleOptions, doc: dict[str, Any]) -> str:
    rows = doc["rows"]
    lines = [
        "# Scale: the task's rules among distractor rules from other scopes",
        "",
        f"`{doc['command']}`",
        "",
        f"- the truth table (seed {o.seed}): its hidden rules as checkable rules in scope "
        f"`{SCOPE}`; {o.test} held-out questions; k = {o.k}; embedder {doc['embedder']}",
        f"- distractors: {RULES_PER_SCOPE} a scope, half checkable over the same attribute "
        "words, half plain sentences",
        f"- prompt tokens: {doc['token_counter']}",
        f"- wall time {doc['seconds']:.0f} s on {doc['cpus']} cores (loading the embedder: "
        f"{doc['embedder_load_seconds']:.1f} s); index sync: embedding the new rules and "
        "updating FAISS",
        "",
        "| distractor rules | rules in memory | checked, rules of the scope | checked, top-k "
        "in the scope | checked, top-k of all scopes | checked, every rule | task rules in "
        "top-k of all scopes | prompt tokens, top-k in the scope | prompt tokens, every rule "
        "| ms per query: embed + search | index sync (s) | checked `ask` ms: first (reads "
        "memory) / p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['distractors']:,} | {r['rules_in_memory']:,} | "
            f"{r['accuracy_scope_rules']:.1%} | {r['accuracy_topk_in_scope']:.1%} | "
            f"{r['accuracy_topk_all_scopes']:.1%} | {r['accuracy_all_rules']:.1%} | "
            f"{r['task_share_of_topk_all_scopes']:.1%} | {r['prompt_tokens_topk']:,.0f} | "
            f"{r['prompt_tokens_all_rules']:,.0f} | "
            f"{r['query_embed_ms']:.1f} + {r['query_search_ms']:.2f} | "
            f"{r['index_sync_seconds']:.1f} | {r['ask_first_ms']:,.0f} / "
            f"{r['ask_p50_ms']:.2f} / {r['ask_p99_ms']:.2f} |"
        )
    if doc["model"]:
        lines += [
            "",
            f"With the model {doc['model']} on the first {rows[0].get('model_questions')} "
            "questions (prompt tokens as the server counts them):",
            "",
            "| distractor rules | accuracy, top-k prompt | prompt tokens | accuracy, every "
            "rule in the prompt | prompt tokens |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            acc_all = r.get("model_accuracy_all_rules")
            tok_all = r.get("model_prompt_tokens_all_rules")
            lines.append(
                f"| {r['distractors']:,} | {r['model_accuracy_topk']:.1%} | "
                f"{r['model_prompt_tokens_topk']:,.0f} | "
                f"{'does not fit' if acc_all is None else f'{acc_all:.1%}'} | "
                f"{'-' if tok_all is None else f'{tok_all:,.0f}'} |"
            )
    lines.append("")
    return "\n".join(lines)
