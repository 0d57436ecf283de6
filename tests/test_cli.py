"""The command line, run as a user runs it (a subprocess), and in-process for speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imlgit.cli import cli


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def _init(tmp_path: Path) -> Path:
    repo = tmp_path / "mem"
    res = run("init", str(repo))
    assert res.exit_code == 0, res.output
    return repo


def test_tour(tmp_path: Path, imlgit_cli) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "mem"
    res = imlgit_cli("init", str(repo))
    assert res.returncode == 0, res.stderr
    res = imlgit_cli(
        "rule",
        "add",
        "--title",
        "Overseas parcels ship by air",
        "--statement",
        "A heavy parcel to an overseas address ships by air.",
        "--scope",
        "shipping",
        "--why",
        "Seen in 5 of 5 shipments.",
        repo=repo,
    )
    assert res.returncode == 0, res.stderr
    add_sha = res.stdout.strip()
    assert len(add_sha) == 40
    res = imlgit_cli("rule", "list", "--json", repo=repo)
    ids = [r["id"] for r in json.loads(res.stdout)]
    assert "r-overseas-parcels-ship-by-air" in ids
    res = imlgit_cli(
        "rule",
        "edit",
        "r-overseas-parcels-ship-by-air",
        "--statement",
        "Heavy overseas parcels ship by sea.",
        "--why",
        "Air is too dear.",
        repo=repo,
    )
    assert res.returncode == 0, res.stderr
    edit_sha = res.stdout.strip()
    res = imlgit_cli("history", "r-overseas-parcels-ship-by-air", "--json", repo=repo)
    hist = json.loads(res.stdout)
    assert [h["sha"] for h in hist] == [edit_sha, add_sha]
    assert hist[0]["rationale"] == "Air is too dear."
    res = imlgit_cli("rollback", edit_sha, "--why", "Sea was a mistake.", repo=repo)
    assert res.returncode == 0, res.stderr
    res = imlgit_cli("rule", "show", "r-overseas-parcels-ship-by-air", repo=repo)
    assert "ships by air" in res.stdout
    res = imlgit_cli("rule", "show", "r-overseas-parcels-ship-by-air", "--at", edit_sha, repo=repo)
    assert "ship by sea" in res.stdout
    res = imlgit_cli("diff", add_sha, edit_sha, repo=repo)
    assert "+Heavy overseas parcels ship by sea." in res.stdout
    res = imlgit_cli("log", "--json", repo=repo)
    assert [c["subject"].split(":")[0] for c in json.loads(res.stdout)] == [
        "rollback",
        "edit",
        "add",
        "init",
    ]
    res = imlgit_cli("check", repo=repo)
    assert res.returncode == 0, res.stderr


def test_write_without_why_is_usage_error(tmp_path: Path) -> None:
    repo = _init(tmp_path)
    for why in ([], ["--why", ""], ["--why", "   "]):
        res = CliRunner().invoke(
            cli, ["--repo", str(repo), "rule", "add", "--title", "T", "--statement", "S", *why]
        )
        assert res.exit_code != 0
        assert "rationale" in str(res.exception) or "rationale" in res.output


def test_errors_are_one_line_and_exit_1(tmp_path: Path, imlgit_cli) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "mem"
    imlgit_cli("init", str(repo))
    res = imlgit_cli("rule", "show", "r-missing", repo=repo)
    assert res.returncode == 1 and res.stderr.strip() == "Error: rule not found: 'r-missing'"
    res = imlgit_cli("rule", "show", "../../etc/passwd", repo=repo)
    assert res.returncode == 1 and "unsafe rule id" in res.stderr
    assert "Traceback" not in res.stderr
    res = imlgit_cli("log", "no-such-rev", repo=repo)
    assert res.returncode == 1 and "revision not found" in res.stderr
    res = imlgit_cli("log", repo=tmp_path)
    assert res.returncode == 1 and "not an imlgit memory" in res.stderr
    res = imlgit_cli("rule", "add", "--bogus", repo=repo)
    assert res.returncode == 2


def test_edit_with_bad_file_leaves_repo_unchanged(tmp_path: Path, imlgit_cli) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "mem"
    imlgit_cli("init", str(repo))
    before = imlgit_cli("log", "--json", repo=repo).stdout
    bad = tmp_path / "bad.md"
    bad.write_text(
        "---\nid: r-example-rationale\ntitle: x\nscope: general\nstatus: maybe\n"
        "created: 2026-11-27T00:00:00Z\nupdated: 2026-11-27T00:00:00Z\n---\nS.\n"
    )
    res = imlgit_cli(
        "rule", "edit", "r-example-rationale", "--file", str(bad), "--why", "x", repo=repo
    )
    assert res.returncode == 1 and f"{bad}:5" in res.stderr and "status" in res.stderr
    bad.write_bytes(b"---\nid: r-example-rationale\n\xff\n---\n")
    res = imlgit_cli(
        "rule", "edit", "r-example-rationale", "--file", str(bad), "--why", "x", repo=repo
    )
    assert res.returncode == 1 and "UTF-8" in res.stderr
    assert imlgit_cli("log", "--json", repo=repo).stdout == before


def test_retire_restore_and_list_filters(tmp_path: Path) -> None:
    repo = _init(tmp_path)
    res = run("--repo", str(repo), "rule", "retire", "r-example-rationale", "--why", "Done.")
    assert res.exit_code == 0
    assert run("--repo", str(repo), "rule", "list").output == ""
    listed = json.loads(
        run("--repo", str(repo), "rule", "list", "--status", "all", "--json").output
    )
    assert listed[0]["status"] == "retired"
    res = run("--repo", str(repo), "restore", "r-example-rationale", "--why", "Needed again.")
    assert res.exit_code == 0
    assert "r-example-rationale" in run("--repo", str(repo), "rule", "list").output


def test_branch_commands(tmp_path: Path) -> None:
    repo = _init(tmp_path)
    assert run("--repo", str(repo), "branch", "create", "proposals/x").exit_code == 0
    listed = json.loads(run("--repo", str(repo), "branch", "list", "--json").output)
    assert set(listed) == {"main", "proposals/x"}
    assert run("--repo", str(repo), "branch", "delete", "proposals/x").exit_code == 0


def test_check_json_reports_problems(tmp_path: Path) -> None:
    repo = _init(tmp_path)
    f = tmp_path / "r-x.md"
    f.write_text("---\nid: r-x\n---\n")
    res = CliRunner().invoke(cli, ["--repo", str(repo), "check", "--path", str(f), "--json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["ok"] is False and "r-x.md" in data["problems"][0]


def test_check_reads_the_working_tree_like_a_linter_and_reports_every_problem(
    tmp_path: Path,
) -> None:
    # files a person wrote but has not committed: check (no option) finds each of
    # them; --at HEAD reads only what is committed
    repo = _init(tmp_path)
    rules = repo / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "broken.md").write_text("---\nid: [unclosed\n---\nA statement.\n", encoding="utf-8")
    (rules / "notes.txt").write_text("not a rule\n", encoding="utf-8")
    (rules / "nested").mkdir()
    (rules / "nested" / "empty.md").write_text("", encoding="utf-8")
    res = CliRunner().invoke(cli, ["--repo", str(repo), "check", "--json"])
    assert res.exit_code == 1
    problems = json.loads(res.stdout)["problems"]
    for name in ("rules/broken.md", "rules/notes.txt", "rules/nested/empty.md"):
        assert any(name in p for p in problems), (name, problems)
    at_head = CliRunner().invoke(cli, ["--repo", str(repo), "check", "--at", "HEAD"])
    assert at_head.exit_code == 0, at_head.output


def test_repo_is_taken_after_the_subcommand_too(tmp_path: Path) -> None:
    repo = _init(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["log", "--repo", str(repo)], ["rule", "list", "-C", str(repo)],
                 ["check", "--repo", str(repo)]):  # fmt: skip
        res = CliRunner().invoke(cli, args, env={"IMLGIT_REPO": str(elsewhere)})
        assert res.exit_code == 0, (args, res.output)
    res = CliRunner().invoke(cli, ["rule", "list", "-C", str(repo)])
    assert "r-example-rationale" in res.output


def test_a_form_that_disagrees_with_the_statement_is_refused_by_edit_and_check(
    tmp_path: Path,
) -> None:
    # RULE-FORMAT.md: "A statement must agree with its form, or the rule is refused"
    repo = _init(tmp_path)
    res = CliRunner().invoke(cli, ["--repo", str(repo), "rule", "add", "--id", "r-by-air",
                                   "--title", "Overseas parcels go by air", "--statement",
                                   "When region is overseas, the class is AIR.",
                                   "--why", "A rule by hand."])  # fmt: skip
    assert res.exit_code == 0, res.output
    shown = CliRunner().invoke(cli, ["--repo", str(repo), "rule", "show", "r-by-air"]).output
    form = 'when:\n  - field: region\n    op: "="\n    value: overseas\n'
    head = CliRunner().invoke(cli, ["--repo", str(repo), "log", "--json"]).output
    for then, ok in (("SEA", False), ("AIR", True)):
        f = tmp_path / f"{then}.md"
        f.write_text(shown.replace("sources: []\n", f"sources: []\n{form}then: {then}\n"))
        res = CliRunner().invoke(cli, ["--repo", str(repo), "rule", "edit", "r-by-air",
                                       "--file", str(f), "--why", "Give it a form."])  # fmt: skip
        if ok:
            assert res.exit_code == 0, res.output
        else:
            assert res.exit_code != 0 and "does not say what when/then do" in str(
                res.exception or res.output
            )
            after = CliRunner().invoke(cli, ["--repo", str(repo), "log", "--json"]).output
            assert after == head, "nothing was written"
            lint = tmp_path / "draft" / "rules" / "r-by-air.md"
            lint.parent.mkdir(parents=True)
            lint.write_text(f.read_text())
            bad = CliRunner().invoke(cli, ["--repo", str(repo), "check", "--path", str(lint)])
            assert bad.exit_code == 1 and "does not say what when/then do" in bad.output



def test_check_names_an_unreadable_rule_file_instead_of_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file the user cannot read (simulated: these tests may run as root, who reads all)
    repo = _init(tmp_path)
    f = repo / "rules" / "locked.md"
    f.parent.mkdir(exist_ok=True)
    f.write_text("---\n---\n", encoding="utf-8")
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.md":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    res = CliRunner().invoke(cli, ["--repo", str(repo), "check"])
    assert res.exit_code == 1, res.output
    assert "rules/locked.md" in res.output and "cannot be read" in res.output


def test_a_statement_edit_that_contradicts_the_form_is_refused(tmp_path: Path) -> None:
    # rule edit --statement on a checkable rule: the new statement must still say
    # what when/then do, or the edit would commit a file no reader accepts
    repo = _init(tmp_path)
    base = ["--repo", str(repo)]
    assert CliRunner().invoke(cli, [*base, "rule", "add", "--id", "r-by-air", "--title", "Air",
                                    "--statement", "When region is overseas, the class is AIR.",
                                    "--why", "A rule by hand."]).exit_code == 0  # fmt: skip
    shown = CliRunner().invoke(cli, [*base, "rule", "show", "r-by-air"]).output
    f = tmp_path / "form.md"
    form = 'when:\n  - field: region\n    op: "="\n    value: overseas\nthen: AIR\n'
    f.write_text(shown.replace("sources: []\n", f"sources: []\n{form}"))
    assert CliRunner().invoke(cli, [*base, "rule", "edit", "r-by-air", "--file", str(f),
                                    "--why", "Give it a form."]).exit_code == 0  # fmt: skip
    head = CliRunner().invoke(cli, [*base, "log", "--json"]).output
    res = CliRunner().invoke(cli, [*base, "rule", "edit", "r-by-air", "--statement",
                                   "Parcels go by boat.", "--why", "Reword."])  # fmt: skip
    assert res.exit_code != 0
    assert CliRunner().invoke(cli, [*base, "log", "--json"]).output == head
    assert CliRunner().invoke(cli, [*base, "check"]).exit_code == 0
