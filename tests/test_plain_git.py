"""Plain git editing is first-class (issue 16): a rule file anywhere under rules/,
the id from its file name, a hand-written rule that is only a statement, committed
with the git CLI through imlgit's hooks, then listed, recalled and answered."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PERSON, run_git
from fakes import FakeChat, HashEmbedder

from imlgit.commits import CommitMessage
from imlgit.errors import StoreError
from imlgit.memory import Memory
from imlgit.rules import Rule, new_rule_path, render_rule, shard_path
from imlgit.store import Store

pytestmark = pytest.mark.usefixtures("git_repo_env")
T = "2026-11-27T08:00:00Z"
Cli = Callable[..., subprocess.CompletedProcess[str]]


def git_commit(repo: Path, subject: str, why: str) -> subprocess.CompletedProcess[str]:
    """git commit with the hooks imlgit installed (pre-commit, commit-msg)."""
    return subprocess.run(
        ["git", "commit", "-q", "-m", subject, "-m", why],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_a_hand_written_one_line_rule_is_committed_with_git_and_used(
    memory: Store, imlgit_cli: Cli
) -> None:
    f = memory.path / "rules" / "wet-roads.md"
    f.write_text("Wet roads double the braking distance.\n")
    run_git(memory.path, "add", "rules/wet-roads.md")
    done = git_commit(memory.path, "add wet-roads", "Seen on every rainy test drive.")
    assert done.returncode == 0, done.stderr  # the hooks ran `imlgit check --staged`
    head = memory.head()
    assert memory.read_file("rules/wet-roads.md", head) is not None

    listed = imlgit_cli("rule", "list", "--json", repo=memory.path)
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows["wet-roads"]["title"] == "Wet roads double the braking distance"
    shown = imlgit_cli("rule", "show", "wet-roads", "--json", repo=memory.path)
    rule = json.loads(shown.stdout)
    assert rule["scope"] == "general" and rule["status"] == "active"
    assert rule["created"] and rule["updated"]  # from the commit that added the file
    check = imlgit_cli("check", repo=memory.path)
    assert check.returncode == 0, check.stdout + check.stderr

    chat = FakeChat({"answer": "brake earlier", "rules": ["wet-roads"]})
    mem = Memory.open(memory.path, env={}, chat=chat, embedder=HashEmbedder())
    hits = mem.recall("braking distance on wet roads", k=3)
    assert hits[0].rule.id == "wet-roads"
    ans = mem.ask("How far ahead should I brake when the road is wet?")
    assert ans.answer == "brake earlier" and ans.rules == ("wet-roads",) and ans.commit == head

    # imlgit edits the rule where it lives: one file, its git log whole
    edited = imlgit_cli(
        "rule", "edit", "wet-roads", "--statement", "Wet roads double the braking distance; "
        "brake earlier.", "--why", "Drivers asked what to do about it.", repo=memory.path,
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert run_git(memory.path, "ls-files", "rules").split() == [
        "rules/general/r-example-rationale.md",
        "rules/wet-roads.md",
    ]
    log = run_git(memory.path, "log", "--format=%s", "--", "rules/wet-roads.md").splitlines()
    assert len(log) == 2 and log[1] == "add wet-roads"
    run_git(memory.path, "fsck", "--strict", "--no-dangling")


def test_the_hook_refuses_a_second_file_for_one_id(memory: Store) -> None:
    f = memory.path / "rules" / "roads" / "r-example-rationale.md"
    f.parent.mkdir(parents=True)
    f.write_text("A second file for the template's rule.\n")
    run_git(memory.path, "add", "-A")
    head = memory.head()
    refused = git_commit(memory.path, "twin", "Testing the hook.")
    assert refused.returncode != 0
    assert "duplicate rule id 'r-example-rationale'" in refused.stderr
    assert memory.head() == head


def test_a_store_write_never_gives_an_id_a_second_file(memory: Store) -> None:
    """A rule keeps the file it has: a write of it elsewhere is refused whole."""
    moved = Rule(id="r-a", title="A", statement="A statement.", created=T, updated=T)
    msg = CommitMessage.make("add", "add r-a", "By hand.", rules=["r-a"])
    memory.commit({"rules/by-hand/r-a.md": render_rule(moved).encode()}, msg, author=PERSON)
    head = memory.head()
    with pytest.raises(StoreError, match="lives at rules/by-hand/r-a.md"):
        memory.commit({new_rule_path("r-a"): render_rule(moved).encode()}, msg, author=PERSON)
    assert memory.head() == head
    # a put_rule of a rule not read from the file finds where it lives
    memory.put_rule(moved.with_changes(statement="Changed."), msg, author=PERSON)
    assert memory.read_rule("r-a").statement == "Changed."
    assert memory.locate("r-a") == "rules/by-hand/r-a.md"


def test_new_rules_go_to_their_scope_folder_and_old_layouts_keep_their_files(
    memory: Store,
) -> None:
    new = Rule(id="r-new", title="N", statement="New.", scope="shipping", created=T, updated=T)
    old = Rule(id="r-old", title="O", statement="Old.", created=T, updated=T)
    msg = CommitMessage.make("add", "add", "Two rules.", rules=["r-new", "r-old"])
    memory.commit(
        {new.path: render_rule(new).encode(), shard_path("r-old"): render_rule(old).encode()},
        msg, author=PERSON,
    )  # fmt: skip
    assert new.path == "rules/shipping/r-new.md"
    memory.put_rule(old.with_changes(statement="Old, changed."), msg, author=PERSON)
    assert memory.locate("r-old") == shard_path("r-old")
    assert memory.read_rule("r-old").statement == "Old, changed."
    assert [c.subject for c in memory.history("r-old")] == ["add: add", "add: add"]
    assert memory.check() == []


def test_a_merge_that_would_give_an_id_two_files_is_refused(memory: Store) -> None:
    """A person adds r-m at rules/mine/ on main while a branch adds it in its scope
    folder: the merge is refused, nothing moves."""
    r = Rule(id="r-m", title="M", statement="M.", created=T, updated=T)
    msg = CommitMessage.make("add", "add r-m", "Two places.", rules=["r-m"])
    memory.create_branch("side")
    memory.commit({new_rule_path("r-m"): render_rule(r).encode()}, msg, author=PERSON,
                  branch="side")  # fmt: skip
    memory.commit({"rules/mine/r-m.md": render_rule(r).encode()}, msg, author=PERSON)
    head = memory.head()
    with pytest.raises(StoreError, match="lives at"):
        memory.merge("side", CommitMessage.make("merge", "merge side", "Both."), author=PERSON)
    assert memory.head() == head


@pytest.mark.slow
def test_a_moved_or_deleted_rule_keeps_its_history_review_and_rollback(
    memory: Store, imlgit_cli: Cli
) -> None:
    """Found by review: history, dates, review and rollback went by path, so a `git mv`
    cut a rule's history, a deleted rule had none, a move reviewed as a removal plus
    an addition, and a rollback after a move was refused as a change of meaning."""
    from imlgit.proposals import get_proposal, start_proposal
    from imlgit.review import net_changes

    f = memory.path / "rules" / "wet-roads.md"
    f.write_text("Wet roads double the braking distance.\n")
    run_git(memory.path, "add", "-A")
    assert git_commit(memory.path, "add wet-roads", "Rain.").returncode == 0
    added = memory.head()
    edit = imlgit_cli("rule", "edit", "wet-roads", "--title", "Brake early when wet", "--why",
                      "Clearer.", repo=memory.path).stdout.strip()  # fmt: skip
    (memory.path / "rules" / "roads").mkdir()
    run_git(memory.path, "mv", "rules/wet-roads.md", "rules/roads/wet-roads.md")
    assert git_commit(memory.path, "move wet-roads", "Roads get a folder.").returncode == 0
    subjects = [c.subject for c in memory.history("wet-roads")]
    assert subjects == ["move wet-roads", "edit: edit wet-roads", "add wet-roads"]
    shown = memory.with_git_dates(memory.read_rule("wet-roads"))
    assert shown.created == memory.with_git_dates(memory.read_rule("wet-roads", added)).created
    # the move changes no meaning: the edit before it rolls back, at the new place
    memory.revert(edit, "The old title was fine.", author=PERSON)
    assert memory.read_rule("wet-roads").title == "Wet roads double the braking distance"
    assert memory.locate("wet-roads") == "rules/roads/wet-roads.md"
    # a proposal that only moves a file: one change, of figures (no meaning)
    b = start_proposal(memory, "tidy")
    data = memory.read_file("rules/roads/wet-roads.md")
    memory.commit({"rules/roads/wet-roads.md": None, "rules/wet/wet-roads.md": data},
                  CommitMessage.make("edit", "move", "Tidy."), author=PERSON, branch=b)  # fmt: skip
    net = net_changes(memory, get_proposal(memory, "tidy"))
    assert [(n.rule_id, n.kind) for n in net] == [("wet-roads", "figures")]
    # deleted with git: history stays, restore brings it back where it was
    run_git(memory.path, "rm", "-q", "rules/roads/wet-roads.md")
    assert git_commit(memory.path, "drop wet-roads", "Not needed.").returncode == 0
    assert memory.history("wet-roads")[0].subject == "drop wet-roads"
    memory.restore("wet-roads", "Needed after all.", author=PERSON)
    assert memory.locate("wet-roads") == "rules/roads/wet-roads.md"


@pytest.mark.slow
def test_rule_edit_file_keeps_the_rules_place_and_scope(memory: Store, imlgit_cli: Cli) -> None:
    f = memory.path / "rules" / "tyres" / "tread.md"
    f.parent.mkdir()
    f.write_text("Tread under 3 mm is worn.\n")
    run_git(memory.path, "add", "-A")
    assert git_commit(memory.path, "add tread", "Tyre checks.").returncode == 0
    new = memory.path.parent / "tread2.md"
    new.write_text("Tread under 2 mm is worn.\n")  # a statement only: the rule's defaults
    out = imlgit_cli("rule", "edit", "tread", "--file", str(new), "--why", "The legal limit.",
                     repo=memory.path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    rule = memory.read_rule("tread")
    assert (rule.scope, rule.path, rule.statement) == (
        "tyres", "rules/tyres/tread.md", "Tread under 2 mm is worn."
    )


@pytest.mark.slow
def test_prune_ranks_a_hand_written_rule_by_its_git_age(memory: Store, imlgit_cli: Cli) -> None:
    import os

    f = memory.path / "rules" / "old.md"
    f.write_text("---\ncontradictions: 1\n---\nAn old rule.\n")
    run_git(memory.path, "add", "-A")
    env = dict(os.environ, GIT_COMMITTER_DATE="2025-01-01T00:00:00Z",
               GIT_AUTHOR_DATE="2025-01-01T00:00:00Z")  # fmt: skip
    subprocess.run(["git", "commit", "-q", "-m", "add old", "-m", "Long ago."], cwd=memory.path,
                   env=env, check=True)  # fmt: skip
    out = imlgit_cli("prune", "--max-rules", "0", "--dry-run", repo=memory.path)
    line = next(x for x in out.stdout.splitlines() if " old " in x)
    assert "0 days since" not in line and "days since its last change" in line


@pytest.mark.parametrize(
    "why", ["Note: the wording was unclear.", "eval: approve what was proposed"]
)
def test_a_persons_rationale_that_reads_like_a_trailer_is_accepted(
    memory: Store, imlgit_cli: Cli, why: str
) -> None:
    """Issue 16: such a --why was refused as "looks like git trailers"; imlgit writes its
    own trailers as the last paragraph, so git reads only those."""
    out = imlgit_cli("rule", "add", "--id", "r-note", "--title", "Note", "--statement",
                     "A statement.", "--why", why, repo=memory.path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    sha = out.stdout.strip()
    msg = run_git(memory.path, "log", "-1", "--format=%B", sha)
    parsed = run_git(memory.path, "interpret-trailers", "--parse", input=msg)
    assert parsed.splitlines() == ["Imlgit-Op: add", "Imlgit-Rules: r-note"]
    assert memory.commit_info(sha).rationale == why


@pytest.mark.slow
def test_history_verify_checks_every_file_the_rule_had(memory: Store, imlgit_cli: Cli) -> None:
    """`history --verify` checked the rule's current file only, while `history` shows
    every file it had: across a git mv, the commits before the move went unchecked."""
    f = memory.path / "rules" / "wet-roads.md"
    f.write_text("Wet roads double the braking distance.\n")
    run_git(memory.path, "add", "-A")
    assert git_commit(memory.path, "add wet-roads", "Rain.").returncode == 0
    (memory.path / "rules" / "roads").mkdir()
    run_git(memory.path, "mv", "rules/wet-roads.md", "rules/roads/wet-roads.md")
    assert git_commit(memory.path, "move wet-roads", "Roads get a folder.").returncode == 0
    check = memory.verify_history("wet-roads")
    assert check.ok and len(check.actual) == 2
    assert check.actual == [c.sha for c in memory.history("wet-roads")]
    assert check.path == "rules/roads/wet-roads.md"
