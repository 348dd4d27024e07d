"""A user's own transport wrapper, defined here (not in httpx or httpx2), under the recovering
transports, against real server processes restarted with SIGKILL.

``RecoveringTransport`` tells the library by the wrapper's base class, so a logging or metrics
wrapper of the user's works as the library's own transports do: under the unmodified SDK's
``ClientSession`` (httpx2), under a raw ``httpx``/``httpx2`` client, and (the sync twin) under a
blocking ``httpx.Client``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_session_recovery.adapters.httpx_sync_transport import RecoveringSyncTransport
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions
from mcp_session_recovery.testing import ServedEra, ServerProcess

from .processes import ManagedServer, sdk_server_argv

pytestmark = pytest.mark.anyio

ACCEPT = {"accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wrapped"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def _options() -> SessionOptions:
    return SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20.0, era_cache=EraCache()
    )


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class CountingTransport(httpx2.AsyncBaseTransport):
    """A user's wrapper (what a logging transport is): counts each request and passes it on."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def __aenter__(self) -> CountingTransport:
        await self.inner.__aenter__()
        return self

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)


class CountingHttpxTransport(httpx.AsyncBaseTransport):
    """The same wrapper, of httpx."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def __aenter__(self) -> CountingHttpxTransport:
        await self.inner.__aenter__()
        return self

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)


class CountingSyncTransport(httpx.BaseTransport):
    """The same wrapper, blocking."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    def __enter__(self) -> CountingSyncTransport:
        self.inner.__enter__()
        return self

    def close(self) -> None:
        self.inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.inner.handle_request(request)


def test_the_wrappers_are_defined_in_this_module_not_in_a_library() -> None:
    for wrapper in (CountingTransport, CountingHttpxTransport, CountingSyncTransport):
        assert wrapper.__module__ == __name__


# -- under the unmodified SDK (httpx2) ---------------------------------------------------------------------


@pytest.fixture
def sdk_server() -> Iterator[ManagedServer]:
    with ManagedServer(sdk_server_argv()) as server:
        yield server


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's client runs on asyncio
async def test_the_sdk_over_a_user_wrapper_survives_a_sigkill_restart(sdk_server: ManagedServer) -> None:
    wrapper = CountingTransport(httpx2.AsyncHTTPTransport())
    transport = RecoveringTransport(wrapper, options=_options())
    async with (
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(sdk_server.url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        assert str((await session.call_tool("bump", {})).content[0].text) == "1"  # type: ignore[union-attr]
        await anyio.to_thread.run_sync(sdk_server.restart)
        texts = [str((await session.call_tool("bump", {})).content[0].text) for _ in range(3)]  # type: ignore[union-attr]
        assert texts == ["1", "2", "3"], "the new process ran each call once"
        stats = await anyio.to_thread.run_sync(sdk_server.stats)
        assert stats["initializes"] == 1, "one initialize on the new process"
    assert wrapper.requests >= 6, "every request went through the user's wrapper"


# -- under raw clients of httpx2 and httpx, and the blocking twin ---------------------------------------------


def _message(response: Any) -> Any:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def _bump(request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bump", "arguments": {}}}


def _result_text(response: Any, request_id: int) -> str:
    assert response.status_code == 200, response.text
    message = _message(response)
    assert message["id"] == request_id, "the answer carries the caller's own id"
    return str(message["result"]["content"][0]["text"])


@pytest.fixture
def legacy_server() -> Iterator[ServerProcess]:
    with ServerProcess(eras=frozenset({ServedEra.LEGACY})) as server:
        yield server


@pytest.mark.parametrize("library", [httpx2, httpx], ids=["httpx2", "httpx"])
async def test_a_raw_client_over_a_user_wrapper_survives_a_sigkill_restart(
    legacy_server: ServerProcess, library: ModuleType
) -> None:
    inner = library.AsyncHTTPTransport()
    wrapper = CountingTransport(inner) if library is httpx2 else CountingHttpxTransport(inner)
    transport = RecoveringTransport(wrapper, options=_options())
    url = legacy_server.url
    async with library.AsyncClient(transport=transport, timeout=20) as http:
        answer = await http.post(url, json=INITIALIZE, headers=ACCEPT)
        assert answer.status_code == 200
        session = {**ACCEPT, "mcp-session-id": answer.headers["mcp-session-id"]}
        assert (await http.post(url, json=INITIALIZED, headers=session)).status_code == 202
        assert _result_text(await http.post(url, json=_bump(2), headers=session), 2) == "1"
        await anyio.to_thread.run_sync(legacy_server.restart)
        texts = [_result_text(await http.post(url, json=_bump(n), headers=session), n) for n in (3, 4)]
        assert texts == ["1", "2"]
        assert (await anyio.to_thread.run_sync(legacy_server.stats)).initializes == 1
    assert wrapper.requests >= 6


def test_a_blocking_client_over_a_user_wrapper_survives_a_sigkill_restart(legacy_server: ServerProcess) -> None:
    wrapper = CountingSyncTransport(httpx.HTTPTransport())
    url = legacy_server.url
    with httpx.Client(transport=RecoveringSyncTransport(wrapper, options=_options()), timeout=20) as http:
        answer = http.post(url, json=INITIALIZE, headers=ACCEPT)
        assert answer.status_code == 200
        session = {**ACCEPT, "mcp-session-id": answer.headers["mcp-session-id"]}
        assert http.post(url, json=INITIALIZED, headers=session).status_code == 202
        assert _result_text(http.post(url, json=_bump(2), headers=session), 2) == "1"
        legacy_server.restart()
        assert [_result_text(http.post(url, json=_bump(n), headers=session), n) for n in (3, 4)] == ["1", "2"]
        assert legacy_server.stats().initializes == 1
    assert wrapper.requests >= 6
