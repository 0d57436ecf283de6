"""imlgit.llm without a server: the schema check, JSON extraction, the retry loop
(through FakeChat, which runs the real loop) and settings precedence."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes import FakeChat

from imlgit.errors import ConfigError, LLMError, LLMOutputError
from imlgit.llm import (
    ChatModel,
    EmbeddedServer,
    LLMSettings,
    OpenAIChat,
    chat_from,
    check_schema,
    extract_json,
    schema_errors,
    settings_from,
)

RULE_SCHEMA = {
    "type": "object",
    "properties": {
        "rules": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "minLength": 3, "maxLength": 20},
                    "support": {"type": "integer"},
                    "status": {"enum": ["active", "retired"]},
                },
                "required": ["title", "support"],
                "additionalProperties": False,
            },
        },
        "why": {"type": ["string", "null"]},
    },
    "required": ["rules"],
}

ANSWER = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
ASK = [{"role": "user", "content": "What is the answer?"}]


# ------------------------------------------------------------------ schema


def test_schema_accepts_a_valid_value():
    value = {"rules": [{"title": "abc", "support": 2, "status": "active"}], "why": None}
    assert schema_errors(value, RULE_SCHEMA) == []
    check_schema(value, RULE_SCHEMA)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], "$: expected object, got array"),
        ({}, "$.rules: required but missing"),
        ({"rules": "x"}, "$.rules: expected array, got string"),
        ({"rules": [{"title": "ab", "support": 1}]}, "$.rules[0].title: shorter than 3"),
        ({"rules": [{"title": "a" * 21, "support": 1}]}, "$.rules[0].title: longer than 20"),
        ({"rules": [{"title": "abc", "support": True}]}, "$.rules[0].support: expected integer"),
        ({"rules": [{"title": "abc", "support": 1.5}]}, "$.rules[0].support: expected integer"),
        ({"rules": [{"title": "abc"}]}, "$.rules[0].support: required but missing"),
        ({"rules": [{"title": "abc", "support": 1, "x y": 0}]}, '$.rules[0]["x y"]: not allowed'),
        ({"rules": [{"title": "abc", "support": 1, "status": "on"}]}, '"on" is not one of'),
        ({"rules": [{"title": "abc", "support": 1}] * 4}, "$.rules: more than 3 items"),
        ({"rules": [], "why": 3}, "$.why: expected string or null, got integer"),
    ],
)
def test_schema_errors_name_the_path(value, expected):
    errors = schema_errors(value, RULE_SCHEMA)
    assert any(expected in e for e in errors), errors
    with pytest.raises(ValueError, match=r"\$"):
        check_schema(value, RULE_SCHEMA)


def test_schema_numbers_anyof_and_extra_property_schemas():
    assert schema_errors(3, {"type": "number", "minimum": 0, "maximum": 5}) == []
    assert schema_errors(2.0, {"type": "integer"}) == []
    assert schema_errors(6, {"type": "number", "maximum": 5}) == ["$: greater than the maximum 5"]
    either = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert schema_errors("x", either) == []
    assert schema_errors([], either) == ["$: matches none of the allowed forms"]
    typed_extra = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert schema_errors({"a": "x"}, typed_extra) == ["$.a: expected integer, got string"]


# ------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ('Sure! Here it is:\n```\n{"a": {"b": [1, 2]}}\n```\nAnything else?', {"a": {"b": [1, 2]}}),
        ('The set {x, y} matters. Answer: {"a": "}"} and {"b": 2}', {"a": "}"}),
        ('<think>maybe {"a": 0}?</think>{"a": 2}', {"a": 2}),
        ('[{"a": 3}]', {"a": 3}),
    ],
)
def test_extract_json_finds_the_first_object(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "no json here", "{not json}", '["a", 1]'])
def test_extract_json_without_an_object_raises(text):
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json(text)


@pytest.mark.parametrize("text", ['{"a": 1', '{"a": {"b": 2}, "c": "}'])
def test_extract_json_of_a_cut_off_object_says_so(text):
    with pytest.raises(ValueError, match="cut off"):
        extract_json(text)


# ------------------------------------------------------------------ the retry loop


def test_valid_answer_on_the_first_attempt():
    chat = FakeChat({"answer": "42"})
    answer = chat.complete_json(ASK, ANSWER, name="answer")
    assert answer.data == {"answer": "42"}
    assert answer.raw == '{"answer": "42"}'
    assert answer.attempts == 1
    assert (answer.prompt_tokens, answer.completion_tokens) == (4, 2)
    assert chat.calls[0].name == "answer" and chat.calls[0].schema is ANSWER
    assert chat.calls[0].messages == ASK


def test_invalid_answer_is_retried_with_the_error():
    chat = FakeChat("I think it is 42.", {"answer": 42}, '```json\n{"answer": "42"}\n```')
    answer = chat.complete_json(ASK, ANSWER, name="answer")
    assert answer.data == {"answer": "42"}
    assert answer.attempts == 3
    assert len(chat.calls) == 1 and len(chat.requests) == 3
    second, third = chat.requests[1], chat.requests[2]
    assert second[:1] == ASK
    assert second[1] == {"role": "assistant", "content": "I think it is 42."}
    assert "no JSON object" in second[2]["content"] and second[2]["role"] == "user"
    assert "$.answer: expected string, got integer" in third[-1]["content"]
    assert ASK == [{"role": "user", "content": "What is the answer?"}]  # caller's list untouched


def test_validate_callback_errors_are_retried():
    def only_even(data):
        if int(data["answer"]) % 2:
            raise ValueError("$.answer must be even")

    chat = FakeChat({"answer": "41"}, {"answer": "42"})
    answer = chat.complete_json(ASK, ANSWER, name="answer", validate=only_even)
    assert answer.data == {"answer": "42"} and answer.attempts == 2
    assert "must be even" in chat.requests[1][-1]["content"]


def test_retries_exhausted_raise_llm_output_error_with_the_raw_text():
    chat = FakeChat("nope", "still nope", '{"wrong": 1}', retries=2)
    with pytest.raises(LLMOutputError) as info:
        chat.complete_json(ASK, ANSWER, name="induce")
    assert info.value.raw == '{"wrong": 1}'
    assert "induce" in str(info.value) and "3 attempt" in str(info.value)
    assert "$.answer: required but missing" in str(info.value)
    assert isinstance(info.value, LLMError)


def test_no_retries_means_one_attempt():
    chat = FakeChat("nope", {"answer": "late"}, retries=0)
    with pytest.raises(LLMOutputError):
        chat.complete_json(ASK, ANSWER, name="answer")
    assert chat.pending == 1


def test_endpoint_errors_propagate_without_retry():
    chat = FakeChat(LLMError("http://x/v1 answered HTTP 500"), {"answer": "never"})
    with pytest.raises(LLMError, match="HTTP 500"):
        chat.complete_json(ASK, ANSWER, name="answer")
    assert chat.pending == 1


def test_an_endpoint_error_during_a_retry_propagates():
    chat = FakeChat("nope", LLMError("timed out"))
    with pytest.raises(LLMError, match="timed out") as info:
        chat.complete_json(ASK, ANSWER, name="answer")
    assert not isinstance(info.value, LLMOutputError)


def test_fake_chat_text_and_running_dry():
    chat = FakeChat().enqueue("hello", {"a": 1})
    assert isinstance(chat, ChatModel)
    assert chat.complete_text(ASK) == "hello"
    assert chat.complete_text(ASK) == '{"a": 1}'
    assert chat.calls[0].schema is None
    with pytest.raises(AssertionError, match="no answer enqueued"):
        chat.complete_text(ASK)


# ------------------------------------------------------------------ settings


def test_no_endpoint_anywhere_means_embedded():
    assert settings_from(None, {}) is None
    assert settings_from({"model": "m"}, {"IMLGIT_BASE_URL": ""}) is None


def test_settings_from_config():
    config = {"base_url": "http://h/v1/", "model": "m", "api_key": "k", "timeout": 5, "retries": 0}
    s = settings_from(config, {})
    assert s == LLMSettings(base_url="http://h/v1", model="m", api_key="k", timeout=5.0, retries=0)


def test_environment_overrides_config():
    config = {"base_url": "http://config/v1", "model": "cm", "api_key": "ck", "timeout": 5}
    env = {"OPENAI_BASE_URL": "http://openai/v1", "OPENAI_API_KEY": "ok"}
    s = settings_from(config, env)
    assert s is not None
    assert (s.base_url, s.model, s.api_key, s.timeout) == ("http://openai/v1", "cm", "ok", 5.0)
    env |= {
        "IMLGIT_BASE_URL": "http://imlgit/v1",
        "IMLGIT_MODEL": "im",
        "IMLGIT_API_KEY": "ik",
        "IMLGIT_LLM_TIMEOUT": "7.5",
    }
    s = settings_from(config, env)
    assert s is not None
    assert (s.base_url, s.model, s.api_key, s.timeout) == ("http://imlgit/v1", "im", "ik", 7.5)


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({"base_url": "http://h/v1"}, {}, "no model"),
        ({}, {"OPENAI_BASE_URL": "http://h/v1"}, "OPENAI_BASE_URL"),
        ({"model": "m"}, {"IMLGIT_BASE_URL": "u", "IMLGIT_LLM_TIMEOUT": "soon"}, "LLM_TIMEOUT"),
        ({"model": "m"}, {"IMLGIT_BASE_URL": "u", "IMLGIT_LLM_TIMEOUT": "0"}, "greater than 0"),
        ({"base_url": "u", "model": "m", "retries": -1}, {}, "retries: must be at least 0"),
    ],
)
def test_bad_settings_raise_config_error(config, env, message):
    with pytest.raises(ConfigError, match=message):
        settings_from(config, env)


def test_chat_from_a_configured_endpoint_builds_no_connection():
    chat = chat_from({"model": "gpt-4o-mini"}, {"IMLGIT_BASE_URL": "https://api.openai.com/v1"})
    assert isinstance(chat, OpenAIChat) and isinstance(chat, ChatModel)
    assert chat.identity == "openai-compatible:gpt-4o-mini@https://api.openai.com/v1"
    assert not chat._box  # the client is created on first use
    chat.close()


def test_importing_llm_stays_cheap():
    code = "import sys, imlgit.llm; print(sorted({'openai', 'xllamacpp'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_embedded_server_errors_are_llm_errors(tmp_path):
    server = EmbeddedServer(tmp_path / "missing.gguf")
    with pytest.raises(LLMError, match="not running"):
        _ = server.base_url
    with pytest.raises(LLMError, match="not found"):
        server.start()
    server.stop()
    assert not server.running


def test_a_cut_off_answer_is_not_mistaken_for_a_nested_object() -> None:
    from imlgit.llm import extract_json

    cut = '{"candidates": [{"title": "t", "statement": "s"}, {"title": "u", "stat'
    with pytest.raises(ValueError, match="cut off"):
        extract_json(cut)
    assert extract_json('prose {"a": 1} more') == {"a": 1}
