"""A real MCP server built on the official Python SDK (mcp 2.3.0 ``MCPServer``), served by uvicorn.

The integration tests need the server that clients actually meet in production, not only our own
fault-injecting one: its stale-session 404 body, its SSE framing, its session manager, its era
routing (a ``MCP-Protocol-Version`` header naming 2026-07-28 goes to the sessionless modern
handler; anything else to the stateful legacy path). So this file adds nothing to the SDK's
behaviour; it only wraps the SDK's ASGI app in a tiny counting middleware, because a test must
assert on what the *server* saw (a tool ran once, not twice), and the SDK counts nothing.

Run as its own process (the integration tests SIGKILL it and start it again on the same port)::

    python tests/integration/servers/sdk_server.py --port 8123 [--json-response] [--stateless]

Once listening it prints exactly one line, ``READY <port>``, to stdout; logs go to stderr only (a
pipe nobody reads after ``READY`` must never fill up). ``GET /_stats`` answers the counters as JSON.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
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

from mcp_session_recovery.testing import MAX_BLOB_SIZE, blob_text
from tests.integration.servers.counting import (
    COUNTERS,
    MCP_PATH,
    Counters,
    ReadyServer,
    StatsMiddleware,
    bind,
    send_json,
)

# The counting parts live in counting.py (the 1.x line's server shares them); named here as before.
__all__ = [
    "COUNTERS",
    "MCP_PATH",
    "Counters",
    "ReadyServer",
    "StatsMiddleware",
    "bind",
    "build_app",
    "build_server",
    "main",
    "send_json",
]


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
    modern = MODERN_PROTOCOL_VERSIONS if legacy_only else None
    return StatsMiddleware(sdk_app, COUNTERS, modern_versions=modern, get_stream=get_stream)


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
    ReadyServer(config, port).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
