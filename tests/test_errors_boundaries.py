"""Bad input at a public function is an imlgit error naming where and what, never a
TypeError or AttributeError from deep inside (issue 19): each case here escaped as
one before."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PERSON, commit_policy
from fakes import FakeChat, HashEmbedder

from imlgit import ConfigError, ExperienceError, Memory
from imlgit.scan import scan_text
from imlgit.store import Store


def test_a_scan_allow_pattern_that_is_not_text_is_a_config_error() -> None:
    # was TypeError from re.compile ("first argument must be string or compiled pattern")
    with pytest.raises(ConfigError, match=r"\[scan\] allow: 5 is not a string"):
        scan_text("mail ada@corp.io", allow=[5])


def test_learning_from_json_objects_not_experiences_is_an_experience_error(tmp_path: Path) -> None:
    # was AttributeError ("'dict' object has no attribute 'id'") from privacy.screen
    store = Store.init(tmp_path / "m", author=PERSON)
    commit_policy(store, "auto")
    mem = Memory.open(tmp_path / "m", env={"IMLGIT_POLICY": "auto"}, chat=FakeChat(),
                      embedder=HashEmbedder())  # fmt: skip
    head = store.head()
    exp = {"scope": "s", "input": "x", "output": "y", "outcome": {"reward": 1}}
    with pytest.raises(ExperienceError, match="experience 1: an Experience, got dict"):
        mem.learn([exp])
    assert Store.open(tmp_path / "m").head() == head  # nothing written
