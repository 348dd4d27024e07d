"""``connect()`` against real server processes that restart, go down and change era on one URL."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest

from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import Era, RequestSubmitted, ResponseReceived
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions, TransitionRecord
from mcp_session_recovery.testing import ServedEra, ServerProcess

from . import processes
from .downtime import LossWatch, call_while_down
from .processes import ManagedServer, free_port, sdk_server_argv

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


OPTIONS = SessionOptions(backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20, era_cache=EraCache())


def _text(result: types.CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


@pytest.fixture
def port() -> int:
    return free_port()


async def _swap(old: ManagedServer, new: ManagedServer) -> None:
    await anyio.to_thread.run_sync(old.kill)
    await anyio.to_thread.run_sync(new.start)


async def test_one_url_switching_legacy_modern_legacy_across_restarts(port: int) -> None:
    refreshed: list[types.ListToolsResult] = []

    async def on_tools_changed(tools: types.ListToolsResult) -> None:
        refreshed.append(tools)

    servers = [
        ManagedServer(processes.testing_server_argv("--eras", era), port=port) for era in ("legacy", "modern", "legacy")
    ]
    servers[0].start()
    try:
        async with connect(servers[0].url, options=OPTIONS, on_tools_changed=on_tools_changed) as client:
            spoken = []
            for index, server in enumerate(servers):
                if index:
                    await _swap(servers[index - 1], server)
                for expected in ("1", "2", "3"):
                    assert _text(await client.call_tool("bump", {})) == expected
                binding = client.session.binding
                assert binding is not None
                spoken.append(binding.era)
            assert spoken == [Era.LEGACY, Era.MODERN, Era.LEGACY]
            assert len(refreshed) == 2, "the tool list was fetched again after each era change"
            assert all(tools.tools for tools in refreshed)
    finally:
        for server in servers:
            server.close()


async def test_auto_mode_against_the_sdk_server_survives_restarts_and_downtime() -> None:
    watch = LossWatch()
    with ManagedServer(sdk_server_argv()) as server:
        async with connect(server.url, options=OPTIONS, on_event=watch) as client:
            tools = await client.list_tools()
            assert {tool.name for tool in tools.tools} >= {"bump", "add", "peek"}
            assert _text(await client.call_tool("bump", {})) == "1"
            binding = client.session.binding
            assert binding is not None
            assert binding.era is Era.MODERN, "SDK 2.3.0 serves the sessionless era; auto mode found it"
            await anyio.to_thread.run_sync(server.restart)
            assert _text(await client.call_tool("bump", {})) == "1"
            assert _text(await call_while_down(server, watch, lambda: client.call_tool("bump", {}))) == "1"
            stats: dict[str, Any] = await anyio.to_thread.run_sync(server.stats)
            assert stats["tool_executions"] == {"bump": 1}


async def test_a_killed_legacy_server_gets_the_log_level_and_subscriptions_again() -> None:
    restored = anyio.Event()
    subscribing: set[int] = set()

    def on_event(record: TransitionRecord) -> None:
        # Restoring runs beside the replayed call; its subscribe's answer is what the test waits for.
        event = record.event
        if isinstance(event, RequestSubmitted) and event.method == "resources/subscribe":
            subscribing.add(event.request_id)
        elif isinstance(event, ResponseReceived) and event.request_id in subscribing and record.generation > 1:
            restored.set()

    with ServerProcess(eras=frozenset({ServedEra.LEGACY})) as server:
        async with connect(server.url, mode="legacy", options=OPTIONS, on_event=on_event) as client:
            await client.set_logging_level("info")
            await client.subscribe_resource("test://counter")
            assert _text(await client.call_tool("add", {"a": 2, "b": 3})) == "5"
            await anyio.to_thread.run_sync(server.restart)
            assert _text(await client.call_tool("add", {"a": 4, "b": 5})) == "9"
            with anyio.fail_after(10):
                await restored.wait()
            stats = await anyio.to_thread.run_sync(server.stats)
            assert stats.requests_by_method.get("logging/setLevel") == 1, "the log level was set again"
            assert stats.requests_by_method.get("resources/subscribe") == 1, "the subscription was made again"
            assert stats.initializes == 1
            assert stats.requests_before_initialized == 0


async def test_a_bad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        async with connect("http://127.0.0.1:9/mcp", mode="2024-01-01"):
            pass
