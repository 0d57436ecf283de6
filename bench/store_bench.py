"""Store benchmark: commit throughput against the git CLI, per-rule history, cold start.

    python bench/store_bench.py            # 1,000 and 10,000 commits (a few minutes)
    python bench/store_bench.py --quick    # 200 and 1,000 commits (CI smoke)

Prints one block of numbers; every ratio is measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imlgit.commits import LEARNER, CommitMessage, Identity
from imlgit.rules import Rule, render_rule, rule_path
from imlgit.store import Store

T = "2026-11-27T08:00:00Z"
PERSON = Identity("Bench Person", "bench@example.org")
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.org",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_rule(i: int, version: int = 0) -> Rule:
    return Rule(
        id=f"r-bench-{i:06d}",
        title=f"Bench rule {i}",
        statement=f"When attribute a{i % 10} is yes, the class is C{i % 4} (v{version}).",
        scope="bench",
        created=T,
        updated=T,
    )


def imlgit_commits(root: Path, n: int, *, edits_every: int = 10) -> tuple[Store, float, float]:
    """n one-rule commits through the library; every 10th edits rule 0 again."""
    store = Store.init(root / f"imlgit-{n}", author=PERSON)
    store.checkout_worktree()
    t0 = time.perf_counter()
    tail_start = 0.0
    with store.deferred_worktree():
        for i in range(n):
            if i == n - min(n, 1000):
                tail_start = time.perf_counter()
            if i % edits_every == 0 and i:
                r = make_rule(0, version=i)
                op = "revise"
            else:
                r = make_rule(i)
                op = "add"
            msg = CommitMessage.make(op, f"{op} {r.id}", f"Benchmark commit {i}.", rules=[r.id])
            store.put_rule(r, msg, author=LEARNER)
    end = time.perf_counter()
    return store, n / (end - t0), min(n, 1000) / (end - tail_start)


def imlgit_batched(root: Path, n: int, chunk: int = 50) -> float:
    """n one-rule commits written as chains of `chunk` (as a learning batch is)."""
    store = Store.init(root / f"imlgit-batched-{n}", author=PERSON)
    store.checkout_worktree()
    t0 = time.perf_counter()
    with store.deferred_worktree():
        for start in range(0, n, chunk):
            steps = []
            for i in range(start, min(n, start + chunk)):
                r = make_rule(i)
                msg = CommitMessage.make(
                    "add", f"add {r.id}", f"Benchmark commit {i}.", rules=[r.id]
                )
                steps.append(({r.path: render_rule(r).encode("utf-8")}, msg))
            store.commit_many(steps, author=LEARNER)
    return n / (time.perf_counter() - t0)


def git_cli_commits(root: Path, existing: int, n: int) -> float:
    """The git CLI adding n one-rule commits to a repo that already holds `existing` rules."""
    repo = root / f"git-{existing}"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=GIT_ENV)
    for i in range(existing):
        f = repo / rule_path(make_rule(i).id)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(render_rule(make_rule(i)))
    if existing:
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=GIT_ENV)
        subprocess.run(
            ["git", "commit", "-q", "-m", "seed", "-m", "Seed."], cwd=repo, check=True, env=GIT_ENV
        )
    t0 = time.perf_counter()
    for j in range(n):
        r = make_rule(existing + j)
        f = repo / rule_path(r.id)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(render_rule(r))
        subprocess.run(["git", "add", "--", rule_path(r.id)], cwd=repo, check=True, env=GIT_ENV)
        subprocess.run(
            ["git", "commit", "-q", "-m", f"add: add {r.id}", "-m", f"Benchmark commit {j}."],
            cwd=repo,
            check=True,
            env=GIT_ENV,
        )
    return n / (time.perf_counter() - t0)


def history_times(store: Store) -> dict[str, float]:
    rid = make_rule(0).id
    out = {}
    t0 = time.perf_counter()
    hist = Store.open(store.path).history(rid)
    out["warm"] = time.perf_counter() - t0
    out["commits"] = len(hist)
    t0 = time.perf_counter()
    Store.open(store.path).history(make_rule(5).id)
    out["light"] = time.perf_counter() - t0
    (store.derived_dir / "history.jsonl").unlink()
    t0 = time.perf_counter()
    Store.open(store.path).history(rid)
    out["cold"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    Store.open(store.path).history(rid)
    out["warm_after_rebuild"] = time.perf_counter() - t0
    if shutil.which("git"):
        t0 = time.perf_counter()
        subprocess.run(
            ["git", "log", "--format=%H", "--", rule_path(rid)],
            cwd=store.path,
            check=True,
            capture_output=True,
        )
        out["git_log_path"] = time.perf_counter() - t0
    return out


def cold_start(repo: Path) -> tuple[float, list[str]]:
    code = (
        "import sys, time; t=time.perf_counter(); from imlgit.cli import main\n"
        "try:\n    main(['--repo', sys.argv[1], 'log', '-n', '20'])\n"
        "except SystemExit: pass\n"
        "heavy=[m for m in ('torch','sentence_transformers','faiss','openai','transformers')"
        " if m in sys.modules]\nprint(','.join(heavy), file=sys.stderr)"
    )
    best = float("inf")
    heavy: list[str] = []
    for _ in range(5):
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", code, str(repo)], capture_output=True, text=True, check=True
        )
        best = min(best, time.perf_counter() - t0)
        heavy = [m for m in res.stderr.strip().split(",") if m]
    return best, heavy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 and 1,000 commits")
    ap.add_argument(
        "--git-sample",
        type=int,
        default=200,
        help="git CLI commits timed at each size (default 200)",
    )
    args = ap.parse_args()
    sizes = (200, 1000) if args.quick else (1000, 10000)
    root = Path(tempfile.mkdtemp(prefix="imlgit-bench-"))
    try:
        print(f"store benchmark ({'quick' if args.quick else 'full'}), in {root}")
        results = {}
        for n in sizes:
            store, rate, tail = imlgit_commits(root, n)
            git_rate = (
                git_cli_commits(root, n - args.git_sample, args.git_sample)
                if shutil.which("git")
                else float("nan")
            )
            results[n] = store
            batched = imlgit_batched(root, n)
            print(
                f"  {n:>6} one-rule commits: imlgit {rate:7.1f} commits/s overall, "
                f"{tail:7.1f}/s over the last 1,000; git CLI {git_rate:6.1f}/s at that size "
                f"-> {tail / git_rate:4.1f}x; in chains of 50 (as a learning batch) "
                f"{batched:7.1f}/s -> {batched / git_rate:4.1f}x"
            )
        big = results[sizes[-1]]
        h = history_times(big)
        print(
            f"  history on a {sizes[-1]:,}-commit repo: a rule changed once "
            f"{h['light'] * 1000:.0f} ms; a rule changed by {int(h['commits'])} commits "
            f"{h['warm'] * 1000:.0f} ms, {h['cold'] * 1000:.0f} ms cold "
            f"(index rebuilt from git), {h['warm_after_rebuild'] * 1000:.0f} ms after; "
            f"git log -- path {h.get('git_log_path', float('nan')) * 1000:.0f} ms"
        )
        t, heavy = cold_start(big.path)
        print(
            f"  cold start of 'imlgit log -n 20': {t * 1000:.0f} ms (best of 5); "
            f"heavy modules imported: {', '.join(heavy) or 'none'}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
