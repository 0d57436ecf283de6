"""Chat models in the benchmarks: which one, what it costs, and how its answers are read.

- :func:`bench_chat`: the endpoint given (``base_url`` + ``model``), else the one
  configured in the environment (``IMLGIT_BASE_URL`` ...), else the embedded
  llama.cpp server with SmolLM2-135M (:func:`imlgit.llm.chat_from`).
- :class:`MeteredChat`: any :class:`~imlgit.llm.ChatModel`, counting calls, failed
  answers and tokens. Tokens are what the server reports (``usage``). On an
  :class:`~imlgit.llm.OpenAIChat` every request is counted, retries and answers
  that never validated included; on other chat models the counts are those of
  the validated answers (:class:`~imlgit.llm.JsonAnswer` sums its attempts).
- :func:`match_class`: a free-text answer read as one of the classes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from ..errors import ConfigError, LLMError
from ..experience import Experience
from ..llm import ChatModel, JsonAnswer, LLMSettings, Messages, OpenAIChat, Usage, Validator
from ..rules import Rule

__all__ = [
    "MeteredChat",
    "Meter",
    "bench_chat",
    "endpoint_configured",
    "episodic_answer",
    "input_text",
    "is_embedded",
    "match_class",
    "model_learner",
    "rules_answer",
]


def input_text(value: str | Mapping[str, Any]) -> str:
    """An input as text, the way ``Memory.ask`` words a structured question."""
    if isinstance(value, str):
        return value
    return ", ".join(f"{k} = {v}" for k, v in value.items())


def endpoint_configured(base_url: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Whether a model endpoint is given or configured (else the embedded model is used)."""
    from ..llm import settings_from

    return bool(base_url) or settings_from(None, env) is not None


def bench_chat(
    base_url: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    *,
    timeout: float | None = None,
) -> ChatModel:
    """The chat model of a benchmark run (see the module docstring); with ``base_url``
    and no ``api_key``, the key comes from IMLGIT_API_KEY or OPENAI_API_KEY."""
    if base_url:
        env = os.environ
        api_key = api_key or env.get("IMLGIT_API_KEY") or env.get("OPENAI_API_KEY") or None
        if not model:
            raise ConfigError("a model endpoint (--base-url) needs a model name (--model)")
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        return OpenAIChat(LLMSettings(base_url.rstrip("/"), model, api_key, **extra))
    from ..llm import chat_from

    return chat_from(None)


def is_embedded(chat: ChatModel) -> bool:
    return chat.identity.startswith("embedded:")


@dataclass
class Meter:
    """Counts of one chat model's use."""

    calls: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def copy(self) -> Meter:
        return Meter(self.calls, self.failed, self.prompt_tokens, self.completion_tokens)

    def since(self, before: Meter) -> Meter:
        return Meter(
            self.calls - before.calls,
            self.failed - before.failed,
            self.prompt_tokens - before.prompt_tokens,
            self.completion_tokens - before.completion_tokens,
        )


class _RequestMeteredChat(OpenAIChat):
    """An OpenAIChat that adds every request's usage to a meter (retries included)."""

    def __init__(self, settings: LLMSettings, *, identity: str, meter: Meter) -> None:
        super().__init__(settings, identity=identity)
        self.meter = meter

    def _request(self, messages: Messages, fmt: dict[str, Any] | None) -> tuple[str, Usage]:
        text, usage = super()._request(messages, fmt)
        self.meter.prompt_tokens += usage.prompt_tokens
        self.meter.completion_tokens += usage.completion_tokens
        return text, usage


class MeteredChat:
    """A ChatModel that counts calls, failed answers and tokens (see the module docstring)."""

    def __init__(self, chat: ChatModel) -> None:
        self.meter = Meter()
        self.identity = chat.identity
        self.per_request = isinstance(chat, OpenAIChat) and hasattr(OpenAIChat, "_request")
        self.inner: ChatModel = chat
        if self.per_request:
            assert isinstance(chat, OpenAIChat)
            metered = _RequestMeteredChat(chat.settings, identity=chat.identity, meter=self.meter)
            metered.response_format_mode = chat.response_format_mode
            self.inner = metered

    def complete_json(
        self,
        messages: Messages,
        schema: dict[str, Any],
        *,
        name: str,
        validate: Validator | None = None,
        grammar: dict[str, Any] | None = None,
    ) -> JsonAnswer:
        self.meter.calls += 1
        try:
            answer = self.inner.complete_json(
                messages, schema, name=name, validate=validate, grammar=grammar
            )
        except LLMError:
            self.meter.failed += 1
            raise
        if not self.per_request:
            self.meter.prompt_tokens += answer.prompt_tokens
            self.meter.completion_tokens += answer.completion_tokens
        return answer

    def complete_text(self, messages: Messages) -> str:
        self.meter.calls += 1
        try:
            return self.inner.complete_text(messages)
        except LLMError:
            self.meter.failed += 1
            raise


def model_learner(chat: ChatModel) -> Any:
    """The language-model learner as ``Memory.learner`` makes it: on the embedded
    server (answers capped at 512 tokens) it asks for fewer, shorter candidates."""
    from ..learners.model import ModelLearner

    if is_embedded(chat):
        return ModelLearner(chat, max_candidates=3, max_statement=200)
    return ModelLearner(chat)


_WORD = re.compile(r"[A-Za-z0-9_-]+")


def match_class(answer: str | None, classes: Sequence[str]) -> str | None:
    """The class a free-text answer names: the whole answer, or the one class word in
    it (case-insensitive); None when it names none or several."""
    if not answer:
        return None
    text = answer.strip().strip(".!\"'` ").upper()
    upper = {c.upper(): c for c in classes}
    if text in upper:
        return upper[text]
    words = {w.upper() for w in _WORD.findall(answer)}
    found = [c for u, c in upper.items() if u in words]
    return found[0] if len(found) == 1 else None


def rules_answer(
    chat: ChatModel,
    question: str | dict[str, Any],
    rules: Sequence[Rule],
    *,
    scope: str,
    classes: Sequence[str],
) -> tuple[str | None, str | None]:
    """The model's answer with ``rules`` in its prompt (``prompts/infer.md``, the
    prompt ``imlgit ask`` sends): (the class it names or None, the raw answer or
    None when the call failed)."""
    from ..learners.model import answer_with_model

    try:
        got = answer_with_model(chat, question, rules, scope=scope)
    except LLMError:
        return None, None
    return match_class(got.answer, classes), got.answer


EPISODIC_PROMPT = Template(
    "Answer the question with the help of earlier experiences${scope}: one JSON object "
    "a line, each with an earlier input and the answer that turned out to be right for it.\n"
    "${examples}\n\n"
    "Question:\n${question}\n\n"
    "Answer with one JSON object and nothing else, in this shape:\n"
    '{"answer": "..."}'
)
EPISODIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 1, "maxLength": 200}},
    "required": ["answer"],
    "additionalProperties": False,
}


def episodic_prompt(
    question: str | Mapping[str, Any], examples: Sequence[Experience], *, scope: str
) -> str:
    lines = [
        json.dumps({"input": e.input, "answer": e.label}, ensure_ascii=False, separators=(",", ":"))
        for e in examples
    ]
    text = question if isinstance(question, str) else json.dumps(question, ensure_ascii=False)
    return EPISODIC_PROMPT.substitute(
        scope=f' in scope "{scope}"' if scope else "",
        examples="\n".join(lines) or "(none)",
        question=text,
    )


def episodic_answer(
    chat: ChatModel,
    question: str | dict[str, Any],
    examples: Sequence[Experience],
    *,
    scope: str,
    classes: Sequence[str],
) -> tuple[str | None, str | None]:
    """The model's answer with the retrieved past experiences as few-shot examples:
    (the class it names or None, the raw answer or None when the call failed)."""
    prompt = episodic_prompt(question, examples, scope=scope)

    def validate(data: dict[str, Any]) -> None:
        if not str(data["answer"]).strip():
            raise ValueError("answer: empty")

    try:
        reply = chat.complete_json(
            [{"role": "user", "content": prompt}],
            EPISODIC_SCHEMA,
            name="episodic",
            validate=validate,
        )
    except LLMError:
        return None, None
    raw = str(reply.data["answer"])
    return match_class(raw, classes), raw
