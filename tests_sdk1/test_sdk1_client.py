"""The SDK 1.x line's ``ClientSession`` (mcp 1.30, on httpx) over ``RecoveringTransport``, against real
server processes: the 1.x SDK's own server, SIGKILLed and started again on the same port, a reverse
proxy answering 502 while it is down, and the server's own idle reaper.

Each scenario is shown twice: the unmodified 1.x client alone fails with the bug's own symptom
(a stale session's ``Session terminated``, or a ``ConnectError``/502 that escapes the SDK's task
group and kills the whole client), and the same client over ``RecoveringTransport`` gets every call
answered, with one ``initialize`` per new process (or per reaped session) and no second execution
of ``bump``, the tool whose side effect must not repeat. What each server process counted is the
evidence. The 1.x line has no sessionless era (its newest protocol is 2025-11-25), so there is no
such scenario here.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, cast

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client, streamablehttp_client
from mcp.shared.exceptions import McpError
from mcp.types import CallToolResult, TextContent

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions, TransitionRecord
from tests.integration.downtime import LossWatch, call_while_down, herd_after_a_restart
from tests.integration.processes import ManagedServer, proxy_argv

pytestmark = pytest.mark.anyio

#: Every wait below ends within this.
DEADLINE = 30.0
#: The reaper's idle period in the idle test, and the client's read timeout there: a 1.x client's
#: GET stream that times out twice is given up for good, and the session then has nothing in flight.
IDLE_SECONDS = 1.0

OnEvent = Callable[[TransitionRecord], None]

#: The client alone is shown on asyncio only: its failure is the SDK's own, the backend changes
#: nothing about it, and CI time is better spent on the library's side of each scenario.
alone = pytest.mark.parametrize("anyio_backend", ["asyncio"])


def sdk1_server_argv(*flags: str) -> Callable[[int], list[str]]:
    """The SDK 1.x server (``tests_sdk1/servers/sdk1_server.py``)."""
    module = "tests_sdk1.servers.sdk1_server"
    return lambda port: [sys.executable, "-m", module, "--port", str(port), *flags]


def recovering(on_event: OnEvent | None = None) -> httpx.AsyncBaseTransport:
    """``RecoveringTransport`` over httpx's own transport (typed as an httpx2 one, hence the cast)."""
    options = SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20.0, era_cache=EraCache()
    )
    transport = RecoveringTransport(httpx.AsyncHTTPTransport(), options=options, on_event=on_event)
    return cast(httpx.AsyncBaseTransport, transport)


@asynccontextmanager
async def sdk1_session(
    url: str, transport: httpx.AsyncBaseTransport | None, *, read_timeout: float = 30.0
) -> AsyncIterator[ClientSession]:
    """The 1.x client as its README shows it, an ``httpx.AsyncClient`` given to ``streamable_http_client``
    (``transport=None``: the client alone)."""
    async with (
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(10, read=read_timeout)) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text(result: CallToolResult) -> str:
    assert not result.isError, result
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


async def bump(session: ClientSession) -> str:
    return text(await session.call_tool("bump", {}))


async def stats(server: ManagedServer) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(server.stats)


@pytest.fixture
def server() -> Iterator[ManagedServer]:
    with ManagedServer(sdk1_server_argv()) as started:
        yield started


# -- a restart (SIGKILL, a new process on the same port) ------------------------------------------------


@alone
async def test_alone_a_restart_leaves_the_1x_client_on_its_dead_session(server: ManagedServer) -> None:
    with anyio.fail_after(DEADLINE):
        async with sdk1_session(server.url, None) as session:
            assert await bump(session) == "1"
            await anyio.to_thread.run_sync(server.restart)
            for _ in range(2):  # every later call too: the 1.x client never initializes again
                with pytest.raises(McpError, match="Session terminated"):
                    await session.call_tool("bump", {})
            counted = await stats(server)
            # Both calls, and the GET stream's own retry when it came before this read (it waits 1 s).
            assert set(counted["responses_by_status"]) == {"404"}
            assert counted["responses_by_status"]["404"] >= 2
            assert counted["initializes"] == 0


async def test_over_the_transport_3_restarts_cost_one_initialize_each(server: ManagedServer) -> None:
    with anyio.fail_after(DEADLINE * 2):
        async with sdk1_session(server.url, recovering()) as session:
            assert await bump(session) == "1"
            for _ in range(3):
                await anyio.to_thread.run_sync(server.restart)
                assert [await bump(session) for _ in range(5)] == ["1", "2", "3", "4", "5"]
                counted = await stats(server)
                assert counted["tool_executions"] == {"bump": 5}, "every call answered, none run twice"
                assert counted["initializes"] == 1, "one initialize on each new process"


# asyncio only: on trio the 1.x client alone loses answers to concurrent calls (the server ran all
# 20, the client got 16 within 8 s, with no restart and no library); one at a time it is fine.
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_over_the_transport_20_concurrent_calls_after_a_restart_need_one_initialize(
    server: ManagedServer,
) -> None:
    async with sdk1_session(server.url, recovering()) as session:
        assert await bump(session) == "1"
        results = await herd_after_a_restart(server, lambda: bump(session), size=20)
        assert sorted(int(r) for r in results) == list(range(1, 21))
        counted = await stats(server)
        assert counted["initializes"] == 1
        assert counted["tool_executions"] == {"bump": 20}


@pytest.mark.filterwarnings("ignore:Use `streamable_http_client` instead:DeprecationWarning")
async def test_the_httpx_client_factory_form_the_frameworks_use_survives_a_restart(server: ManagedServer) -> None:
    """``streamablehttp_client(url, httpx_client_factory=...)``: the SDK's ``McpHttpClientFactory``
    seam, through which frameworks such as langchain-mcp-adapters build their 1.x client (the
    function is deprecated in 1.30, still there)."""

    def factory(
        headers: dict[str, str] | None = None, timeout: httpx.Timeout | None = None, auth: httpx.Auth | None = None
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=recovering())

    with anyio.fail_after(DEADLINE):
        async with (
            streamablehttp_client(server.url, httpx_client_factory=factory) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            assert await bump(session) == "1"
            await anyio.to_thread.run_sync(server.restart)
            assert [await bump(session) for _ in range(3)] == ["1", "2", "3"]
            counted = await stats(server)
            assert (counted["initializes"], counted["tool_executions"]) == (1, {"bump": 3})


# -- a call made while the server is down, directly and behind a gateway answering 502 ---------------------


async def _bump_while_down_alone(server: ManagedServer, url: str) -> pytest.ExceptionInfo[BaseExceptionGroup[Any]]:
    """The plain client's call made while ``server`` is dead: the error that ends its ``async with``."""

    async def bump_while_down() -> None:
        async with sdk1_session(url, None) as session:
            assert await bump(session) == "1"
            await anyio.to_thread.run_sync(server.kill)
            await session.call_tool("bump", {})  # cancelled: the transport's task group dies under it

    with anyio.fail_after(DEADLINE), pytest.raises(BaseExceptionGroup) as caught:
        await bump_while_down()
    return caught


@alone
async def test_alone_a_call_made_while_the_server_is_down_kills_the_1x_client(server: ManagedServer) -> None:
    caught = await _bump_while_down_alone(server, server.url)
    assert caught.group_contains(httpx.ConnectError, depth=None)


@alone
async def test_alone_a_gateway_502_kills_the_1x_client(server: ManagedServer) -> None:
    with ManagedServer(proxy_argv(server.port, down_answer="bad_gateway")) as gateway:
        caught = await _bump_while_down_alone(server, gateway.url)
        assert caught.group_contains(httpx.HTTPStatusError, match="502 Bad Gateway", depth=None)
        assert (await stats(gateway))["down_answers"] >= 1


async def test_over_the_transport_a_call_made_while_the_server_is_down_completes_once_it_is_back(
    server: ManagedServer,
) -> None:
    watch = LossWatch()
    async with sdk1_session(server.url, recovering(watch)) as session:
        assert await bump(session) == "1"
        assert await call_while_down(server, watch, lambda: bump(session)) == "1"
        assert await bump(session) == "2", "the client stays usable"
        counted = await stats(server)
        assert (counted["initializes"], counted["tool_executions"]) == (1, {"bump": 2})


async def test_over_the_transport_a_502_window_is_a_wait_not_a_failure(server: ManagedServer) -> None:
    watch = LossWatch()
    with ManagedServer(proxy_argv(server.port, down_answer="bad_gateway")) as gateway:
        async with sdk1_session(gateway.url, recovering(watch)) as session:
            assert await bump(session) == "1"
            assert await call_while_down(server, watch, lambda: bump(session)) == "1"
            assert await bump(session) == "2"
            assert (await stats(gateway))["down_answers"] >= 1, "the gateway did answer for the dead server"
            counted = await stats(server)
            assert (counted["initializes"], counted["tool_executions"]) == (1, {"bump": 2})


async def test_over_the_transport_a_call_cut_by_the_kill_is_not_run_again(server: ManagedServer) -> None:
    """``slow`` is running when the server dies: its answer is lost, and a tool not annotated
    read-only or idempotent is never sent a second time; that one caller gets a typed error."""
    async with sdk1_session(server.url, recovering()) as session:
        assert await bump(session) == "1"
        errors: list[McpError] = []

        async def slow_call() -> None:
            with pytest.raises(McpError) as caught:
                await session.call_tool("slow", {"seconds": 10})
            errors.append(caught.value)

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow_call)
                await _until(server, lambda counted: counted["tool_executions"].get("slow") == 1)
                await anyio.to_thread.run_sync(server.restart)
        assert "may or may not" in errors[0].error.message
        assert await bump(session) == "1"
        counted = await stats(server)
        assert counted["tool_executions"] == {"bump": 1}, "slow was not replayed on the new process"


# -- the server's own idle reaper (mcp >= 1.30) --------------------------------------------------------


async def _until(server: ManagedServer, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the server's counters until ``condition`` holds (bounded by the caller's deadline)."""
    for _ in range(int(DEADLINE / 0.05)):
        counted = await stats(server)
        if condition(counted):
            return counted
        await anyio.sleep(0.05)
    raise AssertionError(f"the server never got there: {counted}")


@pytest.fixture
def reaping_server() -> Iterator[ManagedServer]:
    with ManagedServer(sdk1_server_argv("--session-idle-timeout", str(IDLE_SECONDS))) as started:
        yield started


@alone
async def test_alone_a_session_the_server_reaped_is_dead_to_the_1x_client(reaping_server: ManagedServer) -> None:
    with anyio.fail_after(DEADLINE):
        async with sdk1_session(reaping_server.url, None, read_timeout=IDLE_SECONDS) as session:
            assert await bump(session) == "1"
            await _until(reaping_server, lambda counted: counted["sessions_reaped"] == 1)
            with pytest.raises(McpError, match="Session terminated"):
                await session.call_tool("bump", {})
            counted = await stats(reaping_server)
            assert (counted["initializes"], counted["tool_executions"]) == (1, {"bump": 1})


async def test_over_the_transport_a_reaped_session_costs_one_initialize(reaping_server: ManagedServer) -> None:
    with anyio.fail_after(DEADLINE):
        async with sdk1_session(reaping_server.url, recovering(), read_timeout=IDLE_SECONDS) as session:
            assert await bump(session) == "1"
            await _until(reaping_server, lambda counted: counted["sessions_reaped"] >= 1)
            assert [await bump(session) for _ in range(3)] == ["2", "3", "4"]
            counted = await stats(reaping_server)
            assert counted["tool_executions"] == {"bump": 4}, "every call answered, none run twice"
            assert counted["initializes"] == 1 + counted["sessions_reaped"], "one initialize per reaped session"
