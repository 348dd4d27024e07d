"""A real MCP server built on the official Python SDK (mcp 2.3.0 ``MCPServer``), served by uvicorn.

The integration tests need the server that clients actually meet in production, not only our own
fault-injecting one: its stale-session 404 body, its SSE framing, its session manager, its era
routing (a ``MCP-Protocol-Version`` header naming 2026-07-28 goes to the sessionless modern
handler; anything else to the stateful legacy path). So this file adds nothing to the SDK's
behaviour; it only wraps the SDK's ASGI app in a tiny counting middleware, because a test must
assert on what the *server* saw (a tool ran once, not twice), and the SDK counts nothing.

Run as its own process (the integration tests SIGKILL it and start it again on the same port)::

    python tests/integration/servers/sdk_server.py --port 8123 [--json-response] [--stateless]
        [--legacy-only] [--session-idle-timeout SECONDS] [--no-get-stream]

Once listening it prints exactly one line, ``READY <port>``, to stdout; logs go to stderr only (a
pipe nobody reads after ``READY`` must never fill up). ``GET /_stats`` answers the counters as JSON.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server.mcpserver import Context, Elicit, ListRoots, MCPServer, Resolve, Sample
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from mcp.types import ToolAnnotations
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_session_recovery.testing import MAX_BLOB_SIZE, blob_text

__all__ = ["COUNTERS", "Counters", "StatsMiddleware", "build_app", "build_server", "main"]

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
            "live_sessions": self.live_sessions(),
            "pid": os.getpid(),
        }


#: The one set of counters of this process.
COUNTERS = Counters()


def build_server(**settings: Any) -> MCPServer[Any]:
    """The SDK server with the tools the integration tests call: five plain ones, and four that ask
    the client something or tell it something while they run (legacy sessions only: a sessionless
    server has no channel for a request of its own). ``settings``: more of ``MCPServer``'s, e.g. its
    auth."""
    server: MCPServer[Any] = MCPServer("sdk-integration-server", log_level="WARNING", **settings)
    read_only = ToolAnnotations(read_only_hint=True)

    @server.tool(description="Increment the process counter and return it (a side effect that must not repeat).")
    def bump() -> str:
        COUNTERS.tool_executions["bump"] += 1
        COUNTERS.counter += 1
        return str(COUNTERS.counter)

    @server.tool(description="Add two integers.", annotations=read_only)
    def add(a: int, b: int) -> str:
        COUNTERS.tool_executions["add"] += 1
        return str(a + b)

    @server.tool(description="The process counter, unchanged.", annotations=read_only)
    def peek() -> str:
        COUNTERS.tool_executions["peek"] += 1
        return str(COUNTERS.counter)

    @server.tool(description="Sleep, then answer: a request that is in flight when the server dies.")
    async def slow(seconds: float) -> str:
        COUNTERS.tool_executions["slow"] += 1
        await anyio.sleep(seconds)
        return f"slept {seconds}"

    # structured_output=False: the SDK would otherwise repeat the text in structuredContent.
    @server.tool(
        description="Return `size` characters of blob_text: a large answer that must arrive whole.",
        annotations=read_only,
        structured_output=False,
    )
    def blob(size: int) -> str:
        if not 0 <= size <= MAX_BLOB_SIZE:
            raise ValueError(f"size must be in 0..{MAX_BLOB_SIZE}")
        COUNTERS.tool_executions["blob"] += 1
        return blob_text(size)

    # What the client declared, then what it answered (or the error it sent instead), as text: a
    # test reads both from the call's result. (tests/cli/servers/bridge_server.py builds on this
    # server and adds tools of its own: names must not meet, ``ask`` is taken there.)
    @server.tool(description="Elicit a name from the client (elicitation/create on this call's stream).")
    async def elicit_name(question: str, ctx: Context) -> str:
        COUNTERS.tool_executions["elicit_name"] += 1
        declared = _declared(ctx, "elicitation")
        try:
            answer = await ctx.elicit(question, _Name)
        except MCPError as error:
            return f"{declared}; error {error.error.code}: {error.error.message}"
        name = answer.data.name if answer.action == "accept" and answer.data is not None else "-"
        return f"{declared}; {answer.action}: {name}"

    @server.tool(description="Ask the client's model (sampling/createMessage on this call's stream).")
    async def sample_text(prompt: str, ctx: Context) -> str:
        COUNTERS.tool_executions["sample_text"] += 1
        declared = _declared(ctx, "sampling")
        request = types.CreateMessageRequest(
            params=types.CreateMessageRequestParams(
                messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))],
                max_tokens=32,
            )
        )
        try:
            result = await ctx.session.send_request(
                request, types.CreateMessageResult, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
            )
        except MCPError as error:
            return f"{declared}; error {error.error.code}: {error.error.message}"
        content = result.content
        text = content.text if isinstance(content, types.TextContent) else "?"
        return f"{declared}; {result.model}: {text}"

    @server.tool(description="List the client's roots (roots/list: on this call's stream, or on the GET stream).")
    async def client_roots(ctx: Context, standalone: bool = False) -> str:
        COUNTERS.tool_executions["client_roots"] += 1
        declared = _declared(ctx, "roots")
        # Without a related request the SDK sends it on the session's GET stream.
        metadata = None if standalone else ServerMessageMetadata(related_request_id=ctx.request_id)
        try:
            result = await ctx.session.send_request(types.ListRootsRequest(), types.ListRootsResult, metadata=metadata)
        except MCPError as error:
            return f"{declared}; error {error.error.code}: {error.error.message}"
        return f"{declared}; " + " ".join(str(root.uri) for root in result.roots)

    @server.tool(description="Send `count` log messages (notifications/message on this call's stream).")
    async def log_lines(count: int, ctx: Context) -> str:
        COUNTERS.tool_executions["log_lines"] += 1
        for index in range(count):
            await ctx.info(f"line {index}")
        return f"logged {count}"

    # The SDK's resolvers ask in either era: mid-call requests on a legacy session, one
    # InputRequiredResult (answered by the client's retry) on a sessionless one.
    @server.tool(description="Ask the name, the roots and the model at once (resolvers: both eras).")
    async def survey(
        name: Annotated[_Name, Resolve(_ask_name)],
        roots: Annotated[types.ListRootsResult, Resolve(_list_roots)],
        reply: Annotated[types.CreateMessageResult, Resolve(_sample_hello)],
    ) -> str:
        COUNTERS.tool_executions["survey"] += 1
        text = reply.content.text if isinstance(reply.content, types.TextContent) else "?"
        return f"{name.name}; " + " ".join(str(root.uri) for root in roots.roots) + f"; {reply.model}: {text}"

    return server


class _Name(BaseModel):
    name: str


def _ask_name() -> Elicit[_Name]:
    return Elicit("Your name?", _Name)


def _list_roots() -> ListRoots:
    return ListRoots()


def _sample_hello() -> Sample:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hello"))
    return Sample([message], max_tokens=32)


def _declared(ctx: Context, capability: str) -> str:
    """``declared <capability>`` or ``undeclared <capability>``: what the client's negotiation said."""
    capabilities = ctx.session.client_capabilities
    given = capabilities is not None and getattr(capabilities, capability) is not None
    return f"{'declared' if given else 'undeclared'} {capability}"


class StatsMiddleware:
    """Answers ``GET /_stats`` itself and counts what reaches the SDK's app.

    A POST body has to be read to learn its JSON-RPC method, so it is buffered whole and handed
    to the inner app again as one ``http.request`` message; later ``receive()`` calls go to the
    real channel, so the SDK still sees the client disconnect.
    """

    def __init__(self, app: ASGIApp, counters: Counters, *, legacy_only: bool = False, get_stream: bool = True) -> None:
        self._app = app
        self._counters = counters
        self._legacy_only = legacy_only
        self._get_stream = get_stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)  # lifespan: the SDK's session manager starts here
            return
        if scope["path"] == STATS_PATH:
            await _send_json(send, 200 if scope["method"] == "GET" else 405, self._counters.as_json())
            return
        self._counters.http_requests[scope["method"]] += 1
        if scope["method"] == "GET" and not self._get_stream:
            # A server that offers no GET stream (the spec allows it): the client stops asking.
            self._counters.responses_by_status["405"] += 1
            await _send_json(send, 405, {"error": "no GET stream here"}, [(b"allow", b"POST, DELETE")])
            return
        methods: list[str] = []
        if scope["method"] == "POST":
            body, rest = await _read_body(receive)
            methods = _jsonrpc_methods(body)
            self._counters.requests_by_method.update(methods)
            if self._legacy_only and _modern(scope, methods):
                # What a server of the handshake era (every SDK before 2.2) answers a sessionless
                # request: it carries no session id, and it is not an initialize.
                self._counters.responses_by_status["400"] += 1
                await _send_json(send, 400, _MISSING_SESSION_ID)
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


#: The SDK 1.x server's answer to a request without a session id that is not an ``initialize``.
_MISSING_SESSION_ID = {
    "jsonrpc": "2.0",
    "id": "server-error",
    "error": {"code": -32600, "message": "Bad Request: Missing session ID"},
}


def _modern(scope: Scope, methods: list[str]) -> bool:
    """Whether a POST speaks the sessionless era: its probe, or the era's protocol-version header."""
    versions = [value.decode("latin-1") for name, value in scope["headers"] if name == b"mcp-protocol-version"]
    return "server/discover" in methods or any(version in MODERN_PROTOCOL_VERSIONS for version in versions)


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


async def _send_json(
    send: Send, status: int, document: object, extra_headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(document).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode("ascii"))]
    headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def build_app(
    *,
    json_response: bool = False,
    stateless: bool = False,
    legacy_only: bool = False,
    session_idle_timeout: float | None = None,
    get_stream: bool = True,
) -> StatsMiddleware:
    """The SDK's Streamable HTTP app at ``/mcp`` (SDK defaults otherwise), wrapped for counting.

    ``legacy_only``: answer the sessionless era as a server of the handshake era does (400, no
    session id), so every client falls back to ``initialize``. ``session_idle_timeout``: the SDK's
    idle reaper closes a session after that many seconds with no request in flight (the SDK's
    default, 30 minutes, when ``None``). ``get_stream=False``: answer GET with 405, so no open GET
    stream keeps a session from going idle.
    """
    server = build_server()
    idle: dict[str, Any] = {} if session_idle_timeout is None else {"session_idle_timeout": session_idle_timeout}
    sdk_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH, json_response=json_response, stateless_http=stateless, host="127.0.0.1", **idle
    )
    if not stateless:
        manager = server.session_manager
        # The manager's own table of sessions (private: read only, for the counters).
        COUNTERS.live_sessions = lambda: len(getattr(manager, "_server_instances", ()))
    return StatsMiddleware(sdk_app, COUNTERS, legacy_only=legacy_only, get_stream=get_stream)


class _ReadyServer(uvicorn.Server):
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


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description="The SDK 2.3.0 server for integration tests.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    parser.add_argument("--stateless", action="store_true", help="no sessions (stateless_http=True)")
    parser.add_argument("--legacy-only", action="store_true", help="refuse the sessionless era as pre-2026 servers do")
    parser.add_argument("--session-idle-timeout", type=float, default=None, help="seconds before an idle session ends")
    parser.add_argument("--no-get-stream", action="store_true", help="answer GET with 405 (no standalone stream)")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    parser.add_argument(
        "--no-nodelay", action="store_true", help="leave TCP_NODELAY off its connections (a delayed ACK per reuse)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        sock = bind(args.port, nodelay=not args.no_nodelay)
    except OSError as error:
        print(f"cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr, flush=True)
        return 2
    port = sock.getsockname()[1]
    app = build_app(
        json_response=args.json_response,
        stateless=args.stateless,
        legacy_only=args.legacy_only,
        session_idle_timeout=args.session_idle_timeout,
        get_stream=not args.no_get_stream,
    )
    # log_config=None keeps uvicorn from installing its own handlers (its access log writes to stdout).
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level=args.log_level.lower(), lifespan="on")
    _ReadyServer(config, port).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
