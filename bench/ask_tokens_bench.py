"""Prompt tokens sent per `ask` as memory grows: flat, because only the top k rules
enter the prompt, however many rules memory holds.

    python bench/ask_tokens_bench.py                  # 10, 100, 1,000, 10,000 rules
    python bench/ask_tokens_bench.py --sizes 10,1000

Counts come from the embedded llama.cpp server's own usage figures (the real
OpenAI-compatible path); retrieval is the real MiniLM + FAISS index.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

import click

from imlgit.commits import CommitMessage, Identity
from imlgit.memory import Memory
from imlgit.rules import Rule, render_rule
from imlgit.store import Store

# commits on main as a person's stand-in: imlgit's own commits need an approval there
WRITER = Identity("imlgit bench", "bench@bench.example")

T = "2026-11-27T08:00:00Z"
WORDS = (
    "parcel invoice refund courier customs pallet freight warehouse label tracking "
    "delay fragile express return address insurance carrier route depot dispatch"
).split()
QUESTIONS = [
    "A fragile parcel is going abroad by express. What should the courier do?",
    "The tracking shows a delay at the depot. Is a refund due?",
    "Which carrier takes pallets to the warehouse?",
]


def fill(store: Store, n: int, rng: random.Random) -> None:
    steps = []
    for i in range(n):
        words = rng.sample(WORDS, 5)
        r = Rule(
            id=f"r-{i:06d}",
            title=f"{words[0]} and {words[1]} rule {i}",
            statement=f"When the {words[0]} has a {words[1]}, check the {words[2]}, "
            f"the {words[3]} and the {words[4]} first.",
            scope="shipping",
            created=T,
            updated=T,
        )
        msg = CommitMessage.make("add", f"add {r.id}", "Benchmark rule.", rules=[r.id])
        steps.append(({r.path: render_rule(r).encode("utf-8")}, msg))
        if len(steps) == 500:
            store.commit_many(steps, author=WRITER, sync_worktree=False)
            steps = []
    if steps:
        store.commit_many(steps, author=WRITER, sync_worktree=False)


@click.command(help=__doc__.split("\n")[0])
@click.option("--sizes", default="10,100,1000,10000", show_default=True)
@click.option("-k", type=int, default=8, show_default=True)
def main(sizes: str, k: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="imlgit-tokens-"))
    rng = random.Random(0)
    print(f"prompt tokens per ask (k={k}), embedded SmolLM2 server, MiniLM + FAISS")
    print(f"{'rules':>8} {'prompt tokens (mean of 3 asks)':>32} {'retrieved':>10} {'s/ask':>7}")
    try:
        for n in [int(x) for x in sizes.split(",")]:
            path = root / f"m{n}"
            store = Store.init(
                path, author=Identity("Bench", "bench@example.org"), install_hooks=False
            )
            fill(store, n, rng)
            mem = Memory.open(path, env={})
            mem.index()  # build the index before timing
            tokens, retrieved, t0 = [], [], time.perf_counter()
            for q in QUESTIONS:
                ans = mem.ask(q, scope="shipping", k=k)
                tokens.append(ans.prompt_tokens)
                retrieved.append(len(ans.retrieved))
            per = (time.perf_counter() - t0) / len(QUESTIONS)
            print(f"{n:>8} {sum(tokens) / len(tokens):>32.0f} {max(retrieved):>10} {per:>7.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
