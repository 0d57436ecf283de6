"""Test doubles shared by the test suite, named as what they are.

They are passed in where a real backend would be; nothing is monkeypatched.

- :class:`FakeChat`: a scripted :class:`imlgit.llm.ChatModel`.
- :class:`HashEmbedder`: a deterministic :class:`imlgit.embed.Embedder` (hashed words).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from imlgit.bench.embedders import hashed_vectors
from imlgit.llm import JsonAnswer, Messages, Usage, Validator, complete_json_via

__all__ = ["FakeCall", "FakeChat"]


@dataclass
class FakeCall:
    """One call of complete_json (schema and name set) or complete_text (both None)."""

    messages: Messages
    schema: dict[str, Any] | None
    name: str | None


Answer = dict[str, Any] | str | BaseException


class FakeChat:
    """A ChatModel that answers from a script.

    ``enqueue(*answers)`` appends answers, consumed one per request (a retry is
    a request): a dict is answered as its JSON text, a str as itself (raw, so it
    may be invalid on purpose), an exception instance is raised (e.g. LLMError
    for a timeout or an HTTP 500). complete_json runs the real parse, validate
    and retry loop of imlgit.llm. ``calls`` records each call, ``requests`` the
    messages of every request, retries included. Running out of answers fails
    the test with AssertionError.
    """

    def __init__(self, *answers: Answer, retries: int = 2, identity: str = "fake:scripted") -> None:
        self.identity = identity
        self.retries = retries
        self.calls: list[FakeCall] = []
        self.grammars: list[dict[str, Any] | None] = []  # the response_format schemas
        self.requests: list[Messages] = []
        self._script: deque[Answer] = deque(answers)

    def enqueue(self, *answers: Answer) -> FakeChat:
        self._script.extend(answers)
        return self

    @property
    def pending(self) -> int:
        """Answers enqueued and not used yet."""
        return len(self._script)

    def complete_json(
        self,
        messages: Messages,
        schema: dict[str, Any],
        *,
        name: str,
        validate: Validator | None = None,
        grammar: dict[str, Any] | None = None,
    ) -> JsonAnswer:
        self.grammars.append(grammar)
        self.calls.append(FakeCall([dict(m) for m in messages], schema, name))
        return complete_json_via(
            self._send, messages, schema, name=name, validate=validate, retries=self.retries
        )

    def complete_text(self, messages: Messages) -> str:
        self.calls.append(FakeCall([dict(m) for m in messages], None, None))
        return self._send(messages)[0]

    def _send(self, messages: Messages) -> tuple[str, Usage]:
        self.requests.append([dict(m) for m in messages])
        if not self._script:
            last = messages[-1]["content"] if messages else ""
            raise AssertionError(f"FakeChat: no answer enqueued for a request ending {last!r:.80}")
        answer = self._script.popleft()
        if isinstance(answer, BaseException):
            raise answer
        raw = json.dumps(answer) if isinstance(answer, dict) else answer
        # Deterministic stand-ins for token counts: words in and out.
        prompt = sum(len(m.get("content", "").split()) for m in messages)
        return raw, Usage(prompt, len(raw.split()))


class HashEmbedder:
    """An Embedder that hashes word tokens into a ``dim``-d vector (signed counts, normalised).

    Deterministic and instant; texts that share words score higher, so retrieval
    tests still mean something. ``calls`` records every batch it was asked to embed.
    """

    def __init__(self, dim: int = 64, identity: str | None = None) -> None:
        self.dim = dim
        self.identity = identity or f"hash:{dim}"
        self.calls: list[list[str]] = []

    @property
    def texts_embedded(self) -> int:
        return sum(len(batch) for batch in self.calls)

    def embed(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        self.calls.append(texts)
        return hashed_vectors(texts, self.dim, pairs=False)


__all__ += ["HashEmbedder"]
