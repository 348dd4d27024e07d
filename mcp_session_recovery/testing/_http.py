"""HTTP/1.1 over one anyio socket stream, with h11 doing the parsing and framing.

One :class:`Connection` per accepted socket, each in its own task. Anything the client does
(closing early, sending garbage, vanishing mid-stream) ends that connection quietly and never
the server; a bug in a handler is logged and reported through ``on_error``. Every loop is bounded
by a constant, so a misbehaving peer cannot keep a task spinning.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

import anyio
import h11
from anyio.abc import SocketStream

from ._wire import (
    JSON,
    SSE,
    Answer,
    Drop,
    Endless,
    EventFeed,
    Fixed,
    HttpRequest,
    Padded,
    Reply,
    Stream,
    StreamTally,
    reason,
    sse_event,
    text_reply,
)
from .behaviour import ResponseStyle
from .blob import blob_text

__all__ = ["Connection", "Handler"]

logger = logging.getLogger("mcp_session_recovery.testing")

Handler = Callable[[HttpRequest], Awaitable[Reply]]

#: Bounds: requests per keep-alive connection, reads per event, events per GET stream, body size.
MAX_REQUESTS_PER_CONNECTION = 10_000
MAX_READS_PER_EVENT = 10_000
MAX_EVENTS_PER_REQUEST = 10_000
MAX_STREAM_EVENTS = 1_000_000
MAX_BODY = 1 << 20
MAX_HEADER_BYTES = 128 * 1024  # room for a 60 KB session id echoed back
RECEIVE_SIZE = 65536

#: Generated answers go out in chunks of this size; an endless event stops after ``ENDLESS_BOUND``
#: bytes, and any generated answer whose client stops reading for ``STALLED_WRITE_SECONDS``.
GENERATED_CHUNK = 64 * 1024
ENDLESS_BOUND = 2 << 30
STALLED_WRITE_SECONDS = 30.0
#: One chunk of the endless event: ``data:`` lines of 1 KiB (never a blank line, so never an end).
_DATA_LINE = b"data: " + b"x" * 1017 + b"\n"
ENDLESS_CHUNK = _DATA_LINE * (GENERATED_CHUNK // len(_DATA_LINE))
#: The padding of an oversized JSON answer: the blob pattern (letters and digits, no escaping).
PADDING_CHUNK = blob_text(GENERATED_CHUNK).encode("ascii")

#: What a cut SSE answer sends after its headers: a comment, so the client has seen the stream start,
#: then the first half of the answer's event (a relay that handed it on must close it cleanly).
CUT_COMMENT = b": cut\n\n"

#: Set explicitly (h11 would add a title-case ``Transfer-Encoding``); h11 drops it for HTTP/1.0 peers.
_SSE_HEADERS = (("content-type", SSE), ("cache-control", "no-cache"), ("transfer-encoding", "chunked"))

#: Statuses whose responses h11 frames without a body; one with a body is written raw.
_BODILESS = frozenset({204, 304})

_PEER_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class Connection:
    """Serves HTTP requests on one socket until the peer leaves or :meth:`abort` is called."""

    def __init__(
        self, stream: SocketStream, handler: Handler, *, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        self._stream = stream
        self._handler = handler
        self._on_error = on_error
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._scope = anyio.CancelScope()
        self.done = anyio.Event()
        #: Set while a response whose head h11 refused is written as raw bytes: the chunked
        #: framing flag of its body. The connection closes after such a response.
        self._raw: bool | None = None

    def abort(self) -> None:
        """Close the connection at once, whatever it is doing (the process "died")."""
        self._scope.cancel()

    async def run(self) -> None:
        """Serve until done; never raises except for cancellation of the surrounding task."""
        try:
            with self._scope:
                await self._serve()
        except _PEER_GONE:
            pass
        except h11.RemoteProtocolError as error:
            logger.debug("test server: HTTP protocol error from the client: %s", error)
        except Exception as error:
            self._report(error)
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
            self.done.set()

    def _report(self, error: Exception) -> None:
        logger.error("test server: unexpected error while serving a request", exc_info=error)
        if self._on_error is not None:
            self._on_error(error)

    async def _serve(self) -> None:
        for _ in range(MAX_REQUESTS_PER_CONNECTION):
            try:
                request = await self._read_request()
            except h11.RemoteProtocolError as error:
                if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._write(text_reply(error.error_status_hint, f"Bad Request: {error}"))
                return
            if request is None:
                return
            try:
                reply = await self._handler(request)
            except Exception as error:  # a bug in the server: say so to the client, keep serving
                self._report(error)
                reply = text_reply(500, f"Internal Server Error: {error!r}")
            if not await self._write(reply):
                return
            if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
                return
            self._h11.start_next_cycle()

    async def _next_event(self) -> h11.Event | None:
        """The next event; ``None`` for h11's PAUSED (impossible while reading one request)."""
        for _ in range(MAX_READS_PER_EVENT):
            event = self._h11.next_event()
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:
                return None
            try:
                data = await self._stream.receive(RECEIVE_SIZE)
            except anyio.EndOfStream:
                data = b""
            self._h11.receive_data(data)
        raise h11.RemoteProtocolError("too many reads for one event")

    async def _read_request(self) -> HttpRequest | None:
        event = await self._next_event()
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if self._h11.they_are_waiting_for_100_continue:
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        body = bytearray()
        for _ in range(MAX_EVENTS_PER_REQUEST):
            part = await self._next_event()
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > MAX_BODY:
                    await self._write(text_reply(413, "Payload Too Large"))
                    return None
            elif isinstance(part, h11.EndOfMessage):
                target = event.target.decode("latin-1")
                path = target.split("?", 1)[0]
                return HttpRequest(event.method.decode("ascii"), path, headers, bytes(body))
            else:
                return None
        raise h11.RemoteProtocolError("request body in too many pieces")

    async def _send(self, event: h11.Event) -> None:
        data = self._h11.send(event) if self._raw is None else _raw_body(event, chunked=self._raw)
        if data:
            await self._stream.send(data)

    async def _respond(self, status: int, headers: tuple[tuple[str, str], ...], *, body: bool = True) -> None:
        """Send the response head through h11, or as raw bytes where h11 refuses it.

        h11 refuses what the hostile behaviours need: statuses outside 200..999, header values
        with a bare CR, LF or NUL, a body on a 204/304. Those go out byte for byte as given, and
        the connection closes after the response (h11 no longer knows where it stands).
        """
        encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        try:
            event = h11.Response(status_code=status, headers=encoded, reason=reason(status))
        except h11.LocalProtocolError:
            event = None
        if event is not None and not (body and status in _BODILESS):
            await self._send(event)
            return
        chunked = any(name.lower() == b"transfer-encoding" and b"chunked" in value.lower() for name, value in encoded)
        self._raw = chunked
        lines = [b"HTTP/1.1 %03d %s\r\n" % (status, reason(status))]
        lines += [name + b": " + value + b"\r\n" for name, value in encoded]
        await self._stream.send(b"".join([*lines, b"connection: close\r\n\r\n"]))

    async def _write(self, reply: Reply) -> bool:
        """Send ``reply``; ``False`` when the connection must close afterwards."""
        if isinstance(reply, Drop):
            return False  # nothing sent: the client sees its connection closed
        if isinstance(reply, Fixed):
            headers = (*reply.headers, ("content-length", str(len(reply.body))))
            await self._respond(reply.status, headers, body=bool(reply.body))
            if reply.body:
                await self._send(h11.Data(data=reply.body))
            await self._send(h11.EndOfMessage())
            return True
        if isinstance(reply, Answer):
            return await self._write_answer(reply)
        if isinstance(reply, Endless):
            await self._respond(200, (*_SSE_HEADERS, *reply.headers))
            await self._write_generated(reply.tally, _endless_body())
            return False  # the event never ended: neither can the response
        if isinstance(reply, Padded):
            length = ("content-length", str(reply.length))
            await self._respond(200, (("content-type", JSON), length, *reply.headers))
            if not await self._write_generated(reply.tally, _padded_body(reply)):
                return False
            await self._send(h11.EndOfMessage())
            return True
        return await self._write_stream(reply)

    async def _write_generated(self, tally: StreamTally, chunks: Iterator[bytes]) -> bool:
        """Send ``chunks`` until they end (``True``), the client leaves or a write stalls (``False``)."""
        tally.started += 1
        whole = False
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_peer_then, group.cancel_scope)
                whole = await self._send_chunks(tally, chunks)
                group.cancel_scope.cancel()
        finally:
            tally.ended += 1
        return whole

    async def _send_chunks(self, tally: StreamTally, chunks: Iterator[bytes]) -> bool:
        try:
            for chunk in chunks:
                with anyio.fail_after(STALLED_WRITE_SECONDS):
                    await self._send(h11.Data(data=chunk))
                tally.bytes_sent += len(chunk)
        except (*_PEER_GONE, TimeoutError):
            return False
        return True

    async def _watch_peer_then(self, scope: anyio.CancelScope) -> None:
        # The client sends nothing while it reads an answer: data or EOF means it left.
        with contextlib.suppress(*_PEER_GONE):
            await self._stream.receive(RECEIVE_SIZE)
        scope.cancel()

    async def _write_answer(self, reply: Answer) -> bool:
        if reply.style is ResponseStyle.JSON:
            length = ("content-length", str(len(reply.payload)))
            await self._respond(reply.status, (("content-type", JSON), length, *reply.headers))
            if reply.cut:
                return False
            await self._send(h11.Data(data=reply.payload))
        else:
            await self._respond(reply.status, (*_SSE_HEADERS, *reply.headers))
            event = sse_event(reply.payload)
            await self._send(h11.Data(data=CUT_COMMENT + event[: len(event) // 2] if reply.cut else event))
            if reply.cut:
                return False
        await self._send(h11.EndOfMessage())
        return True

    async def _write_stream(self, reply: Stream) -> bool:
        feed = reply.feed
        try:
            await self._respond(200, (*_SSE_HEADERS, *reply.headers))
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_peer, feed)
                await self._forward(feed)
                group.cancel_scope.cancel()
        finally:
            feed.close()
        if feed.aborted:
            return False
        await self._send(h11.EndOfMessage())
        return True

    async def _forward(self, feed: EventFeed) -> None:
        for _ in range(MAX_STREAM_EVENTS):
            try:
                event = await feed.receive.receive()
            except anyio.EndOfStream:
                return
            await self._send(h11.Data(data=event))

    async def _watch_peer(self, feed: EventFeed) -> None:
        # A GET stream only writes; a read that returns (data or EOF) means the client left.
        with contextlib.suppress(*_PEER_GONE):
            await self._stream.receive(RECEIVE_SIZE)
        feed.abort()


def _endless_body() -> Iterator[bytes]:
    """The endless event: its ``event:`` line, then ``data:`` lines up to ``ENDLESS_BOUND`` bytes."""
    yield b"event: message\n"
    for _ in range(ENDLESS_BOUND // len(ENDLESS_CHUNK)):
        yield ENDLESS_CHUNK


def _padded_body(reply: Padded) -> Iterator[bytes]:
    """The oversized answer's bytes: prefix, padding chunks, suffix; exactly ``reply.length`` of them."""
    yield reply.prefix
    remaining = reply.padding
    for _ in range(remaining // len(PADDING_CHUNK) + 1):
        if remaining <= 0:
            break
        piece = PADDING_CHUNK[: min(remaining, len(PADDING_CHUNK))]
        remaining -= len(piece)
        yield piece
    yield reply.suffix


def _raw_body(event: h11.Event, *, chunked: bool) -> bytes:
    """The bytes h11 would send for ``event`` in a response it did not frame itself."""
    if isinstance(event, h11.Data):
        data = bytes(event.data)
        return b"%x\r\n%s\r\n" % (len(data), data) if chunked and data else data
    if isinstance(event, h11.EndOfMessage):
        return b"0\r\n\r\n" if chunked else b""
    raise AssertionError(f"nothing but body data after a raw response head, got {event!r}")
