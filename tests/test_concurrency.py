"""Concurrent learners and the journal (issue 14): each learn gets its own proposal
or waits its turn, nothing started is lost, the journal survives a torn line.

HashEmbedder (tests/fakes.py) and ScriptedLearner (tests/test_learn.py) are test
doubles, passed in.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LEARNING, PERSON, git_available, learning_branch, run_git
from fakes import HashEmbedder
from test_learn import ScriptedLearner, batch, cand

from imlgit import evidence
from imlgit import review as rv
from imlgit.commits import CommitMessage
from imlgit.experience import Experience
from imlgit.learn import Learning, LearnSettings
from imlgit.learners.base import Operation
from imlgit.memory import Memory
from imlgit.store import Store


def test_two_learners_in_the_same_second_get_two_proposals(tmp_path: Path) -> None:
    """Both picked learn-<same second> and shared one proposal."""
    store = Store.init(tmp_path / "m", author=PERSON, clock=lambda: 1_795_000_000)
    a, made_a = rv.open_proposal(store)
    b, made_b = rv.open_proposal(store)
    assert a != b and made_a and made_b
    assert rv.open_proposal(store, a[len(rv.PREFIX) :]) == (a, False)  # a named one continues


def test_a_record_after_a_torn_line_is_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """record() glued the new entry onto a torn last line, where it was lost."""
    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())
    first = mem.record({"scope": "tt", "input": {"a": "yes"}, "outcome": {"expected": "X"}})
    with open(mem.journal_path, "ab") as f:
        f.write(b'{"id": "torn", "scope": "tt", "inp')  # a writer killed mid-line
    second = mem.record({"scope": "tt", "input": {"a": "no"}, "outcome": {"expected": "Y"}})
    with caplog.at_level(logging.WARNING, logger="imlgit"):
        got = [e.id for e in mem.journal()]
    assert got == [first.id, second.id]
    assert "journal.jsonl:2: not learned, left in the journal" in caplog.text
    mem._forget({first.id, second.id})
    assert mem.journal_path.read_bytes().startswith(b'{"id": "torn"')  # kept, not dropped


def test_a_batch_whose_rules_changed_meanwhile_is_learned_again(memory: Store) -> None:
    """A concurrent change of the same rule failed the whole batch ("not committed")."""
    learning_branch(memory)
    eng = Learning(memory, ScriptedLearner([]),
        settings=LearnSettings(branch=LEARNING, batch=10, momentum=0))
    eng.learner = ScriptedLearner([Operation("ADD", "a", candidate=cand({"a": "yes"}, "X"))])
    rid = eng.learn_batch(batch(0, 10)).added[0]

    class Racer(ScriptedLearner):
        """Another writer edits the rule while this learner thinks (the first time)."""

        def revise(self, b, candidates, context):  # type: ignore[no-untyped-def]
            if not self.raced:
                self.raced = True
                rule = memory.read_rule(rid)
                from dataclasses import replace

                memory.put_rule(
                    replace(rule, title="Edited by someone else"),
                    CommitMessage.make("edit", f"retitle {rid}", "A person retitled it."),
                    author=PERSON, branch=LEARNING,
                )
            return [Operation("RETIRE", "Wrong now.", target=rid, contradicting=("e-010",))]

    racer = Racer()
    racer.raced = False  # type: ignore[attr-defined]
    learning_branch(memory)
    res = eng.__class__(memory, racer,
        settings=LearnSettings(branch=LEARNING, batch=10, momentum=0)).learn_batch(
        batch(10, 10)
    )
    assert res.retired == [rid]
    rule = memory.read_rule(rid)
    assert rule.status == "retired" and rule.title == "Edited by someone else"


LEARN = """
import sys
sys.path.insert(0, sys.argv[3])
from fakes import HashEmbedder
from imlgit.experience import load_jsonl
from imlgit.memory import Memory
mem = Memory.open(sys.argv[1], env={"IMLGIT_LEARNER": "covering"}, embedder=HashEmbedder())
done = mem.learn(load_jsonl(sys.argv[2]).experiences, batch=10)
print(done.proposal)
"""


@pytest.mark.slow
@pytest.mark.skipif(not git_available(), reason="needs the git CLI")
def test_four_processes_learn_into_one_memory_at_once(tmp_path: Path) -> None:
    """Four learns started at once: two shared a proposal, one died with FileLocked."""
    Store.init(tmp_path / "m", author=PERSON)
    files = []
    for k in range(4):
        exps = [
            Experience.from_dict({**e.to_dict(), "id": f"p{k}-{e.id}", "scope": f"s{k}"})
            for e in batch(0, 30)
        ]
        f = tmp_path / f"e{k}.jsonl"
        f.write_text("".join(e.to_json() + "\n" for e in exps))
        files.append((f, {e.id for e in exps}))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LEARN, str(tmp_path / "m"), str(f), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f, _ in files
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    names = [o[0].strip() for o in outs]
    assert len(set(names)) == 4
    store = Store.open(tmp_path / "m")
    for name, (_, ids) in zip(names, files, strict=True):
        branch = rv.proposal_branch(name)
        stored = set()
        for _path, _key, text in evidence.batch_texts(store, branch):
            stored |= {json.loads(line)["id"] for line in text.splitlines()}
        assert ids <= stored  # every experience of that learn is on its proposal
    run_git(store.path, "fsck", "--strict")


def test_learning_goes_on_when_the_index_cannot_serve(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A retrieval error (here: the index's place taken by a file) failed the whole learn,
    and recall said "unexpected FileExistsError"."""
    from imlgit.errors import IndexError_

    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={"IMLGIT_LEARNER": "covering"}, embedder=HashEmbedder())
    (mem.store.derived_dir / "index").write_text("not a directory")
    with caplog.at_level(logging.WARNING, logger="imlgit"):
        done = mem.learn(batch(0, 30), batch=10, retrieval=True)  # covering needs no search
    assert done.proposal and any(b.added for b in done.batches)
    assert "learning without retrieval" in caplog.text
    with pytest.raises(IndexError_, match="cannot be made"):
        mem.recall("anything")


def test_a_failed_learn_leaves_no_empty_proposal_when_main_moved(tmp_path: Path) -> None:
    """The cleanup compared the proposal with main's current head, not where it began."""
    from imlgit.errors import LearnError, LLMError

    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())

    class MovesMainThenFails(ScriptedLearner):
        def induce(self, b, context):  # type: ignore[no-untyped-def]
            mem.store.commit(
                {"notes.md": b"a note\n"},
                CommitMessage.make("edit", "a note", "A person's note."),
                author=PERSON,
            )
            raise LLMError("the endpoint timed out")

    before = set(mem.store.branches())
    with pytest.raises(LearnError):
        mem.learn(batch(0, 10), learner=MovesMainThenFails(), retrieval=False)
    assert set(mem.store.branches()) == before


def test_a_persons_uncommitted_edit_is_not_retried_as_a_race(tmp_path: Path) -> None:
    """Every ConflictError was retried five times, a person's edit in the working tree too."""
    from imlgit.errors import LearnError

    store = Store.init(tmp_path / "m", author=PERSON)
    store.checkout_worktree()
    learning_branch(store)
    eng = Learning(store, ScriptedLearner(),
        settings=LearnSettings(branch=LEARNING, batch=10, momentum=0))
    eng.learner = ScriptedLearner([Operation("ADD", "a", candidate=cand({"a": "yes"}, "X"))])
    rid = eng.learn_batch(batch(0, 10)).added[0]
    path = store.path / store.read_rule(rid).path
    path.write_text(path.read_text() + "\nA person's note.\n")
    calls = []

    class Counting(ScriptedLearner):
        def revise(self, b, candidates, context):  # type: ignore[no-untyped-def]
            calls.append(1)
            return [Operation("RETIRE", "Wrong.", target=rid, contradicting=("e-010",))]

    eng.learner = Counting()
    with pytest.raises(LearnError, match="uncommitted edits"):
        eng.learn_batch(batch(10, 10, flip={10, 12, 14, 16, 18}))
    assert len(calls) == 1
# ---------------------------------------------------------------------- journal learners

SPAWN = __import__("multiprocessing").get_context("spawn")


def _journal_learner(repo: str, barrier: object, results: object) -> None:
    """A process that learns from the journal once, started with the others."""
    import traceback

    from imlgit.errors import ImlgitError

    try:
        mem = Memory.open(repo, env={"IMLGIT_LEARNER": "covering"}, embedder=HashEmbedder())
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        done = mem.learn()
        results.put(("learned", done.branch))  # type: ignore[attr-defined]
    except ImlgitError as exc:
        results.put(("reported", str(exc)))  # type: ignore[attr-defined]
    except BaseException:
        results.put(("crashed", traceback.format_exc()))  # type: ignore[attr-defined]


@pytest.mark.slow
def test_two_journal_learners_at_once_learn_each_experience_once(tmp_path: Path) -> None:
    """Both read the whole journal and each learned all of it into its own proposal."""
    from imlgit.bench.truthtable import TruthTable

    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())
    recorded = TruthTable(seed=0).sample(20, 99)
    for e in recorded:
        mem.record(e)
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_journal_learner, args=(str(tmp_path / "m"), barrier, results))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(r[0] for r in out) == ["learned", "reported"], out
    assert "the journal is empty" in next(r[1] for r in out if r[0] == "reported")
    store = Store.open(tmp_path / "m")
    stored = []
    for b in store.branches():
        for _path, _key, text in evidence.batch_texts(store, b):
            stored += [json.loads(line)["id"] for line in text.splitlines()]
    assert sorted(stored) == sorted(e.id for e in recorded)  # each learned once, none lost
    assert mem.journal() == []
