"""The frameworks on the SDK's 1.x line, alone and with this library, against real server processes.

langchain-mcp-adapters 0.3.2 (``MultiServerMCPClient``, persistent-session and per-call modes),
mcp-use 1.7.1 and the SDK 1.x ``ClientSession`` (these frameworks require ``mcp<2``), tools called
directly, no model: the 1.x SDK's own server as a process on 127.0.0.1, killed with SIGKILL and
started again on the same port, behind the reverse proxy that answers 502 while it is down; and a
1.x server whose idle reaper closes a session after a second.

Alone, each client with a session fails with the bug's own symptom (the 1.x SDK's ``Session
terminated`` for a lost session; a ``ConnectError`` or the gateway's 502 for a call made while the
server is down); with the library every call is answered, each new process sees one
``initialize``, and no ``bump`` runs twice. The per-call mode survives restarts alone, at the price
of a handshake on every call, but a call made while the server is down still fails it.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from mcp_session_recovery.testing import ManagedProcess
from tests.integration.downtime import failure_text
from tests.integration.processes import ManagedServer, proxy_argv

from .frameworks import FRAMEWORKS, Caller, Framework, Library, call_while_down, framework, mcp_use_client

pytestmark = pytest.mark.anyio

#: The idle reaper's period on the idle server: short, so a test waits it out in about a second.
IDLE_TIMEOUT = 1.0
#: How long a test waits for the reaper (bounded; it needs about IDLE_TIMEOUT).
REAPER_WAIT = 15.0
#: The clients that keep a session (the per-call mode opens one per call).
WITH_A_SESSION = [client for client in FRAMEWORKS if not client.per_call]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # langchain-mcp-adapters and mcp-use run on asyncio only


def sdk1_server_argv(*flags: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, "-m", "tests_sdk1.servers.sdk1_server", "--port", str(port), *flags]


class Servers:
    """The 1.x server and the gateway in front of it; ``url`` goes through the gateway."""

    def __init__(self, backend: ManagedServer, gateway: ManagedServer) -> None:
        self.backend = backend
        self.gateway = gateway
        self.url = gateway.url

    async def stats(self) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(self.backend.stats)

    async def restart(self) -> None:
        await anyio.to_thread.run_sync(self.backend.restart)


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with ManagedServer(sdk1_server_argv()) as backend, ManagedServer(proxy_argv(backend.port)) as gateway:
        yield Servers(backend, gateway)


@pytest.fixture(scope="module")
def idle() -> Iterator[ManagedServer]:
    """The 1.x server whose idle reaper closes a session after IDLE_TIMEOUT (no GET stream holds one open)."""
    flags = ("--session-idle-timeout", str(IDLE_TIMEOUT), "--no-get-stream")
    with ManagedServer(sdk1_server_argv(*flags)) as server:
        yield server


@pytest.fixture
def library() -> Iterator[Library]:
    made = Library()
    yield made
    made.close()


async def _stats(server: ManagedServer) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(server.stats)


async def _reaped(server: ManagedServer) -> None:
    """Return once the server's idle reaper has closed a session since this was called (polled, bounded)."""
    before = (await _stats(server))["sessions_reaped"]
    with anyio.fail_after(REAPER_WAIT):
        for _ in range(int(REAPER_WAIT / 0.05)):
            if (await _stats(server))["sessions_reaped"] > before:
                return
            await anyio.sleep(0.05)  # polling the server's own count, not standing in for it


async def _failure(call: Callable[[], Awaitable[Any]]) -> str:
    """What a call that must fail raised, as text (its whole chain); fails the test if it answered."""
    with anyio.fail_after(60):
        try:
            result = await call()
        except Exception as error:
            return failure_text(error)
    raise AssertionError(f"expected the call to fail, it answered {result!r}")


def _bump(client: Caller) -> Callable[[], Awaitable[str]]:
    return lambda: client.call_tool("bump", {})


@pytest.mark.parametrize("client", WITH_A_SESSION, ids=str)
async def test_alone_a_lost_session_is_lost_for_good(client: Framework, servers: Servers, idle: ManagedServer) -> None:
    """Restarted, or reaped while idle: every later call fails with the 1.x SDK's ``Session terminated``."""
    async with client.open(servers.url, None) as caller:
        await caller.call_tool("bump", {})
        await servers.restart()
        for _ in range(2):
            assert "Session terminated" in await _failure(_bump(caller))
        counted = await servers.stats()
        assert (counted["initializes"], counted["tool_executions"]) == (0, {}), "never initialized again"
    async with client.open(idle.url, None) as caller:
        await caller.call_tool("bump", {})
        await _reaped(idle)
        assert "Session terminated" in await _failure(_bump(caller))


async def test_alone_mcp_use_lists_no_tools_once_its_session_is_lost(servers: Servers) -> None:
    """mcp-use's ``list_tools()`` swallows the lost session's error: the tools silently disappear."""
    async with mcp_use_client(servers.url) as session:
        assert {tool.name for tool in await session.list_tools()} >= {"bump", "add"}
        await servers.restart()
        with anyio.fail_after(30):
            assert await session.list_tools() == []


async def _alone_while_down(client: Framework, url: str, server: ManagedProcess) -> str:
    """Open ``client`` alone, call, kill ``server``, call: what failed, the call and the client's exit."""
    texts: list[str] = []
    try:
        async with client.open(url, None) as caller:
            await caller.call_tool("bump", {})
            await anyio.to_thread.run_sync(server.kill)
            try:
                texts.append(await _failure(_bump(caller)))
            finally:
                with anyio.CancelScope(shield=True):  # a client that dies of it cancels this task
                    await anyio.to_thread.run_sync(server.start)
    except Exception as error:  # the client itself died of it (its task group raised on exit)
        texts.append(failure_text(error))
    text = "\n".join(texts)
    assert "expected the call to fail" not in text, text
    return text


#: What each client alone says when the gateway answers 502, and when nothing listens.
SYMPTOMS_WHILE_DOWN = {
    # The SDK's transport raises the 502 (or the refused connection) in its task group, which dies.
    "langchain-session": ("502 Bad Gateway", "ConnectError"),
    "langchain-per-call": ("502 Bad Gateway", "ConnectError"),
    "sdk1-client-session": ("502 Bad Gateway", "ConnectError"),
    # mcp-use sees only the dead transport's streams close, and says so.
    "mcp-use": ("connection loss: Connection closed", "connection loss: Connection closed"),
}


@pytest.mark.parametrize("client", FRAMEWORKS, ids=str)
async def test_alone_a_502_window_or_an_outage_fails_the_call(client: Framework, servers: Servers) -> None:
    in_the_502_window, in_an_outage = SYMPTOMS_WHILE_DOWN[client.name]
    assert in_the_502_window in await _alone_while_down(client, servers.url, servers.backend)
    assert in_an_outage in await _alone_while_down(client, servers.url, servers.gateway)


@pytest.mark.parametrize("client", FRAMEWORKS, ids=str)
async def test_with_the_library_restarts_a_502_window_an_outage_and_idle_expiry_are_survived(
    client: Framework, servers: Servers, idle: ManagedServer, library: Library
) -> None:
    async with client.open(servers.url, library) as caller:
        await caller.call_tool("bump", {})
        await servers.restart()
        assert [await caller.call_tool("bump", {}) for _ in range(3)] == ["1", "2", "3"]
        counted = await servers.stats()
        assert counted["initializes"] == (3 if client.per_call else 1), "one per call, or one for the new process"
        assert counted["tool_executions"] == {"bump": 3}, "nothing lost, nothing run twice"

        # A 502 window: the backend dies, the gateway answers for it while a call is made.
        assert await call_while_down(servers.backend, library, _bump(caller)) == "1"
        # An outage: nothing listens (the gateway dies); the session behind it lives on.
        assert await call_while_down(servers.gateway, library, _bump(caller)) == "2"
        counted = await servers.stats()
        # The outage cost one initialize too: a server the client could not reach may have
        # restarted, and the runtime renegotiates rather than send a session id it cannot vouch for.
        assert counted["initializes"] == 2
        assert counted["tool_executions"] == {"bump": 2}

    async with client.open(idle.url, library) as caller:
        first = int(await caller.call_tool("bump", {}))
        before = await _stats(idle)
        if not client.per_call:  # the per-call mode closed its session: the reaper has none to reap
            await _reaped(idle)
        assert int(await caller.call_tool("bump", {})) == first + 1, "the reaped session's call answered"
        after = await _stats(idle)
        assert after["initializes"] - before["initializes"] == 1, "one initialize after the reaper"
        assert after["tool_executions"]["bump"] - before["tool_executions"]["bump"] == 1, "run once"


async def test_the_per_call_mode_pays_a_handshake_for_every_call(servers: Servers) -> None:
    """langchain-mcp-adapters' default: a restart costs it nothing, since every call opens (and
    closes) a session of its own. The price, counted by the server: a handshake per call, 6 HTTP
    requests per call where a kept session sends 1 (initialize, notifications/initialized, the 1.x
    client's tools/list, the call, its GET stream and a DELETE), and nothing a server keeps per
    session (a log level, subscriptions) lives from one call to the next."""
    calls = 10
    async with framework("langchain-per-call").open(servers.url, None) as caller:
        await servers.restart()
        answers = [await caller.call_tool("bump", {}) for _ in range(calls)]
        counted = await servers.stats()
    assert answers == [str(n) for n in range(1, calls + 1)], "every call answered, each run once"
    assert counted["initializes"] == calls, "one initialize per call"
    assert counted["requests_by_method"]["notifications/initialized"] == calls
    assert counted["http_requests"]["DELETE"] == calls, "each call's session closed behind it"
    requests = sum(counted["http_requests"].values())
    assert requests >= 4 * calls, f"initialize, initialized, the call, a DELETE: {counted['http_requests']}"


async def test_mcp_use_with_the_bridge_in_its_config_survives_a_restart(servers: Servers) -> None:
    """The recipe as mcp-use users write it: the ``stdio`` bridge as the server's command in
    ``MCPClient``'s config (its HTTP connector has no seam for an httpx client or transport)."""
    from mcp_use.client import MCPClient  # type: ignore[import-untyped]

    from .frameworks import stdio_bridge_config, text_of

    client = MCPClient.from_dict({"mcpServers": {"server": stdio_bridge_config(servers.url)}})
    # No anyio deadline around it: mcp-use enters the SDK's cancel scopes in one task and leaves them
    # in another, which an enclosing scope reports as an error. Each call is bounded by the bridge
    # (a request waits at most its --timeout, 60 s, recovery included).
    session = await client.create_session("server")
    assert session is not None
    try:
        await session.call_tool("bump", {})
        await servers.restart()
        assert [text_of(await session.call_tool("bump", {})) for _ in range(2)] == ["1", "2"]
        assert {tool.name for tool in await session.list_tools()} >= {"bump", "add"}, "no tool lost"
        counted = await servers.stats()
        assert (counted["initializes"], counted["tool_executions"]) == (1, {"bump": 2})
    finally:
        await client.close_all_sessions()


# -- nothing leaves this machine (mcp-use's telemetry) -------------------------------------------------


def test_the_guard_refuses_and_records_a_lookup_of_another_host() -> None:
    """The guard every test here runs under (conftest): a lookup of another name fails loudly."""
    from .conftest import FOREIGN_LOOKUPS

    try:
        with pytest.raises(socket.gaierror, match="only of this machine"):
            socket.getaddrinfo("telemetry.invalid", 443)
        assert FOREIGN_LOOKUPS == ["telemetry.invalid"]
    finally:
        FOREIGN_LOOKUPS.clear()  # this one was the test's own


def test_mcp_use_telemetry_is_off() -> None:
    """``MCP_USE_ANONYMIZED_TELEMETRY=false``: mcp-use builds neither its posthog nor its scarf client
    (the tests above also show that no name but this machine's was looked up while it ran)."""
    from mcp_use.telemetry.telemetry import Telemetry  # type: ignore[import-untyped]

    telemetry = Telemetry()
    assert (telemetry._posthog_client, telemetry._scarf_client) == (None, None)
