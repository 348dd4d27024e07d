"""The same runtime over aiohttp (asyncio only, as aiohttp is): the decisions do not change."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest

from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.model import EraMode, OutcomeUnknown, Progress, State, TransportFailureKind
from mcp_session_recovery.model.messages import ClientIdentity, initialize_request
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions, WireError
from mcp_session_recovery.testing import Behaviour, ServedEra, TestServer, serve

pytestmark = pytest.mark.anyio

OPTIONS = SessionOptions(backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=10, era_cache=EraCache())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def _session(server: TestServer, **changes: Any) -> AsyncIterator[Session]:
    options = dataclasses.replace(OPTIONS, **changes)
    async with (
        aiohttp.ClientSession() as http,
        Session(AiohttpWire(http, server.url), server.url, options) as session,
    ):
        yield session


async def _bump(session: Session) -> str:
    result = await session.request("tools/call", {"name": "bump", "arguments": {}})
    return str(result["content"][0]["text"])


async def test_20_concurrent_calls_across_a_restart_over_aiohttp() -> None:
    async with serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server, _session(server) as session:
        await _bump(session)
        server.restart()
        results: list[str] = []

        async def one() -> None:
            results.append(await _bump(session))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
        assert sorted(int(r) for r in results) == list(range(1, 21))
        assert server.stats.initializes == 1


async def test_an_outage_and_a_cut_stream_over_aiohttp() -> None:
    async with serve(Behaviour(eras=frozenset({ServedEra.MODERN}))) as server, _session(server) as session:
        await _bump(session)
        back = await server.outage(0.3)
        assert await _bump(session) == "2"
        assert back.is_set()
        server.configure(cut_tool_responses=1)
        with pytest.raises(OutcomeUnknown):
            await _bump(session)
        assert server.stats.tool_executions["bump"] == 3, "the cut call ran once and was not re-sent"
        assert session.state is State.READY


async def test_a_refused_connection_is_reported_as_not_sent() -> None:
    async with serve() as server:
        await server.stop_listening()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(WireError) as caught:
                await AiohttpWire(http, server.url).send(initialize_request(1, ClientIdentity()))
    assert caught.value.kind is TransportFailureKind.CONNECT_REFUSED
    assert caught.value.progress is Progress.NOT_SENT


async def test_legacy_mode_over_aiohttp_restores_subscriptions() -> None:
    async with (
        serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server,
        _session(server, mode=EraMode.LEGACY) as session,
    ):
        await session.request("resources/subscribe", {"uri": "test://counter"})
        server.restart()
        await _bump(session)
        stats = await server.wait_until(lambda s: s.requests_by_method.get("resources/subscribe", 0) == 1)
        assert stats.initializes == 1
