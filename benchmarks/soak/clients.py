"""The three client kinds a soak episode uses, each reduced to one coroutine: call a tool, get its text.

- ``transport``: the SDK's ``ClientSession`` over ``RecoveringTransport`` (asyncio);
- ``connect``: ``connect()``, the library's own SDK-typed client (asyncio);
- ``session``: ``Session`` over ``HttpxWire`` (asyncio or trio).

Every kind gets the same options: the library's defaults, but the soak's deadline as
``request_timeout`` and the read-only tools allow-listed for replay (as an application that
knows its tools would configure it), so a cut ``add`` is re-sent and a cut ``bump`` is not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.shared.exceptions import MCPError

from benchmarks.clients import TIMEOUT, sdk_client
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import ReplayPolicy
from mcp_session_recovery.runtime import Session, SessionOptions
from mcp_session_recovery.runtime.answers import LIBRARY_ERROR_CODE

__all__ = ["DEADLINE", "CallTool", "ServerError", "ToolError", "TypedError", "open_client", "options"]

#: Every call's deadline, in seconds: the library's ``request_timeout``.
DEADLINE = 20.0

CallTool = Callable[[str, Mapping[str, Any]], Awaitable[str]]


class TypedError(Exception):
    """One of the library's typed errors, as it reached the caller (its class name in ``name``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class ServerError(Exception):
    """The server's own JSON-RPC error (not the library's)."""


class ToolError(Exception):
    """A tool result with ``isError`` set."""


def options() -> SessionOptions:
    """The soak's options: defaults, but its deadline and the read-only tools replayable."""
    return SessionOptions(request_timeout=DEADLINE, policy=ReplayPolicy(replayable_tools=frozenset({"add", "peek"})))


def _text(result: Any) -> str:
    if isinstance(result, Mapping):
        if result.get("isError"):
            raise ToolError(str(result.get("content")))
        return str(result["content"][0]["text"])
    if getattr(result, "is_error", False):
        raise ToolError(str(result.content))
    return str(result.content[0].text)


def _mcp_error(error: MCPError) -> Exception:
    """A typed library error when the JSON-RPC error is the library's (-32000 naming it)."""
    data = error.error.data
    if error.code == LIBRARY_ERROR_CODE and isinstance(data, Mapping) and isinstance(data.get("error"), str):
        return TypedError(data["error"])
    return ServerError(f"{error.code}: {error.error.message}")


@asynccontextmanager
async def open_client(kind: str, url: str) -> AsyncIterator[CallTool]:
    """A connected client of ``kind``; its ``call(tool, arguments)`` returns the tool's text.

    A library error leaves ``call`` as :class:`TypedError`, a server's JSON-RPC error as
    :class:`ServerError`, an ``isError`` result as :class:`ToolError`; anything else as itself.
    """
    if kind == "transport":
        transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options())
        async with sdk_client(url, transport) as sdk:

            async def call_sdk(tool: str, arguments: Mapping[str, Any]) -> str:
                try:
                    return _text(await sdk.call_tool(tool, dict(arguments)))
                except MCPError as error:
                    raise _mcp_error(error) from error

            yield call_sdk
    elif kind == "connect":
        async with connect(url, options=options()) as client:

            async def call_connect(tool: str, arguments: Mapping[str, Any]) -> str:
                try:
                    return _text(await client.call_tool(tool, dict(arguments)))
                except MCPError as error:
                    raise _mcp_error(error) from error

            yield call_connect
    elif kind == "session":
        async with (
            httpx2.AsyncClient(timeout=TIMEOUT) as http,
            Session(HttpxWire(http, url), url, options()) as session,
        ):

            async def call_session(tool: str, arguments: Mapping[str, Any]) -> str:
                return _text(await session.request("tools/call", {"name": tool, "arguments": dict(arguments)}))

            yield call_session
    else:
        raise ValueError(f"unknown client kind {kind!r}")
