"""A first contact that cannot succeed ends in the library's typed error, through every adapter.

Two servers that never answer an ``initialize``: a port that refuses connections, and a socket that
accepts them (the kernel completes the handshake) and never says a word. Each adapter's first
contact must end within its deadline in a typed error, in that adapter's own terms: raised
(``Session``, ``connect()``, the aiohttp middleware), or a JSON-RPC error under the client's id
whose data names it (the transports, the SDK above them, the ``stdio`` and ``proxy`` bridges). Never
a bare ``TimeoutError``, a ``ConnectError`` or an ``ExceptionGroup``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcp_session_recovery import model
from mcp_session_recovery.adapters.aiohttp_middleware import McpAiohttpError, RecoveringMiddleware
from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_sync_transport import RecoveringSyncTransport
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import McpSessionError
from mcp_session_recovery.runtime import Session, SessionOptions
from tests.cli.bridges import BridgeProcess, proxy_process, read_line, send_line
from tests.integration.processes import free_port

from .clients import ACCEPT
from .support import options

pytestmark = pytest.mark.anyio

#: The caller's deadline, and how long past it an answer may take on a loaded machine.
DEADLINE = 1.5
SLACK = 8.0
_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "first",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "edges", "version": "1"}},
}
_JSON = {**ACCEPT, "content-type": "application/json"}


@contextmanager
def _refusing() -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there


@contextmanager
def _silent() -> Iterator[str]:
    """A socket that takes connections (its backlog) and never reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        sock.close()


SERVERS = [pytest.param(_refusing, id="refused"), pytest.param(_silent, id="silent")]


def _options() -> SessionOptions:
    return options(request_timeout=DEADLINE, negotiation_timeout=0.5, max_attempts=1000)


def _typed(name: object) -> str:
    """``name`` if it names one of the library's typed errors, else a failing assertion."""
    found = getattr(model, str(name), None)
    assert isinstance(found, type), f"{name!r} names no error of the library"
    assert issubclass(found, McpSessionError), name
    return str(name)


def _from_answer(body: bytes) -> str:
    message = json.loads(body)
    assert message["id"] == "first", "the client's own id"
    return _typed(message["error"]["data"]["error"])


async def _session_httpx(url: str) -> str:
    async with httpx.AsyncClient() as http:
        return await _session_over(HttpxWire(http, url), url)


async def _session_aiohttp(url: str) -> str:
    async with aiohttp.ClientSession() as http:
        return await _session_over(AiohttpWire(http, url), url)


async def _session_over(wire: Any, url: str) -> str:
    async with Session(wire, url, _options()) as session:
        try:
            await session.request("tools/list")
        except McpSessionError as error:
            return _typed(type(error).__name__)
    raise AssertionError("no error")


async def _connect(url: str) -> str:
    try:
        async with connect(url, mode="legacy", options=_options()):
            pass
    except McpSessionError as error:
        return _typed(type(error).__name__)
    raise AssertionError("no error")


async def _sdk(url: str) -> str:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=_options())
    # The SDK raises its own error for a JSON-RPC error answer (from its task groups, grouped).
    with pytest.raises((MCPError, BaseExceptionGroup)) as raised:
        async with (
            httpx2.AsyncClient(transport=transport) as http,
            streamable_http_client(url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
    error = _mcp_error(raised.value)
    data = error.error.data
    assert isinstance(data, dict), error
    return _typed(data["error"])


def _mcp_error(raised: BaseException) -> MCPError:
    """The SDK's ``MCPError`` in ``raised`` (alone, or the one leaf of the SDK's exception groups)."""
    while isinstance(raised, BaseExceptionGroup) and len(raised.exceptions) == 1:
        raised = raised.exceptions[0]
    assert isinstance(raised, MCPError), repr(raised)
    return raised


async def _raw_transport(url: str, library: Any = httpx2) -> str:
    transport = RecoveringTransport(library.AsyncHTTPTransport(), options=_options())
    async with library.AsyncClient(transport=transport) as http:
        answer = await http.post(url, content=json.dumps(_INITIALIZE), headers=_JSON)
    return _from_answer(answer.content)


async def _raw_httpx(url: str) -> str:
    return await _raw_transport(url, httpx)


async def _sync(url: str) -> str:
    def post() -> bytes:
        transport = RecoveringSyncTransport(httpx.HTTPTransport(), options=_options())
        with httpx.Client(transport=transport) as http:
            return http.post(url, content=json.dumps(_INITIALIZE), headers=_JSON).content

    return _from_answer(await anyio.to_thread.run_sync(post))


async def _middleware(url: str) -> str:
    recovering = RecoveringMiddleware(options=_options())
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
        try:
            async with http.post(url, data=json.dumps(_INITIALIZE), headers=_JSON) as answer:
                raise AssertionError(f"answered {answer.status}")
        except McpAiohttpError as error:
            return _typed(type(error.error).__name__)


FirstContact = Callable[[str], Awaitable[str]]
#: Each adapter's first contact, and the anyio backends it runs on.
ADAPTERS: list[tuple[FirstContact, tuple[str, ...]]] = [
    (_session_httpx, ("asyncio", "trio")),
    (_session_aiohttp, ("asyncio",)),
    (_connect, ("asyncio", "trio")),
    (_sdk, ("asyncio",)),
    (_raw_transport, ("asyncio", "trio")),
    (_raw_httpx, ("asyncio", "trio")),
    (_sync, ("asyncio",)),
    (_middleware, ("asyncio",)),
]
CASES = [
    pytest.param(backend, first_contact, id=f"{first_contact.__name__.strip('_')}-{backend}")
    for first_contact, backends in ADAPTERS
    for backend in backends
]


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize(("anyio_backend", "first_contact"), CASES)
async def test_a_first_contact_that_cannot_succeed_is_a_typed_error_after_waiting_its_deadline(
    anyio_backend: str, server: Callable[[], Any], first_contact: FirstContact
) -> None:
    with server() as url:
        started = time.monotonic()
        with anyio.fail_after(DEADLINE + SLACK):
            await first_contact(url)
        # Waiting can help here (a server may come back): the whole budget is waited, not less.
        assert time.monotonic() - started >= DEADLINE * 0.9


# -- the bridges, as real processes: the host gets a JSON-RPC error under its own id -----------------


@pytest.mark.parametrize("server", SERVERS)
def test_the_stdio_bridge_answers_a_first_initialize_that_cannot_succeed_with_a_typed_error(
    server: Callable[[], Any],
) -> None:
    with server() as url, BridgeProcess(["stdio", url, "--timeout", str(DEADLINE)], stdio=True) as bridge:
        send_line(bridge, _INITIALIZE)
        answer = read_line(bridge)
        assert _from_answer(json.dumps(answer).encode())
        assert "bridge error" not in answer["error"]["message"]
        assert bridge.process is not None
        assert bridge.process.stdin is not None
        bridge.process.stdin.close()
        assert bridge.wait() == 0, "the bridge lived on, and ends cleanly when the host does"


@pytest.mark.parametrize("server", SERVERS)
async def test_the_proxy_answers_a_first_initialize_that_cannot_succeed_with_a_typed_error(
    server: Callable[[], Any],
) -> None:
    with server() as url:
        bridge, local = proxy_process(url, "--timeout", str(DEADLINE))
        with bridge:
            async with httpx2.AsyncClient(timeout=DEADLINE + SLACK) as http:
                answer = await http.post(local, content=json.dumps(_INITIALIZE), headers=_JSON)
            assert _from_answer(answer.content)
            assert "proxy error" not in answer.text
