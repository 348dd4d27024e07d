"""Reading one answer: a JSON body, or an SSE stream that carries the response among other messages.

The server may answer a POST with ``application/json`` or with ``text/event-stream``; on a stream,
notifications and server requests tied to the request can come before the response. Those go to
``on_message``; the response is returned. A stream that ends before the response is a cut stream
(:class:`WireError` ``STREAM_CUT``), which the classifier calls ``OUTCOME_UNKNOWN``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from mcp_session_recovery.model import HttpAnswer, Progress, TransportFailureKind

from .sse import SseDecoder
from .wire import WireError, WireResponse

__all__ = ["MAX_BODY", "Reply", "json_object", "read_body", "read_reply"]

#: The most bytes read from a JSON body (a larger one is an unexpected answer, not a crash).
MAX_BODY = 16 << 20

MessageHandler = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as the classifier sees it, and the JSON-RPC response it carried (if any)."""

    answer: HttpAnswer
    response: Mapping[str, Any] | None


def _is_stream(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "text/event-stream"


async def read_reply(response: WireResponse, wire_id: int | None, on_message: MessageHandler) -> Reply:
    """Read ``response`` until the JSON-RPC response to ``wire_id`` (``None``: a notification)."""
    status, headers = response.status, dict(response.headers)
    if _is_stream(headers) and wire_id is not None:
        return await _read_stream(response, wire_id, on_message)
    body = await read_body(response)
    document = json_object(body) if len(body) <= MAX_BODY else None
    return Reply(HttpAnswer(status=status, headers=headers, body=body), document)


async def read_body(response: WireResponse) -> bytes:
    """A non-streamed body, read to its end or just past :data:`MAX_BODY` (then it is no answer)."""
    body = bytearray()
    async with aclosing(response.iter_bytes()) as chunks:
        async for chunk in chunks:
            body += chunk
            if len(body) > MAX_BODY:
                break
    return bytes(body)


async def _read_stream(response: WireResponse, wire_id: int, on_message: MessageHandler) -> Reply:
    decoder = SseDecoder()
    async with aclosing(response.iter_bytes()) as chunks:
        async for chunk in chunks:
            try:
                events = decoder.feed(chunk)
            except ValueError as exc:
                raise WireError(TransportFailureKind.PROTOCOL_ERROR, Progress.STREAMING, str(exc)) from exc
            for event in events:
                message = json_object(event.data)
                if message is None:
                    continue  # keep-alives and garbage carry nothing for us
                if message.get("id") == wire_id and ("result" in message or "error" in message):
                    answer = HttpAnswer(
                        status=response.status, headers=dict(response.headers), body=event.data.encode()
                    )
                    return Reply(answer, message)
                on_message(message)
    raise WireError(TransportFailureKind.STREAM_CUT, Progress.STREAMING, "the stream ended before the response")


def json_object(data: bytes | str) -> dict[str, Any] | None:
    """``data`` as a JSON object, or ``None`` for anything else (garbage, absurd nesting included)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None
