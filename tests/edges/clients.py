"""Every way a caller reaches a server through this library, behind one small interface.

An edge guarantee (DESIGN §7) must hold whichever adapter carries the bytes, so each test here
runs over all of them:

- ``Session`` over ``HttpxWire`` and over ``AiohttpWire`` (``session.request``): typed errors;
- ``connect()`` (the SDK's call surface over the runtime): typed errors;
- the unmodified SDK ``ClientSession`` over ``RecoveringTransport`` (httpx2): ``MCPError``;
- raw POSTs through ``RecoveringTransport`` over httpx2 and over httpx, and through
  ``RecoveringSyncTransport`` (a blocking ``httpx.Client``): the JSON-RPC error in the answer,
  and the answer's raw bytes to compare with what the server sent;
- raw POSTs through ``RecoveringMiddleware`` (an ``aiohttp.ClientSession``): the answer's raw bytes,
  and a typed error (also an ``aiohttp.ClientError``) for what the library gave up on.

Each client's :meth:`EdgeClient.call` returns the tool's text, or a :class:`Refusal` that says what
the caller got instead, in that adapter's own form; :meth:`Refusal.expect` checks it against the
typed error the contract names.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import anyio
import anyio.to_thread
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.adapters.aiohttp_middleware import McpAiohttpError, RecoveringMiddleware
from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_sync_transport import RecoveringSyncTransport
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import McpSessionError
from mcp_session_recovery.runtime import Session, SessionOptions

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AiohttpRawClient",
    "EdgeClient",
    "RawAnswer",
    "RawClient",
    "Refusal",
    "cases",
    "tool_call_body",
]

#: The JSON-RPC code the library answers with in the server's place.
LIBRARY_ERROR_CODE = -32000
#: ACCEPT as the SDKs send it.
ACCEPT = {"accept": "application/json, text/event-stream"}
#: How long one HTTP exchange may take on the client side (the library's deadlines are shorter).
HTTP_TIMEOUT = 30.0
#: The SDK client's own SSE event bound, raised so that only the library's limits are under test.
SDK_MAX_SSE_EVENT = 256 << 20


@dataclass(frozen=True)
class Refusal:
    """What a caller got instead of a result: a typed error, or a JSON-RPC error (code, message, data)."""

    typed: McpSessionError | None = None
    code: int | None = None
    message: str = ""
    data: Any = None

    def expect(self, kind: type[McpSessionError], *words: str, **attributes: object) -> None:
        """Assert this is ``kind`` (with ``attributes``) in the adapter's form, its message naming ``words``.

        A typed adapter must raise ``kind`` itself; a JSON-RPC adapter must answer code -32000 whose
        message names ``words`` and whose message or ``data.error`` names ``kind``.
        """
        if self.typed is not None:
            assert isinstance(self.typed, kind), f"expected {kind.__name__}, got {self.typed!r}"
            for name, value in attributes.items():
                assert getattr(self.typed, name) == value, f"{name}: {getattr(self.typed, name)!r} != {value!r}"
            text = str(self.typed)
        else:
            assert self.code == LIBRARY_ERROR_CODE, f"expected a -32000 error for {kind.__name__}, got {self!r}"
            named = self.data.get("error") if isinstance(self.data, dict) else None
            assert kind.__name__ == named or kind.__name__ in self.message, (
                f"the error does not name {kind.__name__}: {self!r}"
            )
            text = self.message
        for word in words:
            assert word in text, f"{word!r} not in {text!r}"


@dataclass(frozen=True)
class RawAnswer:
    """An HTTP answer as the client above the library received it."""

    status: int
    content_type: str
    body: bytes


class EdgeClient(Protocol):
    """One caller over one adapter, connected to one server (legacy session opened if need be)."""

    async def call(self, name: str, arguments: dict[str, Any]) -> str | Refusal:
        """``tools/call``: the text of its one content, or what the caller got instead."""
        ...


Opener = Callable[[str, SessionOptions], AbstractAsyncContextManager[EdgeClient]]


@dataclass(frozen=True)
class Adapter:
    """A way through the library: its name, the anyio backends it runs on, and how to open a client."""

    name: str
    open: Opener
    backends: tuple[str, ...] = ("asyncio", "trio")
    #: Whether its clients are :class:`RawClient` (the answer's bytes are visible).
    raw: bool = False


def tool_call_body(request_id: int, name: str, arguments: dict[str, Any]) -> bytes:
    """A ``tools/call`` request, compact as the SDKs write it."""
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return json.dumps(message, separators=(",", ":")).encode()


def _initialize_body() -> bytes:
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "edges", "version": "1"}}
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode()


def message_of(answer: RawAnswer) -> dict[str, Any]:
    """The JSON-RPC message in a JSON answer or in the last event of an SSE answer."""
    if answer.content_type.startswith("text/event-stream"):
        events = [event for event in answer.body.replace(b"\r\n", b"\n").split(b"\n\n") if event.strip()]
        data = [line[5:].removeprefix(b" ") for line in events[-1].split(b"\n") if line.startswith(b"data:")]
        message: dict[str, Any] = json.loads(b"\n".join(data))
        return message
    loaded: dict[str, Any] = json.loads(answer.body)
    return loaded


def _outcome_of_message(message: dict[str, Any]) -> str | Refusal:
    if "error" in message:
        error = message["error"]
        return Refusal(code=error.get("code"), message=str(error.get("message", "")), data=error.get("data"))
    content = message["result"]["content"]
    assert message["result"].get("isError", False) is False, message["result"]  # optional (TypeScript omits it)
    return str(content[0]["text"])


def _outcome_of_result(result: Any) -> str:
    assert result["isError"] is False, result
    return str(result["content"][0]["text"])


# -- Session over a wire (typed errors) -------------------------------------------------------------


class _SessionClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def call(self, name: str, arguments: dict[str, Any]) -> str | Refusal:
        try:
            result = await self.session.request("tools/call", {"name": name, "arguments": arguments})
        except McpSessionError as error:
            return Refusal(typed=error)
        return _outcome_of_result(result)


@asynccontextmanager
async def _session_httpx(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    async with (
        httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http,
        Session(HttpxWire(http, url), url, options) as session,
    ):
        yield _SessionClient(session)


@asynccontextmanager
async def _session_aiohttp(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    async with (
        aiohttp.ClientSession() as http,
        Session(AiohttpWire(http, url), url, options) as session,
    ):
        yield _SessionClient(session)


# -- connect() (typed errors) -----------------------------------------------------------------------


class _ToolClient:
    """Anything with the SDK's ``call_tool``: connect()'s client (typed errors, or MCPError for the
    server's own) and the SDK's ClientSession over RecoveringTransport (MCPError)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, name: str, arguments: dict[str, Any]) -> str | Refusal:
        try:
            result: types.CallToolResult = await self.client.call_tool(name, arguments)
        except McpSessionError as error:
            return Refusal(typed=error)
        except MCPError as error:
            return Refusal(code=error.code, message=error.message, data=error.data)
        assert not result.is_error, result
        content = result.content[0]
        assert isinstance(content, types.TextContent), content
        return content.text


@asynccontextmanager
async def _connect(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    async with connect(url, mode="legacy" if options.mode.value == "legacy" else "auto", options=options) as client:
        yield _ToolClient(client)


# -- the SDK's ClientSession over RecoveringTransport (MCPError) -----------------------------------


@asynccontextmanager
async def _sdk(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options)
    async with (
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(HTTP_TIMEOUT)) as http,
        streamable_http_client(url, http_client=http, max_sse_event_size=SDK_MAX_SSE_EVENT) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield _ToolClient(session)


# -- raw POSTs through the transports (JSON-RPC errors, raw bytes) ---------------------------------


class RawClient:
    """Raw POSTs through a transport: the legacy handshake (the transport hands out a virtual session
    id), then ``tools/call``; :meth:`raw_call` shows the answer's bytes as the client received them."""

    def __init__(self, http: Any, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""
        self.next_id = 100

    async def start(self) -> None:
        answer = await self.http.post(
            self.url, content=_initialize_body(), headers={**ACCEPT, "content-type": "application/json"}
        )
        assert answer.status_code == 200, answer.text
        self.session_id = answer.headers["mcp-session-id"]
        notified = await self.http.post(
            self.url,
            content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            headers=self._headers(),
        )
        assert notified.status_code == 202, notified.text

    def _headers(self) -> dict[str, str]:
        return {**ACCEPT, "content-type": "application/json", "mcp-session-id": self.session_id}

    async def raw_call(self, request_id: int, name: str, arguments: dict[str, Any]) -> RawAnswer:
        """``tools/call`` with ``request_id``; the answer as received."""
        body = tool_call_body(request_id, name, arguments)
        answer = await self.http.post(self.url, content=body, headers=self._headers())
        return RawAnswer(answer.status_code, answer.headers.get("content-type", ""), answer.content)

    async def call(self, name: str, arguments: dict[str, Any]) -> str | Refusal:
        request_id = self.next_id = self.next_id + 1  # its own: concurrent calls share the client
        answer = await self.raw_call(request_id, name, arguments)
        message = message_of(answer)
        assert message["id"] == request_id, f"the caller's own id comes back: {message!r}"
        return _outcome_of_message(message)


@asynccontextmanager
async def _raw_httpx2(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options)
    async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(HTTP_TIMEOUT)) as http:
        client = RawClient(http, url)
        await client.start()
        yield client


@asynccontextmanager
async def _raw_httpx(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    transport = RecoveringTransport(httpx.AsyncHTTPTransport(), options=options)
    # RecoveringTransport is typed as an httpx2 transport (what mcp 2.x takes); it serves httpx alike.
    async with httpx.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT) as http:  # type: ignore[arg-type]
        client = RawClient(http, url)
        await client.start()
        yield client


class _SyncClient(RawClient):
    """The blocking client, each call in a worker thread so the test's loop (and server) keep running."""

    async def start(self) -> None:
        def start() -> str:
            answer = self.http.post(
                self.url, content=_initialize_body(), headers={**ACCEPT, "content-type": "application/json"}
            )
            assert answer.status_code == 200, answer.text
            session_id: str = answer.headers["mcp-session-id"]
            notified = self.http.post(
                self.url,
                content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
                headers={**ACCEPT, "content-type": "application/json", "mcp-session-id": session_id},
            )
            assert notified.status_code == 202, notified.text
            return session_id

        self.session_id = await anyio.to_thread.run_sync(start)

    async def raw_call(self, request_id: int, name: str, arguments: dict[str, Any]) -> RawAnswer:
        body = tool_call_body(request_id, name, arguments)
        headers = self._headers()

        def post() -> RawAnswer:
            answer = self.http.post(self.url, content=body, headers=headers)
            return RawAnswer(answer.status_code, answer.headers.get("content-type", ""), answer.content)

        return await anyio.to_thread.run_sync(post)


@asynccontextmanager
async def _sync(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    transport = RecoveringSyncTransport(httpx.HTTPTransport(), options=options)
    http = httpx.Client(transport=transport, timeout=HTTP_TIMEOUT)
    await anyio.to_thread.run_sync(http.__enter__)
    try:
        client = _SyncClient(http, url)
        await client.start()
        yield client
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(http.close)


class AiohttpRawClient(RawClient):
    """Raw POSTs through an ``aiohttp.ClientSession`` with ``RecoveringMiddleware``: the client keeps the
    virtual session id it was given; what the library gives up on raises a typed error."""

    async def start(self) -> None:
        headers = {**ACCEPT, "content-type": "application/json"}
        async with self.http.post(self.url, data=_initialize_body(), headers=headers) as answer:
            assert answer.status == 200, await answer.text()
            assert message_of(RawAnswer(200, answer.content_type, await answer.read()))["id"] == 1
            self.session_id = answer.headers["mcp-session-id"]
        notification = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
        async with self.http.post(self.url, data=notification, headers=self._headers()) as notified:
            assert notified.status == 202, await notified.text()

    async def raw_call(self, request_id: int, name: str, arguments: dict[str, Any]) -> RawAnswer:
        body = tool_call_body(request_id, name, arguments)
        async with self.http.post(self.url, data=body, headers=self._headers()) as answer:
            return RawAnswer(answer.status, answer.headers.get("content-type", ""), await answer.read())

    async def call(self, name: str, arguments: dict[str, Any]) -> str | Refusal:
        try:
            return await super().call(name, arguments)
        except McpAiohttpError as error:  # also an aiohttp.ClientError (tests/aiohttp_middleware checks)
            return Refusal(typed=error.error)


@asynccontextmanager
async def _raw_aiohttp_middleware(url: str, options: SessionOptions) -> AsyncIterator[EdgeClient]:
    # Relaying SSE answers: the edge guarantees on what the library reads (limits, ids) apply to them.
    # Handed over unread (the default), they are the caller's: tests/aiohttp_middleware covers that.
    recovering = RecoveringMiddleware(options=options, relay_streams=True)
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    async with aiohttp.ClientSession(middlewares=(recovering,), timeout=timeout) as http, recovering:
        client = AiohttpRawClient(http, url)
        await client.start()
        yield client


#: Every adapter, with the backends it supports: aiohttp is asyncio only; the SDK client is tested on
#: asyncio, as in tests/integration (on trio, httpx2's EventSource generators are left to the garbage
#: collector); the blocking twin runs its own loop in a thread, so the test's backend is irrelevant.
ADAPTERS: tuple[Adapter, ...] = (
    Adapter("session-httpx", _session_httpx),
    Adapter("session-aiohttp", _session_aiohttp, backends=("asyncio",)),
    Adapter("connect", _connect),
    Adapter("sdk-httpx2", _sdk, backends=("asyncio",)),
    Adapter("raw-httpx2", _raw_httpx2, raw=True),
    Adapter("raw-httpx", _raw_httpx, raw=True),
    Adapter("sync-httpx", _sync, backends=("asyncio",), raw=True),
    Adapter("raw-aiohttp-middleware", _raw_aiohttp_middleware, backends=("asyncio",), raw=True),
)


def cases(
    *, raw: bool | None = None, backends: tuple[str, ...] | None = None, names: tuple[str, ...] | None = None
) -> list[Any]:
    """``(anyio_backend, adapter)`` pairs for ``pytest.mark.parametrize``, optionally narrowed (``raw``:
    only the adapters whose answer bytes are visible, or only the others)."""
    return [
        pytest.param(backend, adapter, id=f"{adapter.name}-{backend}")
        for adapter in ADAPTERS
        if (raw is None or adapter.raw is raw) and (names is None or adapter.name in names)
        for backend in adapter.backends
        if backends is None or backend in backends
    ]
