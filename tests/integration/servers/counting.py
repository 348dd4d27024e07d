"""What every SDK server of the integration tests shares, whichever SDK line serves it (2.x here, 1.x
in ``tests_sdk1/``): the counting middleware behind ``GET /_stats``, the port binding that survives a
SIGKILL, and the ``READY <port>`` line. Nothing here imports the SDK, so both lines' servers use it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "COUNTERS",
    "MCP_PATH",
    "STATS_PATH",
    "Counters",
    "ReadyServer",
    "StatsMiddleware",
    "bind",
    "count_reaped_sessions",
    "send_json",
]

#: The MCP endpoint's path.
MCP_PATH = "/mcp"
#: The counters' path, answered by the middleware, never by the SDK.
STATS_PATH = "/_stats"
#: How long binding a fixed port keeps retrying while the previous process's socket lingers.
BIND_RETRY_SECONDS = 10.0
BIND_RETRY_INTERVAL = 0.05
#: Bounds on reading one request body (the SDK itself refuses bodies over 4 MiB).
MAX_BODY = 4 << 20
MAX_BODY_MESSAGES = 100_000


@dataclass
class Counters:
    """What this process did since it started (a restart is a new process, so they reset)."""

    #: ``initialize`` POSTs answered with a 2xx status (each created a session when stateful).
    initializes: int = 0
    #: Tool name → how many times its body started running (counted inside the tool).
    tool_executions: Counter[str] = field(default_factory=Counter)
    #: JSON-RPC method → how many POSTs carried it, whatever the answer (a batch counts each).
    requests_by_method: Counter[str] = field(default_factory=Counter)
    #: HTTP method → how many requests to the MCP endpoint (GET streams and DELETEs included).
    http_requests: Counter[str] = field(default_factory=Counter)
    #: HTTP status → how many answers the SDK gave (a stale session shows up as 404).
    responses_by_status: Counter[str] = field(default_factory=Counter)
    #: GET streams the SDK opened (answered 200): where it sends what no call's stream carries.
    get_streams_opened: int = 0
    #: The value behind ``bump`` and ``peek``: the side effect a test checks.
    counter: int = 0
    #: Sessions the SDK's idle reaper closed (counted from its log once :func:`count_reaped_sessions` ran).
    sessions_reaped: int = 0
    #: Sessions the SDK's session manager holds now (the idle reaper removes them).
    live_sessions: Callable[[], int] = lambda: 0

    def as_json(self) -> dict[str, Any]:
        """The ``/_stats`` document."""
        return {
            "initializes": self.initializes,
            "tool_executions": dict(self.tool_executions),
            "requests_by_method": dict(self.requests_by_method),
            "http_requests": dict(self.http_requests),
            "responses_by_status": dict(self.responses_by_status),
            "get_streams_opened": self.get_streams_opened,
            "counter": self.counter,
            "sessions_reaped": self.sessions_reaped,
            "live_sessions": self.live_sessions(),
            "pid": os.getpid(),
        }


#: The one set of counters of this process.
COUNTERS = Counters()


class StatsMiddleware:
    """Answers ``GET /_stats`` itself and counts what reaches the SDK's app.

    A POST body has to be read to learn its JSON-RPC method, so it is buffered whole and handed
    to the inner app again as one ``http.request`` message; later ``receive()`` calls go to the
    real channel, so the SDK still sees the client disconnect.

    ``modern_versions``: the protocol versions of the sessionless era; a request in them (or its
    ``server/discover`` probe) is answered as a server of the handshake era does (400, "Missing
    session ID"), so every client falls back to ``initialize``. ``get_stream=False``: GET is
    answered 405 (the spec allows a server no GET stream), so no open stream keeps a session from
    going idle.
    """

    def __init__(
        self,
        app: ASGIApp,
        counters: Counters,
        *,
        modern_versions: Collection[str] | None = None,
        get_stream: bool = True,
    ) -> None:
        self._app = app
        self._counters = counters
        self._modern_versions = modern_versions
        self._get_stream = get_stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)  # lifespan: the SDK's session manager starts here
            return
        if scope["path"] == STATS_PATH:
            await send_json(send, 200 if scope["method"] == "GET" else 405, self._counters.as_json())
            return
        self._counters.http_requests[scope["method"]] += 1
        if scope["method"] == "GET" and not self._get_stream:
            self._counters.responses_by_status["405"] += 1
            await send_json(send, 405, {"error": "no GET stream here"}, [(b"allow", b"POST, DELETE")])
            return
        methods: list[str] = []
        if scope["method"] == "POST":
            body, rest = await _read_body(receive)
            methods = _jsonrpc_methods(body)
            self._counters.requests_by_method.update(methods)
            if self._modern_versions is not None and _modern(scope, methods, self._modern_versions):
                self._counters.responses_by_status["400"] += 1
                await send_json(send, 400, _MISSING_SESSION_ID)
                return
            receive = _replay(body, rest, receive)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self._counters.responses_by_status[str(status)] += 1
                if 200 <= status < 300:
                    self._counters.initializes += methods.count("initialize")
                if status == 200 and scope["method"] == "GET":
                    self._counters.get_streams_opened += 1
            await send(message)

        await self._app(scope, receive, counting_send)


#: A server of the handshake era's answer to a request without a session id that is not an ``initialize``.
_MISSING_SESSION_ID = {
    "jsonrpc": "2.0",
    "id": "server-error",
    "error": {"code": -32600, "message": "Bad Request: Missing session ID"},
}


def _modern(scope: Scope, methods: list[str], versions: Collection[str]) -> bool:
    """Whether a POST speaks the sessionless era: its probe, or one of the era's protocol versions."""
    sent = [value.decode("latin-1") for name, value in scope["headers"] if name == b"mcp-protocol-version"]
    return "server/discover" in methods or any(version in versions for version in sent)


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, plus any non-body message that arrived instead (a disconnect)."""
    body = bytearray()
    for _ in range(MAX_BODY_MESSAGES):
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body), [message]
        body += message.get("body", b"")
        if not message.get("more_body", False) or len(body) > MAX_BODY:
            return bytes(body), []
    return bytes(body), []


def _replay(body: bytes, rest: list[Message], receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *rest]

    async def replaying_receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying_receive


def _jsonrpc_methods(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except ValueError:
        return []
    messages = document if isinstance(document, list) else [document]
    return [m["method"] for m in messages if isinstance(m, dict) and isinstance(m.get("method"), str)]


async def send_json(
    send: Send, status: int, document: object, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(document).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii"))]
    headers += extra_headers or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class ReadyServer(uvicorn.Server):
    """A uvicorn server that says ``READY <port>`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, port: int) -> None:
        super().__init__(config)
        self._port = port

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"READY {self._port}", flush=True)


def bind(port: int, *, timeout: float = BIND_RETRY_SECONDS, nodelay: bool = True) -> socket.socket:
    """A listening socket on 127.0.0.1 with SO_REUSEADDR, retrying while a fixed port is taken.

    asyncio sets ``TCP_NODELAY`` on an accepted connection only when the listening socket was made
    with ``IPPROTO_TCP``, as its own ``create_server(host, port)`` (what uvicorn runs by default)
    makes it. ``nodelay=False`` makes it without, as a socket made by hand often is: an answer the
    server writes in two parts (an SSE head, then its event) then waits for the client's delayed
    ACK, about 40 ms, on every kept-alive connection.
    """
    deadline = time.monotonic() + timeout
    proto = socket.IPPROTO_TCP if nodelay else 0
    for _ in range(int(timeout / BIND_RETRY_INTERVAL) + 1):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            sock.close()
            if error.errno != errno.EADDRINUSE or port == 0 or time.monotonic() >= deadline:
                raise
            time.sleep(BIND_RETRY_INTERVAL)
            continue
        sock.listen(128)
        return sock
    raise OSError(errno.EADDRINUSE, f"port {port} stayed in use for {timeout} s")


#: The SDK's session manager (both lines) logs one INFO record ``Session <id> idle timeout`` per
#: session its reaper closes; no other public signal tells a test that it happened.
SESSION_MANAGER_LOGGER = "mcp.server.streamable_http_manager"


class _ReapedSessionCounter(logging.Handler):
    def __init__(self, counters: Counters) -> None:
        super().__init__(logging.INFO)
        self._counters = counters

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().endswith(" idle timeout"):
            self._counters.sessions_reaped += 1


def count_reaped_sessions(counters: Counters = COUNTERS) -> None:
    """Count in ``counters.sessions_reaped`` every session the SDK's idle reaper closes."""
    logger = logging.getLogger(SESSION_MANAGER_LOGGER)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the record names the session id; stderr does not need it
    logger.addHandler(_ReapedSessionCounter(counters))
