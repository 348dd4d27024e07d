"""A real MCP server built on the official Python SDK's 1.x line (mcp 1.30 ``FastMCP``), served by uvicorn.

The 1.x tests' server is the one 1.x users run, with the same tools and counters as the 2.x one
(``tests/integration/servers/sdk_server.py``; the counting middleware is shared): ``bump`` (a side
effect that must not repeat), ``add`` and ``peek`` (read-only), ``slow``. Since 1.30 the SDK's
session manager closes a session that had no request in flight for ``session_idle_timeout``
seconds (30 minutes by default) and answers its id with 404 afterwards; ``--session-idle-timeout``
shortens it so a test meets the server's own reaper in seconds.

    python -m tests_sdk1.servers.sdk1_server --port 8123 [--json-response] [--session-idle-timeout S] [--no-get-stream]

``--no-get-stream`` answers GET with 405 (the spec allows a server no GET stream), so no client's open
GET stream keeps a session from going idle.

Once listening it prints exactly one line, ``READY <port>``, to stdout; logs go to stderr only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio
import uvicorn
from mcp.server.fastmcp import FastMCP
from mcp.server.streamable_http_manager import DEFAULT_SESSION_IDLE_TIMEOUT
from mcp.types import ToolAnnotations

from tests.integration.servers.counting import (
    COUNTERS,
    MCP_PATH,
    ReadyServer,
    StatsMiddleware,
    bind,
    count_reaped_sessions,
)

__all__ = ["build_app", "build_server", "main"]


def build_server(*, json_response: bool, session_idle_timeout: float = DEFAULT_SESSION_IDLE_TIMEOUT) -> FastMCP:
    """The 1.x server with the tools the tests call (the 2.x server's plain ones, by the same names)."""
    server = FastMCP(
        "sdk1-integration-server",
        log_level="WARNING",
        host="127.0.0.1",
        streamable_http_path=MCP_PATH,
        json_response=json_response,
        session_idle_timeout=session_idle_timeout,
    )
    read_only = ToolAnnotations(readOnlyHint=True)

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

    return server


def build_app(
    *,
    json_response: bool = False,
    session_idle_timeout: float = DEFAULT_SESSION_IDLE_TIMEOUT,
    get_stream: bool = True,
) -> StatsMiddleware:
    """The 1.x SDK's Streamable HTTP app at ``/mcp``, wrapped for counting."""
    server = build_server(json_response=json_response, session_idle_timeout=session_idle_timeout)
    return StatsMiddleware(server.streamable_http_app(), COUNTERS, get_stream=get_stream)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description="The SDK 1.x server for the 1.x integration tests.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    parser.add_argument(
        "--session-idle-timeout",
        type=float,
        default=DEFAULT_SESSION_IDLE_TIMEOUT,
        help="seconds without a request in flight before the SDK reaps a session (its default: 1800)",
    )
    parser.add_argument("--no-get-stream", action="store_true", help="answer GET with 405 (no standalone stream)")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        sock = bind(args.port)
    except OSError as error:
        print(f"cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr, flush=True)
        return 2
    port = sock.getsockname()[1]
    count_reaped_sessions()
    app = build_app(
        json_response=args.json_response,
        session_idle_timeout=args.session_idle_timeout,
        get_stream=not args.no_get_stream,
    )
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level=args.log_level.lower(), lifespan="on")
    ReadyServer(config, port).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
