"""Fault injection: kill `learn` and `rule add` with SIGKILL, then check the memory.

    python bench/faults.py            # 100 kills (a few minutes)
    python bench/faults.py --quick    # 20 kills
    python bench/faults.py --seed 7   # another draw of kill times and points

Each trial copies a fresh memory, starts a real process and kills it:

- at a random time: `rule add` through imlgit's CLI (``imlgit.cli.main``, in a
  child that says when its imports are done, so the kill lands in the work, not
  in Python's start-up), and `learn` through ``Memory.learn`` (the CLI's learn
  loads sentence-transformers for retrieval, seconds of start-up a kill would
  mostly hit; here the child passes the bench's hashing embedder);
- at an aimed point: the child opens the store with a ``fault`` callback that
  sends itself SIGKILL at the k-th time the store reaches that point:
  ``objects`` (blobs, trees and commits written, the branch not yet moved),
  ``ref-lock`` (holding ``<ref>.lock``), ``ref-moved`` (the ref renamed, the lock
  not yet removed), ``worktree`` (files written, git's index not), ``index-lock``
  (holding ``index.lock``).

Learning runs with ``policy = "auto"``, so one run creates a proposal branch,
commits its batches there, merges it into main and updates the working tree.
After each kill it checks, with the git CLI where it can:

1. ``git fsck --strict`` passes;
2. every branch is at its old value or at the end of a complete batch: the
   commits of each ``Imlgit-Batch`` on it are as many as in a run with no kill
   (a batch moves its branch in one compare-and-swap), and an added rule is
   there whole or not at all;
3. no lock left behind blocks the next write: each is stale (its owner dead),
   and the next write succeeds;
4. a person's plain ``git commit`` right after the kill loses no rule of
   imlgit's (the pre-commit hook refuses an index a kill left behind), and
   after the next imlgit write ``git status --porcelain`` is clean;
5. relearning the same file (adding the same rule again) gives the same rules
   as a run with no kill.

It prints the counts; any failed check makes it exit 1.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent
POINTS = ("objects", "ref-lock", "ref-moved", "worktree", "index-lock")
PERSON = "Fault Bench <faults@example.org>"
RID, RID2 = "r-fault-bench", "r-fault-bench-next"


# ---------------------------------------------------------------------- the children


def _fault(point: str | None, k: int) -> tuple[Any, collections.Counter[str]]:
    seen: collections.Counter[str] = collections.Counter()

    def fault(name: str) -> None:
        seen[name] += 1
        if name == point and seen[name] == k:
            os.kill(os.getpid(), signal.SIGKILL)

    return fault, seen


def child(args: list[str]) -> None:
    """Run one command in this process: ``learn REPO FILE`` or ``add REPO RID``, or
    ``cli-add REPO RID`` (the CLI); with POINT K, killed there; prints the points seen."""
    kind, repo, what = args[:3]
    point, k = (args[3], int(args[4])) if len(args) > 3 else (None, 0)
    if kind == "cli-add":
        from imlgit import cli

        print("ready", flush=True)
        cli.main(["--repo", repo, *_add_args(what)])
        return
    from imlgit.store import Store

    fault, seen = _fault(point, k)
    if kind == "learn":
        from imlgit.bench.embedders import HashEmbedder
        from imlgit.config import load_settings
        from imlgit.experience import load_jsonl
        from imlgit.memory import Memory

        experiences = load_jsonl(what).experiences
        store = Store.open(repo, fault=fault)
        text = (store.read_file("imlgit.toml") or b"").decode()
        settings = load_settings(text, env={}, flags={("review", "policy"): "auto"})
        mem = Memory(store, settings, embedder=HashEmbedder())
        print("ready", flush=True)
        mem.learn(experiences, batch=30, learner="covering")
    else:
        from imlgit.commits import CommitMessage, Identity
        from imlgit.rules import now_utc

        store = Store.open(repo, fault=fault)
        print("ready", flush=True)
        head = store.resolve("main")
        msg = CommitMessage.make("add", f"add {what}", "The fault bench adds it.", rules=[what])
        person = Identity("Fault Bench", "faults@example.org")
        store.put_rule(_rule(what, now_utc()), msg, author=person, expected_head=head)
    print(json.dumps(dict(seen)), flush=True)


def _rule(rid: str, when: str) -> Any:
    from imlgit.rules import Rule

    return Rule(id=rid, title=f"Rule {rid}", statement=f"Approve when {rid} holds.",
                created=when, updated=when)


def _add_args(rid: str) -> list[str]:
    return ["rule", "add", "--id", rid, "--title", f"Rule {rid}",
            "--statement", f"Approve when {rid} holds.", "--why", "The fault bench adds it."]


# ---------------------------------------------------------------------- the parent


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("GIT_", "IMLGIT_", "OPENAI_"))
        }
        self.env.update(
            PYTHONPATH=str(ROOT), HOME=str(work), GIT_CONFIG_NOSYSTEM="1", HF_HUB_OFFLINE="1",
            IMLGIT_AUTHOR=PERSON, GIT_AUTHOR_NAME="Fault Bench", GIT_COMMITTER_NAME="Fault Bench",
            GIT_AUTHOR_EMAIL="faults@example.org", GIT_COMMITTER_EMAIL="faults@example.org",
        )
        self.template = work / "template"
        self.exp = work / "exp.jsonl"

    def run(self, *cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(cmd), cwd=cwd, env=self.env, capture_output=True, text=True)

    def git(self, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, cwd=repo)

    def imlgit(self, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "imlgit", "--repo", str(repo), *args)

    def start(self, *args: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
        return subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def setup(self) -> None:
        from imlgit.bench.truthtable import TruthTable
        from imlgit.experience import dump_jsonl

        self.exp.write_text(dump_jsonl(TruthTable(seed=0).sample(120, 1)))
        done = self.run(sys.executable, "-m", "imlgit", "init", str(self.template))
        assert done.returncode == 0, done.stderr
        self.base = self.git(self.template, "rev-parse", "main").stdout.strip()

    def fresh(self, name: str) -> Path:
        repo = self.work / name
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(self.template, repo, symlinks=True)
        return repo

    def reference(self, kind: str) -> dict[str, Any]:
        """A run with no kill: the points it passes, its time, its batches, its rules."""
        repo = self.fresh(f"ref-{kind}")
        args = (kind, str(repo), str(self.exp) if kind == "learn" else RID)
        start = time.perf_counter()
        p = self.start(*args)
        out, err = p.communicate()
        assert p.returncode == 0, err
        seen = json.loads(out.strip().splitlines()[-1])
        # How long the work takes once the child is ready, as the random kills run it.
        timed = self.start("cli-add" if kind == "add" else kind,
                           str(self.fresh(f"ref2-{kind}")), *args[2:])
        line = timed.stdout.readline() if timed.stdout else ""
        t0 = time.perf_counter()
        timed.communicate()
        assert line.strip() == "ready"
        if kind == "add":
            self.next_write(repo)
        return {
            "seen": seen, "work": time.perf_counter() - t0, "total": t0 - start,
            "batches": self.batches(repo, "main"), "rules": self.rules(repo),
        }

    def batches(self, repo: Path, rev: str) -> dict[str, int]:
        """Commits per Imlgit-Batch on ``rev`` since the template."""
        out = self.git(repo, "log", "--format=%(trailers:key=Imlgit-Batch,valueonly,separator=)",
                       rev, f"^{self.base}").stdout
        return dict(collections.Counter(v.strip() for v in out.splitlines() if v.strip()))

    def rules(self, repo: Path) -> list[tuple[str, str, str]]:
        sys.path.insert(0, str(ROOT))
        from imlgit.store import Store

        with Store.open(repo) as store:
            return sorted((r.id, r.statement, r.status) for r in store.read_rules("main").values())

    def next_write(self, repo: Path) -> subprocess.CompletedProcess[str]:
        return self.imlgit(repo, *_add_args(RID2))

    def locks(self, repo: Path) -> list[Any]:
        from imlgit.store import Store

        with Store.open(repo) as store:
            return store.stale_locks()


def trial(bench: Bench, refs: dict[str, dict[str, Any]], n: int, kind: str, point: str | None,
          rng: random.Random, counts: collections.Counter[str], failures: list[str]) -> bool:
    """One kill and the checks after it; False when the process ended before the kill."""
    repo = bench.fresh(f"t{n}")
    ref = refs[kind]
    heads_before = {b: bench.git(repo, "rev-parse", b).stdout.strip() for b in ("main",)}
    what = str(bench.exp) if kind == "learn" else RID
    if point is None:
        p = bench.start("cli-add" if kind == "add" else kind, str(repo), what)
        line = p.stdout.readline() if p.stdout else ""
        if line.strip() == "ready":
            time.sleep(rng.uniform(0, ref["work"] * 1.2))
        p.send_signal(signal.SIGKILL)
    else:
        if not ref["seen"].get(point):
            counts[f"{kind}: never passes {point} (not counted)"] += 1
            return False
        k = rng.randint(1, ref["seen"][point])
        p = bench.start(kind, str(repo), what, point, str(k))
    p.communicate()
    if p.returncode != -signal.SIGKILL:
        counts[f"{kind}: finished before the kill (not counted)"] += 1
        if point is None:
            ref["work"] *= 0.8  # the reference was slower than this run: aim earlier
        return False
    label = f"{kind} {'random' if point is None else point}"
    counts[f"kills: {label}"] += 1

    def fail(why: str) -> None:
        failures.append(f"trial {n} ({label}): {why}")

    # 1. fsck
    fsck = bench.git(repo, "fsck", "--strict")
    if fsck.returncode != 0:
        fail(f"git fsck --strict: {fsck.stderr.strip() or fsck.stdout.strip()}")
    # 2. branches at their old value or a complete batch
    branches = bench.git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").stdout
    for b in branches.split():
        head = bench.git(repo, "rev-parse", b).stdout.strip()
        if head == heads_before.get(b, bench.base):
            counts["branches at their old value"] += 1
            continue
        got = bench.batches(repo, b)
        partial = {bid: c for bid, c in got.items() if ref["batches"].get(bid) != c}
        if partial:
            fail(f"{b} ends in a partial batch: {partial} (complete: {ref['batches']})")
        else:
            counts["branches moved to a complete batch or commit"] += 1
    try:
        rules_main = bench.rules(repo)  # every rule file on main parses: whole, or not there
    except Exception as exc:  # noqa: BLE001 - any failure to read is a failed check
        fail(f"main does not read back: {exc}")
        return True
    # 3. locks left by the kill must be stale
    left = bench.locks(repo)
    counts["lock files left by a kill"] += len(left)
    for info in left:
        if not info.stale:
            fail(f"{info.path} would block the next write: {info.why}")
    # 4. a person's plain git commit right after the kill
    status = bench.git(repo, "status", "--porcelain").stdout
    staged = [ln for ln in status.splitlines() if ln[:1] not in (" ", "?")]
    if staged:
        counts["kills that left git's index behind the branch"] += 1
    person = bench.git(repo, "commit", "-q", "-m", "a person's commit")
    said = person.stdout + person.stderr
    if person.returncode == 0:
        counts["person's git commit after the kill: committed"] += 1
    elif "imlgit doctor --repair" in said:
        counts["person's git commit after the kill: refused by the hook"] += 1
    elif "index.lock" in said:
        counts["person's git commit after the kill: refused, index.lock left"] += 1
    lost = set(r[0] for r in rules_main) - set(r[0] for r in bench.rules(repo))
    if lost:
        fail(f"a plain git commit after the kill removed {sorted(lost)}")
    # 5. the next write (relearn / add again) repairs and gives the same rules
    if kind == "learn":
        again = bench.start("learn", str(repo), what)
        _, err = again.communicate()
        ok = again.returncode == 0
    else:
        nxt = bench.next_write(repo)
        ok = nxt.returncode == 0
        err = nxt.stderr
        if ok and RID not in {r[0] for r in bench.rules(repo)}:
            add = bench.imlgit(repo, *_add_args(RID))
            ok, err = add.returncode == 0, err + add.stderr
    if not ok:
        fail(f"the next write failed: {err.strip().splitlines()[-1:]}")
    for warning in err.splitlines():
        if "took over the stale lock" in warning:
            counts["stale locks taken over by the next write"] += 1
        if "brought git's index up to date" in warning:
            counts["indexes repaired by the next write"] += 1
    after = bench.git(repo, "status", "--porcelain").stdout
    if any(ln[:1] not in (" ", "?") for ln in after.splitlines()):
        fail(f"staged changes after the next write: {after.strip()}")
    if bench.rules(repo) != ref["rules"]:
        fail("the rules differ from a run with no kill")
    else:
        counts["rule sets equal to a run with no kill"] += 1
    if bench.git(repo, "fsck", "--strict").returncode != 0:
        fail("git fsck --strict fails after the next write")
    # Locks on branches the next write did not touch stay for doctor --repair.
    from imlgit.store import Store

    with Store.open(repo) as store:
        _, removed = store.repair()
    counts["stale locks on untouched branches, removed by Store.repair"] += len(removed)
    if bench.locks(repo):
        fail(f"locks left after Store.repair: {[str(i.path) for i in bench.locks(repo)]}")
    shutil.rmtree(repo, ignore_errors=True)
    return True


def run_faults(quick: bool, seed: int, kills: int | None) -> int:
    """The kills, counted; 1 when a check failed."""
    logging.getLogger("imlgit").addHandler(logging.NullHandler())  # counted, not shown
    total = kills or (20 if quick else 100)
    rng = random.Random(seed)
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    counts: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="imlgit-faults-") as tmp:
        bench = Bench(Path(tmp))
        bench.setup()
        refs = {kind: bench.reference(kind) for kind in ("learn", "add")}
        # A quarter each: learn random, learn aimed, rule add random, rule add aimed.
        plan: list[tuple[str, str | None]] = []
        for i in range(total):
            kind = "learn" if i % 2 == 0 else "add"
            aimed = (i // 2) % 2 == 1
            plan.append((kind, POINTS[(i // 4) % len(POINTS)] if aimed else None))
        n = 0
        for kind, point in plan:
            for _attempt in range(20):  # a random kill can come after the end: draw again
                n += 1
                if trial(bench, refs, n, kind, point, rng, counts, failures):
                    break
    seconds = time.perf_counter() - started
    print(f"fault injection: {sum(v for k, v in counts.items() if k.startswith('kills:'))} "
          f"kills in {seconds:.0f} s (seed {seed})")
    for key in sorted(counts):
        print(f"  {key:<62} {counts[key]:>4}")
    print(f"  {'failed checks':<62} {len(failures):>4}")
    for f in failures[:20]:
        print(f"    {f}")
    return 1 if failures else 0


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--quick", is_flag=True, help="20 kills instead of 100")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--kills", type=int, help="how many kills (default 100, --quick 20)")
def main(quick: bool, seed: int, kills: int | None) -> None:
    raise SystemExit(run_faults(quick, seed, kills))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # one trial, in the process the bench kills
        child(sys.argv[2:])
    else:
        main()
