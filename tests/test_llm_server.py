"""The openai client on the wire: against the embedded llama.cpp server, and against
small HTTP servers on 127.0.0.1 that fail in chosen ways."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imlgit.errors import LLMError
from imlgit.llm import EmbeddedServer, LLMSettings, OpenAIChat

pytestmark = pytest.mark.slow

ANSWER = {
    "type": "object",
    "properties": {"answer": {"type": "string", "maxLength": 200}},
    "required": ["answer"],
    "additionalProperties": False,
}
ASK = [
    {"role": "system", "content": 'Reply in JSON: {"answer": "..."}'},
    {"role": "user", "content": "What is the capital of France?"},
]


def _port(base_url: str) -> int:
    return int(base_url.split(":")[2].split("/")[0])


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------ the embedded server


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


@pytest.fixture
def chat(server: EmbeddedServer) -> Iterator[OpenAIChat]:
    settings = LLMSettings(
        base_url=server.base_url, model="SmolLM2-135M-Instruct", retries=3, max_tokens=64
    )
    with OpenAIChat(settings) as client:
        yield client


def test_embedded_server_is_on_loopback(server):
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.load_seconds is not None and server.load_seconds < 60


def test_json_answer_through_the_openai_client(chat):
    answer = chat.complete_json(ASK, ANSWER, name="capital")
    assert isinstance(answer.data["answer"], str) and answer.data["answer"]
    assert 1 <= answer.attempts <= 4
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    assert chat.response_format_mode == "json_schema"  # llama.cpp takes the schema


def test_text_answer(chat):
    assert chat.complete_text([{"role": "user", "content": "Say hello."}]).strip()


def test_stop_frees_the_port():
    with EmbeddedServer() as own:
        port = _port(own.base_url)
        assert not _refused(port)
    assert not own.running and _refused(port)
    own.stop()  # idempotent
    with pytest.raises(LLMError, match="not running"):
        _ = own.base_url


def test_embedded_default_starts_and_stops_with_the_process():
    # A proxy in the environment must not catch loopback traffic.
    dead = "http://127.0.0.1:9"
    env = dict(os.environ, HTTP_PROXY=dead, http_proxy=dead, ALL_PROXY=dead, NO_PROXY="")
    code = (
        "from imlgit.llm import chat_from\n"
        "chat = chat_from({}, {})\n"
        "print(chat.identity)\n"
        "chat.complete_text([{'role': 'user', 'content': 'Hi'}])\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "embedded:SmolLM2-135M-Instruct"
    assert done.stderr == ""


# ------------------------------------------------------------------ failing endpoints


Reply = Callable[[BaseHTTPRequestHandler, dict], None]


@pytest.fixture
def stub() -> Iterator[Callable[[Reply], tuple[str, list[dict]]]]:
    """Start an HTTP server on 127.0.0.1 answering POSTs with ``reply``; returns its
    base_url and the list of JSON bodies it received."""
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
    release = threading.Event()

    def start(reply: Reply) -> tuple[str, list[dict]]:
        bodies: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                bodies.append(body)
                try:
                    reply(self, body)
                except OSError:  # the client gave up first
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}/v1", bodies

    start.release = release  # type: ignore[attr-defined]
    yield start
    release.set()
    for httpd, thread in started:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _completion(content: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }


def _settings(base_url: str, **kw) -> LLMSettings:
    return LLMSettings(base_url=base_url, model="stub", max_retries=0, retries=1, **kw)


def test_http_500_is_an_llm_error(stub):
    base_url, bodies = stub(lambda h, body: _send(h, 500, {"error": {"message": "boom"}}))
    began = time.monotonic()
    with OpenAIChat(_settings(base_url)) as chat, pytest.raises(LLMError) as info:
        chat.complete_json(ASK, ANSWER, name="answer")
    assert time.monotonic() - began < 5
    assert "HTTP 500" in str(info.value) and base_url in str(info.value)
    assert len(bodies) == 1


def test_a_server_slower_than_the_timeout_is_an_llm_error(stub):
    def slow(handler, body):
        stub.release.wait(10)
        _send(handler, 200, _completion('{"answer": "late"}'))

    base_url, _ = stub(slow)
    began = time.monotonic()
    with OpenAIChat(_settings(base_url, timeout=0.3)) as chat, pytest.raises(LLMError) as info:
        chat.complete_json(ASK, ANSWER, name="answer")
    assert time.monotonic() - began < 5
    assert "no answer within 0.3s" in str(info.value)


def test_nothing_listening_is_an_llm_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with OpenAIChat(_settings(f"http://127.0.0.1:{port}/v1")) as chat:
        with pytest.raises(LLMError, match="cannot reach"):
            chat.complete_text(ASK)


def test_a_rejected_response_format_falls_back_and_is_remembered(stub):
    def picky(handler, body):
        kind = body.get("response_format", {}).get("type")
        if kind == "json_schema":
            _send(handler, 400, {"error": {"message": "response_format json_schema unsupported"}})
        else:
            _send(handler, 200, _completion('Here: {"answer": "Paris"}'))

    base_url, bodies = stub(picky)
    with OpenAIChat(_settings(base_url)) as chat:
        first = chat.complete_json(ASK, ANSWER, name="answer")
        second = chat.complete_json(ASK, ANSWER, name="answer")
        assert chat.response_format_mode == "json_object"
    assert first.data == second.data == {"answer": "Paris"}
    assert (first.prompt_tokens, first.completion_tokens, first.attempts) == (5, 3, 1)
    kinds = [b.get("response_format", {}).get("type") for b in bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert bodies[0]["response_format"]["json_schema"]["schema"] == ANSWER


def test_other_client_errors_do_not_fall_back(stub):
    base_url, bodies = stub(lambda h, b: _send(h, 400, {"error": {"message": "context too long"}}))
    with OpenAIChat(_settings(base_url)) as chat, pytest.raises(LLMError, match="HTTP 400"):
        chat.complete_json(ASK, ANSWER, name="answer")
    assert len(bodies) == 1
