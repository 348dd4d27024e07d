"""Reading answers, bounded: a JSON body, or the events of an SSE stream, and finding the response.

The server may answer a POST with ``application/json`` or with ``text/event-stream``; on a stream,
notifications and server requests tied to the request can come before the response. Everything the
library reads is bounded by :class:`ReadLimits`; crossing a limit raises :class:`LimitCrossed`
(the caller of the exchange gets :class:`~mcp_session_recovery.model.AnswerTooLarge`). A response
is matched to its request by JSON-RPC id, on both paths.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from mcp_session_recovery.model import (
    AnswerTooLarge,
    HttpAnswer,
    McpSessionError,
    MismatchedResponse,
    Progress,
    RedirectRefused,
    RemoteError,
    TransportFailureKind,
    UnexpectedAnswer,
)

from .sse import LimitCrossed, SseEvent, SseReader
from .wire import WireError, WireResponse

__all__ = [
    "LimitCrossed",
    "MessageHandler",
    "Pause",
    "ReadLimits",
    "Reply",
    "is_stream",
    "json_object",
    "media_type",
    "read_body",
    "read_reply",
    "read_reply_or_pause",
    "resolution_of",
    "response_id_matches",
    "scan_json_value",
    "sse_events",
    "sse_reader",
]

MessageHandler = Callable[[Mapping[str, Any]], None]

_DECODER = json.JSONDecoder()
#: The decoder's scanner (in C), which ``decode`` calls: set on each decoder, absent from the stubs.
scan_json_value: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
#: What JSON allows around a value.
_JSON_WHITESPACE = " \t\n\r"

_MIB = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadLimits:
    """The most the library reads of one answer; crossing one is ``AnswerTooLarge`` for that caller.

    Bodies and events are relayed unchanged whatever their size below these limits; memory stays
    bounded by them whatever a server sends.
    """

    #: The largest ``application/json`` (or other non-streamed) body read, in bytes.
    max_json_body: int = 16 * _MIB
    #: The largest single server-sent event (all its lines together), in bytes.
    max_sse_event: int = 16 * _MIB
    #: The longest line of an SSE stream, in bytes.
    max_sse_line: int = 16 * _MIB

    def __post_init__(self) -> None:
        for name in ("max_json_body", "max_sse_event", "max_sse_line"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive number of bytes")


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as the classifier sees it, the JSON-RPC response it carried (if any), and the error
    the caller gets instead when the answer broke a limit or named another request."""

    answer: HttpAnswer
    response: Mapping[str, Any] | None
    refused: McpSessionError | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """A response stream that ended (closed, or cut) before the response, after an event with an id:
    the request's answer may follow on a resumed stream (SEP-1699)."""

    #: The id of the last event the stream carried (what ``Last-Event-ID`` resumes from).
    last_event_id: str
    #: The stream's last ``retry`` value in milliseconds, ``None`` if it gave none.
    retry_ms: int | None
    #: What ended it, in words.
    reason: str


def media_type(headers: Mapping[str, str]) -> str:
    """The media type ``headers`` announce for the body, lower case, without parameters."""
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def is_stream(headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` announce a ``text/event-stream`` body."""
    return media_type(headers) == "text/event-stream"


def json_object(data: bytes | bytearray | str) -> dict[str, Any] | None:
    """``data`` as a JSON object, or ``None`` for anything else (garbage, absurd nesting included)."""
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
        try:
            # The decoder's C scanner, without ``decode``'s two Python frames: this runs twice per call.
            document, end = scan_json_value(text, 0)
        except StopIteration:  # nothing at the start (leading whitespace, say): the whole decoder
            document, end = _DECODER.decode(text), len(text)
        if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
            return None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return document if type(document) is dict else None


def is_response(message: Mapping[str, Any]) -> bool:
    """Whether ``message`` is a JSON-RPC response (not a request or notification)."""
    return "method" not in message and ("result" in message or "error" in message)


def response_id_matches(response: Mapping[str, Any], expected: object) -> bool:
    """Whether the response answers the request with id ``expected``.

    Types must agree (``1`` is not ``"1"`` nor ``True``). An error with a ``null`` id is the
    server's answer to a request it could not read: it belongs to the one request sent.
    """
    found = response.get("id")
    if found is None:
        return "error" in response
    return type(found) is type(expected) and found == expected


async def read_body(response: WireResponse, limits: ReadLimits) -> bytes:
    """A non-streamed body, read to its end; raises :class:`LimitCrossed` past ``max_json_body``."""
    bound = limits.max_json_body
    chunks: list[bytes] = []
    size = 0
    stream = response.iter_bytes()
    try:  # ``aclosing`` without its two extra coroutines: this runs on every call
        async for chunk in stream:
            size += len(chunk)
            if size > bound:
                raise LimitCrossed("max_json_body", bound)
            chunks.append(chunk)
    finally:
        await stream.aclose()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def sse_reader(limits: ReadLimits, last_event_id: str | None = None) -> SseReader:
    """A reader of one SSE body under ``limits`` (``last_event_id``: the id a resumed stream continues from)."""
    return SseReader(max_event=limits.max_sse_event, max_line=limits.max_sse_line, last_event_id=last_event_id)


def pause_of(reader: SseReader, reason: str) -> Pause | None:
    """The pause a stream read by ``reader`` ended in, if its events gave an id (else it was cut)."""
    if not reader.last_event_id:  # an empty id is no resume point (no Last-Event-ID is sent for it)
        return None
    return Pause(reader.last_event_id, reader.retry, reason)


async def sse_events(response: WireResponse, limits: ReadLimits) -> AsyncGenerator[SseEvent, None]:
    """The events of an SSE body as they complete (raw bytes kept); raises :class:`LimitCrossed`."""
    reader = sse_reader(limits)
    async with aclosing(response.iter_bytes()) as stream:
        async for chunk in stream:
            for event in reader.feed(chunk):
                yield event


async def read_reply(
    response: WireResponse, expected_id: object, limits: ReadLimits, on_message: MessageHandler
) -> Reply:
    """Read ``response`` until the JSON-RPC response to ``expected_id`` (``None``: a notification).

    Other messages on a stream go to ``on_message``. A stream that ends before the response is a
    cut stream (:class:`WireError` ``STREAM_CUT``), which the classifier calls ``OUTCOME_UNKNOWN``.
    """
    reply = await read_reply_or_pause(response, expected_id, limits, on_message)
    if isinstance(reply, Pause):
        raise WireError(TransportFailureKind.STREAM_CUT, Progress.STREAMING, reply.reason)
    return reply


async def read_reply_or_pause(
    response: WireResponse,
    expected_id: object,
    limits: ReadLimits,
    on_message: MessageHandler,
    resume_from: str | None = None,
) -> Reply | Pause:
    """:func:`read_reply`, but a stream that ends (closed or cut) before the response after an event
    with an id is a :class:`Pause`, not a cut. ``resume_from``: ``response`` is the resumed stream
    of the event with that id."""
    status, headers = response.status, response.headers
    try:
        if expected_id is not None and 200 <= status < 300 and is_stream(headers):
            reader = sse_reader(limits, resume_from)
            try:
                async with aclosing(response.iter_bytes()) as chunks:
                    async for chunk in chunks:
                        for event in reader.feed(chunk):
                            message = json_object(event.data) if event.data else None
                            if message is None:
                                continue  # keep-alives and garbage carry nothing for us
                            if not is_response(message):
                                on_message(message)
                                continue
                            answer = HttpAnswer(status=status, headers=headers, body=event.data.encode())
                            if not response_id_matches(message, expected_id):
                                return Reply(answer, None, MismatchedResponse(status))
                            return Reply(answer, message)
            except WireError as exc:
                pause = pause_of(reader, str(exc))
                if pause is None:
                    raise
                return pause
            pause = pause_of(reader, "the server closed the stream before the response")
            if pause is not None:
                return pause
            raise WireError(TransportFailureKind.STREAM_CUT, Progress.STREAMING, "the stream ended before the response")
        if expected_id is None and 200 <= status < 300:
            # A notification's success carries nothing to read (a 202 has no body). Left unread, the
            # connection is not kept, as the SDK leaves it: on a server without TCP_NODELAY the next
            # SSE answer on a kept-alive connection would wait out a delayed ACK (about 40 ms).
            return Reply(HttpAnswer(status=status, headers=headers), None)
        body = await read_body(response, limits)
    except LimitCrossed as exc:
        return Reply(HttpAnswer(status=status, headers=headers), None, AnswerTooLarge(status, exc.limit, exc.bound))
    answer = HttpAnswer(status=status, headers=headers, body=body)
    document = json_object(body) if expected_id is not None else None
    # Error statuses are lenient about ids (servers answer unreadable requests with ids of their own).
    if (
        document is not None
        and 200 <= status < 300
        and is_response(document)
        and not response_id_matches(document, expected_id)
    ):
        return Reply(answer, None, MismatchedResponse(status))
    return Reply(answer, document)


def resolution_of(reply: Reply, notification: bool) -> tuple[Any, McpSessionError | None]:
    """What the caller gets for an answer the classifier passed through: ``(result, None)`` or
    ``(None, error)``."""
    if reply.refused is not None:
        return None, reply.refused
    answer, response = reply.answer, reply.response
    if 300 <= answer.status < 400:  # what the wire did not follow may not be followed
        return None, RedirectRefused(answer.status)
    if notification and 200 <= answer.status < 300:
        return None, None
    if response is not None and isinstance(response.get("error"), dict):
        error = response["error"]
        code = error.get("code")
        return None, RemoteError(code if isinstance(code, int) else 0, str(error.get("message", "")), error.get("data"))
    if response is not None and "result" in response and 200 <= answer.status < 300:
        return response["result"], None
    return None, UnexpectedAnswer(answer.status, answer.body.decode("utf-8", errors="replace"))
