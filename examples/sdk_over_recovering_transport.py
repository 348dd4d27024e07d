"""The unmodified official SDK client survives a server restart through ``RecoveringTransport``.

Starts the library's test server in-process (legacy sessions, like an mcp 1.x server), opens a
plain ``ClientSession`` over ``streamable_http_client`` with the transport wrapped, restarts the
server (every session forgotten) and calls again. Without the wrapper the second call fails with
``MCPError(-32600, "Session not found")`` forever.

    python examples/sdk_over_recovering_transport.py
"""

from __future__ import annotations

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.testing import serve


async def main() -> None:
    async with serve() as server:
        transport = RecoveringTransport(httpx2.AsyncHTTPTransport())
        async with (
            httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30, read=300)) as http_client,
            streamable_http_client(server.url, http_client=http_client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            before = await session.call_tool("bump", {})
            server.restart()  # a redeploy: the session id the SDK holds is now unknown
            after = await session.call_tool("bump", {})
            print("before restart:", before.content[0].text)  # type: ignore[union-attr]
            print("after restart:", after.content[0].text)  # type: ignore[union-attr]
            print("initializes on the new server:", server.stats.initializes)


if __name__ == "__main__":
    anyio.run(main)
