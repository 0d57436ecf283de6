"""The OpenAI-compatible client: any endpoint the ``openai`` package talks to."""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any
from urllib.parse import urlsplit

from ..errors import LLMError
from .answers import (
    complete_json_via,
)
from .base import (
    JsonAnswer,
    LLMSettings,
    Messages,
    Usage,
    Validator,
    log,
)

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


