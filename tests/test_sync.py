"""Remotes: clone, fetch, pull and push against a real ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PERSON, run_git

from imlgit.commits import CommitMessage
from imlgit.errors import ConflictError, NotAMemoryRepo, StoreError
from imlgit.rules import Rule, new_rule_path, render_rule
from imlgit.store import Store
from imlgit.sync import (
    PullRefused,
    PushRejected,
    RemoteError,
    SyncConflict,
    clone,
    fetch,
    pull,
    push,
    remote_url,
)

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="the git CLI is not installed"),
    pytest.mark.slow,
]
T = "2026-11-27T08:00:00Z"
_NAMES = itertools.count()


def rule(rid: str, statement: str = "A statement.") -> Rule:
    return Rule(id=rid, title=f"Title of {rid}", statement=statement, created=T, updated=T)


def put(store: Store, r: Rule, *, branch: str = "main", op: str = "add") -> str:
    msg = CommitMessage.make(op, f"{op} {r.id}", "The evidence says so.", rules=[r.id])
    return store.put_rule(r, msg, author=PERSON, branch=branch)


def propose_and_merge(store: Store, name: str, r: Rule, op: str = "add") -> str:
    """A change made on ``proposals/<name>`` and approved into main."""
    branch = f"proposals/{name}"
    store.create_branch(branch)
    put(store, r, branch=branch, op=op)
    msg = CommitMessage.make("approve", f"approve {name}", "A person checked it.", rules=[r.id])
    return store.merge(branch, msg, author=PERSON).sha


def _git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME=PERSON.name,
        GIT_AUTHOR_EMAIL=PERSON.email,
        GIT_COMMITTER_NAME=PERSON.name,
        GIT_COMMITTER_EMAIL=PERSON.email,
    )
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A git daemon serving every repository under a temporary base path."""
    base = tmp_path_factory.mktemp("served")
    home = tmp_path_factory.mktemp("daemon-home")
    proc = None
    port = 0
    for _ in range(5):  # the port may be taken between choosing and binding it
        port = _free_port()
        proc = subprocess.Popen(
            [
                "git",
                "daemon",
                "--reuseaddr",
                "--listen=127.0.0.1",
                f"--port={port}",
                f"--base-path={base}",
                "--export-all",
                "--enable=receive-pack",
                str(base),
            ],
            env=_git_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline, listening = time.monotonic() + 10, False
        while not listening and proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                listening = True
            except OSError:
                time.sleep(0.02)
        if listening:
            break
        proc.kill()
        proc.wait()
        proc = None
    if proc is None:
        pytest.skip("git daemon did not start")
    try:
        yield base, port
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def serve(daemon: tuple[Path, int]) -> Callable[[Path], tuple[str, Path]]:
    """Put a bare copy of a repository on the daemon: returns (git:// URL, bare path)."""
    base, port = daemon

    def make(source: Path) -> tuple[str, Path]:
        name = f"repo-{os.getpid()}-{next(_NAMES)}.git"
        run_git(source.parent, "clone", "-q", "--bare", str(source), str(base / name))
        return f"git://127.0.0.1:{port}/{name}", base / name

    return make


@pytest.fixture
def origin(tmp_path: Path, serve: Callable[[Path], tuple[str, Path]]) -> tuple[str, Path]:
    """A fresh imlgit memory, served by the daemon: (URL, bare repository)."""
    with Store.init(tmp_path / "seed", author=PERSON) as seed:
        seed_path = seed.path
    return serve(seed_path)


def status(store: Store) -> str:
    return run_git(store.path, "status", "--porcelain")


def test_clone_matches_origin(tmp_path: Path, origin: tuple[str, Path]) -> None:
    url, bare = origin
    with clone(url, tmp_path / "a") as a:
        assert remote_url(a) == url
        assert a.head() == run_git(bare, "rev-parse", "main").strip()
        assert set(a.read_rules()) == {"r-example-rationale"}
        assert (a.gitdir / "hooks" / "pre-commit").exists()
        assert (a.gitdir / "hooks" / "commit-msg").exists()
        assert a.repo.refs[b"refs/remotes/origin/main"].decode() == a.head()
        assert (a.path / "imlgit.toml").exists() and status(a) == ""
        assert run_git(a.path, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
        assert run_git(a.path, "config", "remote.origin.url").strip() == url
    with Store.open(tmp_path / "a") as again:
        assert again.read_rules().keys() == {"r-example-rationale"}
    run_git(tmp_path / "a", "fsck", "--strict", "--no-dangling")
    # a plain path works too, without hooks when asked
    with clone(str(bare), tmp_path / "b", install_hooks=False) as b:
        assert b.head() == run_git(bare, "rev-parse", "main").strip()
        assert not (b.gitdir / "hooks" / "pre-commit").exists()


def test_two_clones_push_pull_push(tmp_path: Path, origin: tuple[str, Path]) -> None:
    url, bare = origin
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    propose_and_merge(a, "alpha", rule("r-alpha", "From clone a."))
    propose_and_merge(b, "beta", rule("r-beta", "From clone b."))
    assert push(a) == ["main"]
    assert run_git(bare, "rev-parse", "main").strip() == a.head()
    b_head = b.head()
    with pytest.raises(PushRejected, match="pull first") as info:
        push(b)
    assert info.value.branches == ["main"]
    assert "main" in str(info.value)
    assert b.head() == b_head and run_git(bare, "rev-parse", "main").strip() == a.head()
    assert push(a) == []  # nothing new

    result = pull(b, author=PERSON)
    assert not result.fast_forward and not result.up_to_date
    assert result.rules == ("r-alpha",)
    assert b.commit_info(result.sha).parents == (b_head, a.head())
    info_ = b.commit_info(result.sha)
    assert info_.subject == "merge: merge origin/main into main"
    assert "origin" in info_.rationale and url in info_.rationale
    assert {"r-alpha", "r-beta"} <= set(b.read_rules())
    assert status(b) == ""  # the working tree follows main
    on_disk = (b.path / new_rule_path("r-alpha")).read_text()
    assert on_disk == render_rule(rule("r-alpha", "From clone a."))
    assert push(b) == ["main"]

    # a fast-forwards to b's merge
    ff = pull(a, author=PERSON)
    assert ff.fast_forward and ff.sha == b.head() and ff.changed == (new_rule_path("r-beta"),)
    assert status(a) == "" and (a.path / new_rule_path("r-beta")).exists()
    assert pull(a, author=PERSON).up_to_date

    with clone(url, tmp_path / "c") as c:
        rules = c.read_rules()
        assert {"r-alpha", "r-beta", "r-example-rationale"} == set(rules)
        assert rules["r-alpha"].statement == "From clone a."
        assert rules["r-beta"].statement == "From clone b."
        assert c.head() == b.head()
    run_git(bare, "fsck", "--strict")
    for s in (a, b):
        run_git(s.path, "fsck", "--strict", "--no-dangling")
        s.close()


def test_pull_refuses_invalid_incoming_rule_files(
    tmp_path: Path, origin: tuple[str, Path]
) -> None:
    """A rule file imlgit check refuses, pushed by a plain git commit elsewhere, is not
    merged: once on main it would stop every command that needs that rule (issue 14)."""
    url, _ = origin
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    bad = {
        new_rule_path("r-no-scope"): b"---\nid: r-no-scope\nscope:\n---\nA body.\n",
        new_rule_path("r-bad-yaml"): b"---\nid: [r-bad-yaml\n---\nA body.\n",
        "rules/notes.txt": b"not a rule\n",
    }
    put(a, rule("r-good", "Fine."))
    msg = CommitMessage.make("add", "add by hand", "Written without imlgit's checks.")
    a.commit(bad, msg, author=PERSON)  # raw bytes: no validation, as git commit would
    assert push(a) == ["main"]
    for side_change in (False, True):  # a fast-forward, then a merge commit
        if side_change:
            put(b, rule("r-local", "Only here."))
        before = b.head()
        with pytest.raises(PullRefused) as info:
            pull(b, author=PERSON)
        text = str(info.value)
        assert all(path in text for path in bad) and "nothing was merged" in text
        assert "scope" in text
        assert {p.path for p in info.value.problems} == set(bad)
        assert b.head() == before and status(b) == ""
        assert not (b.path / new_rule_path("r-good")).exists()
        assert "r-good" not in b.read_rules()
    a.close()
    b.close()


def test_same_rule_changed_on_both_sides(tmp_path: Path, origin: tuple[str, Path]) -> None:
    url, bare = origin
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    put(a, rule("r-shared", "base"))
    put(a, rule("r-gone", "soon deleted"))
    push(a)
    pull(b, author=PERSON)
    propose_and_merge(a, "one", rule("r-shared", "Clone a says this."), op="edit")
    msg = CommitMessage.make("retire", "delete r-gone", "Wrong.", rules=["r-gone"])
    a.commit({new_rule_path("r-gone"): None}, msg, author=PERSON)
    push(a)
    propose_and_merge(b, "two", rule("r-shared", "Clone b says that."), op="edit")
    put(b, rule("r-gone", "b improved it"), op="edit")
    put(b, rule("r-b-only"))  # a change of b's own that is not in conflict

    head, tracking = b.head(), b.repo.refs[b"refs/remotes/origin/main"]
    rules_before = b.read_rules()
    files_before = {p: p.read_bytes() for p in (b.path / "rules").rglob("*.md")}
    with pytest.raises(SyncConflict) as info:
        pull(b, author=PERSON)
    err = info.value
    assert isinstance(err, ConflictError) and sorted(err.rule_ids) == ["r-gone", "r-shared"]
    ours, theirs = err.versions["r-shared"]
    assert ours is not None and "Clone b says that." in ours
    assert theirs is not None and "Clone a says this." in theirs
    gone_ours, gone_theirs = err.versions["r-gone"]
    assert gone_theirs is None and gone_ours is not None and "b improved it" in gone_ours
    text = str(err)
    for needle in ("r-shared", "r-gone", "Clone a says this.", "Clone b says that.", "deleted"):
        assert needle in text
    assert "b improved it" in text and "git merge origin/main" in text
    # nothing local moved but the tracking ref
    assert b.head() == head and b.read_rules() == rules_before
    assert {p: p.read_bytes() for p in (b.path / "rules").rglob("*.md")} == files_before
    assert status(b) == ""
    assert b.repo.refs[b"refs/remotes/origin/main"] != tracking
    assert b.repo.refs[b"refs/remotes/origin/main"].decode() == a.head()
    with pytest.raises(PushRejected):
        push(b)
    a.close()
    b.close()


def test_pull_refuses_to_overwrite_uncommitted_edit(
    tmp_path: Path, origin: tuple[str, Path]
) -> None:
    url, _ = origin
    a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
    put(a, rule("r-new", "from a"))
    push(a)
    f = b.path / new_rule_path("r-new")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("a person's draft\n")
    head = b.head()
    with pytest.raises(ConflictError, match="uncommitted"):
        pull(b, author=PERSON)
    assert b.head() == head and f.read_text() == "a person's draft\n"
    f.unlink()
    assert pull(b, author=PERSON).fast_forward and "from a" in f.read_text()
    a.close()
    b.close()


def test_push_proposals(tmp_path: Path, origin: tuple[str, Path]) -> None:
    url, bare = origin
    with clone(url, tmp_path / "a") as a:
        a.create_branch("proposals/p1")
        put(a, rule("r-p1"), branch="proposals/p1")
        a.create_branch("proposals/p2")
        a.create_branch("scratch")
        put(a, rule("r-scratch"), branch="scratch")
        assert push(a) == []  # main is where the remote has it
        pushed = push(a, proposals=True)
        assert sorted(pushed) == ["proposals/p1", "proposals/p2"]
        refs = run_git(bare, "for-each-ref", "--format=%(refname) %(objectname)")
        found = dict(line.split() for line in refs.splitlines())
        assert found["refs/heads/proposals/p1"] == a.head("proposals/p1")
        assert found["refs/heads/proposals/p2"] == a.head("proposals/p2")
        assert "refs/heads/scratch" not in found
        assert a.repo.refs[b"refs/remotes/origin/proposals/p1"].decode() == a.head("proposals/p1")
        run_git(bare, "fsck", "--strict")
    with clone(url, tmp_path / "b") as b:
        assert fetch(b).keys() == {"main", "proposals/p1", "proposals/p2"}
        assert "r-p1" in b.read_rules("refs/remotes/origin/proposals/p1")
        assert set(b.branches()) == {"main"}


def test_clone_refusals(
    tmp_path: Path, origin: tuple[str, Path], serve: Callable[[Path], tuple[str, Path]]
) -> None:
    url, _ = origin
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        clone(url, full)
    assert [p.name for p in full.iterdir()] == ["keep.txt"]

    plain = tmp_path / "plain"
    plain.mkdir()
    run_git(plain, "init", "-q", "-b", "main")
    (plain / "notes.txt").write_text("not a memory\n")
    run_git(plain, "add", "notes.txt")
    run_git(plain, "commit", "-q", "-m", "unrelated")
    other_url, _ = serve(plain)
    with pytest.raises(NotAMemoryRepo, match="imlgit.toml"):
        clone(other_url, tmp_path / "nope")
    assert not (tmp_path / "nope").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotAMemoryRepo):
        clone(other_url, empty)
    assert empty.is_dir() and list(empty.iterdir()) == []

    missing = url.rsplit("/", 1)[0] + "/no-such-repo.git"
    with pytest.raises(RemoteError, match="no-such-repo"):
        clone(missing, tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_unknown_remote(memory: Store) -> None:
    with pytest.raises(RemoteError, match="no remote 'origin'"):
        fetch(memory)
    with pytest.raises(RemoteError, match="no remote"):
        push(memory)


def test_push_refused_by_the_server_is_an_error(tmp_path: Path, origin: tuple[str, Path]) -> None:
    url, bare = origin
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    with clone(url, tmp_path / "a") as a:
        tracking = a.repo.refs[b"refs/remotes/origin/main"]
        put(a, rule("r-a"))
        with pytest.raises(RemoteError, match="refs/heads/main"):
            push(a)
        assert a.repo.refs[b"refs/remotes/origin/main"] == tracking
        assert run_git(bare, "rev-parse", "main").strip() == tracking.decode()


def test_two_learners_propose_a_person_approves_everyone_pulls(
    tmp_path: Path,
    origin: tuple[str, Path],
    imlgit_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """The review loop over a real git server, through the CLI: two clones learn on
    separate proposals and push them; a reviewer's clone pulls, sees both, approves
    both, pushes main; the learners pull and have every rule. Nothing is lost."""
    import json

    from imlgit.bench.tickets import Tickets
    from imlgit.bench.truthtable import TruthTable

    url, bare = origin
    run = imlgit_cli  # a subprocess per call, as a person would type it
    data = {
        "a": TruthTable(seed=0).sample(40, 1),
        "b": Tickets(seed=0).sample(40, 1),
    }
    for who, exps in data.items():
        assert run("clone", url, str(tmp_path / who)).returncode == 0
        (tmp_path / f"{who}.jsonl").write_text("".join(e.to_json() + "\n" for e in exps))
        out = run(
            "learn",
            str(tmp_path / f"{who}.jsonl"),
            "--batch",
            "40",
            "--propose",
            f"from-{who}",
            "--json",
            repo=tmp_path / who,
        )
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["proposal"] == f"from-{who}"
        pushed = run("push", "--proposals", repo=tmp_path / who)
        assert pushed.returncode == 0 and f"proposals/from-{who}" in pushed.stderr
    heads = run_git(bare, "for-each-ref", "--format=%(refname)", "refs/heads/proposals")
    assert heads.split() == ["refs/heads/proposals/from-a", "refs/heads/proposals/from-b"]

    rv = tmp_path / "reviewer"
    assert run("clone", url, str(rv)).returncode == 0
    listed = run("proposals", "--json", repo=rv)
    proposals = {p["name"]: p for p in json.loads(listed.stdout)}
    assert set(proposals) == {"from-a", "from-b"}
    for name in proposals:
        ok = run("approve", name, "--why", f"Read every rule of {name}.", repo=rv)
        assert ok.returncode == 0, ok.stderr
    assert run("push", repo=rv).returncode == 0
    with Store.open(rv) as reviewer:
        everything = set(reviewer.read_rules())
        assert set(proposals["from-a"]["rules"]) | set(proposals["from-b"]["rules"]) <= everything
    for who in data:
        pulled = run("pull", repo=tmp_path / who)
        assert pulled.returncode == 0, pulled.stderr
        with Store.open(tmp_path / who) as s:
            assert set(s.read_rules()) == everything
            assert status(s) == ""
        left = run("proposals", "--json", repo=tmp_path / who)
        assert json.loads(left.stdout) == []
    run_git(bare, "fsck", "--strict")


def test_fetch_takes_over_a_stale_lock_on_a_tracking_ref(
    tmp_path: Path, origin: tuple[str, Path]
) -> None:
    """dulwich's ref updates in fetch raised FileLocked on a lock a killed process left."""
    from imlgit.sync import fetch

    url, bare = origin
    with clone(url, tmp_path / "a") as a:
        lock = a.gitdir / "refs" / "remotes" / "origin" / "main.lock"
        lock.write_text("")
        old = time.time() - 3600  # an ownerless lock from an hour ago: stale
        os.utime(lock, (old, old))
        fetch(a)
        assert not lock.exists()
        assert a.repo.refs[b"refs/remotes/origin/main"].decode() == a.head()
