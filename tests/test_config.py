"""Settings: defaults, imlgit.toml, environment, flags; and that they agree with the engine."""

from __future__ import annotations

import re

import pytest

from imlgit.config import load_settings, person_identity
from imlgit.errors import ConfigError
from imlgit.learn import LearnSettings
from imlgit.resources import template_dir


def test_template_toml_documents_the_defaults() -> None:
    """The template's commented values (outside [model], whose values are examples)
    are the real defaults, so the file a user reads does not lie."""
    import tomllib

    text = (template_dir() / "imlgit.toml").read_text()
    assert load_settings(text).values == load_settings(None).values
    defaults = load_settings(None)
    section = None
    checked = 0
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[] ")
        elif line.startswith("# ") and " = " in line and section not in (None, "model"):
            key_value = line[2:].split("  #")[0].split(" #")[0]
            parsed = tomllib.loads(key_value)
            for key, value in parsed.items():
                assert defaults.get(section, key) == value, f"[{section}] {key}"
                checked += 1
    assert checked >= 7


def test_learning_defaults_agree_with_the_engine() -> None:
    s = load_settings(None)
    engine = LearnSettings()
    assert s.get("learn", "momentum") == engine.momentum
    assert s.get("learn", "min_precision") == engine.min_precision
    assert s.get("learn", "min_coverage") == engine.min_coverage


def test_precedence_flag_env_file_default() -> None:
    toml = '[model]\nbase_url = "http://file"\nmodel = "m-file"\n'
    s = load_settings(toml, env={"OPENAI_BASE_URL": "http://openai", "IMLGIT_MODEL": "m-env"})
    assert s.get("model", "base_url") == "http://openai" and s.get("model", "model") == "m-env"
    s = load_settings(toml, env={"IMLGIT_BASE_URL": "http://imlgit", "OPENAI_BASE_URL": "http://o"})
    assert s.get("model", "base_url") == "http://imlgit"
    s = load_settings(toml, env={}, flags={("model", "model"): "m-flag"})
    assert s.get("model", "model") == "m-flag" and s.sources["model.model"] == "flag"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[nope]\nx = 1\n", "unknown section"),
        ("[learn]\nbatch = 'x'\n", "number"),
        ("[learn]\nlearner = 'magic'\n", "one of"),
        ("[learn]\nbogus = 1\n", "unknown setting"),
        ("[learn\n", "imlgit.toml"),
    ],
)
def test_bad_settings_name_where(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(text)


def test_person_identity_is_never_the_learner() -> None:
    assert person_identity({"IMLGIT_AUTHOR": "Ada <ada@example.org>"}).email == "ada@example.org"
    with pytest.raises(ConfigError):
        person_identity({"IMLGIT_AUTHOR": "x <learner@imlgit.invalid>"})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[scan]\nallow = ["("]\n', "invalid pattern '('"),
        ("[scan]\nallow = [3]\n", "not a string"),
        ('[scan]\nallow = "x"\n', "wrong type"),
        ('[review]\npolicy = "yolo"\n', "must be one of manual, gated, auto"),
        ('[review]\nmax_rules = "many"\n', "must be a number"),
    ],
)
def test_review_and_scan_settings_are_checked(toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(toml, env={})


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000,
        "[learn]\nbatch = " + "9" * 5000,
        "a = {" * 5000,
        "x" * 1_000_001,
        "\x00",
    ],
    ids=["deep-array", "huge-int", "deep-table", "huge", "nul"],
)
def test_any_toml_is_a_located_config_error(text: str) -> None:
    """A 100,000-deep array or a 5,000-digit integer raised RecursionError / ValueError."""
    with pytest.raises(ConfigError, match="^mem/imlgit.toml: "):
        load_settings(text, env={}, where="mem/imlgit.toml")


def test_every_setting_the_code_reads_is_accepted() -> None:
    """max_tokens, temperature, max_retries and the embedder's device and batch_size
    were read by the code and refused by the configuration."""
    from imlgit.llm import settings_from

    text = (
        '[model]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\nmax_tokens = 256\n'
        "temperature = 0.5\nmax_retries = 0\n"
        '[embedder]\ndevice = "cpu"\nbatch_size = 8\nruntime = "sentence-transformers"\n'
    )
    s = load_settings(text, env={})
    llm = settings_from(s.section("model"), {})
    assert llm is not None
    assert (llm.max_tokens, llm.temperature, llm.max_retries) == (256, 0.5, 0)
    assert s.get("embedder", "batch_size") == 8 and s.get("embedder", "device") == "cpu"
    from imlgit.embed import embedder_from

    emb = embedder_from(s.section("embedder"))
    assert emb.batch_size == 8 and emb.device == "cpu"  # type: ignore[attr-defined]
