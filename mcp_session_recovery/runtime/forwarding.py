"""Forwarding a client's own messages through a :class:`Session` (adapters whose client negotiates).

A transport under the official SDK does not own the conversation: the SDK sends its requests and
reads the answers, SSE streams included, live. :func:`forward` sends one such message under the
live binding and gives back the answer for that client:

- a lost session, a refused connection or an era change are recovered first, as for the runtime's
  own requests (the same model decides); the client above never sees them;
- an SSE answer is handed back as a live stream the client reads as it arrives (server requests
  and notifications on it pass through at once). The relay watches it for the JSON-RPC response;
  when the stream breaks before it, the request is re-sent if the replay policy allows and the new
  answer continues the same stream, or the stream ends with a JSON-RPC error naming why;
- every request goes out with a fresh JSON-RPC id and the answer comes back with the client's id;
- whatever the model gives up on becomes a JSON-RPC error for that one request, never an exception
  that would tear the client down.

Event ids of the server's SSE stream are not passed on: they belong to one session, and a broken
stream is recovered here, not by the client's resumption.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from mcp_session_recovery.model import (
    Abandonment,
    Binding,
    Exchange,
    HttpAnswer,
    McpSessionError,
    Progress,
    RequestDisrupted,
    ResponseReceived,
    Signal,
    TransportFailure,
    TransportFailureKind,
    classify,
)
from mcp_session_recovery.model.messages import session_message

from .reading import json_object, read_body
from .sse import SseDecoder
from .wire import WireError, WireResponse

if TYPE_CHECKING:
    from .session import Session, _Send, _Ticket

__all__ = ["Forwarded", "Relay", "error_answer", "json_rpc_error"]

#: The JSON-RPC code of the errors the library answers in the server's place (implementation-defined
#: server error range of JSON-RPC 2.0).
LIBRARY_ERROR_CODE = -32000


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The answer for the client above: status, headers, and a body or a live stream.

    A ``stream`` must be closed by its consumer (``aclose``) when it stops reading early.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None


def json_rpc_error(client_id: Any, error: McpSessionError) -> dict[str, Any]:
    """The JSON-RPC error message that tells one client request what the library gave up on."""
    data: dict[str, Any] = {"error": type(error).__name__}
    hint = getattr(error, "hint", None)
    if isinstance(hint, str):
        data["hint"] = hint
    return {
        "jsonrpc": "2.0",
        "id": client_id,
        "error": {"code": LIBRARY_ERROR_CODE, "message": str(error), "data": data},
    }


def error_answer(client_id: Any, error: McpSessionError) -> Forwarded:
    """A whole HTTP answer carrying :func:`json_rpc_error` (the SDK hands it to that caller alone)."""
    body = json.dumps(json_rpc_error(client_id, error)).encode()
    return Forwarded(200, {"content-type": "application/json"}, body)


def _sse(data: str, event: str = "message") -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n".encode()


def _is_stream(headers: Mapping[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() == "text/event-stream"


def _is_response(message: Mapping[str, Any] | None, wire_id: int) -> bool:
    return message is not None and message.get("id") == wire_id and ("result" in message or "error" in message)


@dataclass(frozen=True, slots=True)
class _Live:
    """A 2xx SSE answer whose body has not been read."""

    response: WireResponse
    wire_id: int
    exchange: Exchange


class Relay:
    """One forwarded message, from submission until its answer was handed over in full."""

    def __init__(self, session: Session, ticket: _Ticket, client_id: Any) -> None:
        self._session = session
        self._ticket = ticket
        self._client_id = client_id

    # -- the head: everything until the client can be given status and headers ----------------------

    async def head(self) -> Forwarded | None:
        """Send until an answer can be handed over; ``None`` when the model resolved the request."""
        async for send in self._ticket.instructions:
            outcome = await self._send(send)
            if isinstance(outcome, _Live):
                return Forwarded(outcome.response.status, dict(outcome.response.headers), stream=self._relay(outcome))
            if outcome is not None:
                return outcome
        return None

    def failure(self) -> Forwarded:
        """The answer for a request the model resolved with an error (or a notification it dropped)."""
        resolution = self._ticket.resolution
        error = resolution.error if resolution is not None else None
        if error is None or self._ticket.notification:
            return Forwarded(202, {})
        return error_answer(self._client_id, error)

    async def _send(self, send: _Send) -> Forwarded | _Live | None:
        """One attempt: a final answer, a live stream, or ``None`` after reporting a disruption."""
        ticket, session = self._ticket, self._session
        if ticket.resolution is not None:
            return None
        binding: Binding = send.binding
        wire_id = None if ticket.notification else session._next_wire_id()
        outgoing = session_message(binding, ticket.method, ticket.params, wire_id, session._identity)
        exchange = Exchange(era=binding.era, method=ticket.method, carried_session_id=binding.session_id is not None)
        answer: HttpAnswer | TransportFailure | None = None
        with anyio.CancelScope() as scope:
            ticket.io_scope = scope
            try:
                response = await session._wire.send(outgoing)
                if wire_id is not None and 200 <= response.status < 300 and _is_stream(response.headers):
                    ticket.io_scope = None
                    return _Live(response, wire_id, exchange)
                try:
                    body = await read_body(response)
                finally:
                    with anyio.move_on_after(session._options.close_timeout, shield=True):
                        await response.aclose()
                answer = HttpAnswer(status=response.status, headers=dict(response.headers), body=body)
            except WireError as exc:
                answer = exc.failure()
        ticket.io_scope = None
        if scope.cancelled_caught or ticket.resolution is not None or answer is None:
            return None
        classification = classify(exchange, answer, session._options.classifier)
        if classification.signal is not Signal.PASS_THROUGH:
            disrupted = RequestDisrupted(request_id=ticket.request_id, signal=classification.signal)
            session._apply(disrupted, classification.reason)
            return None
        assert isinstance(answer, HttpAnswer)
        body = answer.body
        message = json_object(body)
        self._observe(message, wire_id)
        session._apply(ResponseReceived(request_id=ticket.request_id), classification.reason)
        if message is not None and wire_id is not None and message.get("id") == wire_id:
            body = json.dumps({**message, "id": self._client_id}).encode()
        return Forwarded(answer.status, {k: v for k, v in answer.headers.items() if k != "content-length"}, body)

    def _observe(self, message: Mapping[str, Any] | None, wire_id: int | None) -> None:
        """Learn from a successful answer what a new session must be given again."""
        if message is None or "result" not in message or message.get("id") != wire_id:
            return
        self._session._memory.observe(self._ticket.method, self._ticket.params, message["result"])

    # -- the body: a live SSE stream that survives a cut when the policy allows ---------------------

    async def _relay(self, live: _Live | None) -> AsyncGenerator[bytes, None]:
        ticket, session = self._ticket, self._session
        try:
            while live is not None:
                exchange = live.exchange
                answered = False
                failure = WireError(TransportFailureKind.STREAM_CUT, Progress.STREAMING, "ended before the response")
                decoder = SseDecoder()
                try:
                    async with aclosing(live.response.iter_bytes()) as chunks:
                        async for chunk in chunks:
                            for event in decoder.feed(chunk):
                                message = json_object(event.data)
                                if _is_response(message, live.wire_id):
                                    assert message is not None
                                    answered = True
                                    self._observe(message, live.wire_id)
                                    # Delivered before the client has it: it may close the stream at once.
                                    if ticket.resolution is None and session._tracks(ticket):
                                        session._apply(ResponseReceived(request_id=ticket.request_id))
                                    yield _sse(json.dumps({**message, "id": self._client_id}), event.event)
                                else:
                                    yield _sse(event.data, event.event)
                            if answered:
                                break
                except WireError as exc:
                    failure = exc
                except ValueError as exc:
                    failure = WireError(TransportFailureKind.PROTOCOL_ERROR, Progress.STREAMING, str(exc))
                finally:
                    with anyio.move_on_after(session._options.close_timeout, shield=True):
                        await live.response.aclose()
                if answered:
                    return
                live = None
                if ticket.resolution is None and session._tracks(ticket):
                    classification = classify(exchange, failure.failure(), session._options.classifier)
                    session._apply(
                        RequestDisrupted(request_id=ticket.request_id, signal=classification.signal),
                        classification.reason,
                    )
                # The model says what happens next: a re-send (whose answer continues this stream) or
                # an error that ends it.
                async for send in ticket.instructions:
                    outcome = await self._send(send)
                    if isinstance(outcome, _Live):
                        live = outcome
                        break
                    if outcome is not None:
                        yield _sse(outcome.body.decode("utf-8", errors="replace"))
                        return
                else:
                    failed = self.failure()
                    if failed.body:
                        yield _sse(failed.body.decode())
                    return
        finally:
            # The consumer closed early, or we are done: the model must not track the request on.
            session._give_up(ticket, Abandonment.CANCELLED)
            session._release(ticket)
