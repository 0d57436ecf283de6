"""An agent's step against memory: ``ask``, ``recall`` and cold starts, as memory grows.

    python bench/ask_bench.py                          # 1,000 / 10,000 / 100,000 rules (~20 min)
    python bench/ask_bench.py --sizes 1000,10000 --no-recall   # checked ask only (~2 min)

One run prints, for each size, beside the same figure before issue 17 (imlgit at
``--before-rev``, extracted from this checkout with ``git archive`` and run in a
child process on the same memory):

- checked ``ask`` (``Memory.ask(..., use_model=False)``) p50 / p99 in one warm
  process, 200 questions (before: 3, or 1 at 100,000, since each parsed every file);
- ``recall`` p50 / p99, warm, the query embedded by the packaged all-MiniLM-L6-v2
  included (before: the same code with torch's sentence-transformers and exact
  search, the configuration before issue 17);
- ``ask`` with retrieval (a text question no checkable rule decides, answered by the
  named stand-in model of imlgit.bench.standin, which answers at once, so what is
  timed is imlgit);
- cold starts, the median of three: ``imlgit ask --no-model``, ``imlgit recall``,
  ``imlgit log -n 5``, each a new process.

The memory: N checkable rules of scope ``tt`` (conditions on ten yes/no attributes,
four classes) committed with imlgit's own commits; the questions random inputs.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from imlgit.commits import CommitMessage, Identity
from imlgit.conditions import parse_when
from imlgit.rules import Rule, render_rule
from imlgit.statements import render_statement
from imlgit.store import Store

T = "2026-11-27T08:00:00Z"
AUTHOR = Identity("imlgit bench", "bench@bench.example")  # a person's stand-in
ATTRS = [f"a{i}" for i in range(10)]
CLASSES = ["KESTREL", "MORROW", "LUMEN", "VESPER"]
ROOT = Path(__file__).resolve().parent.parent
BEFORE_REV = "b9bb717"  # main before issue 17's first change (5d6a564)


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
        files: dict[str, bytes | None] = {store.path_for(r): render_rule(r).encode() for r in chunk}
        if at == 0:  # defaults only: imlgit before issue 17 refuses sections added since
            files["imlgit.toml"] = b"# the benchmark's memory: every setting its default\n"
        steps.append((files, msg))
        if len(steps) == 20:
            store.commit_many(steps, author=AUTHOR, sync_worktree=False)
            steps = []
    if steps:
        store.commit_many(steps, author=AUTHOR, sync_worktree=False)
    store.close()
    return root / f"mem-{n}"


# the timed work, run in a child process (``--child``) so that "before" runs old code

CHILD = r"""
import json, random, statistics, sys, time
from imlgit.memory import Memory
args = json.loads(sys.argv[1])
rng = random.Random(1)
attrs = [f"a{i}" for i in range(10)]
qs = [{a: rng.choice(["yes", "no"]) for a in attrs} for _ in range(args["n"])]
flags = {("embedder", k): v for k, v in args.get("embedder", {}).items()}
flags.update({("retrieval", k): v for k, v in args.get("retrieval", {}).items()})
chat = None
if args["what"] == "ask-model":
    from imlgit.bench.standin import CompetentStandIn
    chat = CompetentStandIn()
mem = Memory.open(args["path"], env={}, flags=flags, chat=chat)
if hasattr(mem, "warm"):  # a long-lived process, as `imlgit mcp` starts (imlgit before 17 had none)
    mem.warm()

def once(q):
    if args["what"] == "ask":
        mem.ask(q, scope="tt", use_model=False)
    elif args["what"] == "recall":
        named = list(q.items())[: args.get("attributes", 10)]
        mem.recall(" ".join(f"{k} is {v}" for k, v in named), scope="tt")
    else:
        mem.ask("which class when " + ", ".join(f"{k} is {v}" for k, v in q.items()), scope="tt")

t0 = time.perf_counter()
once(qs[0])  # warm: the first read of memory, the index, the model
first = (time.perf_counter() - t0) * 1000
times = []
for q in qs[1:] or qs:
    t0 = time.perf_counter()
    once(q)
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"first": first, "p50": statistics.median(times),
                  "p99": times[min(len(times) - 1, int(0.99 * len(times)))]}))
"""


def child(pythonpath: Path, args: dict[str, object]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    # cwd: the tree itself, since ``python -c`` puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], env=env,
                         cwd=pythonpath, capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold(pythonpath: Path, argv: list[str], runs: int = 3) -> float:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "imlgit", *argv], env=env, cwd=pythonpath,
                       capture_output=True, check=True)  # fmt: skip
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def before_tree(tmp: Path, rev: str) -> Path | None:
    """imlgit as it was at ``rev``, from this checkout; None outside a git checkout."""
    dest = tmp / "before"
    dest.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "imlgit"],
                                 capture_output=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def index_built(memory: Path) -> bool:
    """Whether an earlier process left a retrieval index (the "before" checked ask
    of imlgit at b9bb717 retrieved first, so it builds one; the recall child's first
    question then only loads it)."""
    return (memory / ".git" / "imlgit" / "index").exists()


def fmt(got: dict[str, float] | None, key: str = "p50") -> str:
    return "-" if got is None else f"{got[key]:,.1f}"


@click.command(help=__doc__.split("\n")[0])
@click.option("--sizes", default="1000,10000,100000", show_default=True)
@click.option("--questions", type=int, default=200, show_default=True)
@click.option("--before-rev", default=BEFORE_REV, show_default=True)
@click.option("--no-recall", is_flag=True, help="checked ask and cold ask only")
def main(sizes: str, questions: int, before_rev: str, no_recall: bool) -> None:
    now = ROOT
    with tempfile.TemporaryDirectory(prefix="imlgit-ask-bench-") as tmp_name:
        tmp = Path(tmp_name)
        old = before_tree(tmp, before_rev)
        print(f"before: imlgit at {before_rev}" if old else "before: not available")
        print("ms, one warm process unless cold; p50 / p99; before beside now")
        for n in map(int, sizes.split(",")):
            path = str(build(tmp, n))
            row: dict[str, object] = {"rules": n}
            got = child(now, {"what": "ask", "path": path, "n": questions})
            few = 1 if n >= 100_000 else 3
            was = child(old, {"what": "ask", "path": path, "n": few}) if old else None
            print(f"{n:>8,} rules  checked ask   now {fmt(got)} / {fmt(got, 'p99')}   "
                  f"before {fmt(was)} / {fmt(was, 'p99')}")  # fmt: skip
            row["ask"], row["ask_before"] = got, was
            if not no_recall:
                built = index_built(Path(path))
                got = child(now, {"what": "recall", "path": path, "n": questions})
                how = "index on disk, built by the run before" if built else "index built"
                print(f"{'':>14}  recall        now {fmt(got)} / {fmt(got, 'p99')}  "
                      f"(the first question, {how}: {got['first'] / 1000:,.1f} s)")  # fmt: skip
                short = child(now, {"what": "recall", "path": path, "n": questions,
                                    "attributes": 3})  # fmt: skip
                print(f"{'':>14}  recall, a 3-attribute query (~14 tokens, not 42) now "
                      f"{fmt(short)} / {fmt(short, 'p99')}")  # fmt: skip
                row["recall_short"] = short
                was = child(now, {"what": "recall", "path": path, "n": questions,
                                  "embedder": {"runtime": "sentence-transformers"},
                                  "retrieval": {"hnsw_threshold": 200_000}})  # fmt: skip
                print(f"{'':>14}  recall before (torch, exact) {fmt(was)} / {fmt(was, 'p99')}")
                row["recall"], row["recall_before"] = got, was
                got = child(now, {"what": "ask-model", "path": path, "n": 50})
                print(f"{'':>14}  ask, retrieval + stand-in model  now {fmt(got)} / "
                      f"{fmt(got, 'p99')}")  # fmt: skip
                row["ask_model"] = got
            if n == 10_000:
                q = json.dumps({a: "yes" for a in ATTRS})
                for name, argv_ in [
                    ("ask --no-model", ["--repo", path, "ask", q, "--scope", "tt", "--no-model"]),
                    ("recall", ["--repo", path, "recall", "a0 is yes", "--scope", "tt"]),
                    ("log", ["--repo", path, "log", "-n", "5"]),
                ]:
                    if name == "recall" and no_recall:
                        continue
                    t_now = cold(now, argv_)
                    t_old = cold(old, argv_) if old else None
                    print(f"{'':>14}  cold imlgit {name:<15} now {t_now:.2f} s   before "
                          f"{'-' if t_old is None else f'{t_old:.2f} s'}")  # fmt: skip
                    row[f"cold {name}"] = (t_now, t_old)
            print("  json " + json.dumps(row))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
