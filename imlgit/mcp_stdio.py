"""The stdio wire of ``imlgit mcp``: every line read gets through, or gets an answer.

The SDK's stdio reader parses each line itself and, when a line is not a
message it can decode, hands the server an exception that is only logged: the
client waiting on that id hangs. Here each line is checked first, bounded, and
either forwarded to the SDK unchanged or answered at once with a JSON-RPC 2.0
error, and the server reads on:

- ``-32700`` (parse error, ``id`` null): not UTF-8, not JSON (NaN and Infinity
  included), a lone surrogate escape, nesting deeper than :data:`MAX_DEPTH`, a
  line longer than :data:`MAX_LINE_BYTES`;
- ``-32600`` (invalid request): an array (MCP has no batches), anything but an
  object, ``jsonrpc`` missing or not ``"2.0"``, an id that is not text or a
  whole number, ``method`` not text, ``params`` not an object, neither a method
  nor a result or error; the id is echoed when it can be read.

Blank lines are not messages and are skipped. :func:`check_line` is the whole
decision, with no SDK; :func:`stdio_server` puts it in front of the SDK's own
stdio transport, which still writes every response (one writer, so frames never
tear) and still keeps stray output off stdout.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mcp.shared.message import SessionMessage

__all__ = [
    "INVALID_REQUEST",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "PARSE_ERROR",
    "WireError",
    "check_line",
    "check_message",
    "stdio_server",
]

MAX_LINE_BYTES = 1 << 20  # 1 MiB: the largest tool call imlgit accepts is ~30 KB of JSON
MAX_DEPTH = 64  # arrays and objects inside one another; a tool call needs five or six
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
_CHUNK = 1 << 16


@dataclass(frozen=True)
class WireError:
    """The JSON-RPC error a line gets instead of reaching the server."""

    code: int
    message: str
    id: str | int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        }


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_over(value: object, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def json_type(value: object) -> str:
    """What a JSON value is, in words (errors say what they got, never the value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    return "an object"


def check_line(line: bytes) -> WireError | dict[str, Any] | None:
    """Decide one stdin line: the message to forward (an object), an error, or None (blank).

    ``line`` may end with its newline. The envelope is checked by
    :func:`check_message`.
    """
    line = line.rstrip(b"\r\n")
    if len(line) > MAX_LINE_BYTES:
        return WireError(PARSE_ERROR, f"the line is over {MAX_LINE_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return WireError(PARSE_ERROR, f"the line is not UTF-8 (byte {exc.start + 1})")
    if not text.strip():
        return None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        return WireError(PARSE_ERROR, f"JSON nested deeper than {MAX_DEPTH} levels")
    except ValueError as exc:
        # JSONDecodeError's text says where ("line 1 column 7 (char 6)")
        return WireError(PARSE_ERROR, f"not JSON: {exc}")
    if _depth_over(value, MAX_DEPTH):
        return WireError(PARSE_ERROR, f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        # one pass in C: a lone surrogate escape decodes, but can never be text again
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return WireError(PARSE_ERROR, "the JSON has a lone surrogate escape (\\ud800-\\udfff)")
    return check_message(value)


def _good_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def check_message(value: object) -> WireError | dict[str, Any]:
    """The decoded JSON of one line as a JSON-RPC 2.0 message, or the error it gets."""
    if isinstance(value, list):
        return WireError(INVALID_REQUEST, "a JSON-RPC batch (array) is not supported by MCP")
    if not isinstance(value, dict):
        return WireError(INVALID_REQUEST, f"a message is a JSON object, got {json_type(value)}")
    rid = value.get("id")
    if "id" in value and not _good_id(rid):
        return WireError(
            INVALID_REQUEST, f"the id must be a string or a whole number, got {json_type(rid)}"
        )
    msg_id = cast("str | int | None", rid)
    if value.get("jsonrpc") != "2.0":
        got = "missing" if "jsonrpc" not in value else f"{value['jsonrpc']!r}"[:40]
        return WireError(INVALID_REQUEST, f'"jsonrpc" must be "2.0", got {got}', msg_id)
    if "method" in value:
        if not isinstance(value["method"], str):
            return WireError(
                INVALID_REQUEST,
                f'"method" must be a string, got {json_type(value["method"])}',
                msg_id,
            )
        if "params" in value and not isinstance(value["params"], dict):
            return WireError(
                INVALID_REQUEST,
                f'"params" must be an object, got {json_type(value["params"])}',
                msg_id,
            )
    elif "id" not in value or ("result" not in value and "error" not in value):
        return WireError(
            INVALID_REQUEST,
            'a message has a "method", or an "id" with a "result" or "error"',
            msg_id,
        )
    return value


# ---------------------------------------------------------------------- transport


def _read_line(stream: IO[bytes]) -> tuple[bytes, bool]:
    """The next line, read at most :data:`MAX_LINE_BYTES` + 1 bytes at a time.

    Returns ``(line, over)``: ``over`` when the line was longer, in which case
    the rest of it is read and dropped (memory stays bounded) and ``line`` is
    its start. ``(b"", False)`` at the end of input.
    """
    line = stream.readline(MAX_LINE_BYTES + 2)  # + the newline (and a \r)
    if len(line) <= MAX_LINE_BYTES + 1 or line.endswith(b"\n"):
        return line, False
    while True:
        rest = stream.readline(_CHUNK)
        if not rest or rest.endswith(b"\n"):
            return line[:64], True


class _Lines:
    """The checked lines of ``stream`` as text for the SDK's reader; errors go to ``answer``."""

    def __init__(self, stream: IO[bytes]) -> None:
        import anyio

        self.stream = stream
        self.answer: Callable[[WireError], Awaitable[None]] | None = None
        self._ready = anyio.Event()  # set once the SDK's write stream exists

    def start(self, answer: Callable[[WireError], Awaitable[None]]) -> None:
        self.answer = answer
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        import anyio

        while True:
            line, over = await anyio.to_thread.run_sync(
                _read_line, self.stream, abandon_on_cancel=True
            )
            if not line and not over:
                return
            got = (
                WireError(PARSE_ERROR, f"the line is over {MAX_LINE_BYTES} bytes")
                if over
                else check_line(line)
            )
            if got is None:
                continue
            if isinstance(got, dict):
                got = _sdk_check(got)
            if isinstance(got, WireError):
                await self._ready.wait()
                assert self.answer is not None
                await self.answer(got)
                continue
            yield line.decode("utf-8")


def _sdk_check(message: dict[str, Any]) -> WireError | dict[str, Any]:
    """What the SDK itself would refuse of a well-formed envelope, as an invalid request."""
    from mcp_types import jsonrpc_message_adapter
    from pydantic import ValidationError

    try:
        jsonrpc_message_adapter.validate_python(message, by_name=False)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or "message" for e in exc.errors()})
        rid = message.get("id")
        return WireError(
            INVALID_REQUEST,
            "not an MCP message: check " + ", ".join(fields[:5]),
            rid if _good_id(rid) else None,
        )
    return message


def _claim_stdin() -> tuple[IO[bytes], Callable[[], None]]:
    """The wire as a private binary stream; fd 0 reads the null device meanwhile.

    So nothing the server runs can read the client's bytes (the SDK does the
    same for the stdin it reads itself). Falls back to sys.stdin's buffer.
    """
    try:
        wire = os.dup(0)
    except OSError:
        return sys.stdin.buffer, lambda: None
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        os.close(wire)
        return sys.stdin.buffer, lambda: None

    stream = os.fdopen(wire, "rb", closefd=False)

    def restore() -> None:
        try:
            os.dup2(wire, 0)
        except OSError:
            return
        # a worker thread may still block on the descriptor: it is left open, not recycled

    return stream, restore


@asynccontextmanager
async def stdio_server(
    stdin: IO[bytes] | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """The SDK's stdio transport, reading the lines :func:`check_line` lets through.

    Yields the SDK's ``(read_stream, write_stream)``. Each refused line is
    answered on the write stream, the one stdout writer.
    """
    import anyio
    from mcp.server.stdio import stdio_server as sdk_stdio_server
    from mcp.shared.message import SessionMessage
    from mcp_types import ErrorData, JSONRPCError

    restore: Callable[[], None] = lambda: None  # noqa: E731
    if stdin is None:
        stdin, restore = _claim_stdin()
    lines = _Lines(stdin)
    try:
        # the SDK only iterates its stdin (``async for line in stdin``)
        async with sdk_stdio_server(stdin=cast(Any, lines)) as (read_stream, write_stream):

            async def answer(err: WireError) -> None:
                reply = JSONRPCError(
                    jsonrpc="2.0", id=err.id, error=ErrorData(code=err.code, message=err.message)
                )
                message: SessionMessage = SessionMessage(reply)
                try:
                    await write_stream.send(message)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass  # the server has stopped writing: nobody is listening any more

            lines.start(answer)
            yield read_stream, write_stream
    finally:
        restore()
