"""Learning at scale: `imlgit learn` of N experiences into one proposal, timed by phase.

    python bench/learn_scale.py [--sizes 1000,10000] [--batch 16] [--retrieval auto|on]
                                [--profile N] [--timeout SECONDS]

For each size, a fresh process makes a new memory in a temp dir (as `imlgit init`
does), draws N truth-table experiences (seed 0, ten yes/no attributes, flat objects)
and learns them with the default learner (`auto`: the one that needs no model, since
no endpoint is configured) through `Memory.open(...).learn(...)`, the path the CLI
takes, with the default embedder. It prints experiences per second, the wall seconds
split into phases, the peak RSS of that process and what was learned:

- retrieval: searches of the FAISS index for each experience (embedding the query,
  and the index sync to the branch head they trigger, shown on its own as "index
  sync": embedding the rules that changed, loading the embedder the first time);
- evidence: reading and parsing the experiences stored in the memory repo;
- induction / revision: the learner's two steps;
- verification: counting rules against the evidence (recounts, merge checks);
- commits: writing the batch's commits (one compare-and-swap each batch);
- other: the rest (reading rules, history for the learner's context, planning).

`--retrieval on` makes learning search the index even when the learner does not read
what it finds (what every learn did before learners said so), for a before/after in
one run: `--retrieval auto,on` runs both. `--profile N` prints cProfile's top N
functions by cumulative time for each run.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent

# (phase, module, class or None, attribute): the calls timed in the child. Nested
# phases (index sync inside retrieval) are reported on their own and subtracted.
TIMED = (
    ("retrieval", "imlgit.retrieval", "IndexRetriever", "search"),
    ("index sync", "imlgit.index", "RuleIndex", "sync"),
    ("evidence", "imlgit.learn", "Learning", "evidence"),
    ("induction", "imlgit.learners.rulelearner", "CoveringLearner", "induce"),
    ("revision", "imlgit.learners.rulelearner", "CoveringLearner", "revise"),
    ("verification", "imlgit.learn", "Learning", "_recount"),
    ("verification", "imlgit.learn", "Learning", "_merge_holds_evidence"),
    ("commits", "imlgit.store", "Store", "commit_many"),
)
NESTED = {"index sync": "retrieval"}


def _time_calls(spent: dict[str, float]) -> None:
    """Wrap the TIMED methods so each call adds its wall time to ``spent[phase]``
    (a bench script's instrument; the library does not time itself)."""
    import importlib

    for phase, module, cls_name, attr in TIMED:
        cls = getattr(importlib.import_module(module), cls_name, None)
        fn = getattr(cls, attr, None) if cls is not None else None
        if fn is None:  # a phase this version of the code does not have
            continue

        def wrapped(*args: Any, _fn: Callable[..., Any] = fn, _p: str = phase, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return _fn(*args, **kw)
            finally:
                spent[_p] = spent.get(_p, 0.0) + time.perf_counter() - t

        setattr(cls, attr, wrapped)


def one(size: int, batch: int | None, retrieval: str, profile: int) -> dict[str, Any]:
    """Learn ``size`` experiences into a new memory (in this process); the figures."""
    spent: dict[str, float] = {}
    _time_calls(spent)
    from imlgit.bench.truthtable import TruthTable
    from imlgit.commits import Identity
    from imlgit.memory import Memory
    from imlgit.store import Store

    exps = TruthTable(seed=0).sample(size, rng_seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "memory"
        store = Store.init(path, author=Identity("Bench", "bench@example.org"))
        store.checkout_worktree()
        mem = Memory.open(path)
        # retrieval=True searches the index for every batch whatever the learner reads
        # (and is what code from before `uses_retrieval` always did)
        kwargs: dict[str, Any] = {"batch": batch}
        if retrieval == "on":
            kwargs["retrieval"] = True
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        t0 = time.perf_counter()
        done = mem.learn(exps, **kwargs)
        wall = time.perf_counter() - t0
        if prof is not None:
            import io
            import pstats

            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(profile)
            spent["_profile"] = 0.0
            profile_text = out.getvalue()
        batches = done.batches
        rules = {
            rid: (r.when, r.then, r.support, r.contradictions)
            for rid, r in _rules(mem.store, done.branch).items()
        }
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    spent.pop("_profile", None)
    for inner, outer in NESTED.items():
        if inner in spent and outer in spent:
            spent[outer] -= spent[inner]
    spent["other"] = wall - sum(spent.values())
    figures: dict[str, Any] = {
        "size": size,
        "retrieval": retrieval,
        "batches": len(batches),
        "wall": wall,
        "per_second": size / wall,
        "peak_rss_mb": peak_kb / 1024,
        "phases": spent,
        "rules": len(rules),
        "rules_digest": _digest(rules),
        "commits": sum(len(b.commits) for b in batches),
    }
    if profile:
        figures["profile"] = profile_text
    return figures


def _rules(store: Any, branch: str) -> dict[str, Any]:
    from imlgit.rules import parse_rule

    out = {}
    for rid, entry in store.rule_entries(store.resolve(branch)).items():
        out[rid] = parse_rule(store.read_blob(entry.blob), path=entry.path)
    return out


def _digest(rules: dict[str, Any]) -> str:
    """A short hash of what was learned (ids, forms, figures), to compare two runs."""
    import hashlib

    text = json.dumps(
        sorted((rid, repr(v)) for rid, v in rules.items()), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def run_bench(
    sizes_arg: str,
    batch: int | None,
    retrieval: str,
    profile: int,
    timeout: float | None,
    one_size: int | None,
) -> int:
    if one_size is not None:
        print(json.dumps(one(one_size, batch, retrieval, profile)))
        return 0
    sizes = [int(s) for s in sizes_arg.split(",")]
    modes = retrieval.split(",")
    print(
        f"learning N truth-table experiences (seed 0) into one proposal, default learner, "
        f"batch {batch or 'default'}, {os.cpu_count()} cores; a new process a run"
    )
    ok = True
    digests: dict[int, set[str]] = {}
    for size in sizes:
        for mode in modes:
            cmd = [sys.executable, __file__, "--one", str(size), "--retrieval", mode,
                   "--profile", str(profile)]
            if batch:
                cmd += ["--batch", str(batch)]
            try:
                run = subprocess.run(
                    cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout
                )
            except subprocess.TimeoutExpired:
                ok = False
                print(f"N={size:>6} retrieval={mode:<4} did not finish in {timeout:.0f} s")
                continue
            if run.returncode != 0:
                ok = False
                print(f"N={size} retrieval={mode}: failed: {run.stderr.strip()[-2000:]}")
                continue
            f = json.loads(run.stdout.strip().splitlines()[-1])
            digests.setdefault(size, set()).add(f["rules_digest"])
            phases = ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(f["phases"].items(), key=lambda kv: -kv[1])
            )
            print(
                f"N={size:>6} retrieval={mode:<4} {f['per_second']:8.1f} experiences/s  "
                f"wall {f['wall']:7.1f} s  peak RSS {f['peak_rss_mb']:6.0f} MB  "
                f"{f['batches']} batches, {f['commits']} commits, {f['rules']} rules "
                f"(digest {f['rules_digest']})\n    phases (s): {phases}"
            )
            if profile:
                print(f["profile"])
    for size, seen in digests.items():
        if len(seen) > 1:
            ok = False
            print(f"N={size}: the configurations learned different rules: {sorted(seen)}")
    return 0 if ok else 1


@click.command(help=__doc__.split("\n")[0])
@click.option("--sizes", "sizes_arg", default="1000,10000", show_default=True)
@click.option("--batch", type=int, help="default: [learn] batch (16)")
@click.option("--retrieval", default="auto", show_default=True, help="auto, on, or both: auto,on")
@click.option("--profile", type=int, default=0, show_default=True, metavar="N")
@click.option("--timeout", type=float, help="seconds a run may take")
@click.option("--one", "one_size", type=int, hidden=True)  # the child's size
def main(
    sizes_arg: str,
    batch: int | None,
    retrieval: str,
    profile: int,
    timeout: float | None,
    one_size: int | None,
) -> None:
    raise SystemExit(
        run_bench(sizes_arg=sizes_arg, batch=batch, retrieval=retrieval, profile=profile,
                  timeout=timeout, one_size=one_size)  # fmt: skip
    )


if __name__ == "__main__":
    main()
