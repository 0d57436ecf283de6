"""The stable Python API: `import imlgit`, and Memory's record / journal / learn / propose.

HashEmbedder (tests/fakes.py) stands in for the real embedder; the documented
examples in docs/PYTHON-API.md run with the real one (slow).
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import PERSON, commit_policy
from fakes import FakeChat, HashEmbedder

import imlgit
from imlgit import review as rv
from imlgit.bench.truthtable import TruthTable
from imlgit.commits import LEARNER, CommitMessage
from imlgit.errors import (
    ExperienceError,
    LearnError,
    LLMError,
    RationaleRequired,
    ReviewError,
    RuleError,
)
from imlgit.experience import Experience
from imlgit.memory import Memory
from imlgit.rules import Rule
from imlgit.store import Store

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PYTHON-API.md"
SECRET = "jane.doe" + "@" + "gmail.com"  # built here, so no scanner flags this file


@pytest.fixture
def mem(tmp_path: Path) -> Memory:
    Store.init(tmp_path / "m", author=PERSON)
    return Memory.open(tmp_path / "m", env={}, embedder=HashEmbedder())


def state(mem: Memory) -> tuple[dict[str, str], bytes | None]:
    """Every branch head and the journal's bytes: what a refused call leaves alone."""
    j = mem.journal_path
    return mem.store.branches(), (j.read_bytes() if j.exists() else None)


def truth_table(n: int = 20) -> list[Experience]:
    return TruthTable(seed=0).sample(n, 1)


# ---------------------------------------------------------------------- import imlgit


def documented_names() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### What `import imlgit` gives", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^- `(\w+)`", section, re.M)


def test_all_is_the_documented_list_and_every_name_resolves() -> None:
    names = documented_names()
    assert imlgit.__all__ == names
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(imlgit, name) is not None
        assert name in dir(imlgit)
    assert imlgit.Memory is Memory
    assert issubclass(imlgit.ReviewError, imlgit.ImlgitError)
    assert re.match(r"^\d+\.\d+", imlgit.__version__)
    with pytest.raises(AttributeError):
        imlgit.no_such_name  # noqa: B018


def test_import_imlgit_is_cheap_and_star_import_gives_all() -> None:
    code = (
        "import sys, imlgit\n"
        "print(sorted(m for m in sys.modules if m.startswith('imlgit')), "
        "[m for m in ('numpy', 'dulwich', 'torch', 'yaml') if m in sys.modules])\n"
        "from imlgit import *\n"
        "print(Memory.__name__, ReviewError.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["['imlgit'] []", "Memory ReviewError"]


def test_the_agent_api_has_every_verb() -> None:
    """That none of them reaches main unapproved: tests/test_no_approve_path.py."""
    for verb in ("open", "recall", "ask", "record", "journal", "learn", "propose"):
        assert callable(getattr(Memory, verb))


# ---------------------------------------------------------------------- record, journal


def test_record_appends_validated_experiences_to_the_journal(mem: Memory) -> None:
    assert mem.journal() == []
    first = mem.record({"scope": "shipping", "input": "a parcel", "outcome": {"reward": 1}})
    assert re.fullmatch(r"j-[0-9a-f]{12}", first.id)
    given = truth_table(1)[0]
    assert mem.record(given) == given
    assert mem.record(given.to_dict() | {"id": "tt-x"}).id == "tt-x"
    assert [e.id for e in mem.journal()] == [first.id, given.id, "tt-x"]
    assert mem.journal_path == mem.store.gitdir / "imlgit" / "journal.jsonl"
    assert mem.journal_path.read_text().splitlines()[1] == given.to_json()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"scope": "../x", "input": "a", "outcome": {"reward": 1}}, "scope"),
        ({"scope": "s", "input": "a", "outcome": {"reward": 1}, "id": "../x"}, "id"),
        ({"scope": "s", "input": {"a": [{"b": float("nan")}]}, "outcome": {"reward": 1}}, "input"),
        ({"scope": "s", "input": "a"}, "outcome is required"),
        ({"scope": "s", "input": "a", "outcome": {"reward": 1}, "extra": 1}, "unknown field"),
        ({"scope": "s", "input": "x" * (1 << 20), "outcome": {"reward": 1}}, "at most"),
        ("not an object", "JSON object"),
    ],
)
def test_record_refuses_invalid_experiences(mem: Memory, bad: Any, message: str) -> None:
    mem.record({"scope": "s", "input": "kept", "outcome": {"reward": 1}})
    before = state(mem)
    with pytest.raises(ExperienceError, match=message):
        mem.record(bad)
    assert state(mem) == before


def test_record_refuses_an_id_already_in_the_journal(mem: Memory) -> None:
    exp = truth_table(1)[0]
    mem.record(exp)
    before = state(mem)
    with pytest.raises(ExperienceError, match="duplicate id"):
        mem.record(exp.to_dict() | {"output": "something else"})
    assert state(mem) == before


def test_concurrent_records_never_interleave(mem: Memory) -> None:
    def agent(n: int) -> None:
        for i in range(25):
            mem.record(
                {
                    "scope": "s",
                    "input": f"agent {n} step {i} " + "x" * 5000,
                    "outcome": {"reward": 1},
                    "id": f"a{n}-{i}",
                }
            )

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [e.id for e in mem.journal()]  # every line parses
    assert sorted(ids) == sorted(f"a{n}-{i}" for n in range(4) for i in range(25))


# ---------------------------------------------------------------------- learn


def test_learn_from_the_journal_proposes_and_empties_it(mem: Memory) -> None:
    main = mem.store.head()
    for e in truth_table():
        mem.record(e)
    done = mem.learn()
    assert done.proposal and done.batches and done.approval is None
    assert mem.journal() == [] and mem.journal_path.read_bytes() == b""
    assert mem.store.head() == main
    assert rv.get_proposal(mem.store, done.proposal).rules
    with pytest.raises(LearnError, match="nothing to learn: the journal is empty"):
        mem.learn()


def test_what_is_recorded_while_learning_stays_in_the_journal(mem: Memory) -> None:
    for e in truth_table(12):
        mem.record(e)
    late = {"scope": "truth-table", "input": {"glimmer": "yes"}, "outcome": {"expected": "LUMEN"}}

    def progress(_: Any) -> None:
        if not mem.journal() or mem.journal()[-1].id != "late-1":
            mem.record(late | {"id": "late-1"})

    mem.learn(batch=6, progress=progress)
    assert [e.id for e in mem.journal()] == ["late-1"]


def test_a_failed_learn_keeps_the_journal(tmp_path: Path) -> None:
    Store.init(tmp_path / "m", author=PERSON)
    chat = FakeChat(*[LLMError("the endpoint is down")] * 10)
    mem = Memory.open(tmp_path / "m", env={}, chat=chat, embedder=HashEmbedder())
    mem.record({"scope": "s", "input": "a parcel to Oslo", "outcome": {"text": "late"}})
    before = state(mem)
    with pytest.raises(LearnError, match="endpoint is down"):
        mem.learn(learner="model")
    assert state(mem) == before


def test_learn_into_main_from_the_journal_under_the_auto_policy(tmp_path: Path) -> None:
    commit_policy(Store.init(tmp_path / "m", author=PERSON), "auto")
    mem = Memory.open(tmp_path / "m", env={"IMLGIT_POLICY": "auto"}, embedder=HashEmbedder())
    for e in truth_table():
        mem.record(e)
    done = mem.learn()
    assert done.approval is not None and mem.store.head() == done.approval.sha
    assert set(done.approval.rules) <= set(mem.store.read_rules())


def test_learn_with_experiences_given_leaves_the_journal_alone(mem: Memory) -> None:
    mem.record({"scope": "s", "input": "a", "outcome": {"reward": 1}})
    before = mem.journal_path.read_bytes()
    mem.learn(truth_table())
    assert mem.journal_path.read_bytes() == before


def test_settings_are_read_again_from_main(mem: Memory, tmp_path: Path) -> None:
    assert mem.settings.get("review", "policy") == "manual"
    text = mem.store.read_file("imlgit.toml")
    assert text is not None
    toml = text.decode().replace('# policy = "manual"', 'policy = "gated"', 1)
    msg = CommitMessage.make("edit", "policy gated", "Small proposals may pass unattended.")
    mem.store.commit({"imlgit.toml": toml.encode()}, msg, author=PERSON)
    assert mem.reload_settings().get("review", "policy") == "gated"
    fixed = Memory(mem.store, mem.settings)
    fixed.settings = Memory.open(mem.path, env={"IMLGIT_POLICY": "auto"}).settings
    assert fixed.reload_settings().get("review", "policy") == "auto"  # given: kept


# ---------------------------------------------------------------------- propose


def test_propose_opens_a_proposal_with_one_rule_and_main_stays(mem: Memory) -> None:
    main = mem.store.head()
    name = mem.propose(
        "A parcel over 30 kg to an overseas address ships by sea.",
        "Air freight refused every parcel over 30 kg this week.",
        evidence=["s-001", "s-002", "s-001"],
        scope="shipping",
        title="Heavy overseas parcels go by sea",
    )
    assert name.startswith("agent-")
    assert mem.store.head() == main
    p = rv.get_proposal(mem.store, name)
    assert p.rules == ["r-heavy-overseas-parcels-go-by-sea"] and len(p.commits) == 1
    c = p.commits[0]
    assert c.author == str(LEARNER)
    assert c.trailer("Imlgit-Op") == "induce"
    assert c.trailer("Imlgit-Evidence") == "s-001 s-002"
    assert c.rationale == "Air freight refused every parcel over 30 kg this week."
    rule = mem.store.read_rule("r-heavy-overseas-parcels-go-by-sea", p.branch)
    assert rule.scope == "shipping" and rule.sources == ("s-001", "s-002")
    # the default title is the statement's beginning; ids stay unique
    other = mem.propose("Heavy overseas parcels go by sea!", "Again.", scope="other", name="p2")
    assert other == "p2"
    assert rv.get_proposal(mem.store, "p2").rules == ["r-heavy-overseas-parcels-go-by-sea"]


def test_propose_a_checkable_rule(mem: Memory) -> None:
    name = mem.propose(
        "When weight is heavy, the class is sea.",
        "Every heavy parcel went by sea.",
        scope="shipping",
        when={"weight": "heavy"},
        then="sea",
        name="checkable",
    )
    (rid,) = rv.get_proposal(mem.store, name).rules
    assert mem.store.read_rule(rid, "proposals/checkable").checkable


def refusals(mem: Memory) -> list[tuple[dict[str, Any], type[Exception], str]]:
    return [
        ({"statement": "Fine.", "rationale": " "}, RationaleRequired, "rationale is required"),
        ({"statement": " ", "rationale": "r"}, RuleError, "statement"),
        ({"statement": "x" * 4_001, "rationale": "r"}, RuleError, "at most 4000"),
        ({"statement": "Fine.", "rationale": "r", "scope": "../x"}, RuleError, "scope"),
        (
            {"statement": "Fine.", "rationale": "r", "evidence": ["../../etc/passwd"]},
            ExperienceError,
            "bad evidence id",
        ),
        ({"statement": "Fine.", "rationale": "r", "evidence": "s-1"}, ExperienceError, "list"),
        ({"statement": "Fine.", "rationale": "r", "name": "../main"}, ReviewError, "name"),
        ({"statement": "Fine.", "rationale": "r", "name": "taken"}, ReviewError, "exists"),
        ({"statement": "Fine.", "rationale": "r", "title": "a\nb"}, RuleError, "title"),
        (
            {
                "statement": "When weight is light, the class is sea.",
                "rationale": "r",
                "when": {"weight": "heavy"},
                "then": "sea",
            },
            RuleError,
            "does not say",
        ),
        (
            {"statement": "Fine.", "rationale": "r", "when": {"weight": "heavy"}},
            RuleError,
            "go together",
        ),
        (
            {"statement": f"Write to {SECRET} when late.", "rationale": "r"},
            RuleError,
            r"field 'statement': .*email at line 1, column 10",
        ),
        (
            {"statement": "Fine.", "rationale": f"As {SECRET} said."},
            RuleError,
            "field 'rationale': .*email",
        ),
        (
            {"statement": "Fine.", "rationale": "r", "title": "sk-" + "a1B2" * 10},
            RuleError,
            "field 'title': .*api-key",
        ),
        (
            {
                "statement": "A change to this memory is committed with a rationale a reviewer can "
                "judge, so that each rule's history explains itself",
                "rationale": "r",
            },
            ReviewError,
            "already in memory: r-example-rationale",
        ),
    ]


def test_propose_refuses_and_writes_nothing(mem: Memory) -> None:
    mem.propose("Taken.", "r", name="taken")
    for kwargs, error, message in refusals(mem):
        before = state(mem)
        with pytest.raises(error, match=message):
            mem.propose(**kwargs)
        assert state(mem) == before, kwargs


def test_propose_refuses_a_rule_people_rejected(mem: Memory) -> None:
    name = mem.propose("Every parcel goes by air.", "Air is fastest.", scope="shipping")
    rv.reject(mem.store, name, person=PERSON, why="Heavy parcels cannot fly.")
    before = state(mem)
    with pytest.raises(ReviewError, match="people rejected this rule .*Heavy parcels"):
        mem.propose("Every parcel goes  by AIR", "Air really is fastest.", scope="shipping")
    assert state(mem) == before
    mem.propose("Every parcel goes by air.", "Another scope.", scope="letters")  # allowed


def test_the_scan_allowlist_lets_a_known_address_through(tmp_path: Path) -> None:
    Store.init(tmp_path / "m", author=PERSON)
    flags = {("scan", "allow"): [re.escape(SECRET)]}
    mem = Memory.open(tmp_path / "m", env={}, flags=flags, embedder=HashEmbedder())
    assert mem.propose(f"Late parcels are reported to {SECRET}.", "She handles them.")


class FailingStore(Store):
    """A store whose rule writes fail (after the proposal branch was made)."""

    def put_rule(self, *args: Any, **kwargs: Any) -> str:
        raise OSError("disk full")


def test_a_failed_proposal_write_leaves_no_branch(tmp_path: Path) -> None:
    from imlgit.git.repo import GitRepo

    Store.init(tmp_path / "m", author=PERSON)
    failing = FailingStore(GitRepo.open(tmp_path / "m"))
    mem = Memory(failing, Memory.open(tmp_path / "m").settings)
    before = state(mem)
    with pytest.raises(OSError, match="disk full"):
        mem.propose("Fine.", "r", name="doomed")
    assert state(mem) == before


def test_propose_and_learn_rule_ids_do_not_collide_with_main(mem: Memory) -> None:
    now = "2026-01-01T00:00:00Z"
    taken = Rule(id="r-fine", title="Fine", statement="Other.", created=now, updated=now)
    msg = CommitMessage.make("add", "add r-fine", "A rule to collide with.")
    mem.store.put_rule(taken, msg, author=PERSON)
    name = mem.propose("Fine.", "r")
    assert rv.get_proposal(mem.store, name).rules == ["r-fine-2"]


# ---------------------------------------------------------------------- the documentation


@pytest.mark.slow
def test_the_documented_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = doctest.testfile(
        str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False
    )
    assert result.attempted > 20 and result.failed == 0
