"""The unmodified official SDK client over ``RecoveringTransport``, against real server processes.

Servers run as separate processes on 127.0.0.1 and are killed with SIGKILL and restarted on the
same port: the SDK 2.3.0 server (legacy sessions and the sessionless era), the TypeScript SDK's
server when node is present, and the reverse proxy answering 502 or a plain 404 while its backend
is down. What each new process counted (its initializes, its tool executions) is the evidence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import Era, EraMode, ReplayPolicy
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions
from mcp_session_recovery.runtime.answers import CUT_EVENT_TYPE
from mcp_session_recovery.testing import Behaviour, ServedEra, ServerProcess, StaleStyle, blob_text, serve

from .downtime import LossWatch, call_while_down, herd_after_a_restart
from .processes import ManagedServer, proxy_argv, sdk_server_argv
from .ts_server.setup import ensure_ts_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client is tested on asyncio; the runtime itself runs on both


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {
        "backoff": Backoff(base=0.05, cap=0.5),
        "max_attempts": 40,
        "request_timeout": 20.0,
        "era_cache": EraCache(),
    }
    settings.update(changes)
    return SessionOptions(**settings)


@asynccontextmanager
async def sdk_session(url: str, options: SessionOptions | None = None, **kwargs: Any) -> AsyncIterator[ClientSession]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options or _options(), **kwargs)
    async with (
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def _text(result: Any) -> str:
    return str(result.content[0].text)


@pytest.fixture
def sdk_server() -> Iterator[ManagedServer]:
    with ManagedServer(sdk_server_argv()) as server:
        yield server


async def _restart(server: ManagedServer) -> None:
    await anyio.to_thread.run_sync(server.restart)


async def test_after_each_of_3_restarts_5_calls_succeed_once_each(sdk_server: ManagedServer) -> None:
    async with sdk_session(sdk_server.url) as session:
        assert _text(await session.call_tool("bump", {})) == "1"
        for _ in range(3):
            await _restart(sdk_server)
            results = [_text(await session.call_tool("bump", {})) for _ in range(5)]
            assert results == ["1", "2", "3", "4", "5"]
            stats = await anyio.to_thread.run_sync(sdk_server.stats)
            assert stats["tool_executions"] == {"bump": 5}, "nothing lost, nothing run twice"
            assert stats["initializes"] == 1, "exactly one initialize on each new process"


async def test_50_concurrent_calls_across_a_restart_need_one_initialize(sdk_server: ManagedServer) -> None:
    async with sdk_session(sdk_server.url) as session:
        await session.call_tool("bump", {})

        async def bump() -> str:
            return _text(await session.call_tool("bump", {}))

        results = await herd_after_a_restart(sdk_server, bump)
        assert sorted(int(r) for r in results) == list(range(1, 51))
        stats = await anyio.to_thread.run_sync(sdk_server.stats)
        assert stats["initializes"] == 1
        assert stats["tool_executions"] == {"bump": 50}


@pytest.mark.parametrize("era", ["legacy", "sessionless"])
async def test_a_call_issued_while_the_server_is_down_completes_when_it_is_back(
    sdk_server: ManagedServer, era: str
) -> None:
    watch = LossWatch()
    transport_mode = EraMode.LEGACY if era == "legacy" else EraMode.MODERN
    async with sdk_session(sdk_server.url, mode=transport_mode, on_event=watch) as session:
        await session.call_tool("bump", {})
        assert _text(await call_while_down(sdk_server, watch, lambda: session.call_tool("bump", {}))) == "1"
        assert _text(await session.call_tool("bump", {})) == "2", "the client stays usable"


@pytest.mark.parametrize("down_answer", ["bad_gateway", "not_found"])
async def test_behind_a_proxy_calls_made_while_the_backend_is_down_succeed_after(
    sdk_server: ManagedServer, down_answer: str
) -> None:
    watch = LossWatch()
    with ManagedServer(proxy_argv(sdk_server.port, down_answer=down_answer)) as proxy:
        async with sdk_session(proxy.url, mode=EraMode.LEGACY, on_event=watch) as session:
            await session.call_tool("bump", {})
            result = await call_while_down(sdk_server, watch, lambda: session.call_tool("bump", {}))
            assert _text(result) == "1", "the proxy's answers were a wait, not a failure"
            assert _text(await session.call_tool("bump", {})) == "2"
            proxy_stats = await anyio.to_thread.run_sync(proxy.stats)
            assert proxy_stats["down_answers"] >= 1, "the proxy did answer for the dead backend"


async def test_a_cut_tool_call_is_not_replayed_but_a_read_only_one_is() -> None:
    options = _options(policy=ReplayPolicy(trust_tool_annotations=True))
    server_cm = serve(Behaviour(eras=frozenset({ServedEra.LEGACY})))
    async with server_cm as server, sdk_session(server.url, options) as session:
        await session.list_tools()  # the transport learns the tools' annotations from the answer
        server.configure(cut_tool_responses=1)
        with pytest.raises(MCPError, match=r"may or may not") as caught:
            await session.call_tool("bump", {})
        assert caught.value.error.code == -32000
        assert server.stats.tool_executions["bump"] == 1, "not run a second time"
        server.configure(cut_tool_responses=1)
        assert _text(await session.call_tool("add", {"a": 2, "b": 3})) == "5"
        assert server.stats.tool_executions["add"] == 2, "the read-only call was cut and replayed"


async def test_the_typescript_sdk_server_restarted_is_recovered() -> None:
    argv = ensure_ts_server()
    if isinstance(argv, str):
        pytest.skip(f"the TypeScript SDK server is not available here: {argv}")
    with ManagedServer(lambda port: [*argv, "--port", str(port)]) as server:
        async with sdk_session(server.url, mode=EraMode.LEGACY) as session:
            assert _text(await session.call_tool("bump", {})) == "1"
            await _restart(server)
            assert [_text(await session.call_tool("bump", {})) for _ in range(3)] == ["1", "2", "3"]
            stats = await anyio.to_thread.run_sync(server.stats)
            assert stats["initializes"] == 1
            assert stats["tool_executions"]["bump"] == 3


@pytest.mark.parametrize(
    ("eras", "stale_style"),
    [
        (frozenset({ServedEra.LEGACY}), StaleStyle.PLAIN_TEXT),  # a Go/Rust-style 404 "session not found\n"
        (frozenset({ServedEra.LEGACY}), StaleStyle.ERROR_STRING),  # 404 {"error": "Not Found: invalid session ID"}
        (frozenset({ServedEra.MODERN}), StaleStyle.SDK_PYTHON),  # a sessionless-only server
    ],
)
async def test_hand_written_and_modern_only_servers_killed_and_restarted(
    eras: frozenset[ServedEra], stale_style: StaleStyle
) -> None:
    with ServerProcess(eras=eras, stale_style=stale_style) as server:
        async with sdk_session(server.url) as session:
            assert _text(await session.call_tool("bump", {})) == "1"
            await anyio.to_thread.run_sync(server.restart)
            assert [_text(await session.call_tool("bump", {})) for _ in range(3)] == ["1", "2", "3"]
            stats = await anyio.to_thread.run_sync(server.stats)
            assert stats.tool_executions["bump"] == 3
            assert stats.initializes == (1 if ServedEra.LEGACY in eras else 0)


async def test_the_sdks_high_level_client_in_auto_mode_survives_downtime(sdk_server: ManagedServer) -> None:
    """``mcp.Client`` negotiates the sessionless era, where a restart needs nothing, but a call made
    while the server is down kills the bare SDK client (its ConnectError escapes); not here."""
    watch = LossWatch()
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=_options(), on_event=watch)
    async with (
        httpx2.AsyncClient(transport=transport) as http,
        mcp.Client(streamable_http_client(sdk_server.url, http_client=http)) as client,
    ):
        assert _text(await client.call_tool("bump", {})) == "1"
        assert transport.session is not None
        binding = transport.session.binding
        assert binding is not None
        assert binding.era is Era.MODERN
        await _restart(sdk_server)
        assert _text(await client.call_tool("bump", {})) == "1"
        assert _text(await call_while_down(sdk_server, watch, lambda: client.call_tool("bump", {}))) == "1"
        assert _text(await client.call_tool("bump", {})) == "2"


async def test_a_big_answer_cut_half_way_reaches_the_sdk_whole_once(caplog: pytest.LogCaptureFixture) -> None:
    """The relay hands a big event on as it comes; cut half way (about 400 KiB handed on), the half
    event is closed as no ``message``, and the replayed read-only call's answer follows: the SDK
    returns the whole text, and no JSON error."""
    size = 800_000  # within the SDK's default limit of 1 MiB for one event
    options = _options(policy=ReplayPolicy(trust_tool_annotations=True))
    with ServerProcess(eras=frozenset({ServedEra.LEGACY})) as server:
        async with sdk_session(server.url, options) as session:
            await session.list_tools()
            await anyio.to_thread.run_sync(lambda: server.configure(cut_tool_responses=1))
            result = await session.call_tool("blob", {"size": size})
            assert _text(result) == blob_text(size)
            # The SDK got the half event (handed on before the cut) as an event of another type
            assert f"Unknown SSE event: {CUT_EVENT_TYPE}" in caplog.text
            stats = await anyio.to_thread.run_sync(server.stats)
            assert stats.tool_executions["blob"] == 2, "cut once, replayed once"
            assert _text(await session.call_tool("add", {"a": 2, "b": 3})) == "5"
