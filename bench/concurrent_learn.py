"""Four processes learn different files into one memory at once, RUNS times.

    python bench/concurrent_learn.py [--runs 20]

Each run makes a new memory, starts four `Memory.learn` processes at the same moment
(the learner that needs no model, a hashing embedder so no model loads), each on its
own 40 experiences, and checks: every process succeeded or reported an error; each
experience of a process that succeeded is stored on that process's own proposal; the
proposals are four different branches; `git fsck --strict` is clean. It prints the
counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
LEARN = """
import sys, time
sys.path.insert(0, sys.argv[3])
from fakes import HashEmbedder
from imlgit.experience import load_jsonl
from imlgit.memory import Memory
exps = load_jsonl(sys.argv[2]).experiences
start = float(sys.argv[4])
time.sleep(max(0.0, start - time.time()))  # all four start in the same instant
mem = Memory.open(sys.argv[1], env={"IMLGIT_LEARNER": "covering"}, embedder=HashEmbedder())
print(mem.learn(exps, batch=10).proposal)
"""


def one_run(workdir: Path, k: int) -> dict[str, int]:
    import time

    from imlgit.bench.truthtable import TruthTable
    from imlgit.commits import Identity
    from imlgit.proposals import proposal_branch
    from imlgit.store import Store

    mem = workdir / f"m{k}"
    Store.init(mem, author=Identity("Bench", "bench@example.org"))
    files = []
    for p in range(4):
        exps = TruthTable(seed=k).sample(40, rng_seed=100 * k + p)
        lines = [json.dumps({**e.to_dict(), "id": f"p{p}-{e.id}"}) for e in exps]
        f = workdir / f"r{k}-p{p}.jsonl"
        f.write_text("\n".join(lines) + "\n")
        files.append((f, {f"p{p}-{e.id}" for e in exps}))
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LEARN, str(mem), str(f), str(ROOT / "tests"), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for f, _ in files
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    counts = {"learns": 4, "ok": 0, "reported": 0, "learned": 0, "lost": 0}
    store = Store.open(mem)
    names = set()
    for p, (out, err), (_, ids) in zip(procs, outs, files, strict=True):
        if p.returncode != 0:
            counts["reported"] += 1  # failed, and said so on stderr
            print(f"  run {k}: a learn failed: {err.strip().splitlines()[-1][:200]}")
            continue
        counts["ok"] += 1
        name = out.strip()
        names.add(name)
        stored: set[str] = set()
        for _path, blob in store.files_under("experiences", proposal_branch(name)):
            stored |= {json.loads(x)["id"] for x in store.read_blob(blob).splitlines()}
        counts["learned"] += len(ids & stored)
        counts["lost"] += len(ids - stored)
    counts["proposals"] = len(names)
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=mem, capture_output=True, text=True)
    counts["fsck_clean"] = int(fsck.returncode == 0 and not fsck.stderr.strip())
    return counts


def run_bench(runs: int) -> int:
    total: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(runs):
            got = one_run(Path(tmp), k)
            for key, value in got.items():
                total[key] = total.get(key, 0) + value
    print(
        f"{runs} runs x 4 concurrent learns: {total['ok']} succeeded, "
        f"{total['reported']} failed and said so; experiences learned {total['learned']}, "
        f"lost {total['lost']}; proposals {total['proposals']} (4 a run expected); "
        f"git fsck --strict clean in {total['fsck_clean']} of {runs} runs"
    )
    return 0 if total["lost"] == 0 and total["fsck_clean"] == runs else 1


@click.command(help=__doc__.split("\n")[0])
@click.option("--runs", type=int, default=20, show_default=True)
def main(runs: int) -> None:
    raise SystemExit(run_bench(runs=runs))


if __name__ == "__main__":
    main()
