"""The per-rule history index (history.jsonl) checked against git: damaged files are
rebuilt with a warning, ``verify`` (``imlgit history RULE --verify``) finds a
well-formed lie, says what differed and repairs it (issue 14)."""

from __future__ import annotations

import json
import logging
import zlib
from pathlib import Path

import pytest
from conftest import PERSON

from imlgit.commits import CommitMessage
from imlgit.rules import Rule, new_rule_path
from imlgit.store import Store

T = "2026-11-27T08:00:00Z"


def put(store: Store, rid: str, statement: str) -> str:
    rule = Rule(id=rid, title=f"Title of {rid}", statement=statement, created=T, updated=T)
    msg = CommitMessage.make("edit", f"write {rid}", f"Because {statement}", rules=[rid])
    return store.put_rule(rule, msg, author=PERSON)


@pytest.fixture
def two(memory: Store) -> tuple[Store, list[str]]:
    """A memory where r-a was changed by two commits (newest first) and r-b by one."""
    a1 = put(memory, "r-a", "one")
    put(memory, "r-b", "other")
    a2 = put(memory, "r-a", "two")
    return memory, [a2, a1]


def history_file(store: Store) -> Path:
    return store.derived_dir / "history.jsonl"


def shas(store: Store, rid: str = "r-a") -> list[str]:
    return [c.sha for c in Store.open(store.path).history(rid)]


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [r.getMessage() for r in caplog.records
             if r.name == "imlgit" and r.levelno == logging.WARNING]
    caplog.clear()
    return found


def rewrite(store: Store, edit: object) -> None:
    """Apply ``edit(record) -> record`` to every line and write the file back, with
    checksums a hand edit would not update (the old ones)."""
    out = []
    for line in history_file(store).read_bytes().splitlines():
        rec = json.loads(line)
        rec = edit(rec)  # type: ignore[operator]
        out.append(json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode())
    history_file(store).write_bytes(b"\n".join(out) + b"\n")


def forge(store: Store, edit: object) -> None:
    """Like :func:`rewrite`, with the checksums recomputed: a lie only git can show."""
    out = []
    for line in history_file(store).read_bytes().splitlines():
        rec = json.loads(line)
        rec.pop("h")
        rec = edit(rec)  # type: ignore[operator]
        body = json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode()
        out.append(body[:-1] + b',"h":"%08x"}' % zlib.crc32(body))
    history_file(store).write_bytes(b"\n".join(out) + b"\n")


def drop_path(path: str) -> object:
    def edit(rec: dict) -> dict:  # type: ignore[type-arg]
        rec["f"] = [p for p in rec["f"] if p != path]
        return rec

    return edit


def test_a_hand_edited_line_is_caught_and_rebuilt(
    two: tuple[Store, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    store, expected = two
    assert shas(store) == expected
    rewrite(store, drop_path(new_rule_path("r-a")))  # the issue: history showed 0 of 2 commits
    assert shas(store) == expected
    assert any("checksum" in w for w in warnings_logged(caplog))
    assert shas(store) == expected and warnings_logged(caplog) == []  # repaired for good


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2] + b"\n" + data[len(data) // 2 :],  # a line cut
        lambda data: data.replace(b'"c":"', b'"c":"\xff\xfe', 1),  # not UTF-8
        lambda data: data + data.splitlines(keepends=True)[0].replace(b'"t":', b'"t":1'),
        lambda data: b"\x00" * 40 + b"\n" + data,
        lambda data: data.splitlines(keepends=True)[0].replace(b"one", b"eno") + data,
    ],
    ids=["truncated-line", "non-utf8", "rival-duplicate", "garbage", "edited-message"],
)
def test_damaged_files_are_rebuilt_with_a_warning(
    two: tuple[Store, list[str]], caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    store, expected = two
    shas(store)
    data = history_file(store).read_bytes()
    history_file(store).write_bytes(damage(data))  # type: ignore[operator]
    got = Store.open(store.path).history("r-a")
    assert [c.sha for c in got] == expected
    assert [c.rationale for c in got] == ["Because two", "Because one"]
    assert warnings_logged(caplog)
    assert shas(store) == expected and warnings_logged(caplog) == []


def test_an_identical_duplicate_is_harmless(
    two: tuple[Store, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    store, expected = two
    shas(store)
    data = history_file(store).read_bytes()
    history_file(store).write_bytes(data + data)  # two processes recorded the same commits
    assert shas(store) == expected and warnings_logged(caplog) == []


def test_a_record_naming_a_commit_git_does_not_have_is_caught(
    two: tuple[Store, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    store, expected = two
    shas(store)
    ghost = "0123456789abcdef0123456789abcdef01234567"

    def retarget(rec: dict) -> dict:  # type: ignore[type-arg]
        if rec["c"] == expected[0]:
            rec["p"] = [ghost]
        return rec

    forge(store, retarget)
    assert shas(store) == expected
    assert any(ghost[:12] in w for w in warnings_logged(caplog))
    # The last record names a commit that is not there (another repo's file, say).
    last = json.loads(history_file(store).read_bytes().splitlines()[-1])["c"]
    forge(store, lambda rec: {**rec, "c": ghost} if rec["c"] == last else rec)
    assert shas(store) == expected
    assert any("last record" in w for w in warnings_logged(caplog))


def test_verify_finds_a_well_formed_lie_and_repairs_it(
    two: tuple[Store, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    store, expected = two
    shas(store)
    forge(store, drop_path(new_rule_path("r-a")))
    assert shas(store) == []  # a lie with valid checksums: only git can tell
    check = Store.open(store.path).verify_history("r-a")
    assert not check.ok and check.missing == expected and check.extra == []
    assert warnings_logged(caplog)
    assert shas(store) == expected and shas(store, "r-b") != []
    again = Store.open(store.path).verify_history("r-a")
    assert again.ok and again.actual == expected and warnings_logged(caplog) == []


def test_verify_reports_an_extra_commit_and_a_changed_message(
    two: tuple[Store, list[str]]
) -> None:
    store, expected = two
    shas(store)
    b = shas(store, "r-b")[0]

    def lie(rec: dict) -> dict:  # type: ignore[type-arg]
        if rec["c"] == b:
            rec["f"] = [*rec["f"], new_rule_path("r-a")]
        if rec["c"] == expected[0]:
            rec["m"] = rec["m"].replace("Because two", "Because I say so")
        return rec

    forge(store, lie)
    check = Store.open(store.path).verify_history("r-a")
    assert check.extra == [b] and check.changed == [expected[0]] and check.missing == []
    assert Store.open(store.path).history("r-a")[0].rationale == "Because two"


def test_cli_history_verify(two: tuple[Store, list[str]], imlgit_cli: object) -> None:
    store, expected = two
    shas(store)
    forge(store, drop_path(new_rule_path("r-a")))
    out = imlgit_cli("history", "r-a", "--verify", repo=store.path)  # type: ignore[operator]
    assert out.returncode == 0, out.stderr
    assert f"missing from the index: {expected[0][:12]}" in out.stderr
    assert "repaired" in out.stderr
    assert out.stdout.count("Because") == 2
    out = imlgit_cli("history", "r-a", "--verify", repo=store.path)  # type: ignore[operator]
    assert "verified" in out.stderr and out.stdout.count("Because") == 2
