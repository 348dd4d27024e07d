"""The frameworks on the SDK 2.x line, alone and with one line of this library, against real servers.

For each client (FastMCP's ``Client``, pydantic-ai's ``MCPToolset`` both ways, the OpenAI Agents
SDK's ``MCPServerStreamableHttp``, the SDK's ``ClientSession`` and ``mcp.Client``), tools called
directly, no model: the SDK 2.3.0 server as a process on 127.0.0.1, killed with SIGKILL and started
again on the same port, behind the reverse proxy that answers 502 while it is down.

The era is chosen on the server, where users meet it: ``--legacy-only`` answers the sessionless
era as every server before 2026-07-28 does, so every client (``mcp.Client`` and the Agents SDK
probe the sessionless era first) falls back to a session, and a restart or the idle reaper loses
it. The SDK's own default (both eras) puts these clients in the sessionless era, where a restart
costs nothing but a call made while the server is down, or in a gateway's 502 window, still fails.

Alone, each client fails with the bug's own symptom; with ``recovering_client_factory()`` every
call is answered, each new process sees one ``initialize``, and no ``bump`` runs twice.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import pytest
from agents.mcp import MCPServerStreamableHttp
from fastmcp.client.transports import StreamableHttpTransport
from mcp.shared.exceptions import MCPError
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.mcp import MCPToolset

from mcp_session_recovery import recovering_client_factory
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions
from mcp_session_recovery.testing import Behaviour, ManagedProcess, ServedEra, serve

from .downtime import LossWatch, call_while_down
from .frameworks import FRAMEWORKS, Caller, Framework, failure_text
from .processes import ManagedServer, proxy_argv, sdk_server_argv

#: Each client once (pydantic-ai's ``http_client=`` variant is the same client below; it is proven
#: in the test with every fault, and kept out of the others to keep the suite short).
CLIENTS = [client for client in FRAMEWORKS if client.name != "pydantic-ai-http-client"]

pytestmark = pytest.mark.anyio

T = TypeVar("T")

#: The idle reaper's period on the idle server: short, so a test waits it out in about a second.
IDLE_TIMEOUT = 1.0
#: How long a test waits for the reaper (bounded; it needs about IDLE_TIMEOUT).
REAPER_WAIT = 15.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the Agents SDK and pydantic-ai run on asyncio only


class Servers:
    """A backend process and the proxy in front of it; ``url`` goes through the proxy."""

    def __init__(self, backend: ManagedServer, proxy: ManagedServer) -> None:
        self.backend = backend
        self.proxy = proxy
        self.url = proxy.url

    async def stats(self) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(self.backend.stats)

    async def restart(self) -> None:
        await anyio.to_thread.run_sync(self.backend.restart)


def _servers(*flags: str) -> Iterator[Servers]:
    with ManagedServer(sdk_server_argv(*flags)) as backend, ManagedServer(proxy_argv(backend.port)) as proxy:
        yield Servers(backend, proxy)


@pytest.fixture(scope="module")
def legacy() -> Iterator[Servers]:
    """The SDK server speaking only the handshake era, behind the proxy."""
    yield from _servers("--legacy-only")


@pytest.fixture(scope="module")
def sessionless() -> Iterator[Servers]:
    """The SDK server as it comes (both eras: these clients pick the sessionless one), behind the proxy."""
    yield from _servers()


@pytest.fixture(scope="module")
def idle() -> Iterator[ManagedServer]:
    """The SDK server whose idle reaper closes a session after IDLE_TIMEOUT (and no GET stream holds one open)."""
    flags = ("--legacy-only", "--session-idle-timeout", str(IDLE_TIMEOUT), "--no-get-stream")
    with ManagedServer(sdk_server_argv(*flags)) as server:
        yield server


def _options() -> SessionOptions:
    return SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20.0, era_cache=EraCache()
    )


async def _stats(server: ManagedServer) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(server.stats)


async def _reaped(server: ManagedServer) -> None:
    """Return once the server's idle reaper has closed every session (polled, bounded)."""
    with anyio.fail_after(REAPER_WAIT):
        for _ in range(int(REAPER_WAIT / 0.05)):
            if (await _stats(server))["live_sessions"] == 0:
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


async def _down_then(server: ManagedProcess, call: Callable[[], Awaitable[T]]) -> str:
    """Kill ``server``, make ``call`` (it must fail), start ``server`` again; the failure's text."""
    await anyio.to_thread.run_sync(server.kill)
    try:
        return await _failure(call)
    finally:
        # Shielded: a client that dies of the failure cancels this task on its way out.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(server.start)


def _bump(client: Caller) -> Callable[[], Awaitable[str]]:
    return lambda: client.call_tool("bump", {})


def _armed(watch: LossWatch) -> LossWatch:
    watch.noticed = anyio.Event()  # one watch per factory, re-armed for each window
    return watch


@pytest.mark.parametrize("client", CLIENTS, ids=str)
async def test_alone_a_lost_session_is_lost_for_good(client: Framework, legacy: Servers, idle: ManagedServer) -> None:
    """Restarted, or reaped while idle: every later call fails with the SDK server's 404 ``Session not found``."""
    async with client.open(legacy.url, None) as caller:
        await caller.call_tool("bump", {})
        await legacy.restart()
        for _ in range(2):
            assert "Session not found" in await _failure(_bump(caller))
        assert (await legacy.stats())["tool_executions"] == {}, "no call reached a tool"
    async with client.open(idle.url, None) as caller:
        await caller.call_tool("bump", {})
        await _reaped(idle)
        assert "Session not found" in await _failure(_bump(caller))


async def _alone_while_down(client: Framework, url: str, server: ManagedProcess) -> str:
    """Open ``client`` alone, call, kill ``server``, call: what failed, the call and the client's exit."""
    texts: list[str] = []
    try:
        async with client.open(url, None) as caller:
            await caller.call_tool("bump", {})
            texts.append(await _down_then(server, _bump(caller)))
    except Exception as error:  # the client itself died of it (its task group raised on exit)
        if isinstance(error, AssertionError):
            raise
        texts.append(failure_text(error))
    text = "\n".join(texts)
    assert "expected the call to fail" not in text, text
    return text


@pytest.mark.parametrize("client", CLIENTS, ids=str)
async def test_alone_in_the_sessionless_era_a_502_window_or_an_outage_fails_the_call(
    client: Framework, sessionless: Servers
) -> None:
    # The SDK's transport reads no JSON-RPC error in the proxy's 502 page and says only this:
    assert "Server returned an error response" in await _alone_while_down(client, sessionless.url, sessionless.backend)
    # A refused connection escapes the SDK's transport: the call fails, and the client with it.
    assert re.search(
        "ConnectError|Connection closed", await _alone_while_down(client, sessionless.url, sessionless.proxy)
    )


@pytest.mark.parametrize("client", FRAMEWORKS, ids=str)
async def test_with_the_library_restarts_a_502_window_an_outage_and_idle_expiry_are_survived(
    client: Framework, legacy: Servers, idle: ManagedServer
) -> None:
    watch = LossWatch()
    factory = recovering_client_factory(options=_options(), on_event=watch)
    async with client.open(legacy.url, factory) as caller:
        await caller.call_tool("bump", {})
        await legacy.restart()
        assert [await caller.call_tool("bump", {}) for _ in range(3)] == ["1", "2", "3"]
        stats = await legacy.stats()
        assert stats["initializes"] == 1, "one initialize for the new process"
        assert stats["tool_executions"] == {"bump": 3}, "nothing lost, nothing run twice"

        # A 502 window: the backend dies, the proxy answers for it while a call is made.
        result = await call_while_down(legacy.backend, _armed(watch), _bump(caller))
        assert result == "1"
        # An outage: nothing listens (the proxy dies); the session behind it lives on.
        result = await call_while_down(legacy.proxy, _armed(watch), _bump(caller))
        assert result == "2"
        stats = await legacy.stats()
        # The outage cost one initialize too: a server it could not reach may have restarted, and
        # the runtime renegotiates rather than send a session id it cannot vouch for.
        assert stats["initializes"] == 2
        assert stats["tool_executions"] == {"bump": 2}

    async with client.open(idle.url, factory) as caller:
        first = int(await caller.call_tool("bump", {}))
        before = await _stats(idle)
        await _reaped(idle)
        assert int(await caller.call_tool("bump", {})) == first + 1, "the reaped session's call answered"
        after = await _stats(idle)
        assert after["initializes"] - before["initializes"] == 1, "one initialize after the reaper"
        assert after["tool_executions"]["bump"] - before["tool_executions"]["bump"] == 1, "run once"


@pytest.mark.parametrize("client", CLIENTS, ids=str)
async def test_with_the_library_the_sessionless_era_survives_a_502_window_and_an_outage(
    client: Framework, sessionless: Servers
) -> None:
    """The 502 window is a restart too (a new process answers the call): no handshake, nothing lost."""
    watch = LossWatch()
    factory = recovering_client_factory(options=_options(), on_event=watch)
    async with client.open(sessionless.url, factory) as caller:
        await caller.call_tool("bump", {})
        assert await call_while_down(sessionless.backend, _armed(watch), _bump(caller)) == "1"
        assert await call_while_down(sessionless.proxy, _armed(watch), _bump(caller)) == "2"
        stats = await sessionless.stats()
        if client.sessionless:
            assert stats["initializes"] == 0, "no handshake in the sessionless era"
        else:  # ``ClientSession.initialize()`` is the handshake, whatever the server offers
            assert stats["initializes"] == 2, "the 502 window's new process, then the outage"
        assert stats["tool_executions"] == {"bump": 2}


@pytest.mark.parametrize("retries", [0, 2])
async def test_the_agents_sdks_own_retries_replay_a_call_whose_outcome_is_unknown(retries: int) -> None:
    """The library never replays a ``bump`` whose answer was cut (it may have run): the caller gets
    the typed refusal. ``max_retry_attempts`` above 0 makes the Agents SDK call again on top of it
    (any exception is retried, in an isolated new session for transport errors): a second run. Keep
    it at 0, its default, with the library, which already waits out restarts and outages."""
    factory = recovering_client_factory(options=_options())
    params: Any = {"url": "", "httpx_client_factory": factory, "timeout": 30.0}
    async with serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server:
        params["url"] = server.url
        agents_server = MCPServerStreamableHttp(params, max_retry_attempts=retries, retry_backoff_seconds_base=0.01)
        async with agents_server as agents:
            await agents.call_tool("bump", {})
            server.configure(cut_tool_responses=1)
            if retries == 0:
                with pytest.raises(MCPError, match="may or may not"):
                    await agents.call_tool("bump", {})
                assert server.stats.tool_executions["bump"] == 2, "the first call, and the cut one once"
            else:
                await agents.call_tool("bump", {})  # answered: the Agents SDK sent it again
                assert server.stats.tool_executions["bump"] == 3, "the cut call ran twice"


async def test_pydantic_ai_hands_the_model_the_librarys_refusal_of_a_replay() -> None:
    """With its default ``tool_error_behavior="retry"``, pydantic-ai turns the library's refusal to
    replay a cut ``bump`` into ``ModelRetry``: the model is told the call may have run, and decides."""
    factory = recovering_client_factory(options=_options())
    async with serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server:
        transport = StreamableHttpTransport(server.url, httpx_client_factory=factory)
        async with MCPToolset(transport) as toolset:
            await toolset.direct_call_tool("bump", {})
            server.configure(cut_tool_responses=1)
            with pytest.raises(ModelRetry, match="may or may not"):
                await toolset.direct_call_tool("bump", {})
            assert server.stats.tool_executions["bump"] == 2, "not replayed by the library"
