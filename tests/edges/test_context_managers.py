"""Public context managers let a typed error out as itself, never wrapped in an ``ExceptionGroup``
(DESIGN §7: "public context managers raise the typed error itself"). Here the error is the
``MismatchedResponse`` of a call made inside the block and not caught there.
"""

from __future__ import annotations

import aiohttp
import httpx
import pytest

from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import MismatchedResponse
from mcp_session_recovery.runtime import Session
from mcp_session_recovery.testing import Behaviour, serve

from .support import options

pytestmark = pytest.mark.anyio

PEEK = {"name": "peek", "arguments": {}}


async def test_the_typed_error_leaves_a_session_block_as_itself(anyio_backend: str) -> None:
    async with serve(Behaviour(mismatched_response_id=True)) as server, httpx.AsyncClient() as http:
        with pytest.raises(MismatchedResponse):
            async with Session(HttpxWire(http, server.url), server.url, options()) as session:
                await session.request("tools/call", PEEK)


async def test_the_typed_error_leaves_connect_as_itself(anyio_backend: str) -> None:
    async with serve(Behaviour(mismatched_response_id=True)) as server:
        with pytest.raises(MismatchedResponse):
            async with connect(server.url, mode="legacy", options=options()) as client:
                await client.call_tool("peek", {})


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_typed_error_leaves_an_aiohttp_session_block_as_itself(anyio_backend: str) -> None:
    async with serve(Behaviour(mismatched_response_id=True)) as server, aiohttp.ClientSession() as http:
        with pytest.raises(MismatchedResponse):
            async with Session(AiohttpWire(http, server.url), server.url, options()) as session:
                await session.request("tools/call", PEEK)
