"""The usage log is derived data: a bad line is skipped with a located warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import PERSON, Clock

from imlgit import hygiene
from imlgit.store import Store


def test_a_garbled_usage_log_is_skipped_line_by_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.init(tmp_path / "m", author=PERSON, clock=Clock())
    usage = store.derived_dir / "usage.jsonl"
    good = json.dumps({"retrieved": ["r-a", "r-b"], "cited": ["r-a"]}).encode()
    usage.write_bytes(
        good
        + b"\n\xff\xfe not utf-8\n"  # line 2
        + b"[" * 100_000  # line 3: deeper than json.loads can recurse
        + b"\n"
        + json.dumps({"retrieved": "r-a", "cited": []}).encode()  # line 4: not a list
        + b"\n"
        + good
        + b"\n"
        + b'{"retrieved": ["r-'  # line 6: torn
    )
    with caplog.at_level(logging.WARNING, logger="imlgit"):
        retrieved, cited = hygiene.usage_counts(store)
    assert retrieved == {"r-a": 2, "r-b": 2} and cited == {"r-a": 2}
    warned = [r.getMessage() for r in caplog.records]
    for line in (2, 3, 4, 6):
        assert any(f"usage.jsonl:{line}:" in m for m in warned), (line, warned)
    assert len(warned) == 4
