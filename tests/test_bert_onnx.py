"""The encoder as an ONNX graph run by onnxruntime (issue 17, warm recall): the graph
imlgit writes by hand is what the ``onnx`` package reads and checks, the vectors are
numpy's (and so sentence-transformers'), and ``auto`` runs a process's first query
with numpy and the rest with onnxruntime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_minilm import TEXTS

from imlgit.bert_onnx import graph_bytes
from imlgit.embed import embedder_from, packaged_model_path
from imlgit.errors import EmbedderError
from imlgit.minilm import BertEncoder

onnx = pytest.importorskip("onnx")  # a dev dependency: the reader to check the writer against


@pytest.fixture(scope="module")
def weights() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    _, w, config = BertEncoder(packaged_model_path(), "all-MiniLM-L6-v2", engine="numpy")._load()
    return w, config


@pytest.mark.slow
def test_the_hand_written_graph_is_valid_onnx(weights: tuple[dict[str, Any], dict[str, Any]]):
    from onnx import numpy_helper

    w, config = weights
    model_bytes, external = graph_bytes(w, config)
    assert len(model_bytes) < 50_000  # the weights are not in the graph
    model = onnx.load_from_string(model_bytes)
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("LayerNormalization") == 13 and ops.count("Erf") == 6
    assert ops.count("MatMul") == 6 * 6 and ops[-1] == "Identity"
    norm = next(n for n in model.graph.node if n.op_type == "LayerNormalization")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in norm.attribute}
    assert attrs["axis"] == -1 and abs(attrs["epsilon"] - 1e-12) < 1e-15  # a negative varint
    perm = next(n for n in model.graph.node if n.op_type == "Transpose").attribute[0]
    assert list(perm.ints) == [2, 0, 3, 1, 4]
    # with the external weights put inline, onnx's own checker (shapes inferred) accepts it
    for tensor in model.graph.initializer:
        if tensor.name in external:
            tensor.CopyFrom(numpy_helper.from_array(external[tensor.name], tensor.name))
    onnx.checker.check_model(model, full_check=True)
    assert {t.name for t in model.graph.initializer} >= set(external)
    word = next(t for t in model.graph.initializer if t.name == "embeddings.word")
    assert list(word.dims) == list(w["embeddings.word_embeddings.weight"].shape)


@pytest.mark.slow
def test_onnxruntime_gives_numpy_s_vectors() -> None:
    numpy_run = BertEncoder(packaged_model_path(), "all-MiniLM-L6-v2", batch_size=3,
                            engine="numpy")  # fmt: skip
    onnx_run = BertEncoder(packaged_model_path(), "all-MiniLM-L6-v2", batch_size=3,
                           engine="onnxruntime")  # fmt: skip
    a, b = numpy_run.embed(TEXTS), onnx_run.embed(TEXTS)
    assert onnx_run.ran_with == "onnxruntime" and numpy_run.ran_with == "numpy"
    assert a.shape == b.shape and b.dtype == np.float32
    assert np.abs(a - b).max() < 1e-5  # numpy's are within 1e-4 of sentence-transformers'
    assert np.abs(onnx_run.embed([TEXTS[3]])[0] - b[3]).max() < 1e-5  # alone as in a batch
    assert onnx_run.identity == numpy_run.identity


@pytest.mark.slow
def test_auto_runs_the_first_queries_with_numpy_and_the_rest_with_onnxruntime() -> None:
    auto = embedder_from({"runtime": "auto"})
    assert isinstance(auto, BertEncoder)
    first = [auto.embed([f"question {i}"]) for i in range(64)]
    assert auto.ran_with == "numpy" and auto._onnx is None  # a short process never starts it
    later = auto.embed(["question 0"])
    assert auto.ran_with == "onnxruntime"
    assert np.abs(first[0] - later).max() < 1e-5
    batch = embedder_from({})  # a first call of many texts (building an index) takes onnxruntime
    batch.embed([f"text {i}" for i in range(65)])
    assert batch.ran_with == "onnxruntime"
    server = embedder_from({})  # a long-lived process prepares it at start
    assert isinstance(server, BertEncoder)
    server.prepare()
    server.embed(["the first question"])
    assert server.ran_with == "onnxruntime"
    numpy_only = embedder_from({"runtime": "numpy"})
    assert isinstance(numpy_only, BertEncoder)
    numpy_only.prepare()
    numpy_only.embed(["q"] * 100)
    assert numpy_only.ran_with == "numpy"


@pytest.mark.slow
def test_without_onnxruntime_auto_runs_numpy_and_the_explicit_runtime_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    auto = embedder_from({})
    assert isinstance(auto, BertEncoder)
    auto.prepare()
    auto.embed(["one"] * 100)
    assert auto.ran_with == "numpy"
    explicit = embedder_from({"runtime": "onnxruntime"})
    with pytest.raises(EmbedderError, match="onnxruntime is not importable"):
        explicit.embed(["one"])
    with pytest.raises(EmbedderError, match="runtime onnxruntime runs the packaged"):
        embedder_from({"model": "org/some-hub-model", "runtime": "onnxruntime"})


@pytest.mark.slow
def test_onnxruntime_session_prints_nothing() -> None:
    code = (
        "from imlgit.embed import embedder_from\n"
        "e = embedder_from({'runtime': 'onnxruntime'})\n"
        "e.embed(['a question'] * 3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "" and out.stderr == ""


@pytest.mark.slow
def test_a_warmed_memory_answers_its_first_recall_with_onnxruntime(tmp_path: Path) -> None:
    from conftest import PERSON

    from imlgit.memory import Memory
    from imlgit.store import Store

    Store.init(tmp_path / "m", author=PERSON)
    mem = Memory.open(tmp_path / "m", env={})
    mem.warm()
    hits = mem.recall("a rationale")
    assert hits and hits[0].rule.id == "r-example-rationale"
    assert isinstance(mem.embedder, BertEncoder) and mem.embedder.ran_with == "onnxruntime"
