"""The clients Python users run on the SDK 2.x line, each opened as its users open it: alone, or with
the one line of this library (``recovering_client_factory()``) that makes it recover.

Each is given one surface the tests drive, ``call_tool(name, arguments) -> str`` (also what the
conformance kit calls): the text of the tool's answer, or the client's own exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Protocol

import httpx2
import mcp
from agents.mcp import MCPServerStreamableHttp
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import StreamableHttpTransport
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from pydantic_ai.mcp import MCPToolset

from mcp_session_recovery import RecoveringClientFactory

from .downtime import failure_text

__all__ = ["FRAMEWORKS", "Caller", "Factory", "Framework", "failure_text", "framework", "text_of"]

#: What the tests hand a framework: a recovering factory, or ``None`` for the framework alone.
Factory = RecoveringClientFactory[httpx2.AsyncClient] | None

#: Seconds a framework's own per-call timeout allows (the Agents SDK's default is 5 s, which a call
#: waiting out a restart of the SDK server, about 1.5 s here, may need more than on a loaded machine).
CALL_TIMEOUT = 30.0


class Caller(Protocol):
    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str: ...


def text_of(result: Any) -> str:
    """The text of a tool result, in the shapes these clients return."""
    if isinstance(result, str):
        return result
    if isinstance(result, dict) and "result" in result:
        return str(result["result"])  # pydantic-ai hands structured content on as it came
    return str(result.content[0].text)


class _Texts:
    """``call_tool`` returning the answer's text, over any client whose ``call`` gives a result."""

    def __init__(self, call: Callable[[str, dict[str, Any]], Any]) -> None:
        self._call = call

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        return text_of(await self._call(name, arguments))


@asynccontextmanager
async def _fastmcp(url: str, factory: Factory) -> AsyncIterator[Caller]:
    async with FastMCPClient(StreamableHttpTransport(url, httpx_client_factory=factory)) as client:
        yield _Texts(client.call_tool)


@asynccontextmanager
async def _pydantic_ai(url: str, factory: Factory) -> AsyncIterator[Caller]:
    # The toolset's FastMCP client calls the factory and enters the client it gets.
    transport = StreamableHttpTransport(url, httpx_client_factory=factory)
    async with MCPToolset(transport, tool_error_behavior="error") as toolset:
        yield _Texts(toolset.direct_call_tool)


@asynccontextmanager
async def _pydantic_ai_http_client(url: str, factory: Factory) -> AsyncIterator[Caller]:
    # ``http_client=`` is borrowed: pydantic-ai never enters nor closes it, so its owner does.
    if factory is None:
        async with MCPToolset(url, tool_error_behavior="error") as toolset:
            yield _Texts(toolset.direct_call_tool)
        return
    async with factory() as http, MCPToolset(url, http_client=http, tool_error_behavior="error") as toolset:
        yield _Texts(toolset.direct_call_tool)


@asynccontextmanager
async def _openai_agents(url: str, factory: Factory) -> AsyncIterator[Caller]:
    params: Any = {"url": url, "timeout": CALL_TIMEOUT}
    if factory is not None:
        params["httpx_client_factory"] = factory
    # max_retry_attempts stays 0 (its default): its retries would replay a tools/call on top of ours.
    async with MCPServerStreamableHttp(params, client_session_timeout_seconds=CALL_TIMEOUT) as server:
        yield _Texts(server.call_tool)


@asynccontextmanager
async def _sdk_session(url: str, factory: Factory) -> AsyncIterator[Caller]:
    async with (
        factory() if factory is not None else httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield _Texts(session.call_tool)


@asynccontextmanager
async def _sdk_client(url: str, factory: Factory) -> AsyncIterator[Caller]:
    if factory is None:
        async with mcp.Client(url) as client:
            yield _Texts(client.call_tool)
        return
    async with factory() as http, mcp.Client(streamable_http_client(url, http_client=http)) as client:
        yield _Texts(client.call_tool)


@dataclass(frozen=True)
class Framework:
    """A client, how its users open it, and the recipe's line."""

    name: str
    distribution: str
    open: Callable[[str, Factory], AbstractAsyncContextManager[Caller]]
    recipe: str
    #: Whether it speaks the sessionless era when the server offers it (else it always has a session).
    sessionless: bool = True

    @property
    def version(self) -> str:
        return version(self.distribution)

    def __str__(self) -> str:
        return self.name


FRAMEWORKS = (
    Framework(
        "fastmcp",
        "fastmcp-slim",
        _fastmcp,
        "Client(StreamableHttpTransport(url, httpx_client_factory=recovering_client_factory()))",
    ),
    Framework(
        "pydantic-ai",
        "pydantic-ai-slim",
        _pydantic_ai,
        "MCPToolset(StreamableHttpTransport(url, httpx_client_factory=recovering_client_factory()))",
    ),
    Framework(
        "pydantic-ai-http-client",
        "pydantic-ai-slim",
        _pydantic_ai_http_client,
        "async with recovering_client_factory()() as http: MCPToolset(url, http_client=http)",
    ),
    Framework(
        "openai-agents",
        "openai-agents",
        _openai_agents,
        'MCPServerStreamableHttp({"url": url, "httpx_client_factory": recovering_client_factory()})',
    ),
    Framework(
        "sdk-client-session",
        "mcp",
        _sdk_session,
        "async with recovering_client_factory()() as http: streamable_http_client(url, http_client=http)",
        sessionless=False,  # ``initialize()`` is the handshake
    ),
    Framework(
        "sdk-mcp-client",
        "mcp",
        _sdk_client,
        "async with recovering_client_factory()() as http: mcp.Client(streamable_http_client(url, http_client=http))",
    ),
)


def framework(name: str) -> Framework:
    """The framework called ``name``."""
    return next(f for f in FRAMEWORKS if f.name == name)
