"""A raw JSON-RPC client on aiohttp survives a server restart through ``RecoveringMiddleware``.

Starts the library's test server in-process (legacy sessions), speaks MCP by hand over an
``aiohttp.ClientSession`` with the middleware in its chain, restarts the server (every session
forgotten) and calls again with the session id it got first: the middleware re-initializes once,
re-sends the call through aiohttp's handler and hands back the server's own response.

    python examples/aiohttp_middleware.py
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anyio

from mcp_session_recovery.adapters.aiohttp_middleware import RecoveringMiddleware
from mcp_session_recovery.testing import serve

HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def message_in(body: bytes) -> Any:
    """The JSON-RPC message of a JSON answer or of the last ``data:`` line of an SSE answer."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return json.loads([line[5:] for line in text.splitlines() if line.startswith("data:")][-1])


async def main() -> None:
    async with serve() as server:
        recovering = RecoveringMiddleware()
        # Enter the middleware after the ClientSession: it closes first (its one DELETE needs the session).
        async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
            initialize = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw"}},
            }
            async with http.post(server.url, json=initialize, headers=HEADERS) as answer:
                headers = {**HEADERS, "mcp-session-id": answer.headers["mcp-session-id"]}
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            async with http.post(server.url, json=initialized, headers=headers) as answer:
                assert answer.status == 202

            async def bump(request_id: int) -> str:
                call = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bump"}}
                async with http.post(server.url, json=call, headers=headers) as answer:
                    message = message_in(await answer.read())
                assert message["id"] == request_id  # the caller's own id, even for a re-sent request
                return str(message["result"]["content"][0]["text"])

            print("before restart:", await bump(2))
            server.restart()  # a redeploy: the session id this client holds is now unknown
            print("after restart:", await bump(3))
            print("initializes on the new server:", server.stats.initializes)


if __name__ == "__main__":
    anyio.run(main)
