"""Checked ``ask`` as memory grows: milliseconds per question in one warm process.

    python bench/ask_bench.py                    # 1,000 and 10,000 rules (about 3 min)
    python bench/ask_bench.py --sizes 1000       # one size

A memory of N checkable rules (scope ``tt``: conditions on ten attributes, four
classes) is built with imlgit's own commits; then 30 questions are asked with
``Memory.ask(..., use_model=False)``, the way an agent asks at every step, and
p50 / p99 are printed. Each size is timed twice in the same run: with the parsed-rule
cache (a rule file is parsed once per process, by blob) and with it turned off
(every question parses every rule file, as before issue 17; 5 questions, since each
takes seconds). The embedder is the
hashing stand-in of imlgit.bench.embedders, so that what is timed is reading memory
and answering, not MiniLM (recall is measured by ``imlgit bench scale``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from imlgit.bench.embedders import HashEmbedder
from imlgit.commits import CommitMessage, Identity
from imlgit.conditions import parse_when, render_statement
from imlgit.memory import Memory
from imlgit.rules import Rule, render_rule
from imlgit.store import Store

T = "2026-11-27T08:00:00Z"
AUTHOR = Identity("imlgit bench", "bench@imlgit.invalid")
ATTRS = [f"a{i}" for i in range(10)]
CLASSES = ["KESTREL", "MORROW", "LUMEN", "VESPER"]


def rules(n: int, seed: int = 0) -> list[Rule]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(1, 4)
        when = parse_when({a: rng.choice(["yes", "no"]) for a in rng.sample(ATTRS, k)})
        then = rng.choice(CLASSES)
        out.append(
            Rule(id=f"r-ask-{i:06d}", title=f"rule {i}", statement=render_statement(when, then),
                 scope="tt", support=rng.randint(3, 40), created=T, updated=T, when=when,
                 then=then)  # fmt: skip
        )
    return out


def build(root: Path, n: int) -> Path:
    store = Store.init(root / f"mem-{n}", author=AUTHOR)
    made = rules(n)
    steps = []
    for at in range(0, n, 500):
        chunk = made[at : at + 500]
        msg = CommitMessage.make("add", f"add {len(chunk)} rules", "Benchmark rules.",
                                 rules=[r.id for r in chunk])  # fmt: skip
        steps.append(({store.path_for(r): render_rule(r).encode() for r in chunk}, msg))
        if len(steps) == 20:
            store.commit_many(steps, author=AUTHOR, sync_worktree=False)
            steps = []
    if steps:
        store.commit_many(steps, author=AUTHOR, sync_worktree=False)
    store.close()
    return root / f"mem-{n}"


def time_asks(path: Path, cache: bool, questions: list[dict[str, str]]) -> tuple[float, float]:
    mem = Memory.open(path, env={}, embedder=HashEmbedder())
    if not cache:
        import imlgit.store as store_module

        store_module.MAX_PARSED = 0  # every question parses every rule file again
    mem.ask(questions[0], scope="tt", use_model=False)  # warm: the index, the first read
    times = []
    for q in questions:
        t0 = time.perf_counter()
        mem.ask(q, scope="tt", use_model=False)
        times.append((time.perf_counter() - t0) * 1000)
    if not cache:
        import imlgit.store as store_module

        store_module.MAX_PARSED = 200_000
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--before", type=int, default=5, help="questions timed without the cache")
    args = ap.parse_args(argv)
    rng = random.Random(1)
    questions = [{a: rng.choice(["yes", "no"]) for a in ATTRS} for _ in range(args.questions)]
    with tempfile.TemporaryDirectory(prefix="imlgit-ask-bench-") as tmp:
        print(f"checked ask, warm process, {args.questions} questions (ms)")
        for n in map(int, args.sizes.split(",")):
            path = build(Path(tmp), n)
            before = time_asks(path, cache=False, questions=questions[: args.before])
            after = time_asks(path, cache=True, questions=questions)
            print(f"  {n:>7,} rules: parsed once by blob p50 {after[0]:8.1f}, p99 {after[1]:8.1f}; "
                  f"parsed every question (before) p50 {before[0]:8.1f}, p99 {before[1]:8.1f}; "
                  f"{before[0] / after[0]:.1f}x")  # fmt: skip
            sys.stdout.flush()


if __name__ == "__main__":
    main()
