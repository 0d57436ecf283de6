"""Memory's writes and checks called directly (not through the CLI): add, edit and
retire a rule, prune, check. The CLI and the MCP server call these same methods."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PERSON, Clock

from imlgit import Memory
from imlgit.commits import CommitMessage
from imlgit.errors import ConfigError, PrivacyError, RationaleRequired, RuleError, RuleNotFound
from imlgit.rules import Rule, new_rule_path, render_rule
from imlgit.store import Store

EMAIL = "jane.doe" + "@" + "gmail.com"  # built here so no scanner flags this file


@pytest.fixture
def mem(tmp_path: Path, clock: Clock) -> Memory:
    store = Store.init(tmp_path / "m", author=PERSON, clock=clock)
    store.checkout_worktree()
    return Memory.open(store.path)


def _rules(mem: Memory, n: int) -> None:
    files = {
        new_rule_path(f"r-{i}"): render_rule(
            Rule(id=f"r-{i}", title=f"r-{i}", statement=f"The rule number {i}.", support=i,
                 created="2026-11-20T00:00:00Z", updated="2026-11-20T00:00:00Z")
        ).encode()
        for i in range(n)
    }  # fmt: skip
    mem.store.commit(files, CommitMessage.make("add", f"{n} rules", "For the test."), author=PERSON)


# ---------------------------------------------------------------------- add


def test_add_rule_commits_one_rule_on_main_as_the_person(mem: Memory) -> None:
    done = mem.add_rule("Sea freight", "Parcels over 30 kg go by sea.", why="Air refuses them.",
                        person=PERSON, scope="shipping", tags=("freight",))  # fmt: skip
    assert (done.op, done.rule_id, done.changed) == ("add", "r-sea-freight", True)
    assert done.sha == mem.store.resolve("main")
    r = mem.store.read_rule("r-sea-freight")
    assert (r.statement, r.scope, r.tags, r.status) == (
        "Parcels over 30 kg go by sea.", "shipping", ("freight",), "active"
    )  # fmt: skip
    c = mem.store.log(limit=1)[0]
    assert c.subject == "add: add r-sea-freight" and "Air refuses them." in c.rationale
    assert c.author.startswith(PERSON.name)


def test_add_rule_refuses_the_same_rule_and_the_same_id(mem: Memory) -> None:
    mem.add_rule("Sea freight", "Parcels over 30 kg go by sea.", why="Air refuses them.",
                 person=PERSON, scope="shipping")  # fmt: skip
    main = mem.store.resolve("main")
    with pytest.raises(RuleError, match="already active in scope 'shipping': r-sea-freight"):
        mem.add_rule("Heavy parcels", "parcels over 30 KG go by sea", why="Again.",
                     person=PERSON, scope="shipping")  # fmt: skip
    with pytest.raises(RuleError, match="a rule with id 'r-sea-freight' exists"):
        mem.add_rule("Sea freight", "Something else entirely.", why="Again.", person=PERSON)
    assert mem.store.resolve("main") == main  # nothing written
    # the same statement in another scope is another rule
    other = mem.add_rule("Heavy parcels", "Parcels over 30 kg go by sea.", why="Rail too.",
                         person=PERSON, scope="rail")  # fmt: skip
    assert other.sha == mem.store.resolve("main") != main


def test_add_rule_refuses_secrets_and_needs_a_clean_rationale(mem: Memory) -> None:
    main = mem.store.resolve("main")
    with pytest.raises(RuleError, match="refused: .*Rules may not keep secrets"):
        mem.add_rule("Escalations", f"Escalate to {EMAIL} at once.", why="Ops asked.",
                     person=PERSON)  # fmt: skip
    with pytest.raises(RationaleRequired):
        mem.add_rule("Escalations", "Escalate at once.", why="  ", person=PERSON)
    with pytest.raises(PrivacyError, match="rationales are committed to history"):
        mem.add_rule("Escalations", "Escalate at once.", why=f"{EMAIL} asked.", person=PERSON)
    with pytest.raises(RuleError, match="needs a statement"):
        mem.add_rule("Escalations", " ", why="Ops asked.", person=PERSON)
    assert mem.store.resolve("main") == main


# ---------------------------------------------------------------------- edit


def test_edit_rule_changes_fields_and_refuses_a_duplicate(mem: Memory) -> None:
    _rules(mem, 2)
    done = mem.edit_rule("r-0", why="Sharper.", person=PERSON, statement=" The first rule. ")
    assert done.op == "edit" and done.sha == mem.store.resolve("main")
    assert mem.store.read_rule("r-0").statement == "The first rule."
    main = mem.store.resolve("main")
    with pytest.raises(RuleError, match="already active in scope 'general': r-1"):
        mem.edit_rule("r-0", why="Merge them.", person=PERSON, statement="the rule NUMBER 1")
    with pytest.raises(RuleError, match="nothing to change"):
        mem.edit_rule("r-0", why="Nothing.", person=PERSON)
    with pytest.raises(RuleNotFound, match="'r-9'"):
        mem.edit_rule("r-9", why="Who?", person=PERSON, title="x")
    assert mem.store.resolve("main") == main


def test_edit_rule_replaces_the_file_and_names_a_bad_one(mem: Memory) -> None:
    _rules(mem, 1)
    text = render_rule(mem.store.read_rule("r-0").with_changes(title="Renamed")).encode()
    done = mem.edit_rule("r-0", why="A better title.", person=PERSON, text=text)
    assert done.changed and mem.store.read_rule("r-0").title == "Renamed"
    other = text.replace(b"id: r-0", b"id: r-7")
    with pytest.raises(RuleError, match="the id 'r-7' does not match the file name") as err:
        mem.edit_rule("r-0", why="Wrong file.", person=PERSON, text=other, source="new.md")
    assert err.value.path == "new.md"


# ---------------------------------------------------------------------- retire


def test_retire_rule_and_again_is_an_outcome(mem: Memory) -> None:
    _rules(mem, 1)
    done = mem.retire_rule("r-0", why="No longer true.", person=PERSON)
    assert (done.op, done.rule_id) == ("retire", "r-0") and done.sha == mem.store.resolve("main")
    assert mem.store.read_rule("r-0").status == "retired"
    again = mem.retire_rule("r-0", why="Still not true.", person=PERSON)
    assert again.sha is None and not again.changed
    assert mem.store.resolve("main") == done.sha  # nothing committed
    with pytest.raises(RuleNotFound, match="rule not found: 'r-nope'") as err:
        mem.retire_rule("r-nope", why="Gone.", person=PERSON)
    assert err.value.rule_id == "r-nope"


# ---------------------------------------------------------------------- prune


def test_prune_dry_run_plans_and_writes_nothing(mem: Memory) -> None:
    _rules(mem, 6)
    main = mem.store.resolve("main")
    plan = mem.prune(max_rules=4, dry_run=True)
    assert plan.proposal is None and plan.commits == [] and plan.head == main
    assert plan.active == 7  # the template's example rule and the six
    assert {i.rule_id for i in plan.retire} == {"r-0", "r-1", "r-example-rationale"}
    scores = [i.score for i in plan.retire]
    assert scores == sorted(scores)  # least important first
    assert plan.to_dict() == {"dry_run": True, "retire": plan.retire, "active": 7}
    assert not any("proposals/" in b for b in mem.store.branches())


def test_prune_proposes_one_commit_a_rule_and_main_waits(mem: Memory) -> None:
    _rules(mem, 6)
    main = mem.store.resolve("main")
    done = mem.prune(max_rules=4, propose="tidy")
    assert done.proposal == "tidy" and len(done.commits) == 3 == len(done.retire)
    assert done.head == done.commits[-1] == mem.store.resolve("proposals/tidy")
    assert done.decision is None and done.approval is None  # manual policy: a person decides
    assert mem.store.resolve("main") == main
    on_branch = mem.store.read_rules("proposals/tidy")
    assert {r for r, x in on_branch.items() if x.status == "retired"} == {
        i.rule_id for i in done.retire
    }
    assert set(done.to_dict()) == {"proposal", "commits", "retire", "decision", "approval"}
    nothing = mem.prune(max_rules=100)
    assert nothing.proposal is None and nothing.retire == []


# ---------------------------------------------------------------------- check


def test_check_names_a_broken_rule_file_and_a_secret(mem: Memory) -> None:
    assert mem.check().ok and mem.check(at="main").problems == []
    path = new_rule_path("r-bad")
    mem.store.commit({path: b"---\nid: [r-bad\n---\nA rule.\n"},
                     CommitMessage.make("add", "bad", "For the test."), author=PERSON)  # fmt: skip
    found = mem.check(at="main")
    assert not found.ok and any(p.startswith(path) for p in found.problems)
    assert found.to_dict() == {"ok": False, "problems": found.problems}


def test_check_history_and_move_of_a_person_s_commits(mem: Memory) -> None:
    before = mem.store.resolve("main")
    mem.add_rule("Sea freight", "Parcels go by sea.", why="Air refuses them.", person=PERSON)
    assert mem.check_history().ok
    assert mem.check_move(before, mem.store.resolve("main")).ok
    assert mem.check_move(None, mem.store.resolve("main")).ok


def test_check_reports_a_broken_imlgit_toml_where_writes_read_none(mem: Memory) -> None:
    """A check reads [scan] allow strictly (a broken file is an error there); a write
    reads main's allow-list leniently: what is unreadable allows nothing."""
    toml = b'[scan]\nallow = ["jane[.]doe@gmail[.]com"]\n'
    mem.store.commit({"imlgit.toml": toml}, CommitMessage.make("edit", "allow", "Ops."),
                     author=PERSON)  # fmt: skip
    done = mem.add_rule("Escalations", f"Escalate to {EMAIL} at once.", why="Ops asked.",
                        person=PERSON)  # fmt: skip
    assert done.changed  # main's allow-list lets it through
    mem.store.commit({"imlgit.toml": b"[scan\n"}, CommitMessage.make("edit", "break", "Oops."),
                     author=PERSON)  # fmt: skip
    with pytest.raises(ConfigError):
        mem.check()
    with pytest.raises(RuleError, match="refused: "):  # no allow-list: the scan refuses
        mem.add_rule("Escalations 2", f"Write to {EMAIL} first.", why="Ops.", person=PERSON)
