"""How a learned proposal reads: its commits, its review's length, each rule's log.

    python bench/proposal_bench.py              # the main job, and a text run
    python bench/proposal_bench.py --only main

The main job is what `make demo` learns: 200 truth-table experiences in batches
of 20 into one proposal (the learner that needs no model). The text run: 300
support messages (free text, the `support-text` shape) in batches of 20. Each is
run with the `imlgit` command a user has, in a new memory; then the script
prints the proposal's commits by operation, the lines `imlgit review NAME` and
`imlgit review NAME --commits` print, the commits `git log -- <rule file>` lists
per rule (the most, and the mean), and the held-out accuracy at the proposal's
head.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imlgit.bench.shapes import to_experiences  # noqa: E402
from imlgit.bench.shapes_text import SupportText  # noqa: E402
from imlgit.bench.truthtable import TruthTable  # noqa: E402
from imlgit.experience import Experience  # noqa: E402


def _imlgit() -> list[str]:
    exe = shutil.which("imlgit", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "imlgit"]


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
           "IMLGIT_MODEL": "", "OPENAI_BASE_URL": ""}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[1:])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _write(path: Path, exps: list[Experience]) -> None:
    path.write_text("".join(e.to_json() + "\n" for e in exps))


def measure(name: str, train: list[Experience], test: list[Experience], batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mem = root / "memory"
        cli = [*_imlgit(), "--repo", str(mem)]
        _run([*_imlgit(), "init", str(mem)], root)
        _write(root / "train.jsonl", train)
        _write(root / "test.jsonl", test)
        _run([*cli, "learn", "train.jsonl", "--batch", str(batch), "--propose", name,
              "--learner", "covering"], root)
        branch = f"proposals/{name}"
        shas = _run(["git", "-C", str(mem), "rev-list", "--reverse", f"main..{branch}"],
                    root).split()
        ops: Counter[str] = Counter()
        for sha in shas:
            msg = _run(["git", "-C", str(mem), "log", "-1", "--format=%B", sha], root)
            op = next((ln.split(":", 1)[1].strip() for ln in msg.splitlines()
                       if ln.startswith("Imlgit-Op:")), "other")
            ops[op] += 1
        review = _run([*cli, "review", name], root)
        commits_flag = _commit_flag(cli, root, name)
        files = _run(["git", "-C", str(mem), "ls-tree", "-r", "--name-only", branch, "rules"],
                     root).split()
        per_rule = [
            len(_run(["git", "-C", str(mem), "log", "--format=%H", branch, "--", f],
                     root).split())
            for f in files if f.endswith(".md")
        ]
        ev = _run([*cli, "eval", "test.jsonl", "--at", branch, "--json"], root)
        acc = json.loads(ev)["accuracy"]
        return {
            "run": name,
            "experiences": len(train),
            "commits": len(shas),
            "ops": dict(sorted(ops.items())),
            "review_lines": len(review.splitlines()),
            "review_commits_lines": commits_flag,
            "rule_files": len(per_rule),
            "log_per_rule_max": max(per_rule, default=0),
            "log_per_rule_mean": round(statistics.mean(per_rule), 1) if per_rule else 0,
            "accuracy": round(100 * acc, 1),
        }


def _commit_flag(cli: list[str], root: Path, name: str) -> int | None:
    """Lines of `review --commits` (None where this imlgit has no such flag)."""
    help_text = _run([*cli, "review", "--help"], root)
    if "--commits" not in help_text:
        return None
    return len(_run([*cli, "review", name, "--commits"], root).splitlines())


@click.command(help=__doc__.split("\n")[0])
@click.option("--only", type=click.Choice(("main", "text")))
def main(only: str | None) -> None:
    runs = []
    if only in (None, "main"):
        env = TruthTable(seed=0)  # what `make demo` learns (imlgit/tour.py)
        runs.append(measure("truth-table-1", env.sample(200, 1), env.sample(500, 2), 20))
    if only in (None, "text"):
        text = SupportText(seed=0)
        train = to_experiences(text.sample(300, 1))
        test = to_experiences(text.sample(200, 2))
        runs.append(measure("support-text-1", train, test, 20))
    for r in runs:
        ops = ", ".join(f"{n} {op}" for op, n in r["ops"].items())
        print(f"{r['run']}: {r['experiences']} experiences -> {r['commits']} commits ({ops}); "
              f"review {r['review_lines']} lines"
              + ("" if r["review_commits_lines"] is None
                 else f" ({r['review_commits_lines']} with --commits)")
              + f"; git log per rule file: at most {r['log_per_rule_max']}, mean "
              f"{r['log_per_rule_mean']} ({r['rule_files']} files); held-out accuracy "
              f"{r['accuracy']}%")
    print(json.dumps(runs))


if __name__ == "__main__":
    main()
