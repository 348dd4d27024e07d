"""Small helpers the test-server tests share: JSON-RPC bodies, headers, and reading answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import h11
import httpx

from mcp_session_recovery.testing import MODERN_PROTOCOL_VERSION

#: What a client sends with every POST (the SDKs send both media types).
ACCEPT = {"accept": "application/json, text/event-stream"}


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 1) -> dict[str, Any]:
    """A JSON-RPC request (or, with ``request_id=None``, a notification)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if request_id is not None:
        message["id"] = request_id
    return message


def body_of(response: httpx.Response) -> Any:
    """The JSON-RPC message in a JSON or one-event SSE answer."""
    if response.headers["content-type"].startswith("text/event-stream"):
        text = response.text
        assert text.startswith("event: message\ndata: "), text
        assert text.endswith("\n\n"), text
        return json.loads(text.removeprefix("event: message\ndata: "))
    return response.json()


def tool_text(response: httpx.Response) -> str:
    """The text a tool call returned."""
    result = body_of(response)["result"]
    assert result["isError"] is False
    text: str = result["content"][0]["text"]
    return text


async def open_session(client: httpx.AsyncClient, url: str, version: str = "2025-11-25") -> str:
    """The legacy handshake; returns the session id."""
    response = await client.post(url, json=rpc("initialize", {"protocolVersion": version}), headers=ACCEPT)
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    notified = await client.post(
        url, json=rpc("notifications/initialized", request_id=None), headers=session_headers(session_id)
    )
    assert notified.status_code == 202
    return session_id


def session_headers(session_id: str) -> dict[str, str]:
    """The headers of a request inside a legacy session."""
    return {**ACCEPT, "mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"}


async def call_tool(
    client: httpx.AsyncClient, url: str, session_id: str, name: str, arguments: dict[str, Any] | None = None
) -> httpx.Response:
    """A legacy ``tools/call``."""
    params = {"name": name, "arguments": arguments or {}}
    return await client.post(url, json=rpc("tools/call", params), headers=session_headers(session_id))


def modern_params(extra: dict[str, Any] | None = None, *, version: str = MODERN_PROTOCOL_VERSION) -> dict[str, Any]:
    """Params carrying the ``_meta`` every modern request needs."""
    meta = {"io.modelcontextprotocol/protocolVersion": version, "io.modelcontextprotocol/clientCapabilities": {}}
    return {**(extra or {}), "_meta": meta}


def modern_headers(method: str, name: str | None = None, *, version: str = MODERN_PROTOCOL_VERSION) -> dict[str, str]:
    """The headers of a modern request."""
    headers = {**ACCEPT, "mcp-protocol-version": version, "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return headers


class RawHttp:
    """One HTTP/1.1 connection driven by hand with h11, for what httpx hides: the exact bytes of
    a stream as they arrive, a cut answer, a connection the server closed.
    """

    def __init__(self, stream: anyio.abc.SocketStream, host: str) -> None:
        self.stream = stream
        self.host = host
        self.h11 = h11.Connection(h11.CLIENT)

    @classmethod
    @asynccontextmanager
    async def connect(cls, port: int, host: str = "127.0.0.1") -> AsyncIterator[RawHttp]:
        """A connection to ``host:port``, closed when the block ends."""
        stream = await anyio.connect_tcp(host, port)
        async with stream:
            yield cls(stream, host)

    async def send(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> None:
        """Send a whole request without waiting for the answer."""
        all_headers = [("host", self.host), ("content-length", str(len(body))), *headers.items()]
        data = self.h11.send(h11.Request(method=method, target=path, headers=all_headers)) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        await self.stream.send(data + (self.h11.send(h11.EndOfMessage()) or b""))

    async def send_request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> h11.Response:
        """Send a request and return the response head (the body is read with :meth:`next_data`)."""
        await self.send(method, path, headers, body)
        event = await self.next_event()
        assert isinstance(event, h11.Response), event
        return event

    async def next_event(self) -> h11.Event:
        """The next event from the server; ``ConnectionClosed`` once it closed the connection,
        also when it closed in the middle of an answer (which h11 reports as a protocol error).
        """
        for _ in range(1000):
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError:
                return h11.ConnectionClosed()
            if isinstance(event, h11.Event):
                return event
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                data = b""
            self.h11.receive_data(data)
        raise AssertionError("no event after 1000 reads")

    async def next_data(self) -> bytes | None:
        """The next body bytes, ``b""`` at a clean end of message, ``None`` when the connection broke."""
        event = await self.next_event()
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            return b""
        return None


def header(response: h11.Response, name: str) -> str | None:
    """A header of a raw response."""
    for key, value in response.headers:
        if key.decode() == name:
            return value.decode()
    return None


def request_bytes(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """A whole HTTP/1.1 request that asks the server to close the connection after answering."""
    head = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}", "connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def raw_exchange(port: int, data: bytes, *, limit: int = 1 << 20, timeout: float = 5.0) -> bytes:
    """Send ``data`` and return every byte the server sends until it closes (bounded)."""
    received = bytearray()
    with anyio.fail_after(timeout):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(data)
            for _ in range(limit // 1024 + 2):
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return bytes(received)
                if len(received) > limit:
                    break
    raise AssertionError(f"the server sent more than {limit} bytes without closing")


def split_answer(data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """A raw answer's status line, header lines and body (as sent, no parsing of the values)."""
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, data[:200]
    status, *lines = head.split(b"\r\n")
    return status, lines, body
