"""Forwarding a client's own messages through a session (adapters whose client negotiates).

A transport under the official SDK does not own the conversation: the SDK sends its requests and
reads the answers, SSE streams included, live. :func:`forward` sends one such message under the
live binding and gives back the answer for that client:

- the client's bytes go out unchanged when they fit the live binding's era (only the headers the
  runtime owns, session id and protocol version, are its own); the server's bytes come back
  unchanged, JSON and SSE alike, whatever their size below the read limits;
- a lost session, a refused connection or an era change are recovered first, as for the runtime's
  own requests (the same model decides); the client above never sees them. A request sent again
  gets a fresh JSON-RPC id (the sessionless era requires it), and its answer is given back under
  the client's id;
- an SSE answer is handed back as a live stream, event by event as each completes (server requests
  and notifications on it pass at once). The relay reads each event for the JSON-RPC response;
  when the stream ends before it after an event with an id (SEP-1699), the model may have it
  resumed: after the server's ``retry`` delay a GET with ``Last-Event-ID`` continues the same
  stream (the client never sees the break). When it breaks otherwise, the request is re-sent if the
  replay policy allows and the new answer continues the same stream, or the stream ends with a
  JSON-RPC error naming why;
- a response with another request's id, or an answer that crosses a read limit, becomes a JSON-RPC
  error for that one request, like whatever the model gives up on: never an exception that would
  tear the client down.

An adapter that must send the client's request through its own chain (aiohttp's middleware
``handler``) passes ``send``; one that hands SSE answers over unread passes ``hand_over_streams``.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, NamedTuple

import anyio

from mcp_session_recovery.model import (
    Abandonment,
    AnswerTooLarge,
    Binding,
    Exchange,
    HttpAnswer,
    McpSessionError,
    MismatchedResponse,
    Outgoing,
    Progress,
    RedirectRefused,
    ResumeStream,
    Signal,
    TransportFailure,
    TransportFailureKind,
    classify,
)
from mcp_session_recovery.model.classify import exchange_of
from mcp_session_recovery.model.messages import relayed_message, resume_request, session_message

from .answers import Forwarded, as_event, closing_cut_event, error_answer, event, json_rpc_error
from .calls import Call
from .heads import message_head
from .reading import (
    LimitCrossed,
    is_response,
    is_stream,
    json_object,
    pause_of,
    read_body,
    response_id_matches,
    sse_reader,
)
from .redirects import Send, send_following
from .seam import SessionSeam
from .sse import SseEvent
from .wire import WireError, WireResponse, release

__all__ = ["HAND_ON_FROM", "forward"]

_CUT = TransportFailure(kind=TransportFailureKind.STREAM_CUT, progress=Progress.STREAMING)

#: From how many bytes of an event not yet complete the relay hands them on (about one read).
HAND_ON_FROM = 1 << 16


async def forward(
    core: SessionSeam,
    message: Mapping[str, Any],
    body: bytes,
    *,
    timeout: float | None = None,
    tool_annotations: Mapping[str, Any] | None = None,
    send: Send | None = None,
    hand_over_streams: bool = False,
) -> Forwarded:
    """Send a client's JSON-RPC request or notification (``message``, parsed from ``body``).

    Never raises for a remote failure: what the model gives up on comes back as a JSON-RPC error
    for that request. ``timeout`` bounds the wait for the answer to begin.

    ``send`` performs this message's sends (the first and every re-send) instead of the session's
    wire. ``hand_over_streams``: a 2xx SSE answer that carries the client's own id is handed back
    unread (``stream`` is ``None``, ``source`` is the response, which its consumer must close) and
    the request counts as answered: a cut after that is the consumer's. An SSE answer to a re-sent
    request (a fresh id) is still relayed, so the client gets its own id back.
    """
    params = message.get("params")
    call = core.open_call(
        str(message.get("method", "")),
        params if isinstance(params, Mapping) else None,
        notification="id" not in message,
        tool_annotations=tool_annotations,
        client_id=message.get("id"),
    )
    relay = _Relay(core, call, message, body, send, hand_over_streams)
    streaming = False
    call.timeout = timeout if timeout is not None else core.options.request_timeout
    relay.deadline = anyio.current_time() + call.timeout
    scope = core.deadline_scope(call.timeout)
    try:
        with call.guard(scope):
            forwarded = await relay.head()
            if forwarded is not None:
                streaming = forwarded.stream is not None
                return forwarded
        if call.resolution is None:
            call.abandon(Abandonment.DEADLINE)
        return relay.failure()
    except BaseException:
        call.abandon(Abandonment.CANCELLED)
        raise
    finally:
        core.end_deadline(scope)
        if not streaming:  # a live stream owns the request until its consumer is done
            core.release(call)


class _Live(NamedTuple):
    """A 2xx SSE answer whose body has not been read, and the id its response must carry."""

    response: WireResponse
    expected_id: object
    exchange: Exchange
    #: The id of the event this stream resumes from (``None``: the request's own answer).
    resume_from: str | None = None


class _Relay:
    """One forwarded message, from submission until its answer was handed over in full."""

    def __init__(
        self,
        core: SessionSeam,
        call: Call,
        message: Mapping[str, Any],
        body: bytes,
        send: Send | None = None,
        hand_over_streams: bool = False,
    ) -> None:
        self._core = core
        self._transmit = send or core.wire.send
        self._hand_over_streams = hand_over_streams
        self._call = call
        self._message = message
        self._body = body
        self._client_id = message.get("id")
        self._sent = False
        #: When the call's deadline passes (``anyio.current_time()``): it bounds a resumption too.
        self.deadline = math.inf

    # -- the head: everything until the client can be given status and headers ----------------------

    async def head(self) -> Forwarded | None:
        """Send until an answer can be handed over; ``None`` when the model resolved the request."""
        while (binding := await self._call.next_send()) is not None:
            outcome = await self._send(binding)
            if isinstance(outcome, _Live):
                response = outcome.response
                if self._hand_over_streams and outcome.expected_id is self._client_id:
                    self._call.answered()
                    return Forwarded(response.status, response.headers, source=response)
                return Forwarded(response.status, response.headers, stream=self._stream(outcome), source=response)
            if outcome is not None:
                return outcome
        return None

    def failure(self) -> Forwarded:
        """The answer for a request the model resolved with an error (or a notification it dropped)."""
        resolution = self._call.resolution
        error = resolution.error if resolution is not None else None
        if error is None or self._call.notification:
            return Forwarded(202, {})
        return error_answer(self._client_id, error)

    def _outgoing(self, binding: Binding) -> tuple[Outgoing, object]:
        """The request to send under ``binding`` and the id its response must carry."""
        call = self._call
        if not self._sent:
            self._sent = True
            verbatim = relayed_message(binding, self._message, self._body)
            if verbatim is not None:
                return verbatim, self._client_id
        wire_id = None if call.notification else self._core.next_wire_id()
        return session_message(binding, call.method, call.params, wire_id, self._core.identity), wire_id

    async def _send(self, binding: Binding) -> Forwarded | _Live | None:
        """One attempt: a final answer, a live stream, or ``None`` after reporting a disruption."""
        call, core = self._call, self._core
        outgoing, expected_id = self._outgoing(binding)
        exchange = exchange_of(binding.era, call.method, binding.session_id is not None)
        try:
            response = await send_following(self._transmit, outgoing, core.url)
            status, headers = response.status, response.headers
            if expected_id is not None and 200 <= status < 300 and is_stream(headers):
                return _Live(response, expected_id, exchange)
            try:
                body = await read_body(response, core.options.limits)
            finally:
                await release(response, core.options.close_timeout)
        except WireError as exc:
            self._disrupted(exchange, exc.failure())
            return None
        except LimitCrossed as exc:
            return self._refuse(AnswerTooLarge(status, exc.limit, exc.bound))
        classification = classify(
            exchange, HttpAnswer(status=status, headers=headers, body=body), core.options.classifier
        )
        if classification.signal is not Signal.PASS_THROUGH:
            core.heed(status, headers)
            call.disrupted(classification.signal, classification.reason)
            return None
        if 300 <= status < 400:  # what may be followed was; the client must not follow the rest
            return self._refuse(RedirectRefused(status))
        if expected_id is not None and 200 <= status < 300:
            message = self._message_of(body, 0, len(body), expected_id)
            if message is not None and is_response(message):
                if not response_id_matches(message, expected_id):
                    return self._refuse(MismatchedResponse(status))
                self._learn(message)
                if expected_id is not self._client_id:
                    body = self._under_client_id(message)
        elif expected_id is not None and expected_id is not self._client_id:
            # An error status whose body answers the re-built request (a sessionless server's 404 with
            # -32601, say): the client gets it under its own id, as every answer.
            message = json_object(body)
            if message is not None and is_response(message) and response_id_matches(message, expected_id):
                body = self._under_client_id(message)
        call.answered(reason=classification.reason)
        return Forwarded(status, headers, body, source=response)

    def _refuse(self, error: McpSessionError) -> Forwarded:
        self._call.answered(error=error)
        return error_answer(self._client_id, error)

    def _disrupted(self, exchange: Exchange, failure: TransportFailure) -> None:
        classification = classify(exchange, failure, self._core.options.classifier)
        self._call.disrupted(classification.signal, classification.reason)

    def _learn(self, message: Mapping[str, Any]) -> None:
        """Learn from a successful answer what a new session must be given again."""
        if "result" in message:
            self._core.memory.observe(self._call.method, self._call.params, message["result"])

    # -- the body: a live SSE stream that survives a cut when the policy allows ---------------------

    async def _stream(self, live: _Live | None) -> AsyncGenerator[bytes, None]:
        call, core = self._call, self._core
        try:
            while live is not None:
                failure = _CUT
                reader = sse_reader(core.options.limits, live.resume_from)
                # An answer under the client's own id goes on as it comes, a big event before it
                # is whole: the client parses while the rest arrives. One to a re-sent request is
                # held until whole, for its id is rewritten.
                hand_on = live.expected_id is self._client_id
                handed = b""  # the last piece of the unfinished event handed on
                try:
                    # The reader is fed here, not through ``sse_events``: one generator fewer per call.
                    async with aclosing(live.response.iter_bytes()) as chunks:
                        async for chunk in chunks:
                            started = reader.handed_on > 0  # the first event completed is under way
                            events = reader.feed(chunk)
                            events.reverse()
                            while events:
                                # Taken out of the list: the event (its data decoded, maybe megabytes)
                                # is freed before the client above reads its bytes.
                                relayed, final = self._relayed(events.pop(), live, started)
                                started = False
                                # A big event goes on in the chunks it came in: the client above reads
                                # them as it reads the server's (one 1 MiB piece costs it more).
                                for piece in relayed:
                                    yield piece
                                if final:
                                    await _drain(chunks)
                                    return
                            if hand_on and reader.partial >= HAND_ON_FROM:
                                for handed in reader.hand_on():
                                    yield handed
                except WireError as exc:
                    failure = exc.failure()
                except LimitCrossed as exc:
                    if reader.handed_on:
                        yield closing_cut_event(handed)
                    yield self._refused_event(AnswerTooLarge(live.response.status, exc.limit, exc.bound))
                    return
                finally:
                    await release(live.response, core.options.close_timeout)
                if reader.handed_on:
                    yield closing_cut_event(handed)
                pause = pause_of(reader, "the server closed the stream before the response")
                if pause is not None:  # after an event with an id: the model may have it resumed
                    call.paused(pause.last_event_id, pause.retry_ms, pause.reason)
                else:
                    self._disrupted(live.exchange, failure)
                expected_id, live = live.expected_id, None
                # The model says what happens next: a resumption or a re-send (whose answer continues
                # this stream), or an error that ends it.
                while (binding := await call.next_send()) is not None:
                    resume = call.take_resume()
                    outcome: Forwarded | _Live | None
                    with call.guard(anyio.CancelScope()):
                        if resume is not None:
                            outcome = await self._resume(binding, resume, expected_id)
                        else:
                            outcome = await self._send(binding)
                    if isinstance(outcome, _Live):
                        live = outcome
                        break
                    if outcome is not None:
                        yield as_event(outcome.body)
                        return
                else:
                    failed = self.failure()
                    if failed.body:
                        yield as_event(failed.body)
                    return
        finally:
            # The consumer closed early, or we are done: the model must not track the request on.
            call.abandon(Abandonment.CANCELLED)
            core.release(call)

    async def _resume(self, binding: Binding, resume: ResumeStream, expected_id: object) -> _Live | None:
        """Resume the paused stream after the server's delay: a GET with ``Last-Event-ID`` under the
        session the request was sent under, whose events continue the answer (``expected_id``: the
        id the request went out with). ``None`` after reporting why it could not be resumed."""
        call, core = self._call, self._core
        exchange = exchange_of(binding.era, call.method, binding.session_id is not None)
        with anyio.move_on_after(self.deadline - anyio.current_time()) as waited:
            await anyio.sleep(resume.delay)
            try:
                response = await send_following(self._transmit, resume_request(binding, resume.last_event_id), core.url)
            except WireError as exc:
                # Processed before its stream paused: whatever the resumption met, the outcome is unknown.
                call.disrupted(Signal.OUTCOME_UNKNOWN, f"the paused stream could not be resumed: {exc}")
                return None
        if waited.cancelled_caught:
            call.abandon(Abandonment.DEADLINE)
            return None
        if 200 <= response.status < 300 and is_stream(response.headers):
            return _Live(response, expected_id, exchange, resume.last_event_id)
        await release(response, core.options.close_timeout)
        call.disrupted(Signal.OUTCOME_UNKNOWN, f"the server did not resume the paused stream (HTTP {response.status})")
        return None

    def _relayed(self, event: SseEvent, live: _Live, started: bool) -> tuple[tuple[bytes, ...], bool]:
        """What the client gets for one event of a live answer (its pieces), and whether the answer
        ends with it. ``started``: its first bytes were handed on already (the rest must follow)."""
        message = self._message_of(*event.data_window, live.expected_id) if event.has_data else None
        if message is None or not is_response(message):
            return event.pieces, False  # a notification, a server request, a keep-alive: as it came
        if not response_id_matches(message, live.expected_id):
            refusal = self._refused_event(MismatchedResponse(live.response.status))
            return ((*event.pieces, refusal) if started else (refusal,)), True
        self._learn(message)
        # Delivered before the client has it: it may close the stream at once.
        self._call.answered()
        if live.expected_id is self._client_id:
            return event.pieces, True
        return (as_event(self._under_client_id(message)),), True

    def _under_client_id(self, message: Mapping[str, Any]) -> bytes:
        """An answer to a re-sent request (the library's id), as the client's own request's answer."""
        return json.dumps({**message, "id": self._client_id}).encode()

    def _message_of(
        self, data: bytes | bytearray | str, start: int, stop: int, expected_id: object
    ) -> dict[str, Any] | None:
        """The JSON object an answer carries (``data[start:stop]``): only its head (names, id) when
        that is all the relay reads, so a big result is parsed once, by the client above; whole when
        its id is rewritten (a re-sent request's answer) or the session's memory reads the result."""
        if expected_id is self._client_id and not self._core.memory.reads_result(self._call.method):
            return message_head(data, start, stop)
        return json_object(data[start:stop])

    def _refused_event(self, error: McpSessionError) -> bytes:
        self._call.answered(error=error)
        return event(json_rpc_error(self._client_id, error))


#: How long, and how many bytes, the rest of a stream is read after its answer went on.
DRAIN_SECONDS = 0.05
DRAIN_BYTES = 64 << 10


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read the rest of a stream whose answer went on, while the client above still reads (a proxy
    relaying to its end): a server that ends it at once, as the SDK's does, then leaves its
    connection to be used again, instead of one connection per request."""
    read = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        async for chunk in chunks:
            read += len(chunk)
            if read > DRAIN_BYTES:
                return
