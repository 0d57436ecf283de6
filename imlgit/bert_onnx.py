"""The BERT encoder of :mod:`imlgit.minilm` as an ONNX graph, run by onnxruntime.

Why: one 40-token query took 7-10 ms with numpy, about twice the time its matrix
products alone take (``bench/embed_bench.py``): six layers of elementwise passes
(GELU, layer norms, softmax) each go through memory once per numpy call.
onnxruntime fuses them, packs the weights once for its own matrix kernels, and runs
the same forward pass in about half the time, giving the same vectors (a test
compares them with numpy's and sentence-transformers').

The graph is written here, not with the ``onnx`` package: ``import onnx`` takes
0.6-1.0 s (``ml_dtypes`` alone 0.67 s, ``python -X importtime -c "import onnx"``),
more than the whole cold start of ``imlgit recall``, and only a dozen message types
of ONNX's protobuf schema are needed. The weights are not in the graph: they are
handed to onnxruntime from the arrays already in memory (``add_external_
initializers``), so the graph is a few kilobytes and nothing is copied or stored.
tests/test_bert_onnx.py parses what is written here with the ``onnx`` package and
checks it with ``onnx.checker``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import EmbedderError

__all__ = ["OnnxEncoder", "available", "graph_bytes"]

# ONNX's protobuf schema (onnx/onnx.proto): the field numbers written here
_FLOAT, _INT64 = 1, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # AttributeProto.AttributeType
_OPSET = 17  # LayerNormalization is in the default domain from opset 17
_IR_VERSION = 8


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 as protobuf writes it: ten bytes
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, value: bytes | str | int) -> bytes:
    """One field: an int as a varint, bytes or text as a length-delimited value."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _attribute(name: str, value: int | float | Iterable[int]) -> bytes:
    if isinstance(value, float):
        body = _field(1, name) + _varint(2 << 3 | 5) + struct.pack("<f", value)
        return body + _field(20, _ATTR_FLOAT)
    if isinstance(value, int):
        return _field(1, name) + _field(3, value) + _field(20, _ATTR_INT)
    return _field(1, name) + b"".join(_field(8, v) for v in value) + _field(20, _ATTR_INTS)


def _value_info(name: str, elem_type: int, dims: Iterable[int | str]) -> bytes:
    shape = b"".join(
        _field(1, _field(1, d) if isinstance(d, int) else _field(2, d)) for d in dims
    )
    tensor_type = _field(1, elem_type) + _field(2, shape)
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _tensor(name: str, array: np.ndarray, external: bool) -> bytes:
    """A TensorProto: the data inline (small constants) or left to the caller
    (``data_location`` EXTERNAL; onnxruntime takes it from memory)."""
    kind = _FLOAT if array.dtype == np.float32 else _INT64
    body = b"".join(_field(1, int(d)) for d in array.shape) + _field(2, kind) + _field(8, name)
    if external:
        entry = _field(1, "location") + _field(2, "memory")
        return body + _field(13, entry) + _field(14, 1)
    return body + _field(9, np.ascontiguousarray(array).astype("<" + array.dtype.str[1:]).tobytes())


class _Graph:
    """Nodes and initializers as they are added; each node's output a fresh name."""

    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[bytes] = []
        self.external: dict[str, np.ndarray] = {}
        self._count = 0

    def const(self, name: str, array: np.ndarray, external: bool = True) -> str:
        if external:
            self.external[name] = np.ascontiguousarray(array)
        self.initializers.append(_tensor(name, array, external))
        return name

    def op(self, op_type: str, *inputs: str, output: str = "", **attributes: Any) -> str:
        self._count += 1
        out = output or f"t{self._count}"
        body = b"".join(_field(1, i) for i in inputs) + _field(2, out)
        body += _field(3, f"n{self._count}") + _field(4, op_type)
        body += b"".join(_field(5, _attribute(k, v)) for k, v in attributes.items())
        self.nodes.append(body)
        return out


def graph_bytes(
    w: dict[str, np.ndarray], config: dict[str, Any]
) -> tuple[bytes, dict[str, np.ndarray]]:
    """The serialized ONNX model of the encoder in ``w`` (the packed layers of
    :func:`imlgit.minilm._pack`) and the arrays onnxruntime is to take its weights
    from. Inputs: ``ids``, ``types`` (batch x tokens, int64), ``positions`` (tokens,
    int64), ``bias`` (batch x 1 x 1 x tokens, float32: 0 for a token, the lowest
    float for padding); output ``hidden`` (batch x tokens x hidden size)."""
    eps = float(config.get("layer_norm_eps", 1e-12))
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    g = _Graph()
    small: dict[str, np.ndarray] = {
        "split_heads": np.array([0, 0, 3, heads, hidden // heads], dtype=np.int64),
        "join_heads": np.array([0, 0, hidden], dtype=np.int64),
        "half": np.array(0.5, dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "root_half": np.array(1.0 / math.sqrt(2.0), dtype=np.float32),
    }
    small.update((f"index{j}", np.array(j, dtype=np.int64)) for j in range(3))
    for name, array in small.items():
        g.const(name, array, external=False)

    def norm(x: str, name: str, weight: np.ndarray, bias: np.ndarray) -> str:
        return g.op("LayerNormalization", x, g.const(name, weight), g.const(name + "_bias", bias),
                    axis=-1, epsilon=eps)  # fmt: skip

    def dense(x: str, prefix: str) -> str:
        return g.op("Add", g.op("MatMul", x, g.const(prefix, w[prefix])),
                    g.const(prefix + "_bias", w[prefix + "_bias"]))  # fmt: skip

    e = "embeddings."
    x = g.op("Add", g.op("Gather", g.const(e + "word", w[e + "word_embeddings.weight"]), "ids"),
             g.op("Gather", g.const(e + "position", w[e + "position_embeddings.weight"]),
                  "positions"))  # fmt: skip
    x = g.op("Add", x, g.op("Gather", g.const(e + "type", w[e + "token_type_embeddings.weight"]),
                            "types"))  # fmt: skip
    x = norm(x, e + "ln", w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"])
    for n in range(int(config["num_hidden_layers"])):
        p = f"packed.{n}."
        qkv = g.op("Transpose", g.op("Reshape", dense(x, p + "qkv"), "split_heads"),
                   perm=[2, 0, 3, 1, 4])  # fmt: skip  # 3 x batch x heads x tokens x size
        q, k, v = (g.op("Gather", qkv, f"index{j}", axis=0) for j in range(3))
        scores = g.op("Add", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), "bias")
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), "join_heads")
        x = norm(g.op("Add", dense(ctx, p + "attn_out"), x), p + "ln1", w[p + "ln1"],
                 w[p + "ln1_bias"])  # fmt: skip
        h = dense(x, p + "inter")  # gelu(h) = h/2 (1 + erf(h / sqrt 2)), exactly
        erf = g.op("Erf", g.op("Mul", h, "root_half"))
        gelu = g.op("Mul", g.op("Mul", h, "half"), g.op("Add", erf, "one"))
        x = norm(g.op("Add", dense(gelu, p + "out"), x), p + "ln2", w[p + "ln2"],
                 w[p + "ln2_bias"])  # fmt: skip
    g.op("Identity", x, output="hidden")
    inputs = [
        _value_info("ids", _INT64, ["batch", "tokens"]),
        _value_info("types", _INT64, ["batch", "tokens"]),
        _value_info("positions", _INT64, ["tokens"]),
        _value_info("bias", _FLOAT, ["batch", 1, 1, "tokens"]),
    ]
    graph = b"".join(_field(1, node) for node in g.nodes) + _field(2, "bert")
    graph += b"".join(_field(5, t) for t in g.initializers)
    graph += b"".join(_field(11, i) for i in inputs)
    graph += _field(12, _value_info("hidden", _FLOAT, ["batch", "tokens", hidden]))
    model = _field(1, _IR_VERSION) + _field(2, "imlgit") + _field(7, graph)
    model += _field(8, _field(1, "") + _field(2, _OPSET))
    return model, g.external


def available() -> bool:
    """Whether onnxruntime is installed (found, not imported: that takes 0.2 s)."""
    import importlib.util

    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # a module set to None, or without a spec
        return False


class OnnxEncoder:
    """One onnxruntime session over the encoder: :meth:`hidden` is the encoder of
    :meth:`imlgit.minilm.BertEncoder._forward`, before pooling, run by onnxruntime."""

    def __init__(self, w: dict[str, np.ndarray], config: dict[str, Any]) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise EmbedderError(f"onnxruntime is not importable ({exc})") from exc
        model, arrays = graph_bytes(w, config)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: a library does not print
        names = list(arrays)
        # the OrtValues share the arrays' memory: they are kept alive with the session
        self._arrays = arrays
        options.add_external_initializers(
            names, [ort.OrtValue.ortvalue_from_numpy(arrays[n]) for n in names]
        )
        try:
            self._session = ort.InferenceSession(
                model, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own classes
            raise EmbedderError(f"onnxruntime cannot run the encoder: {exc}") from exc

    def hidden(self, ids: np.ndarray, types: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """The last layer's token vectors (batch x tokens x hidden) of one padded batch;
        ``bias`` as :func:`graph_bytes` takes it."""
        feeds = {"ids": ids, "types": types, "bias": bias,
                 "positions": np.arange(ids.shape[1], dtype=np.int64)}  # fmt: skip
        (x,) = self._session.run(["hidden"], feeds)
        return np.asarray(x)
