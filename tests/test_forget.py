"""Erasure, end to end with real git: `forget` removes an experience's content from
every object this copy can reach (and the objects themselves), main's commits and
the rules' history stay as they were, and a remote on a `git daemon` gets the
erasure by push, another clone by pull.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PERSON, Clock, run_git
from test_approvals import OTHER, open_memory

from imlgit import evidence, sync
from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.errors import ExperienceNotFound, PrivacyError, StoreError
from imlgit.experience import Experience
from imlgit.store import Store

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.slow,  # each test learns, approves and rewrites a memory: ~2 s apiece
]

MARK = "Zanzibar-quokka-7731"  # what must not survive: no rule or id contains it


def marked(exps: list[Experience], n: int = 2) -> list[Experience]:
    """``exps`` with the first ``n`` carrying MARK in a field the learner ignores."""
    out = []
    for i, e in enumerate(exps):
        if i < n:
            data = json.loads(e.to_json())
            e = Experience.from_dict({**data, "input": {**data["input"], "note": f"{MARK} {i}"}})
        out.append(e)
    return out


def reachable_text(repo: Path) -> str:
    """Every object any ref reaches, as `git rev-list --all --objects | git cat-file
    --batch` prints it."""
    objects = run_git(repo, "rev-list", "--all", "--objects")
    shas = "".join(line.split()[0] + "\n" for line in objects.splitlines() if line.strip())
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=shas.encode(),
                         capture_output=True, check=True)  # fmt: skip
    return out.stdout.decode("utf-8", "replace")


def every_object_text(repo: Path) -> str:
    out = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo,
                         capture_output=True, check=True)  # fmt: skip
    return out.stdout.decode("utf-8", "replace")


@pytest.fixture
def learned(tmp_path: Path) -> tuple[Store, list[Experience]]:
    """A memory that learned, through an approved proposal, from experiences two
    of which carry MARK; a second proposal, rejected, and a third left open."""
    store = Store.init(tmp_path / "mem", author=PERSON, clock=Clock())
    store.checkout_worktree()
    env = TruthTable(seed=0)
    first = marked(env.sample(60, 1))
    open_memory(store).learn(first, batch=30, propose="p1")
    rv.approve(store, "p1", approver=PERSON)
    open_memory(store).learn(env.sample(40, 2), batch=20, propose="p2")
    rv.reject(store, "p2", person=PERSON, why="Not now.")
    open_memory(store).learn(env.sample(40, 3), batch=20, propose="p3")
    return store, first


def test_forget_erases_from_every_reachable_object(learned) -> None:
    store, exps = learned
    repo = store.path
    assert MARK in reachable_text(repo)  # the test can fail: the content is there
    main_log = [c.sha for c in store.log("main")]
    rid = next(iter(store.read_rules("main")))
    history = [c.sha for c in store.history(rid)]
    gone = [e.id for e in exps[:2]]
    done = open_memory(store).forget(gone, why="The customer asked.", person=PERSON)
    assert set(done.ids) == set(gone)
    # the marked experiences came in the first batch: the whole evidence chain after
    # it is rewritten, one commit a batch (2 + 2 + 2 batches), and the old commits go
    assert done.rewritten == 6 and done.removed >= done.rewritten
    assert MARK + " 0" not in reachable_text(repo) and MARK + " 1" not in reachable_text(repo)
    assert MARK + " 0" not in every_object_text(repo)  # the old objects went too
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo,
                          capture_output=True, text=True)  # fmt: skip
    assert fsck.returncode == 0 and "error" not in fsck.stderr.lower(), fsck.stderr
    # main and the rules' history are what they were; the ids still resolve
    assert [c.sha for c in store.log("main")] == main_log
    assert [c.sha for c in store.history(rid)] == history
    found = evidence.locate(store, gone)
    assert {f.state for f in found.values()} == {"erased"}
    assert "erased on " in str(found[gone[0]]) and "The customer asked." in str(found[gone[0]])
    # what is not erased is still evidence: learning, the recount and review read it
    kept = {e.id for e in evidence_experiences(store)}
    assert kept and not kept & set(gone) and exps[2].id in kept
    assert rv.review(store, "p3", rv.Gate(), "manual").proposal.name == "p3"
    assert not (store.gitdir / "logs" / evidence.EVIDENCE_REF).exists()


def evidence_experiences(store: Store) -> list[Experience]:
    from imlgit.hygiene import stored_experiences

    return stored_experiences(store, "main")


def test_forget_refuses_what_it_cannot_erase_and_changes_nothing(learned) -> None:
    store, exps = learned
    head = store.head(evidence.EVIDENCE_REF)
    mem = open_memory(store)
    with pytest.raises(ExperienceNotFound, match="no-such-id"):
        mem.forget([exps[0].id, "no-such-id"], why="Asked.", person=PERSON)
    with pytest.raises(PrivacyError):
        mem.forget([exps[0].id], why="ada.lovelace@mycompany.com asked", person=PERSON)
    assert store.head(evidence.EVIDENCE_REF) == head
    assert evidence.locate(store, [exps[0].id])[exps[0].id].state == "stored"


def test_an_old_memory_with_experiences_on_main_is_told_why_not(tmp_path: Path) -> None:
    from imlgit.commits import CommitMessage

    store = Store.init(tmp_path / "old", author=PERSON, clock=Clock())
    line = json.dumps({"id": "t-1", "scope": "s", "input": {"q": MARK}, "output": "x"})
    store.commit({"experiences/ab/b-old.jsonl": (line + "\n").encode()},
                 CommitMessage.make("experiences", "old layout", "Before the ref."),
                 author=PERSON)  # fmt: skip
    assert evidence.locate(store, ["t-1"])["t-1"].state == "in main's history"
    with pytest.raises(StoreError, match="would rewrite main's commits"):
        evidence.forget(store, ["t-1"], why="Asked.", person=PERSON)


def test_packed_objects_and_the_journal_are_erased_too(learned) -> None:
    store, exps = learned
    mem = open_memory(store)
    waiting = mem.record({"scope": "truth-table", "input": {"note": f"{MARK} journal"},
                          "output": "LUMEN", "outcome": {"reward": 1}})  # fmt: skip
    run_git(store.path, "gc", "-q")  # every object in a pack, as a kept repository has them
    assert MARK + " 0" in every_object_text(store.path)
    mem.forget([exps[0].id, waiting.id], why="The customer asked.", person=PERSON)
    assert MARK + " 0" not in every_object_text(store.path)
    shown = run_git(store.path, "log", "--all", "-p")
    assert MARK + " 0" not in shown and MARK + " journal" not in shown
    assert waiting.id not in {e.id for e in mem.journal()}
    assert MARK + " journal" not in mem.journal_path.read_text()
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=store.path, capture_output=True,
                          text=True)  # fmt: skip
    assert fsck.returncode == 0, fsck.stderr
    assert MARK + " 1" in reachable_text(store.path)  # what was not asked for stays


def test_the_cli_forgets_and_shows_the_tombstone(learned, imlgit_cli) -> None:
    store, exps = learned
    out = imlgit_cli("forget", exps[0].id, repo=store.path)
    assert out.returncode != 0 and "rationale is required" in out.stderr
    out = imlgit_cli("forget", exps[0].id, "--why", "GDPR request 12.", repo=store.path)
    assert out.returncode == 0, out.stderr
    assert "erased 1 experience" in out.stderr
    shown = imlgit_cli("evidence", exps[0].id, exps[1].id, repo=store.path)
    assert shown.returncode == 0
    assert f"{exps[0].id}: erased on " in shown.stdout and "GDPR request 12." in shown.stdout
    assert f"{exps[1].id}: stored in experiences/" in shown.stdout


# ---------------------------------------------------------------------- remotes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[str]:
    """A bare repository served by `git daemon` on 127.0.0.1, pushes allowed."""
    root = tmp_path / "served"
    root.mkdir()
    run_git(root, "init", "-q", "--bare", "server.git")
    port = _free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={root}", "--export-all",
         "--enable=receive-pack", "--listen=127.0.0.1", f"--port={port}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/server.git"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_push_carries_the_erasure_and_pull_applies_it(tmp_path: Path, learned, daemon) -> None:
    store, exps = learned
    server = tmp_path / "served" / "server.git"
    run_git(store.path, "remote", "add", "origin", daemon)
    pushed = sync.push(store)
    assert "main" in pushed and evidence.EVIDENCE_REF in pushed
    assert MARK in reachable_text(server)
    other = sync.clone(daemon, tmp_path / "other")
    assert evidence.locate(other, [exps[0].id])[exps[0].id].state == "stored"
    mem = open_memory(store)
    mem.forget([exps[0].id, exps[1].id], why="The customer asked.", person=PERSON)
    assert sync.push(store) == [evidence.EVIDENCE_REF]
    assert MARK + " 0" not in reachable_text(server) and MARK + " 1" not in reachable_text(server)
    # the other clone learns more, then pulls: the erasure is applied there too,
    # its own new evidence kept, and its push is accepted
    open_memory(other).learn(TruthTable(seed=0).sample(30, 9), batch=30, propose="p9")
    sync.pull(other, author=OTHER)
    assert MARK + " 0" not in reachable_text(other.path)
    assert evidence.locate(other, [exps[0].id])[exps[0].id].state == "erased"
    assert evidence.locate(other, [exps[2].id])[exps[2].id].state == "stored"
    assert evidence.EVIDENCE_REF in sync.push(other)
    assert MARK + " 0" not in reachable_text(server)


def test_a_push_that_would_lose_the_remotes_evidence_is_refused(
    tmp_path: Path, learned, daemon
) -> None:
    store, exps = learned
    run_git(store.path, "remote", "add", "origin", daemon)
    sync.push(store)
    other = sync.clone(daemon, tmp_path / "other")
    open_memory(other).learn(TruthTable(seed=0).sample(30, 9), batch=30, propose="p9")
    sync.push(other)  # the remote's evidence now has a batch `store` lacks
    open_memory(store).forget([exps[0].id], why="Asked.", person=PERSON)
    with pytest.raises(sync.PushRejected, match="evidence"):
        sync.push(store)
    sync.pull(store, author=PERSON)  # brings the batch, keeps the erasure
    assert evidence.EVIDENCE_REF in sync.push(store)
    server = tmp_path / "served" / "server.git"
    assert MARK + " 0" not in reachable_text(server)


# ---------------------------------------------------------------------- attacks


def _serve(store: Store, daemon: str) -> None:
    run_git(store.path, "remote", "add", "origin", daemon)
    sync.push(store)


@pytest.mark.parametrize("planted", ["merged-with-main", "main", "blob"])
def test_a_remote_evidence_ref_that_is_not_evidence_is_refused(
    tmp_path: Path, learned, daemon, planted: str
) -> None:
    """Pushed with plain git by anyone who can push: evidence whose history holds
    main's commits (so a later forget would rewrite them), main itself, a blob."""
    store, exps = learned
    _serve(store, daemon)
    server = tmp_path / "served" / "server.git"
    ev, main = (run_git(server, "rev-parse", r).strip() for r in (evidence.EVIDENCE_REF, "main"))
    if planted == "merged-with-main":
        target = run_git(server, "commit-tree", f"{ev}^{{tree}}", "-p", ev, "-p", main,
                         "-m", "x").strip()  # fmt: skip
    elif planted == "main":
        target = main
    else:
        target = run_git(server, "hash-object", "-w", "--stdin", input="junk\n").strip()
    run_git(server, "update-ref", evidence.EVIDENCE_REF, target)
    before = store.head(evidence.EVIDENCE_REF)
    sync.pull(store, author=PERSON)  # main's pull still works; the evidence is refused
    assert store.head(evidence.EVIDENCE_REF) == before
    main_log = [c.sha for c in store.log("main")]
    open_memory(store).forget([exps[0].id], why="Asked.", person=PERSON)
    assert [c.sha for c in store.log("main")] == main_log
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=store.path, capture_output=True,
                          text=True)  # fmt: skip
    assert fsck.returncode == 0, fsck.stderr


def test_an_evidence_ref_sharing_mains_history_is_never_rewritten(learned) -> None:
    store, exps = learned
    ev, main = store.head(evidence.EVIDENCE_REF), store.head()
    run_git(store.path, "update-ref", evidence.EVIDENCE_REF,
            run_git(store.path, "commit-tree", f"{ev}^{{tree}}", "-p", ev, "-p", main,
                    "-m", "x").strip())  # fmt: skip
    with pytest.raises(StoreError, match="shares history with other refs"):
        open_memory(store).forget([exps[0].id], why="Asked.", person=PERSON)
    assert store.head() == main and len(store.log("main")) > 1


def test_an_erased_experience_is_never_learned_again(learned) -> None:
    store, exps = learned
    mem = open_memory(store)
    mem.forget([exps[0].id], why="Asked.", person=PERSON)
    mem.learn([exps[0]] + TruthTable(seed=0).sample(29, 11), batch=30, propose="again")
    assert MARK + " 0" not in reachable_text(store.path)
    assert evidence.locate(store, [exps[0].id])[exps[0].id].state == "erased"
    again = mem.forget([exps[0].id], why="Asked again.", person=PERSON)
    assert again.ids == () and again.already == (exps[0].id,)


def test_a_pull_never_brings_back_what_was_erased(tmp_path: Path, learned, daemon) -> None:
    """A forgets and has not pushed; B pushes on top of the old evidence; A pulls."""
    store, exps = learned
    _serve(store, daemon)
    other = sync.clone(daemon, tmp_path / "other")
    open_memory(store).forget([exps[0].id], why="Asked.", person=PERSON)
    open_memory(other).learn(TruthTable(seed=0).sample(30, 9), batch=30, propose="p9")
    sync.push(other)
    sync.pull(store, author=PERSON)
    assert MARK + " 0" not in every_object_text(store.path)
    assert evidence.EVIDENCE_REF in sync.push(store)
    assert MARK + " 0" not in reachable_text(tmp_path / "served" / "server.git")
    sync.pull(other, author=OTHER)
    assert MARK + " 0" not in every_object_text(other.path)


def test_a_batch_that_failed_leaves_no_experience_behind(learned, monkeypatch) -> None:
    from imlgit.errors import ImlgitError

    store, _ = learned
    before = store.head(evidence.EVIDENCE_REF)
    real = Store.commit_many

    def failing(self: Store, steps, **kw):  # type: ignore[no-untyped-def]
        if kw.get("branch", "").startswith("proposals/"):
            raise ImlgitError("disk full")
        return real(self, steps, **kw)

    monkeypatch.setattr(Store, "commit_many", failing)
    exps = marked(TruthTable(seed=0).sample(30, 12), n=1)
    with pytest.raises(ImlgitError):
        open_memory(store).learn([Experience.from_dict({**json.loads(exps[0].to_json()),
                                                        "id": "fail-1"})] + exps[1:],
                                 batch=30, propose="broken")  # fmt: skip
    assert store.head(evidence.EVIDENCE_REF) == before
    shown = subprocess.run(["git", "log", "--all", "--reflog", "-p"], cwd=store.path,
                           capture_output=True, text=True).stdout  # fmt: skip
    assert '"fail-1"' not in shown and '"fail-1"' not in every_object_text(store.path)
