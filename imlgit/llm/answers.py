"""A model's JSON answer: found in its text, checked against a schema, retried with the
error shown to the model (:func:`complete_json_via`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import LLMOutputError
from .base import (
    JsonAnswer,
    Messages,
    Usage,
    Validator,
    log,
)

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

    # the shallowest first (a list's own "more than N items" before its items'
    # errors): the model is shown the first few, and the hand-written checker
    # reported the container before what is inside it
    errors = sorted(
        Draft202012Validator(schema).iter_errors(value), key=lambda e: len(e.absolute_path)
    )
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


