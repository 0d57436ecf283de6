"""A learned proposal reads like a pull request: its bookkeeping folded (imlgit.proposals).

Learning uses the learner that needs no model on the truth table (real git objects,
real verification); HashEmbedder (tests/fakes.py) stands in for the
sentence-transformers embedder. The git CLI checks what imlgit wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import PERSON, Clock, git_available, run_git
from fakes import HashEmbedder

from imlgit import evidence
from imlgit.bench.truthtable import TruthTable
from imlgit.commits import LEARNER, CommitMessage
from imlgit.config import load_settings
from imlgit.errors import StoreError
from imlgit.fold import fold
from imlgit.learn import Learning, LearnSettings
from imlgit.learners.rulelearner import CoveringLearner
from imlgit.memory import Memory
from imlgit.rules import render_rule
from imlgit.store import Store

ENV = TruthTable(seed=0)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.init(tmp_path / "mem", author=PERSON, clock=Clock())
    s.checkout_worktree()
    return s


def memory(store: Store) -> Memory:
    text = (store.read_file("imlgit.toml") or b"").decode()
    return Memory(store, load_settings(text, env={}), embedder=HashEmbedder())


def ops(store: Store, branch: str) -> list[str]:
    log = store.log(branch)
    main = {c.sha for c in store.log("main")}
    return [c.trailer("Imlgit-Op") or "" for c in reversed(log) if c.sha not in main]


def tree(store: Store, rev: str) -> bytes:
    return store.objects.commit(store.resolve(rev)).tree  # noqa: SLF001 - the test compares trees


def test_the_main_job_is_a_short_proposal_with_the_same_files(store: Store) -> None:
    """200 experiences in batches of 20 (what `make demo` learns): at most 15 commits
    (51 before the fold), one storing the experiences first, one of figures last, the
    changes of meaning between; the branch ends at the tree the batches made."""
    done = memory(store).learn(ENV.sample(200, 1), batch=20, propose="tt")
    assert done.folded is not None and done.folded.before > done.folded.after
    unfolded = done.batches[-1].head
    assert unfolded is not None and tree(store, unfolded) == tree(store, "proposals/tt")
    assert done.head == store.head("proposals/tt")
    kinds = ops(store, "proposals/tt")
    assert len(kinds) <= 15, kinds
    assert kinds[0] == "experiences" and kinds.count("experiences") == 1
    assert kinds.count("recount") <= 1 and "recount" not in kinds[:-1]
    assert set(kinds[1:-1]) <= {"induce", "revise", "merge", "retire", "restore"}
    first = store.log("proposals/tt")[len(kinds) - 1]
    assert [b for k, b in first.trailers if k == "Imlgit-Batch"] == [
        b.batch_id for b in done.batches
    ]


def test_every_evidence_id_resolves_from_the_experiences_commit_on(store: Store) -> None:
    memory(store).learn(ENV.sample(100, 3), batch=20, propose="tt")
    commits = [c for c in reversed(store.log("proposals/tt")) if c.trailer("Imlgit-Op")]
    first = next(c for c in commits if c.trailer("Imlgit-Op") == "experiences")
    assert first.subject.startswith("experiences: store the 100 experiences of 5 batches")
    stored = set()
    for path, _key, text in evidence.batch_texts(store, first.sha):
        stored |= {json.loads(line)["id"] for line in text.splitlines()}
        # the branch holds the ids alone; the experiences are on the evidence ref
        pointer = (store.read_file(path, first.sha) or b"").decode()
        assert evidence.is_pointer(pointer) and '"input"' not in pointer
    assert len(stored) == 100
    for c in commits[commits.index(first) + 1 :]:
        cited = (c.trailer("Imlgit-Evidence") or "").split(" (+")[0].split()
        assert set(cited) <= stored, c.subject


def test_a_rule_log_shows_its_changes_of_meaning_and_one_recount(store: Store) -> None:
    memory(store).learn(ENV.sample(200, 1), batch=20, propose="tt")
    for rid in store.read_rules("proposals/tt"):
        kinds = Counter(c.trailer("Imlgit-Op") for c in store.history(rid, "proposals/tt"))
        assert kinds["recount"] <= 1 and kinds["experiences"] == 0, (rid, kinds)


def test_a_persons_commit_and_an_earlier_run_are_never_rewritten(store: Store) -> None:
    mem = memory(store)
    mem.learn(ENV.sample(60, 1), batch=20, propose="tt")
    first_run = store.head("proposals/tt")
    rules = store.read_rules("proposals/tt")
    rid = sorted(rules)[0]
    person = store.commit(
        {rules[rid].path: render_rule(rules[rid].with_changes(title="Renamed by Ada"))
         .encode()},
        CommitMessage.make("edit", f"rename {rid}", "A clearer title."),
        author=PERSON,
        branch="proposals/tt",
    )
    done = mem.learn(ENV.sample(100, 2), batch=20, propose="tt")
    shas = [c.sha for c in store.log("proposals/tt")]
    assert person in shas and first_run in shas
    assert done.folded is None or done.folded.head == shas[0]
    after = shas[: shas.index(person)]
    assert [store.commit_info(s).author for s in after] == [str(LEARNER)] * len(after)


def test_each_batch_recounts_in_one_commit_without_a_proposal(store: Store) -> None:
    """Learning straight into a branch (no fold): per batch its experiences, its changes
    of meaning, and at most one commit of figures."""
    store.create_branch("work", "main")
    engine = Learning(store, CoveringLearner(), settings=LearnSettings(batch=20, branch="work"))
    results = engine.learn(ENV.sample(200, 1))
    for r in results:
        kinds = [store.commit_info(s).trailer("Imlgit-Op") for s in r.commits]
        assert kinds.count("recount") <= 1 and kinds.count("experiences") <= 1, kinds
        if "recount" in kinds:
            assert kinds[-1] == "recount"


def test_rewrite_refuses_a_history_that_changes_files(store: Store) -> None:
    memory(store).learn(ENV.sample(60, 1), batch=20, propose="tt")
    head = store.head("proposals/tt")
    assert head is not None
    main = store.head("main")
    assert main is not None
    msg = CommitMessage.make("experiences", "store", "Some experiences.")
    with pytest.raises(StoreError, match="would change its files"):
        store.rewrite("proposals/tt", main, [({"experiences/x.jsonl": b"{}\n"}, msg)],
                      expected_head=head, author=LEARNER)
    assert store.head("proposals/tt") == head


def test_fold_of_a_branch_that_moved_leaves_it(store: Store) -> None:
    """fold reads the branch, then swaps it: another writer in between wins, and the
    fold is skipped (the proposal stays as the batches made it)."""
    store.create_branch("work", "main")
    base = store.head("main")
    assert base is not None
    Learning(store, CoveringLearner(), settings=LearnSettings(batch=20, branch="work")).learn(
        ENV.sample(60, 1)
    )
    head = store.head("work")
    real = store.rewrite

    def racing(*args: object, **kw: object) -> list[str]:
        store.commit({"notes.md": b"a person's note\n"},
                     CommitMessage.make("edit", "note", "A note."), author=PERSON, branch="work")
        return real(*args, **kw)  # type: ignore[arg-type]

    store.rewrite = racing  # type: ignore[method-assign]
    assert fold(store, "work", base) is None
    assert store.head("work") != head and store.log("work")[1].sha == head


@pytest.mark.skipif(not git_available(), reason="the git CLI is not installed")
def test_git_reads_the_folded_proposal(store: Store) -> None:
    done = memory(store).learn(ENV.sample(200, 1), batch=20, propose="tt")
    assert done.folded is not None
    root = store.path
    run_git(root, "fsck", "--strict")
    count = int(run_git(root, "rev-list", "--count", "main..proposals/tt").strip())
    assert count == done.folded.after <= 15
    for line in run_git(root, "log", "--format=%H", "main..proposals/tt").split():
        body = run_git(root, "log", "-1", "--format=%B", line)
        parsed = run_git(root, "interpret-trailers", "--parse", input=body)
        assert parsed.startswith("Imlgit-Op: ")


def test_learned_ids_are_neutral_and_titles_follow_the_form(store: Store) -> None:
    """Issue 16: an id names no condition (it went stale when the rule was narrowed);
    the title is the current form's, after every revision."""
    import re

    from imlgit.learners.rulelearner import _title

    memory(store).learn(ENV.sample(200, 1), batch=20, propose="tt")
    rules = store.read_rules("proposals/tt")
    learned = {rid: r for rid, r in rules.items() if r.checkable}
    assert learned
    revised = 0
    for rid, r in learned.items():
        assert re.fullmatch(r"r-[0-9a-f]{8,40}", rid), rid
        assert r.when is not None and r.then is not None
        assert r.title == _title(r.when, r.then), (rid, r.title)
        assert r.path == f"rules/{r.scope}/{rid}.md"
        history = store.history(rid, "proposals/tt")
        revised += any(c.trailer("Imlgit-Op") == "revise" for c in history)
        assert all(rid in c.subject for c in history if c.trailer("Imlgit-Op") != "recount")
    assert revised  # the main job narrows at least one rule, which keeps its id
