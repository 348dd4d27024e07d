"""One front, one answer: the aiohttp middleware and the httpx transport answer each question alike.

Both hand every client request to the runtime's front (``runtime/front.py``); these tests put the
same raw requests through each, against real server processes on 127.0.0.1, and compare what the
client gets: the handshake's virtual session id, a ``server/discover`` to a legacy server, the GET
stream across a restart, a client's answer to a server request, a malformed body.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NamedTuple, Protocol

import aiohttp
import anyio
import httpx2
import pytest

from mcp_session_recovery.adapters.aiohttp_middleware import RecoveringMiddleware
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions
from mcp_session_recovery.testing import ServedEra, ServerProcess
from tests.edges.clients import ACCEPT, RawAnswer, message_of

pytestmark = pytest.mark.anyio

_JSON = {**ACCEPT, "content-type": "application/json"}
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "handshake-1",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Client(Protocol):
    """The few raw requests these tests make, over one adapter."""

    async def post(self, message: dict[str, Any], session_id: str | None = None) -> Reply: ...

    def stream(self, session_id: str) -> AbstractAsyncContextManager[tuple[int, AsyncIterator[bytes]]]: ...


def _options() -> SessionOptions:
    return SessionOptions(backoff=Backoff(base=0.05, cap=0.3), request_timeout=15.0, era_cache=EraCache())


def _headers(session_id: str | None, base: dict[str, str]) -> dict[str, str]:
    return {**base, "mcp-session-id": session_id} if session_id is not None else dict(base)


class _Aiohttp:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def post(self, message: dict[str, Any], session_id: str | None = None) -> Reply:
        body = json.dumps(message).encode()
        async with self.http.post(self.url, data=body, headers=_headers(session_id, _JSON)) as answer:
            return Reply(answer.status, {k.lower(): v for k, v in answer.headers.items()}, await answer.read())

    @asynccontextmanager
    async def stream(self, session_id: str) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        headers = _headers(session_id, {"accept": "text/event-stream"})
        async with self.http.get(self.url, headers=headers) as answer:
            yield answer.status, answer.content.iter_any()


class _Httpx:
    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http, self.url = http, url

    async def post(self, message: dict[str, Any], session_id: str | None = None) -> Reply:
        answer = await self.http.post(self.url, content=json.dumps(message), headers=_headers(session_id, _JSON))
        return Reply(answer.status_code, dict(answer.headers), answer.content)

    @asynccontextmanager
    async def stream(self, session_id: str) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        headers = _headers(session_id, {"accept": "text/event-stream"})
        async with self.http.stream("GET", self.url, headers=headers) as answer:
            yield answer.status_code, answer.aiter_bytes()


@asynccontextmanager
async def _over_middleware(url: str) -> AsyncIterator[Client]:
    recovering = RecoveringMiddleware(options=_options())
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
        yield _Aiohttp(http, url)


@asynccontextmanager
async def _over_transport(url: str) -> AsyncIterator[Client]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=_options())
    async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30)) as http:
        yield _Httpx(http, url)


Opener = Callable[[str], AbstractAsyncContextManager[Client]]
ADAPTERS = [
    pytest.param(_over_middleware, id="aiohttp-middleware"),
    pytest.param(_over_transport, id="httpx2-transport"),
]


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    async for _ in chunks:
        pass


async def _bump(client: Client, request_id: int, session_id: str) -> Reply:
    call = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bump", "arguments": {}}}
    return await client.post(call, session_id)


async def _handshake(client: Client) -> str:
    answer = await client.post(_INITIALIZE)
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["id"] == "handshake-1", "the client's own id"
    session_id = answer.headers["mcp-session-id"]
    notified = await client.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id)
    assert notified.status == 202
    return session_id


@pytest.mark.parametrize("open_client", ADAPTERS)
async def test_the_handshake_gives_a_virtual_id_and_discover_on_a_legacy_server_a_400_under_the_clients_id(
    open_client: Opener,
) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        async with open_client(server.url) as client:
            discovered = await client.post({"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {}})
            assert discovered.status == 400
            error = json.loads(discovered.body)
            assert error["id"] == 7
            assert "initialize" in error["error"]["message"]
            session_id = await _handshake(client)
            assert session_id.startswith("recovering-"), "never the server's own id"
            called = await _bump(client, 8, session_id)
            assert called.status == 200
            assert session_id not in called.body.decode()
            assert called.headers.get("mcp-session-id") in (None, session_id), "the real id never reaches the client"
            assert server.stats().initializes == 1


@pytest.mark.parametrize("open_client", ADAPTERS)
async def test_the_get_stream_stays_open_across_a_restart_and_is_reopened_on_the_new_session(
    open_client: Opener,
) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        async with open_client(server.url) as client:
            session_id = await _handshake(client)
            async with client.stream(session_id) as (status, chunks), anyio.create_task_group() as reading:
                assert status == 200
                assert server.stats().get_streams_opened == 1
                reading.start_soon(_drain, chunks)  # a client reads its GET stream all along
                await anyio.to_thread.run_sync(server.restart)
                called = await _bump(client, 9, session_id)
                answer = RawAnswer(called.status, called.headers.get("content-type", ""), called.body)
                assert message_of(answer)["result"]["content"][0]["text"] == "1"
                # The client's GET is still the one it opened; the runtime reopened the server's for it.
                opened = 0
                for _ in range(500):  # the server tells no one: poll its counter, bounded (10 s)
                    opened = (await anyio.to_thread.run_sync(server.stats)).get_streams_opened
                    if opened:
                        break
                    await anyio.sleep(0.02)
                reading.cancel_scope.cancel()
                assert opened == 1
                assert server.stats().initializes == 1


@pytest.mark.parametrize("open_client", ADAPTERS)
async def test_a_malformed_body_is_a_400_parse_error_and_a_clients_answer_a_202(open_client: Opener) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        async with open_client(server.url) as client:
            session_id = await _handshake(client)
            broken = await client.post({"jsonrpc": "2.0"}, session_id)
            assert broken.status == 400
            assert json.loads(broken.body)["error"]["code"] == -32700
            # A client's answer to a server request goes to the live session once, and gets a 202.
            answered = await client.post({"jsonrpc": "2.0", "id": "server-1", "result": {}}, session_id)
            assert answered.status == 202
            assert server.stats().initializes == 1


@pytest.mark.parametrize("open_client", ADAPTERS)
async def test_discover_on_a_sessionless_server_is_its_result_under_the_clients_id_with_no_session_id(
    open_client: Opener,
) -> None:
    with ServerProcess(eras=[ServedEra.MODERN]) as server:
        async with open_client(server.url) as client:
            discovered = await client.post({"jsonrpc": "2.0", "id": "d-1", "method": "server/discover", "params": {}})
            assert discovered.status == 200
            answer = json.loads(discovered.body)
            assert answer["id"] == "d-1"
            assert "2026-07-28" in answer["result"]["supportedVersions"]
            assert "mcp-session-id" not in discovered.headers, "the sessionless era has no session to name"
