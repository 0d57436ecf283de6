"""A corpus of malformed rule files and experience files (tests/corpus/): each is
refused with an error naming the file and the line, through the parser and the CLI,
and the memory repository is left as it was."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from imlgit.errors import ExperienceError, RuleError
from imlgit.experience import MAX_LINE_BYTES, load_jsonl
from imlgit.rules import parse_rule

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, object]] = json.loads((CORPUS / "expected.json").read_text())
RULE_FILES = sorted(k for k in EXPECTED if k.startswith("rules/"))
EXPERIENCE_FILES = sorted(k for k in EXPECTED if k.startswith("experiences/"))
Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_the_manifest_lists_every_corpus_file() -> None:
    # tests/corpus/mcp/ has a manifest and a test of its own (test_mcp_corpus.py)
    on_disk = {
        p.relative_to(CORPUS).as_posix()
        for folder in ("rules", "experiences")
        for p in CORPUS.joinpath(folder).glob("*")
        if p.is_file()
    }
    assert on_disk == set(EXPECTED)
    assert len(RULE_FILES) >= 25 and len(EXPERIENCE_FILES) >= 15


def _assert_located(exc: RuleError | ExperienceError, rel: str) -> None:
    want = EXPECTED[rel]
    name = Path(rel).name
    assert exc.path is not None and exc.path.endswith(name)
    assert exc.line == want["line"], str(exc)
    assert str(exc).startswith(f"{exc.path}:{exc.line}: "), str(exc)
    assert str(want["says"]) in str(exc), str(exc)


@pytest.mark.parametrize("rel", RULE_FILES)
def test_each_malformed_rule_file_is_refused_with_file_and_line(rel: str) -> None:
    path = CORPUS / rel
    with pytest.raises(RuleError) as info:
        parse_rule(path.read_bytes(), path=str(path))
    _assert_located(info.value, rel)


@pytest.mark.parametrize("rel", EXPERIENCE_FILES)
def test_each_malformed_experience_file_is_refused_with_file_and_line(rel: str) -> None:
    path = CORPUS / rel
    with pytest.raises(ExperienceError) as info:
        load_jsonl(path)
    _assert_located(info.value, rel)
    # Skipping invalid lines keeps the good first line and names the bad one.
    loaded = load_jsonl(path, skip_invalid=True)
    assert [line for line, _ in loaded.skipped] == [EXPECTED[rel]["line"]]


def test_a_line_over_one_mebibyte_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"scope": "s", "input": "' + b"[" * MAX_LINE_BYTES + b'"}\n')
    with pytest.raises(ExperienceError, match="longer than") as info:
        load_jsonl(path)
    assert info.value.line == 1 and info.value.path == str(path)


# ---------------------------------------------------------------------- the CLI


def _snapshot(repo: Path) -> dict[str, bytes]:
    """Refs, HEAD, the work tree and the journal: what a refused command must not touch."""
    git = repo / ".git"
    files = [git / "HEAD", git / "packed-refs", *git.joinpath("refs").rglob("*")]
    files += [p for p in repo.rglob("*") if ".git" not in p.relative_to(repo).parts]
    files += list(git.joinpath("imlgit").glob("journal*"))
    return {str(p): p.read_bytes() for p in files if p.is_file()}


@pytest.fixture
def repo(tmp_path: Path, imlgit_cli: Cli) -> Path:
    path = tmp_path / "mem"
    assert imlgit_cli("init", str(path), "--no-hooks").returncode == 0
    made = imlgit_cli(
        "rule", "add", "--id", "r-corpus", "--title", "Glimmer without tansy is VESPER",
        "--statement", "When glimmer is yes and tansy is no, the class is VESPER.",
        "--why", "a rule for the corpus to replace", repo=path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return path


def _refused(out: subprocess.CompletedProcess[str], rel: str) -> None:
    assert out.returncode == 1, (rel, out.stdout, out.stderr)
    assert "unexpected" not in out.stderr
    assert f"{Path(rel).name}:{EXPECTED[rel]['line']}:" in out.stderr, out.stderr


CLI_RULES = [
    "rules/complex-key.md",
    "rules/deep-flow.md",
    "rules/long-int.md",
    "rules/billion-laughs.md",
    "rules/id-trailing-newline.md",
    "rules/nul-in-body.md",
    "rules/not-utf8.md",
]
CLI_EXPERIENCES = [
    "experiences/duplicate-key.jsonl",
    "experiences/deep-array.jsonl",
    "experiences/lone-surrogate.jsonl",
    "experiences/id-trailing-newline.jsonl",
    "experiences/not-utf8.jsonl",
]


@pytest.mark.slow
def test_rule_edit_file_refuses_the_corpus_and_writes_nothing(repo: Path, imlgit_cli: Cli) -> None:
    before = _snapshot(repo)
    for rel in CLI_RULES:
        out = imlgit_cli("rule", "edit", "r-corpus", "--file", str(CORPUS / rel), "--why", "x",
                         repo=repo)  # fmt: skip
        _refused(out, rel)
    assert _snapshot(repo) == before


@pytest.mark.slow
def test_learn_refuses_the_corpus_and_writes_nothing(repo: Path, imlgit_cli: Cli) -> None:
    before = _snapshot(repo)
    for rel in CLI_EXPERIENCES:
        _refused(imlgit_cli("learn", str(CORPUS / rel), repo=repo), rel)
    assert _snapshot(repo) == before


def test_check_names_every_corpus_rule_file(repo: Path, imlgit_cli: Cli) -> None:
    before = _snapshot(repo)
    args = [a for rel in RULE_FILES for a in ("--path", str(CORPUS / rel))]
    out = imlgit_cli("check", *args, repo=repo)
    assert out.returncode == 1 and "unexpected" not in out.stderr
    for rel in RULE_FILES:
        assert f"{Path(rel).name}:{EXPECTED[rel]['line']}:" in out.stderr, (rel, out.stderr)
    assert _snapshot(repo) == before
