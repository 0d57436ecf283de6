"""Real git agrees with imlgit: fsck, log, trailers, hand edits, revert."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from conftest import PERSON, run_git

from imlgit.commits import CommitMessage
from imlgit.rules import Rule, new_rule_path, render_rule
from imlgit.store import Store

pytestmark = pytest.mark.usefixtures("git_repo_env")
T = "2026-11-27T08:00:00Z"


def rule(rid: str, statement: str = "A statement.") -> Rule:
    return Rule(id=rid, title=f"Title {rid}", statement=statement, created=T, updated=T)


def put(store: Store, r: Rule, op: str = "add", why: str = "Evidence agrees.") -> str:
    return store.put_rule(
        r,
        CommitMessage.make(
            op,
            f"{op} {r.id}",
            why,
            rules=[r.id],
            trailers=[("Imlgit-Batch", "b-0001"), ("Imlgit-Evidence", "e1 e2")],
        ),
        author=PERSON,
    )


def test_fsck_strict_and_log(memory: Store) -> None:
    put(memory, rule("r-a"), why="Seen in 12 of 14 experiences.")
    put(memory, rule("r-a", "Changed."), op="revise", why="Batch 2 narrowed it.")
    run_git(memory.path, "fsck", "--strict", "--no-dangling")
    log = run_git(memory.path, "log", "--format=%s%n%b%n--")
    assert "Seen in 12 of 14 experiences." in log and "Batch 2 narrowed it." in log
    status = run_git(memory.path, "status", "--porcelain")
    assert status == ""  # the working tree and index follow imlgit's commits


def test_trailers_parse_with_git(memory: Store) -> None:
    sha = put(memory, rule("r-a"))
    msg = run_git(memory.path, "log", "-1", "--format=%B", sha)
    parsed = run_git(memory.path, "interpret-trailers", "--parse", input=msg)
    assert "Imlgit-Op: add" in parsed
    assert "Imlgit-Rules: r-a" in parsed
    assert "Imlgit-Batch: b-0001" in parsed
    assert "Imlgit-Evidence: e1 e2" in parsed
    assert (
        run_git(
            memory.path, "log", "-1", "--format=%(trailers:key=Imlgit-Op,valueonly)", sha
        ).strip()
        == "add"
    )


def test_rule_edited_with_git_cli_is_read_back(memory: Store) -> None:
    put(memory, rule("r-a", "Before."))
    f = memory.path / new_rule_path("r-a")
    f.write_text(render_rule(rule("r-a", "Edited by hand with git.")))
    run_git(memory.path, "add", "-A")
    run_git(memory.path, "commit", "-q", "-m", "hand edit", "-m", "A person fixed the wording.")
    assert memory.read_rule("r-a").statement == "Edited by hand with git."
    hist = memory.history("r-a")
    assert hist[0].subject == "hand edit" and hist[0].rationale == "A person fixed the wording."
    # and imlgit can keep writing on top of it
    put(memory, rule("r-b"))
    run_git(memory.path, "fsck", "--strict", "--no-dangling")


@pytest.mark.slow
def test_hooks_refuse_bad_rule_and_missing_rationale(memory: Store) -> None:
    f = memory.path / new_rule_path("r-a")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(render_rule(rule("r-a")).replace("support: 0", "support: lots"))
    run_git(memory.path, "add", "-A")
    out = run_git(memory.path, "commit", "-q", "-m", "bad", "-m", "why", check=False)
    head = memory.head()
    assert memory.read_file(new_rule_path("r-a"), head) is None
    f.write_text(render_rule(rule("r-a")))
    run_git(memory.path, "add", "-A")
    import subprocess

    res = subprocess.run(
        ["git", "commit", "-q", "-m", "no body"], cwd=memory.path, capture_output=True, text=True
    )
    assert res.returncode != 0 and "rationale" in res.stderr
    assert memory.head() == head
    run_git(memory.path, "commit", "-q", "-m", "add r-a", "-m", "Now with a reason.")
    assert memory.read_rule("r-a").id == "r-a"
    del out


def test_git_revert_and_imlgit_rollback_agree(memory: Store, tmp_path: Path) -> None:
    put(memory, rule("r-a", "Good."))
    bad = put(memory, rule("r-a", "Bad revision."), op="revise")
    put(memory, rule("r-b"))
    # a clone reverts with git, the original with imlgit
    clone = tmp_path / "clone"
    run_git(tmp_path, "clone", "-q", str(memory.path), str(clone))
    run_git(clone, "revert", "--no-edit", bad)
    git_tree = run_git(clone, "rev-parse", "HEAD^{tree}").strip()
    sha = memory.revert(bad, "The revision was noise.", author=PERSON)
    ours = run_git(memory.path, "rev-parse", f"{sha}^{{tree}}").strip()
    assert ours == git_tree
    run_git(memory.path, "fsck", "--strict", "--no-dangling")


def _writer(path: str, worker: int, n: int) -> None:
    store = Store.open(path)
    for i in range(n):
        r = rule(f"r-w{worker}-{i:04d}")
        store.put_rule(
            r,
            CommitMessage.make("add", f"add {r.id}", "Concurrent writer.", rules=[r.id]),
            author=PERSON,
        )


@pytest.mark.slow
def test_two_processes_commit_at_once(memory: Store) -> None:
    n = 200
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(memory.path), w, n)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    rules = memory.read_rules()
    assert sum(1 for r in rules if r.startswith("r-w")) == 2 * n
    assert len(memory.log()) == 1 + 2 * n
    run_git(memory.path, "fsck", "--strict", "--no-dangling")
    assert run_git(memory.path, "status", "--porcelain") == ""


def test_a_long_chain_of_commits(memory: Store) -> None:
    steps = []
    for i in range(20):
        r = rule(f"r-chain-{i:02d}")
        steps.append(
            (
                {r.path: render_rule(r).encode()},
                CommitMessage.make("add", f"add {r.id}", "Part of a batch.", rules=[r.id]),
            )
        )
    shas = memory.commit_many(steps, author=PERSON)
    assert len(shas) == 20 and memory.head() == shas[-1]
    run_git(memory.path, "fsck", "--strict", "--no-dangling")
    assert run_git(memory.path, "rev-list", "--count", "HEAD").strip() == "21"
    assert [c.sha for c in Store.open(memory.path).history("r-chain-07")] == [shas[7]]
    assert run_git(memory.path, "status", "--porcelain") == ""
