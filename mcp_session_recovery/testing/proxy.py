"""A reverse proxy for tests: what a client meets when its MCP server sits behind a gateway.

In production the server restarts behind something (a load balancer, an ingress, a container
platform's router) that keeps accepting connections while the backend is gone and answers for it:
``502 Bad Gateway`` from most proxies, or ``404 page not found`` from a router that has no route
while the container restarts. A client must tell those answers from an MCP server's stale-session
404 (*unreachable*, not *session gone*), so the tests need the real thing on a socket,
not a mock: this module forwards HTTP/1.1 from ``127.0.0.1:proxy.port`` to a backend port,
streaming answers through as they arrive (an SSE stream must flow live, so nothing is buffered),
and answers for the backend while nothing listens there.

In-process (anyio + h11, on asyncio or trio)::

    async with serve() as server, reverse_proxy(server.port, down_answer=DownAnswer.NOT_FOUND) as proxy:
        ...                              # point the client at proxy.url
        await server.stop_listening()    # the proxy now answers 404 "404 page not found"
        assert proxy.stats.down_answers == 1

As its own process (the tests run it next to a server process that they SIGKILL)::

    python -m mcp_session_recovery.testing.proxy --port 8080 --backend-port 8123 --down-answer not_found

It prints ``READY <port>`` once listening, and answers ``GET /_stats`` itself with its counters.

Given more than one backend (``more_backends``, ``--more-backend-port``), it is a round-robin load
balancer *without session affinity*: each request goes to the next backend in turn, whatever session
it belongs to (the deployment mistake that loses every legacy session at once).

Deliberately simple: one backend connection per client request (so a dead backend shows at the
next connect, as with a real gateway), no pipelining towards the backend, no retries. When the
backend breaks off in the middle of an answer, the proxy closes the client's connection at once
(the client sees a cut answer, which is what a gateway does when its upstream dies mid-stream).
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import json
import logging
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus

import anyio
import h11
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskGroup

from ._serving import BIND_RETRY_SECONDS, DEFAULT_HOST, accept_all, command_line, listening, run_until_killed

__all__ = ["DownAnswer", "ProxyStats", "ReverseProxy", "build_parser", "main", "reverse_proxy"]

logger = logging.getLogger("mcp_session_recovery.testing.proxy")

#: The path the command-line proxy answers itself (a test reads the proxy's counters there).
STATS_PATH = "/_stats"
#: How long a connect to the backend may take before the backend counts as down.
CONNECT_TIMEOUT = 5.0
#: Bounds: requests per client connection, reads per event, events per message, header size.
MAX_REQUESTS_PER_CONNECTION = 100_000
MAX_READS_PER_EVENT = 100_000
MAX_EVENTS_PER_MESSAGE = 10_000_000
MAX_HEADER_BYTES = 64 * 1024
RECEIVE_SIZE = 65536

#: Headers that belong to one hop (RFC 9110 §7.6.1) and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: What a client sees when the backend breaks the connection, or leaves, while we talk to it.
_PEER_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class DownAnswer(enum.Enum):
    """How the proxy answers while nothing listens on the backend port."""

    #: ``502 Bad Gateway``, ``text/plain`` "Bad Gateway": nginx, Envoy, most load balancers.
    BAD_GATEWAY = "bad_gateway"
    #: ``404 Not Found``, ``text/plain`` "404 page not found": a router with no route for the
    #: container while it restarts (Traefik's words). A client must not take it for a lost session.
    NOT_FOUND = "not_found"

    @property
    def status(self) -> int:
        """The HTTP status sent."""
        return 502 if self is DownAnswer.BAD_GATEWAY else 404

    @property
    def body(self) -> bytes:
        """The plain-text body sent."""
        return b"Bad Gateway" if self is DownAnswer.BAD_GATEWAY else b"404 page not found"


@dataclass(frozen=True)
class ProxyStats:
    """What the proxy did since it started: the evidence a test asserts on."""

    #: Requests sent on to the backend (its connect succeeded), whatever happened next.
    forwarded: int = 0
    #: Requests answered by the proxy itself because the backend could not be reached.
    down_answers: int = 0
    #: Forwarded requests whose answer the backend broke off (the client's connection was closed).
    cut_answers: int = 0

    def as_json(self) -> dict[str, int]:
        """The ``/_stats`` document."""
        return {"forwarded": self.forwarded, "down_answers": self.down_answers, "cut_answers": self.cut_answers}


class _Outcome(enum.Enum):
    """How relaying one answer ended."""

    COMPLETE = enum.auto()
    CUT = enum.auto()
    CLIENT_GONE = enum.auto()


class _Cut(Exception):
    """The backend went away in the middle of an exchange: the client's connection must close."""


class ReverseProxy:
    """A running proxy; made by :func:`reverse_proxy`, valid inside its ``async with`` block."""

    def __init__(
        self,
        listener: SocketListener,
        task_group: TaskGroup,
        *,
        host: str,
        backend_host: str,
        backend_port: int,
        down_answer: DownAnswer,
        stats_path: str | None,
        more_backends: Sequence[int] = (),
    ) -> None:
        self._listener = listener
        self._group = task_group
        self._host = host
        self._port: int = listener.extra(SocketAttribute.local_port)
        self._backend_host = backend_host
        self._backend_port = backend_port
        #: Every backend port, taken in turn for each request (round robin, no session affinity).
        self._backend_ports = (backend_port, *more_backends)
        self._turn = 0
        self._stats_path = stats_path
        #: Changeable while running, so a test can switch gateway personality mid-test.
        self.down_answer = down_answer
        self._stats = ProxyStats()
        self._connections: set[anyio.CancelScope] = set()

    @property
    def host(self) -> str:
        """The address the proxy listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        """The MCP endpoint behind the proxy (``/mcp``, the path every test server uses)."""
        return self.base_url + "/mcp"

    @property
    def backend_port(self) -> int:
        """Where requests go (the first backend, when there are several)."""
        return self._backend_port

    def _next_backend_port(self) -> int:
        """The backend for the next request: the next one in turn."""
        port = self._backend_ports[self._turn % len(self._backend_ports)]
        self._turn += 1
        return port

    @property
    def stats(self) -> ProxyStats:
        """A snapshot of the counters."""
        return self._stats

    @property
    def open_connections(self) -> int:
        """Client connections being served now (each holds at most one backend connection)."""
        return len(self._connections)

    def _count(self, *, forwarded: int = 0, down_answers: int = 0, cut_answers: int = 0) -> None:
        old = self._stats
        self._stats = ProxyStats(
            forwarded=old.forwarded + forwarded,
            down_answers=old.down_answers + down_answers,
            cut_answers=old.cut_answers + cut_answers,
        )

    # -- accepting ------------------------------------------------------------------------------

    def _start_connection(self, stream: SocketStream) -> None:
        self._group.start_soon(self._run_connection, stream)

    async def _run_connection(self, stream: SocketStream) -> None:
        scope = anyio.CancelScope()
        self._connections.add(scope)
        try:
            with scope:
                await _ClientConnection(self, stream).serve()
        finally:
            self._connections.discard(scope)
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def aclose(self) -> None:
        """Stop listening and cut every connection (client and backend) now."""
        await self._listener.aclose()
        for scope in list(self._connections):
            scope.cancel()


class _ClientConnection:
    """One client's keep-alive connection: requests in, one backend connection per request."""

    def __init__(self, proxy: ReverseProxy, stream: SocketStream) -> None:
        self._proxy = proxy
        self._stream = stream
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def serve(self) -> None:
        """Serve until the client leaves, a request cannot be kept alive, or the backend cut off."""
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                event = await _next_event(self._h11, self._stream)
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed: the client left between requests
                if not await self._handle(event):
                    return
                if self._h11.our_state is not h11.DONE or self._h11.their_state is not h11.DONE:
                    return
                self._h11.start_next_cycle()
        except _Cut:
            self._proxy._count(cut_answers=1)
        except h11.RemoteProtocolError as error:
            logger.debug("proxy: HTTP protocol error from the client: %s", error)
            with contextlib.suppress(*_PEER_GONE, h11.LocalProtocolError):
                if self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await self._answer(error.error_status_hint, b"text/plain", b"Bad Request")
        except _PEER_GONE:
            pass
        except h11.LocalProtocolError as error:  # a request or answer h11 refuses to write: drop the connection
            logger.warning("proxy: dropped a connection: %s", error)

    async def _handle(self, request: h11.Request) -> bool:
        """Answer one request; ``False`` when the connection must close afterwards."""
        if self._h11.they_are_waiting_for_100_continue:
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        target = request.target.decode("latin-1")
        if self._proxy._stats_path is not None and target.split("?", 1)[0] == self._proxy._stats_path:
            await self._drain_body()
            document = json.dumps(self._proxy.stats.as_json()).encode("utf-8")
            await self._answer(200, b"application/json", document)
            return True
        try:
            with anyio.fail_after(CONNECT_TIMEOUT):
                backend = await anyio.connect_tcp(self._proxy._backend_host, self._proxy._next_backend_port())
        except (OSError, TimeoutError) as error:
            logger.debug("proxy: backend unreachable: %s", error)
            await self._drain_body()
            answer = self._proxy.down_answer
            self._proxy._count(down_answers=1)
            await self._answer(answer.status, b"text/plain; charset=utf-8", answer.body)
            return True
        async with backend:
            self._proxy._count(forwarded=1)
            return await _Exchange(self, backend).run(request)

    async def _drain_body(self) -> None:
        """Read the rest of the request, so the connection can serve the next one."""
        for _ in range(MAX_EVENTS_PER_MESSAGE):
            event = await _next_event(self._h11, self._stream)
            if isinstance(event, h11.EndOfMessage):
                return
            if not isinstance(event, h11.Data):
                raise anyio.EndOfStream
        raise h11.RemoteProtocolError("request body in too many pieces")

    async def _answer(self, status: int, content_type: bytes, body: bytes) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode("ascii"))]
        await self._send(h11.Response(status_code=status, headers=headers, reason=_reason(status)))
        await self._send(h11.Data(data=body))
        await self._send(h11.EndOfMessage())

    async def _send(self, event: h11.Event) -> None:
        data = self._h11.send(event)
        if data:
            await self._stream.send(data)


class _Exchange:
    """One request forwarded on its own backend connection, and its answer streamed back."""

    def __init__(self, client: _ClientConnection, backend: SocketStream) -> None:
        self._client = client
        self._backend = backend
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def run(self, request: h11.Request) -> bool:
        """Forward ``request`` and stream its answer; ``False`` when the client's connection must close.

        Raises :class:`_Cut` when the backend broke off before the answer was complete.
        """
        headers = _forwardable(request.headers)
        if any(name.lower() == b"transfer-encoding" for name, _ in request.headers) and not any(
            name.lower() == b"content-length" for name, _ in headers
        ):
            headers.append((b"transfer-encoding", b"chunked"))  # a body of unknown length: keep it chunked
        headers.append((b"connection", b"close"))  # one request per backend connection
        await self._to_backend(h11.Request(method=request.method, target=request.target, headers=headers))
        await self._forward_request_body()
        # Until the answer is complete, also watch the client: one that closes a long SSE stream
        # must not leave the backend's stream (and its connection) open until its next event.
        outcome = _Outcome.CLIENT_GONE
        async with anyio.create_task_group() as group:

            async def watch_client() -> None:
                if await self._client_left():
                    group.cancel_scope.cancel()

            group.start_soon(watch_client)
            outcome = await self._forward_response()
            group.cancel_scope.cancel()
        if outcome is _Outcome.CUT:
            raise _Cut
        return outcome is _Outcome.COMPLETE

    async def _forward_request_body(self) -> None:
        for _ in range(MAX_EVENTS_PER_MESSAGE):
            event = await _next_event(self._client._h11, self._client._stream)
            if isinstance(event, h11.Data):
                await self._to_backend(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                await self._to_backend(h11.EndOfMessage())
                return
            else:
                raise anyio.EndOfStream  # the client left in the middle of its request
        raise h11.RemoteProtocolError("request body in too many pieces")

    async def _forward_response(self) -> _Outcome:
        """Relay the backend's answer event by event; never raises (it runs beside a watcher)."""
        for _ in range(MAX_EVENTS_PER_MESSAGE):
            try:
                event = await _next_event(self._h11, self._backend)
            except (h11.RemoteProtocolError, *_PEER_GONE):
                return _Outcome.CUT
            if isinstance(event, h11.ConnectionClosed):
                return _Outcome.CUT  # closed before the end of the answer
            try:
                await self._client._send(_relayed(event))  # at once: an SSE stream must flow live
            except _PEER_GONE:
                return _Outcome.CLIENT_GONE
            except h11.LocalProtocolError as error:  # an answer h11 cannot relay (a bug, or a broken backend)
                logger.warning("proxy: cannot relay the backend's answer: %s", error)
                return _Outcome.CUT
            if isinstance(event, h11.EndOfMessage):
                return _Outcome.COMPLETE
        return _Outcome.CUT

    async def _client_left(self) -> bool:
        """Read from the client while its answer streams; ``True`` once it has left.

        A well-behaved HTTP/1.1 client sends nothing while it waits; anything it does send is a
        pipelined request, which h11 keeps for the next cycle.
        """
        for _ in range(MAX_READS_PER_EVENT):
            try:
                data = await self._client._stream.receive(RECEIVE_SIZE)
            except _PEER_GONE:
                return True
            self._client._h11.receive_data(data)
        return False

    async def _to_backend(self, event: h11.Event) -> None:
        data = self._h11.send(event)
        if data:
            try:
                await self._backend.send(data)
            except _PEER_GONE as error:
                raise _Cut from error


async def _next_event(connection: h11.Connection, stream: SocketStream) -> h11.Event:
    """The next h11 event, reading from ``stream`` as needed (EOF becomes ``ConnectionClosed``)."""
    for _ in range(MAX_READS_PER_EVENT):
        event = connection.next_event()
        if isinstance(event, h11.Event):
            return event
        if event is h11.PAUSED:
            return h11.ConnectionClosed()  # cannot happen while reading one message; treat as the end
        try:
            data = await stream.receive(RECEIVE_SIZE)
        except anyio.EndOfStream:
            data = b""
        connection.receive_data(data)
    raise h11.RemoteProtocolError("too many reads for one event")


def _relayed(event: h11.Event) -> h11.Event:
    """The backend's event as it goes to the client (hop-by-hop headers dropped)."""
    if isinstance(event, h11.InformationalResponse):
        return h11.InformationalResponse(
            status_code=event.status_code, headers=_forwardable(event.headers), reason=event.reason
        )
    if isinstance(event, h11.Response):
        return h11.Response(status_code=event.status_code, headers=_forwardable(event.headers), reason=event.reason)
    if isinstance(event, h11.Data):
        return h11.Data(data=event.data)
    if isinstance(event, h11.EndOfMessage):
        return h11.EndOfMessage()
    raise h11.LocalProtocolError(f"unexpected event from the backend: {event!r}")


def _forwardable(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The end-to-end headers: hop-by-hop ones and those the ``Connection`` header names dropped."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    dropped = HOP_BY_HOP | named | {"expect"}
    return [(name, value) for name, value in pairs if name.decode("latin-1").lower() not in dropped]


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


@asynccontextmanager
async def reverse_proxy(
    backend_port: int,
    *,
    down_answer: DownAnswer = DownAnswer.BAD_GATEWAY,
    port: int = 0,
    host: str = DEFAULT_HOST,
    backend_host: str = DEFAULT_HOST,
    stats_path: str | None = None,
    bind_timeout: float = BIND_RETRY_SECONDS,
    more_backends: Sequence[int] = (),
) -> AsyncIterator[ReverseProxy]:
    """Run a reverse proxy to ``backend_host:backend_port`` for the duration of the block.

    ``more_backends`` (ports on ``backend_host``) make it a round-robin balancer without session
    affinity: request after request goes to ``backend_port`` and each of them in turn.

    ``port=0`` picks a free port (read it from ``proxy.port``). The backend need not listen yet:
    until it does, every request gets ``down_answer``. ``stats_path`` (e.g. ``"/_stats"``) makes
    the proxy answer that path itself with its counters as JSON instead of forwarding it.
    Leaving the block closes every socket promptly, streams in flight included.
    """

    def start(listener: SocketListener, group: TaskGroup) -> ReverseProxy:
        proxy = ReverseProxy(
            listener,
            group,
            host=host,
            backend_host=backend_host,
            backend_port=backend_port,
            down_answer=down_answer,
            stats_path=stats_path,
            more_backends=more_backends,
        )
        group.start_soon(accept_all, listener, proxy._start_connection, logger)
        return proxy

    async with listening(host, port, bind_timeout, start) as proxy:
        yield proxy


# -- the command line --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m mcp_session_recovery.testing.proxy``."""
    parser = command_line(
        "python -m mcp_session_recovery.testing.proxy",
        "A reverse proxy for tests that answers for a backend that is down. "
        "Prints 'READY <port>' once listening; GET /_stats answers its counters.",
    )
    parser.add_argument("--backend-host", default=DEFAULT_HOST, help="the backend's address (default 127.0.0.1)")
    parser.add_argument("--backend-port", type=int, required=True, help="the backend's port")
    parser.add_argument(
        "--more-backend-port",
        type=int,
        action="append",
        default=[],
        help="another backend's port (repeatable): requests go to each backend in turn, without session affinity",
    )
    parser.add_argument(
        "--down-answer",
        choices=[answer.value for answer in DownAnswer],
        default=DownAnswer.BAD_GATEWAY.value,
        help="the answer while the backend is down: 502 'Bad Gateway' or 404 '404 page not found'",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until killed; returns the exit status (2 for a port that stays taken)."""
    args = build_parser().parse_args(argv)
    return run_until_killed(
        args,
        lambda: reverse_proxy(
            args.backend_port,
            down_answer=DownAnswer(args.down_answer),
            port=args.port,
            host=args.host,
            backend_host=args.backend_host,
            stats_path=STATS_PATH,
            bind_timeout=args.bind_timeout,
            more_backends=tuple(args.more_backend_port),
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
