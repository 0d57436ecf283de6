"""all-MiniLM-L6-v2 without torch: the same model, run with numpy or onnxruntime.

Why: a cold ``imlgit recall`` spent about 7 s importing sentence-transformers
(torch 2.9 s, transformers 1.2 s, scipy 0.8 s) to embed one short query. The model
is a 6-layer BERT encoder (hidden size 384, 12 heads) followed by mean pooling and
L2 normalisation; this module runs exactly that forward pass on the packaged
weights (``safetensors``), with the packaged tokenizer (``tokenizers``, the Rust
library transformers itself uses), so it loads in a fraction of a second and gives
the vectors sentence-transformers gives, to within 1e-4 per component (a test
compares them on the real model). ``bench/embed_bench.py`` times both.

The forward pass runs with numpy, or as an ONNX graph with onnxruntime
(:mod:`imlgit.bert_onnx`: the same arithmetic in about half the time per query, but
0.3 s more to start: importing onnxruntime and preparing its session). ``engine``
``auto`` (the default) embeds a process's first 64 texts with numpy and everything
after them with onnxruntime: a one-question ``imlgit recall`` starts as fast as numpy
allows, a batch (building an index) takes onnxruntime at once, and a long-lived
process (the MCP server, ``Memory.warm``) prepares onnxruntime when it starts.
Without onnxruntime, everything runs with numpy.

Only a plain BERT sentence-transformers directory is run here: modules Transformer,
Pooling (mean) and optionally Normalize, a BERT config with absolute positions and
the ``gelu`` activation. Anything else raises :class:`EmbedderError` at load, and
:func:`imlgit.embed.embedder_from` uses sentence-transformers for it.
"""

from __future__ import annotations

import json
import math
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EmbedderError

__all__ = ["ENGINES", "BertEncoder", "runnable"]

_MAX_TOKENS_DEFAULT = 256
ENGINES = ("auto", "numpy", "onnxruntime")
_NUMPY_UP_TO = 64  # under ``auto``, a process's first this many texts are embedded with numpy


_ERF = [np.float32(c) for c in (0.3275911, 1.061405429, -1.453152027, 1.421413741,
                                 -0.284496736, 0.254829592)]  # fmt: skip


def _erf(x: np.ndarray) -> np.ndarray:
    """erf by Abramowitz and Stegun 7.1.26 (absolute error at most 1.5e-7, below
    float32's resolution of the activations); numpy has no erf, and scipy costs
    most of a second to import."""
    p, a5, a4, a3, a2, a1 = _ERF
    # |x| capped at 6, where erf is 1 to float32 precision: exp(-x*x) of a larger |x|
    # is a denormal float, and denormal arithmetic is tens of times slower on x86
    a = np.abs(x)
    np.minimum(a, np.float32(6.0), out=a)
    t = a * p
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * a5  # Horner's rule in place: no temporary arrays
    for coef in (a4, a3, a2, a1):
        poly += coef
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1.0, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's gelu: x * Phi(x), with the exact (erf) normal CDF."""
    e = _erf(x * np.float32(1.0 / math.sqrt(2.0)))
    e += 1.0
    e *= x
    e *= 0.5
    return e


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    d = x - x.mean(axis=-1, keepdims=True)
    var = np.square(d).mean(axis=-1, keepdims=True)
    var += eps
    d /= np.sqrt(var)
    d *= w
    d += b
    return d


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EmbedderError(f"cannot read {path}: {exc}") from exc


def runnable(path: Path) -> str | None:
    """Why the sentence-transformers directory ``path`` cannot be run here, or None."""
    modules = _read_json(path / "modules.json")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        return f"modules {kinds} are not Transformer, Pooling (, Normalize)"
    pooling_dir = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
    pooling = _read_json(path / pooling_dir.get("path", "") / "config.json")
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        return f"pooling {modes} is not mean pooling"
    config = _read_json(path / "config.json")
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        return "the transformer is not a BERT encoder with gelu"
    if config.get("position_embedding_type", "absolute") != "absolute":
        return "positions are not absolute"
    for name in ("model.safetensors", "tokenizer.json"):
        if not (path / name).is_file():
            return f"{name} is missing"
    return None


class BertEncoder:
    """A BERT sentence encoder (all-MiniLM-L6-v2 by default) run without torch:
    with numpy, onnxruntime, or both (``engine``, one of :data:`ENGINES`; see the
    module's docstring).

    ``identity`` is the model's, as :class:`imlgit.embed.SentenceTransformerEmbedder`
    gives it: the vectors are the same model's, so an index built by either serves
    the other."""

    def __init__(self, path: Path, name: str, batch_size: int = 64, engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise EmbedderError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.path = Path(path)
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self.engine = engine
        self._lock = threading.Lock()
        self._loaded: tuple[Any, dict[str, np.ndarray], dict[str, Any]] | None = None
        self._dim: int | None = None
        self._texts = 0  # embedded so far
        self._onnx: Any = None  # the OnnxEncoder once made; False when it cannot be
        self._prepare_lock = threading.Lock()
        self.ran_with: str | None = None  # the engine of the last call

    def __repr__(self) -> str:
        return f"BertEncoder({str(self.path)!r}, engine={self.engine!r})"

    @property
    def identity(self) -> str:
        return f"sentence-transformers:{self.name}:{self.dim}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(_read_json(self.path / "config.json")["hidden_size"])
        return self._dim

    def _load(self) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
        with self._lock:
            if self._loaded is None:
                why = runnable(self.path)
                if why is not None:
                    raise EmbedderError(f"{self.path} cannot run without torch: {why}")
                try:
                    from safetensors.numpy import load_file
                    from tokenizers import Tokenizer
                except ImportError as exc:
                    raise EmbedderError(
                        f"{exc}; install imlgit with its dependencies (tokenizers, safetensors)"
                    ) from exc
                try:
                    weights = load_file(str(self.path / "model.safetensors"))
                    tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                except Exception as exc:  # a corrupt file: say which
                    raise EmbedderError(f"cannot load the model at {self.path}: {exc}") from exc
                config = dict(_read_json(self.path / "config.json"))
                st = self.path / "sentence_bert_config.json"
                limit = _read_json(st).get("max_seq_length") if st.is_file() else None
                limit = min(
                    int(limit or _MAX_TOKENS_DEFAULT), int(config["max_position_embeddings"])
                )
                config["max_tokens"] = limit
                tok.no_padding()
                tok.enable_truncation(max_length=limit)
                weights = {k.removeprefix("bert."): v for k, v in weights.items()}
                self._loaded = (tok, _pack(weights, config), config)
            return self._loaded

    def _onnx_encoder(self, texts: int) -> Any:
        """The onnxruntime encoder this call runs on, or None for numpy.

        Under ``auto``: numpy until the process has embedded :data:`_NUMPY_UP_TO`
        texts; the call that passes that number prepares onnxruntime (0.3 s, once)
        and runs on it, as does every call after. Preparing costs about what
        onnxruntime saves on 64 one-text queries, so a process never pays more than
        twice what knowing its future would have cost (the rent-or-buy argument); a
        long-lived process calls :meth:`prepare` when it starts."""
        self._texts += texts
        if self.engine == "numpy" or self._onnx is False:
            return None
        if self._onnx is None and (self.engine == "onnxruntime" or self._texts > _NUMPY_UP_TO):
            self.prepare()
        return self._onnx or None

    def prepare(self) -> None:
        """Load the model and make the onnxruntime session now, not on a later call
        (a server does this at start). Nothing to make under ``numpy``."""
        self._load()
        if self.engine != "numpy":
            self._prepare()

    def _prepare(self) -> None:
        """Make the onnxruntime session (once); under ``auto`` a failure is a
        warning and numpy goes on (without onnxruntime installed, quietly), under
        ``onnxruntime`` it is raised."""
        from .bert_onnx import OnnxEncoder, available

        with self._prepare_lock:
            if self._onnx is not None:
                return
            if self.engine == "auto" and not available():
                self._onnx = False
                return
            _, w, config = self._load()
            try:
                self._onnx = OnnxEncoder(w, config)
            except EmbedderError as exc:
                if self.engine == "onnxruntime":
                    raise
                warnings.warn(f"{exc}; embedding with numpy", stacklevel=2)
                self._onnx = False

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tok, w, config = self._load()
        onnx = self._onnx_encoder(len(texts))
        self.ran_with = "numpy" if onnx is None else "onnxruntime"
        try:
            encodings = tok.encode_batch(texts)
        except Exception as exc:
            raise EmbedderError(f"tokenizing for {self.name} failed: {exc}") from exc
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        for at in range(0, len(order), self.batch_size):
            chunk = order[at : at + self.batch_size]
            width = len(encodings[chunk[0]].ids)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            types = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                e = encodings[i]
                n = len(e.ids)
                ids[row, :n] = e.ids
                types[row, :n] = e.type_ids
                mask[row, :n] = 1.0
            if onnx is None:
                out[chunk] = self._forward(w, config, ids, types, mask)
            else:
                out[chunk] = _mean_pooled(onnx.hidden(ids, types, _padding_bias(mask)), mask)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    @staticmethod
    def _forward(
        w: dict[str, np.ndarray],
        config: dict[str, Any],
        ids: np.ndarray,
        types: np.ndarray,
        mask: np.ndarray,
    ) -> np.ndarray:
        """The encoder on one padded batch, mean-pooled (not yet normalised).

        ``w`` holds the packed layers of :func:`_pack` (query, key and value in one
        matrix, every matrix laid out input by output), so a layer is four GEMMs."""
        eps = float(config.get("layer_norm_eps", 1e-12))
        heads = int(config["num_attention_heads"])
        batch, width = ids.shape
        hidden = int(config["hidden_size"])
        size = hidden // heads
        x = w["embeddings.word_embeddings.weight"][ids]
        x += w["embeddings.position_embeddings.weight"][:width][None]
        x += w["embeddings.token_type_embeddings.weight"][types]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        x = x.reshape(batch * width, hidden)
        bias = _padding_bias(mask)
        for n in range(int(config["num_hidden_layers"])):
            p = f"packed.{n}."
            qkv = x @ w[p + "qkv"]  # (tokens, 3 * hidden); the query scaled in _pack
            qkv += w[p + "qkv_bias"]
            qkv = qkv.reshape(batch, width, 3, heads, size).transpose(2, 0, 3, 1, 4)
            scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(batch * width, hidden)
            out = ctx @ w[p + "attn_out"]
            out += w[p + "attn_out_bias"]
            out += x
            x = _layer_norm(out, w[p + "ln1"], w[p + "ln1_bias"], eps)
            h = x @ w[p + "inter"]
            h += w[p + "inter_bias"]
            out = _gelu(h) @ w[p + "out"]
            out += w[p + "out_bias"]
            out += x
            x = _layer_norm(out, w[p + "ln2"], w[p + "ln2_bias"], eps)
        return _mean_pooled(x.reshape(batch, width, hidden), mask)


def _padding_bias(mask: np.ndarray) -> np.ndarray:
    """What attention adds to its scores (batch x 1 x 1 x tokens): 0 for a token, the
    lowest float for padding, so a padded position gets no weight."""
    return ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]


def _mean_pooled(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each text's token vectors (``x``: batch x tokens x hidden), padding
    left out; not yet normalised."""
    summed = np.einsum("bwh,bw->bh", x, mask)
    counts = np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    return (summed / counts).astype(np.float32)


def _pack(w: dict[str, np.ndarray], config: dict[str, Any]) -> dict[str, np.ndarray]:
    """The encoder's weights laid out for :meth:`BertEncoder._forward`: each layer's
    query, key and value matrices joined into one (one GEMM instead of three; the
    query and its bias pre-scaled by 1/sqrt(head size), which scales the scores
    exactly as dividing them would, up to float rounding), every matrix transposed to
    input by output and contiguous. Measured on one 40-token query
    (``bench/embed_bench.py``): fewer, larger GEMMs and no per-call transposes."""
    heads = int(config["num_attention_heads"])
    scale = np.float32(1.0 / math.sqrt(int(config["hidden_size"]) // heads))
    out = {k: v for k, v in w.items() if k.startswith("embeddings.")}
    for n in range(int(config["num_hidden_layers"])):
        p, q = f"encoder.layer.{n}.", f"packed.{n}."
        att = p + "attention."
        out[q + "qkv"] = np.ascontiguousarray(np.concatenate([
            w[att + "self.query.weight"] * scale, w[att + "self.key.weight"],
            w[att + "self.value.weight"]]).T)  # fmt: skip
        out[q + "qkv_bias"] = np.concatenate([
            w[att + "self.query.bias"] * scale, w[att + "self.key.bias"],
            w[att + "self.value.bias"]])  # fmt: skip
        for short, name in (("attn_out", att + "output.dense"), ("inter", p + "intermediate.dense"),
                            ("out", p + "output.dense")):  # fmt: skip
            out[q + short] = np.ascontiguousarray(w[name + ".weight"].T)
            out[q + short + "_bias"] = w[name + ".bias"]
        for short, name in (("ln1", att + "output.LayerNorm"), ("ln2", p + "output.LayerNorm")):
            out[q + short] = w[name + ".weight"]
            out[q + short + "_bias"] = w[name + ".bias"]
    return out
