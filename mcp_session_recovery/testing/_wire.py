"""Bytes on the wire: JSON-RPC parsing, error bodies, the stale-session answers, and reply shapes.

Pure: the HTTP layer (``_http``) writes the replies built here, the MCP layers decide which. The
stale answers are byte-for-byte what real servers send (see the module constants), because the
point of the test server is to exercise a client's classifier against real bytes.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .behaviour import ResponseStyle, StaleStyle

__all__ = [
    "Answer",
    "Drop",
    "Endless",
    "EventFeed",
    "Fixed",
    "HttpRequest",
    "Message",
    "Padded",
    "Reply",
    "RpcError",
    "Stream",
    "StreamTally",
    "dumps",
    "error_body",
    "fixed_error",
    "json_reply",
    "missing_session_reply",
    "new_session_id",
    "parse_message",
    "reason",
    "result_body",
    "sse_event",
    "stale_reply",
    "text_reply",
]

JSON = "application/json"
SSE = "text/event-stream"

#: Parse error, invalid request, method not found, invalid params (JSON-RPC 2.0).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
#: MCP 2026-07-28: a header disagrees with the body, and an unsupported protocol version.
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022
#: MCP's conventional "resource not found".
RESOURCE_NOT_FOUND = -32002

#: How many events an open GET stream buffers before it drops new ones (a stalled client).
FEED_BUFFER = 64


@dataclass(frozen=True)
class HttpRequest:
    """One complete HTTP request, as the MCP layers see it (header names lower-case)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The header's value, or ``None`` when absent."""
        return self.headers.get(name)


@dataclass(frozen=True)
class Fixed:
    """A complete response with a known body (sent with a content-length)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True)
class Answer:
    """A JSON-RPC answer sent in the configured style; ``cut`` loses the connection before the body."""

    payload: bytes
    style: ResponseStyle
    headers: tuple[tuple[str, str], ...] = ()
    status: int = 200
    cut: bool = False


@dataclass(eq=False)
class EventFeed:
    """The server side of one open GET stream: events pushed here reach that client.

    ``end()`` finishes the stream cleanly (the session was deleted); ``abort()`` drops the
    connection without the closing chunk (the process died).
    """

    send: MemoryObjectSendStream[bytes]
    receive: MemoryObjectReceiveStream[bytes]
    aborted: bool = False
    #: Run once when the stream's connection is done (the session forgets the feed).
    on_close: Callable[[], None] | None = None

    @classmethod
    def open(cls) -> EventFeed:
        """A new feed with a small buffer."""
        send, receive = anyio.create_memory_object_stream[bytes](FEED_BUFFER)
        return cls(send, receive)

    def push(self, event: bytes) -> None:
        """Queue ``event``; dropped if the client is not keeping up or already gone."""
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.send.send_nowait(event)

    def end(self) -> None:
        """Finish the stream after the queued events."""
        self.send.close()

    def abort(self) -> None:
        """Drop the connection as soon as possible."""
        self.aborted = True
        self.send.close()

    def close(self) -> None:
        """Release both ends; called by the connection that carried the stream."""
        self.send.close()
        self.receive.close()
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()


@dataclass(frozen=True)
class Stream:
    """A ``text/event-stream`` that stays open and carries the feed's events."""

    feed: EventFeed
    headers: tuple[tuple[str, str], ...] = field(default=())


@dataclass(eq=False)
class StreamTally:
    """What the server sent for one kind of generated answer (a counter set of ``ProcessState``)."""

    #: Answers started (their headers sent).
    started: int = 0
    #: Answers whose writing is over: sent whole, the client left, or the server's bound was hit.
    ended: int = 0
    #: Body bytes handed to the socket so far, over all of them.
    bytes_sent: int = 0


@dataclass(frozen=True)
class Endless:
    """A 200 ``text/event-stream`` carrying one event that never ends (``data:`` lines, no blank line).

    It goes on until the client leaves, a write stalls, or the server's own bound is reached.
    """

    tally: StreamTally
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Padded:
    """An ``application/json`` answer of ``length`` bytes: ``prefix``, generated padding, ``suffix``.

    The padding is generated chunk by chunk while it is sent, so the server never holds it.
    """

    prefix: bytes
    suffix: bytes
    length: int
    tally: StreamTally
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def padding(self) -> int:
        """How many padding bytes go between the prefix and the suffix."""
        return self.length - len(self.prefix) - len(self.suffix)


@dataclass(frozen=True)
class Drop:
    """No answer at all: the connection is closed at once (a reset at this stage of the exchange)."""


Reply = Fixed | Answer | Stream | Endless | Padded | Drop


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message from a client."""

    kind: Literal["request", "notification", "response"]
    method: str | None
    id: str | int | None
    params: Mapping[str, Any]


class RpcError(Exception):
    """A JSON-RPC error the handler answers with, and the HTTP status it goes with."""

    def __init__(self, code: int, message: str, *, data: Any = None, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.status = status


def dumps(value: object) -> bytes:
    """Compact JSON, as the SDKs write it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def result_body(request_id: str | int | None, result: object) -> bytes:
    """A JSON-RPC success response."""
    return dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_body(request_id: str | int | None, code: int, message: str, data: Any = None) -> bytes:
    """A JSON-RPC error response (key order as the Python SDK writes it)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


def fixed_error(
    status: int, code: int, message: str, *, request_id: str | int | None = None, data: Any = None
) -> Fixed:
    """A JSON-RPC error as a plain JSON response with an HTTP error status."""
    return json_reply(status, error_body(request_id, code, message, data))


def json_reply(status: int, body: bytes, *extra: tuple[str, str]) -> Fixed:
    """A JSON body."""
    return Fixed(status, (("content-type", JSON), *extra), body)


def text_reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Fixed:
    """A plain-text body."""
    return Fixed(status, (("content-type", content_type),), text.encode("utf-8"))


def sse_event(payload: bytes) -> bytes:
    """One SSE ``message`` event carrying ``payload``."""
    return b"event: message\ndata: " + payload + b"\n\n"


def new_session_id() -> str:
    """A fresh session id: 32 hex digits, like the Python SDK's."""
    return uuid.uuid4().hex


def reason(status: int) -> bytes:
    """The standard reason phrase (real servers send one; clients log it)."""
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


#: The stale-session answers, as real servers send them (DESIGN.md §2, reference/*-today.md).
_STALE: Mapping[StaleStyle, Fixed] = {
    StaleStyle.SDK_PYTHON: json_reply(404, error_body(None, INVALID_REQUEST, "Session not found")),
    StaleStyle.SDK_TYPESCRIPT: Fixed(
        404,
        (("content-type", "application/json; charset=utf-8"),),
        b'{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}',
    ),
    StaleStyle.PLAIN_TEXT: text_reply(404, "session not found\n"),
    StaleStyle.ERROR_STRING: json_reply(404, b'{"error": "Not Found: invalid session ID"}'),
    StaleStyle.LEGACY_400: text_reply(400, "Bad Request: No valid session ID provided", "text/plain"),
}


def stale_reply(style: StaleStyle) -> Fixed:
    """The answer to a request that carried an unknown session id."""
    return _STALE[style]


def missing_session_reply() -> Fixed:
    """The SDK's 400 to a non-initialize POST without a session id.

    It carries the id of a session that is discarded at once: a client must not adopt it.
    """
    body = error_body(None, INVALID_REQUEST, "Bad Request: Missing session ID")
    return json_reply(400, body, ("mcp-session-id", new_session_id()))


def parse_message(body: bytes) -> Message:
    """Read one JSON-RPC message; raise :class:`RpcError` (with a 400 status) if it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RpcError(PARSE_ERROR, "Parse error", status=400) from None
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, "Invalid Request", status=400)
    raw_id = data.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int | None):
        raise RpcError(INVALID_REQUEST, "Invalid Request: bad id", status=400)
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise RpcError(INVALID_REQUEST, "Invalid Request: params must be an object", status=400)
    method = data.get("method")
    if method is None:
        if "id" in data and ("result" in data) != ("error" in data):
            return Message("response", None, raw_id, {})
        raise RpcError(INVALID_REQUEST, "Invalid Request: missing method", status=400)
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "Invalid Request: method must be a string", status=400)
    if "id" not in data:
        return Message("notification", method, None, params)
    if raw_id is None:
        raise RpcError(INVALID_REQUEST, "Invalid Request: id must not be null", status=400)
    return Message("request", method, raw_id, params)
