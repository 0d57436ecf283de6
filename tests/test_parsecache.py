"""The parsed-rule cache on disk (issue 17): a new process reads the rules the last
one parsed instead of parsing every file again; a corrupt, planted or missing cache
is rebuilt with a warning and never changes an answer."""

from __future__ import annotations

import logging
import pickle
import random
from pathlib import Path

import pytest
from conftest import PERSON
from test_rule_cache import checkable

from imlgit import parsecache
from imlgit.commits import CommitMessage
from imlgit.rulefiles import read_rules
from imlgit.rules import render_rule
from imlgit.store import Store


def memory(tmp_path: Path, n: int = 100) -> Path:
    rng = random.Random(5)
    store = Store.init(tmp_path / "m", author=PERSON)
    rules = [checkable(f"r-{i}", rng) for i in range(n)]
    store.commit({store.path_for(r): render_rule(r).encode() for r in rules},
                 CommitMessage.make("add", "add", "Rules."), author=PERSON)  # fmt: skip
    store.close()
    return tmp_path / "m"


def fresh(path: Path) -> dict[str, object]:
    store = Store.open(path)
    try:
        return {rid: r.to_dict() for rid, r in read_rules(store).rules.items()}
    finally:
        store.close()


def test_a_second_process_reads_what_the_first_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = memory(tmp_path)
    want = fresh(path)  # parses every file, and writes the cache
    cache = Store.open(path).derived_dir / parsecache.FILE
    assert cache.is_file()
    import imlgit.store.rulefiles as store_module

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rule file was parsed again")

    monkeypatch.setattr(store_module, "parse_rule", no_parsing)
    assert fresh(path) == want


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip", "garbage", "planted", "empty"],
)
def test_a_damaged_cache_is_rebuilt_with_a_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = memory(tmp_path)
    want = fresh(path)
    cache = Store.open(path).derived_dir / parsecache.FILE
    data = cache.read_bytes()
    header, digest, payload = data.split(b"\n", 2)
    if damage == "truncate":
        cache.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        cache.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    elif damage == "garbage":
        cache.write_bytes(b"\x00\xff" * 100)
    elif damage == "planted":  # a valid checksum over a payload that would run code
        import hashlib

        evil = pickle.dumps(print, protocol=4)
        cache.write_bytes(header + b"\n" + hashlib.sha256(evil).hexdigest().encode() + b"\n" + evil)
    else:
        cache.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="imlgit"):
        assert fresh(path) == want
    assert any("parsed-rule cache" in r.getMessage() for r in caplog.records)
    # rebuilt: the next process uses it again, quietly
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="imlgit"):
        assert fresh(path) == want
    assert not any("parsed-rule cache" in r.getMessage() for r in caplog.records)
    assert cache.read_bytes().split(b"\n", 1)[0] == header


def test_a_missing_cache_is_made_again(tmp_path: Path) -> None:
    path = memory(tmp_path)
    want = fresh(path)
    cache = Store.open(path).derived_dir / parsecache.FILE
    cache.unlink()
    assert fresh(path) == want and cache.is_file()
