"""Locks that heal, and an index that follows the branch imlgit moved, even after a kill.

Kills are real: a child process opens the store with a ``fault`` callback that
ends it (``os._exit``, no cleanup) at a named point.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PERSON, ROOT, run_git

from imlgit import locking
from imlgit.commits import CommitMessage
from imlgit.errors import StoreError
from imlgit.rules import Rule, new_rule_path, render_rule
from imlgit.store import Store

T = "2026-11-18T00:00:00Z"


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _owner_lock(path: Path, pid: int, *, started: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(locking.Owner(pid, socket.gethostname(), started).render())


def _age(path: Path, seconds: float) -> None:
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


def _rule(rid: str) -> bytes:
    rule = Rule(id=rid, title=f"Rule {rid}", statement=f"Statement of {rid}.", created=T, updated=T)
    return render_rule(rule).encode("utf-8")


def _add(store: Store, rid: str) -> str:
    msg = CommitMessage.make("add", f"add {rid}", f"Adding {rid} for the test.", rules=[rid])
    return store.commit({new_rule_path(rid): _rule(rid)}, msg, author=PERSON)


# ---------------------------------------------------------------------- the lock helper


def test_owner_round_trips_and_a_dead_pid_is_gone() -> None:
    me = locking.Owner.me()
    assert locking.Owner.parse(me.render()) == me
    assert me.alive() is True
    assert locking.Owner(_dead_pid(), me.host).alive() is False
    assert locking.Owner(os.getpid(), "another-host").alive() is None
    assert locking.Owner.parse(b"0123456789abcdef0123456789abcdef01234567\n") is None


def test_a_reused_pid_is_not_the_owner() -> None:
    """The start time tells a process from another that got its pid later."""
    me = locking.Owner.me()
    if me.started is None:
        pytest.skip("no /proc: start times unknown")
    assert locking.Owner(me.pid, me.host, "1").alive() is False


def test_acquire_takes_over_a_dead_owners_lock(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    lock = tmp_path / "main.lock"
    _owner_lock(lock, _dead_pid())
    with caplog.at_level(logging.WARNING, logger="imlgit"):
        locking.acquire(lock, wait=0)
    assert locking.Owner.parse(lock.read_bytes()) == locking.Owner.me()
    assert "took over the stale lock" in caplog.text and str(lock) in caplog.text
    locking.release(lock)
    assert not lock.exists()


def test_acquire_fails_fast_naming_a_live_holders_lock(tmp_path: Path) -> None:
    lock = tmp_path / "main.lock"
    _owner_lock(lock, os.getpid(), started=locking.Owner.me().started)
    with pytest.raises(StoreError, match=r"main\.lock is locked.*which is running.*remove"):
        locking.acquire(lock, wait=0, what="the ref refs/heads/main")
    assert lock.exists()  # a live holder's lock is never touched


def test_a_lock_without_owner_is_stale_only_past_the_bound(tmp_path: Path) -> None:
    lock = tmp_path / "main.lock"
    lock.write_bytes(b"0123456789abcdef0123456789abcdef01234567\n")  # git's own
    with pytest.raises(StoreError, match="no owner recorded"):
        locking.acquire(lock, wait=0)
    _age(lock, locking.STALE_AFTER + 5)
    locking.acquire(lock, wait=0)
    assert locking.Owner.parse(lock.read_bytes()) == locking.Owner.me()
    # index.lock may be a `git commit` waiting for its editor: never taken over.
    index_lock = tmp_path / "index.lock"
    index_lock.write_bytes(b"DIRC")
    _age(index_lock, 10 * locking.STALE_AFTER)
    with pytest.raises(StoreError, match="never taken over"):
        locking.acquire(index_lock, wait=0, stale_after=None)


def test_two_takers_of_one_stale_lock_one_wins(tmp_path: Path) -> None:
    lock = tmp_path / "main.lock"
    _owner_lock(lock, _dead_pid())
    first = locking.inspect(lock)
    second = locking.inspect(lock)
    assert first is not None and second is not None and first.stale
    assert locking.take_over(lock, first) is True
    locking.acquire(lock, wait=0)  # a new, live lock
    assert locking.take_over(lock, second) is False  # judged the old file, finds another
    assert locking.Owner.parse(lock.read_bytes()) == locking.Owner.me()


def test_an_exclusive_lock_is_refused_while_held_and_freed_by_a_kill(tmp_path: Path) -> None:
    """The advisory lock (filelock): another process holding it makes a non-blocking
    attempt fail; killing that process frees it (it never goes stale)."""
    lock = tmp_path / "derived" / "write.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from imlgit import locking
            with locking.exclusive(Path({str(lock)!r})) as held:
                print(held, flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with locking.exclusive(lock, blocking=False) as held:
            assert held is False
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    with locking.exclusive(lock, blocking=False) as held:
        assert held is True
    with locking.exclusive(lock) as held:  # and again: released on leaving the block
        assert held is True


def test_the_index_and_the_locks_import_without_fcntl() -> None:
    """fcntl is POSIX only: `import imlgit.index` failed on Windows. Run with fcntl
    unimportable, as there."""
    code = textwrap.dedent("""
        import sys, tempfile, warnings
        from pathlib import Path
        sys.modules["fcntl"] = None  # import fcntl now raises ImportError
        warnings.simplefilter("ignore")  # filelock: "only soft file lock is available"
        import imlgit.index, imlgit.locking, imlgit.memory, imlgit.store
        with imlgit.locking.exclusive(Path(tempfile.mkdtemp()) / "x.lock") as held:
            print(held)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


# ---------------------------------------------------------------------- the store


def test_a_stale_branch_lock_does_not_stop_a_commit(memory: Store) -> None:
    """Before: _cas_ref spun 10,000 attempts (about 2 minutes), then 'too much contention'."""
    lock = memory.gitdir / "refs" / "heads" / "main.lock"
    _owner_lock(lock, _dead_pid())
    memory.lock_wait = 0
    sha = _add(memory, "after-stale-lock")
    assert memory.head() == sha and not lock.exists()


def test_a_live_branch_lock_fails_fast_with_the_file_named(memory: Store) -> None:
    lock = memory.gitdir / "refs" / "heads" / "main.lock"
    _owner_lock(lock, os.getpid(), started=locking.Owner.me().started)
    memory.lock_wait = 0
    head = memory.head()
    with pytest.raises(StoreError, match=r"refs/heads/main\.lock is locked"):
        _add(memory, "blocked")
    assert memory.head() == head


def test_a_stale_lock_does_not_stop_a_new_branch(memory: Store) -> None:
    """Before: dulwich's add_if_new raised FileLocked ('unexpected FileLocked' in learn)."""
    lock = memory.gitdir / "refs" / "heads" / "proposals" / "p1.lock"
    _owner_lock(lock, _dead_pid())
    memory.lock_wait = 0
    assert memory.create_branch("proposals/p1") == memory.head()
    assert memory.branches()["proposals/p1"] == memory.head()
    with pytest.raises(StoreError, match="exists"):
        memory.create_branch("proposals/p1")


def test_a_stale_lock_does_not_stop_deleting_a_branch(memory: Store) -> None:
    memory.create_branch("proposals/p2")
    lock = memory.gitdir / "refs" / "heads" / "proposals" / "p2.lock"
    _owner_lock(lock, _dead_pid())
    memory.lock_wait = 0
    memory.delete_branch("proposals/p2")
    assert "proposals/p2" not in memory.branches()


# ---------------------------------------------------------------------- kills


_CHILD = """
import os, sys
from imlgit.commits import CommitMessage, Identity
from imlgit.rules import Rule, render_rule, new_rule_path
from imlgit.store import Store

repo, point, rid = sys.argv[1:4]

def fault(name):
    if name == point:
        os._exit(137)  # a kill: no cleanup, no finally

store = Store.open(repo, fault=fault)
rule = Rule(id=rid, title="Rule " + rid, statement="Statement of " + rid + ".",
            created="2026-11-18T00:00:00Z", updated="2026-11-18T00:00:00Z")
msg = CommitMessage.make("add", "add " + rid, "Adding " + rid + " for the test.", rules=[rid])
store.commit({new_rule_path(rid): render_rule(rule).encode()}, msg,
             author=Identity("Ada Reviewer", "ada@example.org"))
"""


def _killed_commit(repo: Path, point: str, rid: str) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD), str(repo), point, rid],
        env=env,
        capture_output=True,
        text=True,
    )
    return done.returncode


def _status(repo: Path) -> str:
    return run_git(repo, "status", "--porcelain")


def test_a_kill_after_the_ref_moved_leaves_no_staged_deletion_behind(
    memory: Store, git_repo_env: None
) -> None:
    """Before: the index stayed at the old commit, and a plain git commit removed the rule."""
    repo = memory.path
    assert _killed_commit(repo, "worktree", "killed-rule") == 137
    store = Store.open(repo)
    path = new_rule_path("killed-rule")
    assert store.read_file(path) is not None  # the commit landed
    found = store.unsynced()
    assert [(u.path, u.repairable) for u in found] == [(path, True)]
    assert f"D  {path}" in _status(repo)  # what a person would commit now
    # The next write finishes the update first.
    _add(store, "next-rule")
    assert _status(repo) == ""
    assert store.unsynced() == []
    run_git(repo, "commit", "--allow-empty", "-m", "a person's commit", "--no-verify")
    assert store.read_file(path, "main") is not None


def test_a_write_to_another_branch_repairs_mains_index(memory: Store, git_repo_env: None) -> None:
    """A relearn that only opens a proposal must still finish what the kill left on main."""
    repo = memory.path
    assert _killed_commit(repo, "worktree", "killed-rule") == 137
    store = Store.open(repo)
    store.create_branch("proposals/next")
    assert _status(repo) == ""


def test_repair_brings_the_index_up_to_date_without_a_write(
    memory: Store, git_repo_env: None
) -> None:
    repo = memory.path
    assert _killed_commit(repo, "worktree", "killed-rule") == 137
    store = Store.open(repo)
    fixed, locks = store.repair()
    assert fixed == [new_rule_path("killed-rule")] and locks == []
    assert _status(repo) == ""


def test_a_persons_later_change_is_left_alone(memory: Store, git_repo_env: None) -> None:
    repo = memory.path
    assert _killed_commit(repo, "worktree", "killed-rule") == 137
    path = new_rule_path("killed-rule")
    (repo / path).write_text("a person's own version\n")
    run_git(repo, "add", path)
    store = Store.open(repo)
    assert store.repair() == ([], [])
    assert [(u.path, u.repairable) for u in store.unsynced()] == [(path, False)]
    assert (repo / path).read_text() == "a person's own version\n"


@pytest.mark.parametrize("point", ["ref-lock", "ref-moved", "index-lock", "objects"])
def test_a_kill_at_each_point_leaves_nothing_that_blocks_the_next_write(
    memory: Store, git_repo_env: None, point: str
) -> None:
    repo = memory.path
    before = memory.head()
    assert _killed_commit(repo, point, "killed-rule") == 137
    store = Store.open(repo)
    store.lock_wait = 0  # a leftover lock must be taken over, not waited for
    moved = point in ("ref-moved", "index-lock")
    assert (store.head() != before) == moved
    _add(store, "next-rule")
    assert _status(repo) == ""
    assert list((repo / ".git" / "refs" / "heads").glob("*.lock")) == []
    assert not (repo / ".git" / "index.lock").exists()
    run_git(repo, "fsck", "--strict")
    assert (store.read_file(new_rule_path("killed-rule")) is not None) == moved


def test_doctor_reports_what_a_kill_left(memory: Store, git_repo_env: None) -> None:
    from imlgit.doctor import _leftovers

    repo = memory.path
    assert _killed_commit(repo, "worktree", "killed-rule") == 137
    _owner_lock(repo / ".git" / "refs" / "heads" / "proposals" / "p1.lock", _dead_pid())
    store = Store.open(repo)
    found = {(f.kind, f.path) for f in _leftovers(store)}
    assert found == {
        ("stale-lock", "refs/heads/proposals/p1.lock"),
        ("unsynced-index", new_rule_path("killed-rule")),
    }
    fixed, locks = store.repair()
    assert fixed and locks == [str(repo / ".git" / "refs" / "heads" / "proposals" / "p1.lock")]
    assert _leftovers(store) == []


def test_the_pre_commit_check_refuses_an_index_a_kill_left(
    memory: Store, git_repo_env: None, imlgit_cli  # type: ignore[no-untyped-def]
) -> None:
    repo = memory.path
    assert _killed_commit(repo, "worktree", "killed-rule") == 137
    done = subprocess.run(
        [sys.executable, "-m", "imlgit", "check", "--staged"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == 1
    assert "imlgit doctor --repair" in done.stderr
    repaired = imlgit_cli("doctor", "--repair", "--no-confirm", repo=repo)
    assert "repaired git's index for " + new_rule_path("killed-rule") in repaired.stderr
    assert _status(repo) == ""


def test_a_stale_lock_does_not_stop_a_rejection(memory: Store) -> None:
    """Before: the rejection record's ref was set through dulwich, which raised FileLocked."""
    from imlgit import review as rv
    from imlgit.commits import LEARNER

    memory.create_branch("proposals/p3")
    msg = CommitMessage.make("induce", "add r-p3", "The learner adds it.", rules=["r-p3"])
    memory.commit(
        {new_rule_path("r-p3"): _rule("r-p3")}, msg, author=LEARNER, branch="proposals/p3"
    )
    lock = memory.gitdir / "refs" / "imlgit" / "rejected" / "p3.lock"
    _owner_lock(lock, _dead_pid())
    memory.lock_wait = 0
    rv.reject(memory, "p3", person=PERSON, why="Not a rule we want, for the test.")
    assert "proposals/p3" not in memory.branches()
    assert not lock.exists()


def test_a_dulwich_update_waits_for_no_live_lock_longer_than_the_bound(memory: Store) -> None:
    ref = b"refs/imlgit/other"
    lock = memory.gitdir / "refs" / "imlgit" / "other.lock"
    _owner_lock(lock, os.getpid(), started=locking.Owner.me().started)
    memory.lock_wait = 0
    sha = memory.head()
    assert sha is not None
    with pytest.raises(StoreError, match=r"other\.lock is locked.*which is running"):
        memory.refs.force(ref, sha)


def test_the_cli_says_on_stderr_that_it_took_over_a_stale_lock(
    memory: Store, imlgit_cli  # type: ignore[no-untyped-def]
) -> None:
    """Before: `rule add` spun for about two minutes, then 'too much contention'."""
    lock = memory.gitdir / "refs" / "heads" / "main.lock"
    _owner_lock(lock, _dead_pid())
    done = imlgit_cli(
        "rule", "add", "--title", "After a kill", "--statement", "Approve when it holds.",
        "--why", "The test adds a rule after a kill.", repo=memory.path,
    )
    assert done.returncode == 0, done.stderr
    assert "imlgit: WARNING: took over the stale lock" in done.stderr
    assert str(lock) in done.stderr
    assert not lock.exists()
