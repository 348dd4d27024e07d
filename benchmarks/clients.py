"""The clients the rows compare: the SDK's own, the library's adapters, and raw JSON-RPC POSTs.

The raw clients are the anchors of the Session rows: they do the handshake themselves
(``initialize``, then ``notifications/initialized``) and then POST exactly the JSON-RPC message
the Session would, with the same session id and protocol-version headers, and parse the answer
(JSON or SSE) as any client must.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions

__all__ = [
    "ACCEPT",
    "ADD",
    "LEGACY",
    "PassThrough",
    "RawAiohttp",
    "RawHttpx",
    "RawSync",
    "legacy_options",
    "recovering",
    "sdk_client",
    "text_of",
]

ACCEPT = "application/json, text/event-stream"
#: The cheap tool every latency row calls, and its arguments.
ADD = ("add", {"a": 1, "b": 2})
#: The SDK's timeouts in the README's examples.
TIMEOUT = httpx2.Timeout(30, read=300)
#: Big enough for a 1 MiB answer in one SSE event (the SDK's default limit is exactly 1 MiB).
MAX_SSE_EVENT = 16 << 20
LEGACY = "2025-11-25"


def legacy_options() -> SessionOptions:
    """A Session pinned to the handshake era, as the raw clients speak it."""
    return SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache())


class PassThrough(httpx2.AsyncBaseTransport):
    """The naive wrapper: delegates every request, does nothing else (the cost of any wrapper)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def recovering() -> RecoveringTransport:
    """``RecoveringTransport`` over a bare transport, default options (what the README shows)."""
    return RecoveringTransport(httpx2.AsyncHTTPTransport())


@asynccontextmanager
async def session_and_raw(url: str) -> AsyncIterator[tuple[Session, RawHttpx]]:
    """A legacy ``Session`` over ``HttpxWire`` and its anchor, a raw httpx2 client with a session of
    its own (each on its own ``AsyncClient``)."""
    async with (
        httpx2.AsyncClient(timeout=TIMEOUT) as http,
        httpx2.AsyncClient(timeout=TIMEOUT) as raw_http,
        Session(HttpxWire(http, url), url, legacy_options()) as session,
    ):
        raw = RawHttpx(raw_http, url)
        await raw.initialize()
        yield session, raw


@asynccontextmanager
async def aiohttp_session_and_raw(url: str) -> AsyncIterator[tuple[Session, RawAiohttp]]:
    """The same pair over aiohttp: a ``Session`` over ``AiohttpWire`` and a raw aiohttp client."""
    async with (
        aiohttp.ClientSession() as http,
        aiohttp.ClientSession() as raw_http,
        Session(AiohttpWire(http, url), url, legacy_options()) as session,
    ):
        raw = RawAiohttp(raw_http, url)
        await raw.initialize()
        yield session, raw


@asynccontextmanager
async def sdk_client(
    url: str, transport: httpx2.AsyncBaseTransport | RecoveringTransport
) -> AsyncIterator[ClientSession]:
    """The SDK's ``ClientSession`` over ``transport``, initialized."""
    async with (
        httpx2.AsyncClient(transport=transport, timeout=TIMEOUT) as http,
        streamable_http_client(url, http_client=http, max_sse_event_size=MAX_SSE_EVENT) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: Any) -> str:
    """The first text content of a ``tools/call`` result: the SDK's model or a plain mapping."""
    if isinstance(result, Mapping):
        return str(result["content"][0]["text"])
    return str(result.content[0].text)


# -- raw JSON-RPC ------------------------------------------------------------------------------------


def _initialize(request_id: int) -> bytes:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "benchmark", "version": "0"}}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}).encode()


def _call(request_id: int, name: str, arguments: Mapping[str, Any]) -> bytes:
    params = {"name": name, "arguments": dict(arguments)}
    document = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    return json.dumps(document, separators=(",", ":")).encode()


_INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()


class _Answer:
    """Reads the JSON-RPC response to ``request_id`` from a JSON body or an SSE stream, chunk by chunk.

    A JSON body is read as the SDK and httpx's ``read()`` read it: its chunks kept, joined once at
    the end, then parsed. An SSE stream is read only up to the event that carries the response (as
    the SDK and the Session do): a server may keep the stream open after it.
    """

    def __init__(self, content_type: str, request_id: int) -> None:
        self._sse = content_type.startswith("text/event-stream")
        self._id = request_id
        self._buffer = bytearray()
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> dict[str, Any] | None:
        """The response once it is complete (SSE only), else ``None``."""
        if not self._sse:
            self._chunks.append(chunk)
            return None
        self._buffer += chunk
        while True:
            text = self._buffer.replace(b"\r\n", b"\n")
            end = text.find(b"\n\n")
            if end < 0:
                return None
            event, self._buffer = text[:end], bytearray(text[end + 2 :])
            data = b"\n".join(line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:"))
            if data:
                message = json.loads(data)
                if isinstance(message, dict) and message.get("id") == self._id:
                    return message

    def finish(self) -> dict[str, Any]:
        """The response at the end of the body."""
        if self._sse:
            raise ValueError("the SSE stream ended without the response")
        message = json.loads(b"".join(self._chunks))
        if not isinstance(message, dict) or message.get("id") != self._id:
            raise ValueError("the JSON body is not the response to the request")
        return message


def _result(message: Mapping[str, Any]) -> Any:
    if "result" not in message:
        raise ValueError(f"the server answered an error: {message.get('error')!r}")
    return message["result"]


class _Raw:
    """The handshake state and message ids shared by the raw clients."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.headers = {"content-type": "application/json", "accept": ACCEPT}
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def adopt(self, headers: Mapping[str, str], answer: Mapping[str, Any]) -> None:
        self.headers["mcp-session-id"] = headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = str(_result(answer)["protocolVersion"])


class _AsyncRaw(_Raw):
    """A raw client whose ``_post`` is a coroutine: the handshake and calls, written once."""

    async def _post(self, body: bytes, request_id: int | None) -> dict[str, Any]:
        raise NotImplementedError

    async def initialize(self) -> None:
        answer = await self._post(_initialize(0), 0)
        self.adopt(answer["headers"], answer)
        await self._post(_INITIALIZED, None)

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        request_id = self.next_id()
        return _result(await self._post(_call(request_id, name, arguments), request_id))


class RawHttpx(_AsyncRaw):
    """JSON-RPC over a bare ``httpx2.AsyncClient``."""

    def __init__(self, client: httpx2.AsyncClient, url: str) -> None:
        super().__init__(url)
        self._client = client

    async def _post(self, body: bytes, request_id: int | None) -> dict[str, Any]:
        async with self._client.stream("POST", self.url, content=body, headers=self.headers) as response:
            if request_id is None:
                return {}
            reader = _Answer(response.headers["content-type"], request_id)
            async for chunk in response.aiter_bytes():
                message = reader.feed(chunk)
                if message is not None:
                    return message | {"headers": response.headers}
            return reader.finish() | {"headers": response.headers}


class RawSync(_Raw):
    """JSON-RPC over a blocking ``httpx.Client`` (bare, or over ``RecoveringSyncTransport``)."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        super().__init__(url)
        self._client = client

    def _post(self, body: bytes, request_id: int | None) -> dict[str, Any]:
        with self._client.stream("POST", self.url, content=body, headers=self.headers) as response:
            if request_id is None:
                return {}
            reader = _Answer(response.headers["content-type"], request_id)
            for chunk in response.iter_bytes():
                message = reader.feed(chunk)
                if message is not None:
                    return message | {"headers": response.headers}
            return reader.finish() | {"headers": response.headers}

    def initialize(self) -> None:
        answer = self._post(_initialize(0), 0)
        self.adopt(answer["headers"], answer)
        self._post(_INITIALIZED, None)

    def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        request_id = self.next_id()
        return _result(self._post(_call(request_id, name, arguments), request_id))


class RawAiohttp(_AsyncRaw):
    """JSON-RPC over a bare ``aiohttp.ClientSession``."""

    def __init__(self, client: aiohttp.ClientSession, url: str) -> None:
        super().__init__(url)
        self._client = client

    async def _post(self, body: bytes, request_id: int | None) -> dict[str, Any]:
        async with self._client.post(self.url, data=body, headers=self.headers) as response:
            if request_id is None:
                return {}
            headers = {key.lower(): value for key, value in response.headers.items()}
            reader = _Answer(headers["content-type"], request_id)
            async for chunk in response.content.iter_any():
                message = reader.feed(chunk)
                if message is not None:
                    return message | {"headers": headers}
            return reader.finish() | {"headers": headers}
