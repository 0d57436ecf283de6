"""Store benchmark: commit throughput against the git CLI, per-rule history, cold start.

    python bench/store_bench.py            # 1,000 and 10,000 commits (a few minutes)
    python bench/store_bench.py --quick    # 200 and 1,000 commits (CI smoke)

Prints one block of numbers; every ratio is measured in this one run, the commit
rates in interleaved blocks (imlgit, imlgit in chains, the git CLI, in turn).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from imlgit.commits import CommitMessage, Identity
from imlgit.rules import Rule, new_rule_path, render_rule, shard_path
from imlgit.store import FLAT_SCOPE_FILES, Store

# commits on main as a person's stand-in: imlgit's own commits need an approval there
WRITER = Identity("imlgit bench", "bench@bench.example")

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


def layout_path(i: int) -> str:
    """The file imlgit gives the i-th new rule (Store.path_for): the scope's folder,
    a level deeper once it holds FLAT_SCOPE_FILES, so the git CLI works on the same
    trees."""
    rid = make_rule(i).id
    if i < FLAT_SCOPE_FILES:
        return new_rule_path(rid)
    return "rules/general/" + shard_path(rid).split("/", 1)[1]


def make_rule(i: int, version: int = 0) -> Rule:
    return Rule(
        id=f"r-bench-{i:06d}",
        title=f"Bench rule {i}",
        statement=f"When attribute a{i % 10} is yes, the class is C{i % 4} (v{version}).",
        scope="bench",
        created=T,
        updated=T,
    )


class ImlgitSingle:
    """One-rule commits through the library, one commit each; every 10th edits rule 0."""

    def __init__(self, root: Path, n: int) -> None:
        self.store = Store.init(root / f"imlgit-{n}", author=PERSON)
        self.store.checkout_worktree()
        self.i = 0

    def block(self, k: int) -> None:
        for i in range(self.i, self.i + k):
            if i % 10 == 0 and i:
                r, op = make_rule(0, version=i), "revise"
            else:
                r, op = make_rule(i), "add"
            msg = CommitMessage.make(op, f"{op} {r.id}", f"Benchmark commit {i}.", rules=[r.id])
            self.store.put_rule(r, msg, author=WRITER)
        self.i += k


class ImlgitChains:
    """One-rule commits written as chains of 50 (as a learning batch is)."""

    def __init__(self, root: Path, n: int, chunk: int = 50) -> None:
        self.store = Store.init(root / f"imlgit-batched-{n}", author=PERSON)
        self.store.checkout_worktree()
        self.i, self.chunk = 0, chunk

    def block(self, k: int) -> None:
        for start in range(self.i, self.i + k, self.chunk):
            steps = []
            for i in range(start, min(self.i + k, start + self.chunk)):
                r = make_rule(i)
                msg = CommitMessage.make(
                    "add", f"add {r.id}", f"Benchmark commit {i}.", rules=[r.id]
                )
                steps.append(({self.store.path_for(r): render_rule(r).encode("utf-8")}, msg))
            self.store.commit_many(steps, author=WRITER)
        self.i += k


class GitCli:
    """The git CLI adding one-rule commits (write the file, git add, git commit) to a
    repository that already holds ``existing`` rules."""

    def __init__(self, root: Path, existing: int) -> None:
        self.repo = root / f"git-{existing}"
        self.repo.mkdir()
        self._git("init", "-q", "-b", "main")
        for i in range(existing):
            f = self.repo / layout_path(i)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(render_rule(make_rule(i)))
        if existing:
            self._git("add", "-A")
            self._git("commit", "-q", "-m", "seed", "-m", "Seed.")
        self.i = existing

    def _git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.repo, check=True, env=GIT_ENV)

    def block(self, k: int) -> None:
        for j in range(self.i, self.i + k):
            r = make_rule(j)
            f = self.repo / layout_path(j)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(render_rule(r))
            self._git("add", "--", layout_path(j))
            self._git("commit", "-q", "-m", f"add: add {r.id}", "-m", f"Benchmark commit {j}.")
        self.i += k


def throughput(root: Path, n: int, git_sample: int, rounds: int = 10) -> dict[str, Any]:
    """Commits/s of imlgit (one commit at a time, and in chains) and of the git CLI at
    ``n`` rules. The first ``n - 1,000`` commits of each imlgit repository count only
    in the overall rate; then the last 1,000 of each and ``git_sample`` git CLI commits (on a
    repository seeded with ``n - git_sample`` rules) are timed in ``rounds``
    interleaved blocks, so that the machine's slow moments fall on all three alike;
    before each block, the page cache is flushed (``sync``), so that no block pays for
    the writing back of another's files."""
    tail = min(n, 1000)
    single, chains = ImlgitSingle(root, n), ImlgitChains(root, n)
    git = GitCli(root, n - git_sample) if shutil.which("git") else None
    secs = {"imlgit": 0.0, "chains": 0.0, "git": 0.0}
    t_all = 0.0
    with single.store.deferred_worktree(), chains.store.deferred_worktree():
        t0 = time.perf_counter()
        single.block(n - tail)
        t_all += time.perf_counter() - t0
        chains.block(n - tail)
        for _ in range(rounds):
            for name, writer, k in (
                ("imlgit", single, tail // rounds),
                ("chains", chains, tail // rounds),
                ("git", git, git_sample // rounds),
            ):
                if writer is None:
                    continue
                os.sync()  # the previous block's writes are flushed, not charged to this one
                t0 = time.perf_counter()
                writer.block(k)
                secs[name] += time.perf_counter() - t0
    t_all += secs["imlgit"]
    rounded = tail // rounds * rounds
    git_rate = git_sample // rounds * rounds / secs["git"] if git else float("nan")
    return {
        "store": single.store,
        "overall": single.i / t_all,
        "tail": rounded / secs["imlgit"],
        "chains": rounded / secs["chains"],
        "git": git_rate,
    }


def _history_call(repo: Path, rid: str) -> float:
    """Seconds ``Store.history(rid)`` takes in a fresh process, as ``imlgit history``
    runs it (timed inside that process, so interpreter start-up is not counted)."""
    code = (
        "import sys, time\n"
        "from imlgit.store import FLAT_SCOPE_FILES, Store\n"
        "s = Store.open(sys.argv[1])\n"
        "t0 = time.perf_counter(); s.history(sys.argv[2])\n"
        "print(time.perf_counter() - t0)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(repo), rid], capture_output=True, text=True, check=True
    )
    return float(res.stdout.strip())


def history_times(store: Store) -> dict[str, float]:
    """History of a rule changed by many commits and of one changed once, each timed in
    a fresh process (best of 3): warm (the derived index exists), cold (it was deleted
    and is rebuilt from git), and warm again after that rebuild."""
    rid = make_rule(0).id
    out: dict[str, float] = {"commits": len(store.history(rid))}
    out["warm"] = min(_history_call(store.path, rid) for _ in range(3))
    out["light"] = min(_history_call(store.path, make_rule(5).id) for _ in range(3))
    (store.derived_dir / "history.jsonl").unlink()
    out["cold"] = _history_call(store.path, rid)
    out["warm_after_rebuild"] = min(_history_call(store.path, rid) for _ in range(3))
    if shutil.which("git"):
        t0 = time.perf_counter()
        subprocess.run(
            ["git", "log", "--format=%H", "--", layout_path(0)],
            cwd=store.path,
            check=True,
            capture_output=True,
        )
        out["git_log_path"] = time.perf_counter() - t0
    return out


def cold_start(repo: Path) -> tuple[float, list[str]]:
    """Wall time of ``imlgit log -n 20`` in a fresh interpreter, best of 5. The package
    is byte-compiled first, as pip does at install time: with PYTHONDONTWRITEBYTECODE
    set, a source checkout would otherwise recompile every edited module on each run."""
    import compileall

    import imlgit

    compileall.compile_dir(str(Path(imlgit.__file__).parent), quiet=1)
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


@click.command(help=__doc__.split("\n")[0])
@click.option("--quick", is_flag=True, help="200 and 1,000 commits")
@click.option(
    "--git-sample",
    type=int,
    default=200,
    show_default=True,
    help="git CLI commits timed at each size (default 200)",
)
def main(quick: bool, git_sample: int) -> None:
    sizes = (200, 1000) if quick else (1000, 10000)
    root = Path(tempfile.mkdtemp(prefix="imlgit-bench-"))
    try:
        print(f"store benchmark ({'quick' if quick else 'full'}), in {root}")
        results = {}
        for n in sizes:
            t = throughput(root, n, git_sample)
            results[n] = t["store"]
            print(
                f"  {n:>6} one-rule commits: imlgit {t['overall']:7.1f} commits/s overall, "
                f"{t['tail']:7.1f}/s over the last 1,000; git CLI {t['git']:6.1f}/s at that "
                f"size -> {t['tail'] / t['git']:4.1f}x; in chains of 50 (as a learning batch) "
                f"{t['chains']:7.1f}/s -> {t['chains'] / t['git']:4.1f}x"
            )
        big = results[sizes[-1]]
        h = history_times(big)
        print(
            f"  history on a {sizes[-1]:,}-commit repo (fresh process, best of 3): "
            f"a rule changed once "
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
