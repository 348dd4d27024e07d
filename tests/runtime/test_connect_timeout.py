"""``connect()`` never raises a bare ``TimeoutError``: a server that refuses every connection, or accepts
and never answers, ends in ``ConnectTimedOut`` naming the last cause, after the whole budget (no fast
failure: waiting can help there). Through ``RecoveringTransport`` the client's ``initialize`` gets
that typed error as a JSON-RPC error. On asyncio and trio, over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httpx
import httpx2
import pytest

from mcp_session_recovery import ConnectTimedOut as PackageConnectTimedOut
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import ConnectTimedOut, EraMode, McpSessionError, Signal
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions

pytestmark = pytest.mark.anyio

#: The budget under test (the case the issue reproduced).
BUDGET = 0.5


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {"mode": EraMode.LEGACY, "request_timeout": BUDGET, "era_cache": EraCache()}
    settings.update(changes)
    return SessionOptions(**settings)


def _refusing_url() -> str:
    """An endpoint on 127.0.0.1 where nothing listens: every connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mcp"


@asynccontextmanager
async def _silent_server() -> AsyncIterator[str]:
    """An endpoint that accepts every connection, reads what comes, and never answers."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            for _ in range(10_000):  # bounded; the test ends long before
                try:
                    await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        yield f"http://127.0.0.1:{port}/mcp"
        tg.cancel_scope.cancel()


@asynccontextmanager
async def _endpoint(kind: str) -> AsyncIterator[str]:
    if kind == "refused":
        yield _refusing_url()
    else:
        async with _silent_server() as url:
            yield url


def _assert_timed_out(error: BaseException, kind: str) -> None:
    assert isinstance(error, ConnectTimedOut), repr(error)
    assert isinstance(error, McpSessionError)
    assert not isinstance(error, TimeoutError), "a typed error, never a bare TimeoutError"
    assert error.timeout == BUDGET
    assert f"within {BUDGET:g} s" in str(error)
    if kind == "refused":
        assert error.last_signal is Signal.UNREACHABLE
        assert "unreachable" in error.cause
        assert "refused" in error.cause
    else:
        assert error.last_signal is None
        assert "no answer from the server yet" in error.cause


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_session_connect_outlasting_its_timeout_raises_connect_timed_out(kind: str) -> None:
    async with (
        _endpoint(kind) as url,
        httpx.AsyncClient(timeout=30.0) as client,
        Session(HttpxWire(client, url), url, _options()) as session,
    ):
        started = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(McpSessionError) as caught:
            await session.connect()
        waited = anyio.current_time() - started
        _assert_timed_out(caught.value, kind)
        assert waited >= BUDGET * 0.9, "the whole budget was waited: waiting can help here"
        assert session.snapshot.waiters == (), "the model no longer tracks the caller"
    assert PackageConnectTimedOut is ConnectTimedOut, "exported from the package too"


async def test_a_refused_connection_waits_its_whole_budget_and_keeps_trying() -> None:
    url = _refusing_url()
    async with (
        httpx.AsyncClient(timeout=30.0) as client,
        Session(HttpxWire(client, url), url, _options()) as session,
    ):
        started = anyio.current_time()
        with anyio.fail_after(10), pytest.raises(ConnectTimedOut):
            await session.connect(timeout=2.0)
        assert anyio.current_time() - started >= 1.8, "no fast failure for a refused connection"
        assert session.snapshot.generation >= 3, "it kept trying for the whole budget"


@pytest.mark.parametrize("kind", ["refused", "silent"])
async def test_recovering_transport_answers_the_clients_initialize_with_the_typed_error(kind: str) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    async with _endpoint(kind) as url:
        transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=_options(mode=EraMode.AUTO))
        async with httpx2.AsyncClient(transport=transport, timeout=30.0) as client:
            started = anyio.current_time()
            with anyio.fail_after(5):
                response = await client.post(url, json=initialize, headers={"accept": "application/json"})
            assert anyio.current_time() - started >= BUDGET * 0.9
    assert response.status_code == 200
    answer = json.loads(response.content)
    assert answer["id"] == 1
    error = answer["error"]
    assert error["data"]["error"] == "ConnectTimedOut"
    assert f"no session with the MCP server within {BUDGET:g} s" in error["message"]
    assert ("refused" if kind == "refused" else "no answer from the server yet") in error["message"]
