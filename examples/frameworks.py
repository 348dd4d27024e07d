"""One line per framework: FastMCP, pydantic-ai, the OpenAI Agents SDK and the SDK 2.x survive a restart.

Each takes ``recovering_client_factory()`` where it takes an httpx client factory (pydantic-ai and
the SDK also take a client you enter yourself). Starts the library's test server in-process
(legacy sessions, like every server before 2026-07-28), calls ``bump`` through each client,
restarts the server (every session forgotten) and calls again. Alone, each client's second call
fails with ``Session not found``, and every call after it too.

    python examples/frameworks.py
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import mcp
from agents.mcp import MCPServerStreamableHttp
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from pydantic_ai.mcp import MCPToolset

from mcp_session_recovery import recovering_client_factory
from mcp_session_recovery.testing import serve

Call = Callable[[str, dict[str, Any]], Awaitable[Any]]


@asynccontextmanager
async def fastmcp_client(url: str) -> AsyncIterator[Call]:
    async with Client(StreamableHttpTransport(url, httpx_client_factory=recovering_client_factory())) as client:
        yield client.call_tool


@asynccontextmanager
async def pydantic_ai_toolset(url: str) -> AsyncIterator[Call]:
    # The toolset's FastMCP client calls the factory and enters the client it builds.
    transport = StreamableHttpTransport(url, httpx_client_factory=recovering_client_factory())
    async with MCPToolset(transport) as toolset:
        yield toolset.direct_call_tool


@asynccontextmanager
async def openai_agents_server(url: str) -> AsyncIterator[Call]:
    # Leave max_retry_attempts at 0: its retries would run a tool again whose answer was lost.
    async with MCPServerStreamableHttp({"url": url, "httpx_client_factory": recovering_client_factory()}) as server:
        yield server.call_tool


@asynccontextmanager
async def sdk_client_session(url: str) -> AsyncIterator[Call]:
    # A client handed to the SDK is not entered by it: enter it yourself.
    async with (
        recovering_client_factory()() as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session.call_tool


@asynccontextmanager
async def sdk_mcp_client(url: str) -> AsyncIterator[Call]:
    async with recovering_client_factory()() as http, mcp.Client(streamable_http_client(url, http_client=http)) as c:
        yield c.call_tool


CLIENTS: dict[str, Callable[[str], AbstractAsyncContextManager[Call]]] = {
    "fastmcp": fastmcp_client,
    "pydantic-ai": pydantic_ai_toolset,
    "openai-agents": openai_agents_server,
    "sdk ClientSession": sdk_client_session,
    "sdk mcp.Client": sdk_mcp_client,
}


def text(result: Any) -> str:
    if isinstance(result, str):  # pydantic-ai hands back the text itself
        return result
    return str(result.content[0].text)


async def main() -> None:
    async with serve() as server:
        for name, open_client in CLIENTS.items():
            async with open_client(server.url) as call_tool:
                before = text(await call_tool("bump", {}))
                server.restart()  # a redeploy: the session the client holds is gone
                after = text(await call_tool("bump", {}))
                print(f"{name}: before restart {before}, after restart {after}, initializes {server.stats.initializes}")


if __name__ == "__main__":
    anyio.run(main)
