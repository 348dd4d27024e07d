"""The integration scenarios, over raw JSON-RPC clients: aiohttp with ``RecoveringMiddleware`` (SSE
answers handed over unread, and relayed) and, for comparison, raw httpx2 over ``RecoveringTransport``.

Servers run as separate processes on 127.0.0.1, SIGKILLed and restarted on the same port: the SDK
2.3.0 server (legacy sessions and the sessionless era), our own test server, the TypeScript SDK's
server when node is present, and the reverse proxy answering 502 or a plain 404 while its backend is
down. What each new process counted (initializes, tool executions) is the evidence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import anyio
import httpx2
import pytest

from mcp_session_recovery.adapters.aiohttp_middleware import McpAiohttpError, RecoveringMiddleware
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import EraMode, McpSessionError, OutcomeUnknown, RecoveryFailed, ReplayPolicy
from mcp_session_recovery.runtime import Backoff, EraCache, EventHook, SessionOptions
from mcp_session_recovery.testing import MODERN_PROTOCOL_VERSION, Behaviour, ServedEra, ServerProcess, serve
from tests.edges.clients import (
    ACCEPT,
    HTTP_TIMEOUT,
    AiohttpRawClient,
    EdgeClient,
    RawAnswer,
    RawClient,
    Refusal,
    message_of,
)
from tests.integration.downtime import LossWatch, call_while_down, herd_after_a_restart
from tests.integration.processes import ManagedServer, proxy_argv, sdk_server_argv
from tests.integration.ts_server.setup import ensure_ts_server

pytestmark = pytest.mark.anyio

#: Opens a client over one adapter: (url, options, on_event).
Opener = Callable[[str, SessionOptions, EventHook | None], AbstractAsyncContextManager[EdgeClient]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {
        "backoff": Backoff(base=0.05, cap=0.5),
        "max_attempts": 40,
        "request_timeout": 20.0,
        "era_cache": EraCache(),
    }
    settings.update(changes)
    return SessionOptions(**settings)


def _middleware(*, relay_streams: bool) -> Opener:
    @asynccontextmanager
    async def open_client(url: str, options: SessionOptions, on_event: EventHook | None) -> AsyncIterator[EdgeClient]:
        recovering = RecoveringMiddleware(options=options, on_event=on_event, relay_streams=relay_streams)
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
        async with aiohttp.ClientSession(middlewares=(recovering,), timeout=timeout) as http, recovering:
            client = AiohttpRawClient(http, url)
            await client.start()
            yield client

    return open_client


@asynccontextmanager
async def _transport(url: str, options: SessionOptions, on_event: EventHook | None) -> AsyncIterator[EdgeClient]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options, on_event=on_event)
    async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(HTTP_TIMEOUT)) as http:
        client = RawClient(http, url)
        await client.start()
        yield client


ADAPTERS = [
    pytest.param(_middleware(relay_streams=False), id="aiohttp-middleware"),
    pytest.param(_middleware(relay_streams=True), id="aiohttp-middleware-relayed"),
    pytest.param(_transport, id="httpx2-transport"),
]
MIDDLEWARE = ADAPTERS[:1]
#: The middleware, and the transport the same scenario already runs over elsewhere (for comparison).
MIDDLEWARE_AND_TRANSPORT = [ADAPTERS[0], ADAPTERS[2]]


async def _text(client: EdgeClient, name: str = "bump", arguments: dict[str, Any] | None = None) -> str:
    outcome = await client.call(name, arguments or {})
    assert isinstance(outcome, str), outcome
    return outcome


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[ManagedServer]:
    """One SDK server process for the module: every test restarts it (counters start at zero) or
    kills and starts it, and its clients keep no state across tests (each has its own era cache)."""
    with ManagedServer(sdk_server_argv()) as server:
        yield server


async def _restart(server: ManagedServer | ServerProcess) -> None:
    await anyio.to_thread.run_sync(server.restart)


@pytest.mark.parametrize("open_client", MIDDLEWARE_AND_TRANSPORT)
async def test_after_each_of_3_restarts_5_calls_succeed_once_each(
    sdk_server: ManagedServer, open_client: Opener
) -> None:
    await _restart(sdk_server)  # a fresh process: its counters start at zero
    async with open_client(sdk_server.url, _options(), None) as client:
        assert await _text(client) == "1"
        for _ in range(3):
            await _restart(sdk_server)
            assert [await _text(client) for _ in range(5)] == ["1", "2", "3", "4", "5"]
            stats = await anyio.to_thread.run_sync(sdk_server.stats)
            assert stats["tool_executions"] == {"bump": 5}, "nothing lost, nothing run twice"
            assert stats["initializes"] == 1, "exactly one initialize on each new process"


async def test_the_client_keeps_a_virtual_session_id_and_never_sees_a_real_one(sdk_server: ManagedServer) -> None:
    recovering = RecoveringMiddleware(options=_options())
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
        client = AiohttpRawClient(http, sdk_server.url)
        await client.start()
        first = client.session_id
        assert recovering.session is not None
        binding = recovering.session.binding
        assert binding is not None
        assert binding.session_id is not None
        assert first is not None
        assert first != binding.session_id.header_value, "the client got the front's virtual id"
        assert int(await _text(client)) >= 1, "a call under the virtual id reaches the real session"
        await _restart(sdk_server)
        assert await _text(client) == "1"
        live = recovering.session.binding
        assert live is not None
        assert live.session_id is not None
        assert client.session_id == first, "the client still sends the id it saw first"
        assert live.session_id.header_value not in (first, binding.session_id.header_value)


@pytest.mark.parametrize("open_client", ADAPTERS[:2])
async def test_50_concurrent_calls_across_a_restart_need_one_initialize(
    sdk_server: ManagedServer, open_client: Opener
) -> None:
    async with open_client(sdk_server.url, _options(), None) as client:
        await _text(client)
        results = await herd_after_a_restart(sdk_server, lambda: _text(client))
        assert sorted(int(r) for r in results) == list(range(1, 51))
        stats = await anyio.to_thread.run_sync(sdk_server.stats)
        assert stats["initializes"] == 1
        assert stats["tool_executions"] == {"bump": 50}


@pytest.mark.parametrize("era", ["legacy", "sessionless"])
@pytest.mark.parametrize("open_client", MIDDLEWARE)
async def test_a_call_issued_while_the_server_is_down_completes_when_it_is_back(
    sdk_server: ManagedServer, open_client: Opener, era: str
) -> None:
    watch = LossWatch()
    options = _options(mode=EraMode.LEGACY if era == "legacy" else EraMode.MODERN)
    async with open_client(sdk_server.url, options, watch) as client:
        await _text(client)
        assert await call_while_down(sdk_server, watch, lambda: _text(client)) == "1"
        assert await _text(client) == "2", "the client stays usable"


@pytest.mark.parametrize("down_answer", ["bad_gateway", "not_found"])
@pytest.mark.parametrize("open_client", MIDDLEWARE)
async def test_behind_a_proxy_calls_made_while_the_backend_is_down_succeed_after(
    sdk_server: ManagedServer, open_client: Opener, down_answer: str
) -> None:
    watch = LossWatch()
    with ManagedServer(proxy_argv(sdk_server.port, down_answer=down_answer)) as proxy:
        async with open_client(proxy.url, _options(mode=EraMode.LEGACY), watch) as client:
            await _text(client)
            assert await call_while_down(sdk_server, watch, lambda: _text(client)) == "1"
            assert await _text(client) == "2"
            proxy_stats = await anyio.to_thread.run_sync(proxy.stats)
            assert proxy_stats["down_answers"] >= 1, "the proxy did answer for the dead backend"


@pytest.mark.parametrize("open_client", MIDDLEWARE)
async def test_our_test_server_killed_and_restarted(open_client: Opener) -> None:
    with ServerProcess(eras=frozenset({ServedEra.LEGACY})) as server:
        async with open_client(server.url, _options(), None) as client:
            assert await _text(client) == "1"
            await _restart(server)
            assert [await _text(client) for _ in range(3)] == ["1", "2", "3"]
            stats = await anyio.to_thread.run_sync(server.stats)
            assert stats.tool_executions["bump"] == 3
            assert stats.initializes == 1


@pytest.mark.parametrize("open_client", MIDDLEWARE)
async def test_the_typescript_sdk_server_restarted_is_recovered(open_client: Opener) -> None:
    argv = ensure_ts_server()
    if isinstance(argv, str):
        pytest.skip(f"the TypeScript SDK server is not available here: {argv}")
    with ManagedServer(lambda port: [*argv, "--port", str(port)]) as server:
        async with open_client(server.url, _options(mode=EraMode.LEGACY), None) as client:
            assert await _text(client) == "1"
            await _restart(server)
            assert [await _text(client) for _ in range(3)] == ["1", "2", "3"]
            stats = await anyio.to_thread.run_sync(server.stats)
            assert stats["initializes"] == 1
            assert stats["tool_executions"]["bump"] == 3


async def test_a_cut_stream_handed_over_is_the_callers_and_is_not_replayed() -> None:
    async with (
        serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server,
        _middleware(relay_streams=False)(server.url, _options(), None) as client,
    ):
        server.configure(cut_tool_responses=1)
        with pytest.raises(aiohttp.ClientPayloadError):
            await client.call("bump", {})
        assert server.stats.tool_executions["bump"] == 1, "not run a second time"
        assert await _text(client) == "2", "the next call goes through"


async def test_a_relayed_cut_tool_call_is_not_replayed_but_a_read_only_one_is() -> None:
    options = _options(policy=ReplayPolicy(trust_tool_annotations=True))
    async with (
        serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server,
        _middleware(relay_streams=True)(server.url, options, None) as client,
    ):
        assert isinstance(client, AiohttpRawClient)
        # The runtime learns the tools' annotations from the relayed answer.
        async with client.http.post(
            client.url, data=b'{"jsonrpc":"2.0","id":9,"method":"tools/list"}', headers=client._headers()
        ) as listed:
            assert listed.status == 200
            await listed.read()
        server.configure(cut_tool_responses=1)
        refused = await client.call("bump", {})
        assert isinstance(refused, Refusal)
        refused.expect(OutcomeUnknown, "may or may not")
        assert server.stats.tool_executions["bump"] == 1, "not run a second time"
        server.configure(cut_tool_responses=1)
        assert await _text(client, "add", {"a": 2, "b": 3}) == "5"
        assert server.stats.tool_executions["add"] == 2, "the read-only call was cut and replayed"


async def test_what_the_runtime_gives_up_on_is_typed_and_an_aiohttp_client_error() -> None:
    options = _options(max_attempts=2, request_timeout=5.0)
    async with (
        serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server,
        _middleware(relay_streams=False)(server.url, options, None) as client,
    ):
        assert isinstance(client, AiohttpRawClient)
        server.restart()
        server.configure(answer_status_for_all=(502, "text/plain", b"bad gateway"))
        with pytest.raises(aiohttp.ClientError) as caught:
            await client.raw_call(50, "bump", {})
        error = caught.value
        assert isinstance(error, McpAiohttpError)
        assert isinstance(error, McpSessionError)
        assert isinstance(error.error, RecoveryFailed)
        assert client.session_id not in str(error)
        assert client.session_id not in repr(error)
        assert server.stats.tool_executions.get("bump", 0) == 0
        server.configure(answer_status_for_all=None)
        assert await _text(client) == "1", "the next call starts a new round of recovery"


async def test_a_sessionless_client_rides_out_a_gateway_window() -> None:
    """A client of the sessionless era (no handshake: ``_meta`` on every request) behind a gateway
    that answers 502 for a while: its call waits, then runs once."""
    watch = LossWatch()
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN_PROTOCOL_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    }
    headers = {**ACCEPT, "content-type": "application/json", "mcp-protocol-version": MODERN_PROTOCOL_VERSION}
    recovering = RecoveringMiddleware(options=_options(), on_event=watch)
    async with (
        serve(Behaviour(eras=frozenset({ServedEra.MODERN}))) as server,
        aiohttp.ClientSession(middlewares=(recovering,)) as http,
        recovering,
    ):

        async def bump(request_id: int) -> Any:
            call = {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "bump", "arguments": {}, "_meta": meta},
            }
            async with http.post(server.url, json=call, headers=headers) as answer:
                body = await answer.read()
                return message_of(RawAnswer(answer.status, answer.content_type, body))

        assert (await bump(1))["result"]["content"][0]["text"] == "1"
        server.configure(answer_status_for_all=(502, "text/plain", b"bad gateway"))
        results: list[Any] = []

        async def run() -> None:
            results.append(await bump(2))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                await watch.noticed.wait()
                server.configure(answer_status_for_all=None)
        assert results[0]["id"] == 2
        assert results[0]["result"]["content"][0]["text"] == "2"
        assert server.stats.tool_executions["bump"] == 2, "run once each"
        assert server.stats.initializes == 0, "no handshake in the sessionless era"
