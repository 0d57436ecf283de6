"""Shared fixtures. Every test runs in its own tmp_path with a scrubbed environment:
no HOME, GIT_* or XDG_CONFIG_HOME of the person running the tests leaks in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imlgit.commits import Identity

ROOT = Path(__file__).resolve().parent.parent
PERSON = Identity("Ada Reviewer", "ada@example.org")
FIXED_TIME = 1_795_000_000  # 2026-11-18, so commits are reproducible

# Slow tests in files whose owners mark them in place later; the rest carry
# @pytest.mark.slow themselves. `make test-fast` leaves every slow test out.
SLOW_ELSEWHERE = {
    "tests/test_cli.py::test_tour",  # the tour through the CLI, ~11 s
    "tests/test_cli.py::test_edit_with_bad_file_leaves_repo_unchanged",
    "tests/test_cli.py::test_errors_are_one_line_and_exit_1",
    "tests/test_locking.py::test_the_pre_commit_check_refuses_an_index_a_kill_left",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("[", 1)[0] in SLOW_ELSEWHERE:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(("GIT_", "IMLGIT_", "OPENAI_")) or name in ("XDG_CONFIG_HOME", "EMAIL"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", PERSON.name)
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", PERSON.email)
    monkeypatch.setenv("GIT_COMMITTER_NAME", PERSON.name)
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", PERSON.email)
    monkeypatch.setenv("IMLGIT_AUTHOR", str(PERSON))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class Clock:
    """A deterministic clock for commits: each call is one second later."""

    def __init__(self, start: int = FIXED_TIME) -> None:
        self.now = start

    def __call__(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(tmp_path: Path, clock: Clock):  # type: ignore[no-untyped-def]
    """A fresh memory repository made by Store.init."""
    from imlgit.store import Store

    store = Store.init(tmp_path / "mem", author=PERSON, clock=clock)
    store.checkout_worktree()
    return store


def git_available() -> bool:
    return shutil.which("git") is not None


def run_git(repo: Path, *args: str, check: bool = True, input: str | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=False, input=input
    )
    if check and out.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {out.stderr}")
    return out.stdout


@pytest.fixture
def imlgit_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real CLI in a subprocess: ``imlgit_cli("log", repo=path)``."""

    def run(
        *args: str,
        repo: Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "imlgit"]
        if repo is not None:
            cmd += ["--repo", str(repo)]
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run(
            cmd + list(args),
            capture_output=True,
            text=True,
            input=input,
            env=full_env,
            cwd=tmp_path,
        )

    return run


@pytest.fixture
def git_repo_env() -> Iterator[None]:
    if not git_available():
        pytest.skip("the git CLI is not installed")
    yield


def commit_policy(store: Any, policy: str) -> None:
    """Commit ``[review] policy = POLICY`` to imlgit.toml on main, as a person: the
    policy that may approve is the one main says (an environment variable or a flag
    may lower it, never raise it)."""
    import re

    from imlgit.commits import CommitMessage

    if store.guard.policy_at("main") == policy:
        return
    text = (store.read_file("imlgit.toml", "main") or b"").decode()
    text, n = re.subn(r'(?m)^#? ?policy = "\w+".*$', f'policy = "{policy}"', text, count=1)
    if not n:
        text += f'\n[review]\npolicy = "{policy}"\n'
    msg = CommitMessage.make("edit", f"review policy {policy}", "The team raised the policy.")
    store.commit({"imlgit.toml": text.encode()}, msg, author=PERSON, branch="main")


LEARNING = "learning"


def learning_branch(store: Any, name: str = LEARNING) -> str:
    """Check out a branch ``name`` off main (created when missing) for tests that
    run the learning engine: imlgit's commits reach main only inside an approval,
    so the engine learns on a branch, as it does on a proposal. HEAD names the
    branch, so reads without a revision read what the engine wrote."""
    from dulwich.refs import Ref

    if store.head(name) is None:
        store.create_branch(name)
    store.repo.refs.set_symbolic_ref(Ref(b"HEAD"), Ref(b"refs/heads/" + name.encode()))
    return name


def forge_ci(
    tmp_path: Path, origin: Path, branch: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """hooks/ci/proposal-check run as a forge's CI runs it: a git clone of ``branch``
    with HEAD detached and main only as origin/main, imlgit on PATH."""
    from imlgit.resources import hooks_dir

    work = tmp_path / f"ci-{len(list(tmp_path.glob('ci-*')))}"
    run_git(tmp_path, "clone", "-q", "--branch", branch, str(origin), str(work))
    if branch != "main":
        run_git(work, "checkout", "-q", "--detach")
        run_git(work, "branch", "-D", branch)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["sh", str(hooks_dir() / "ci" / "proposal-check"), *args], cwd=work,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
