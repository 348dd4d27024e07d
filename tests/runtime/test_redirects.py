"""Redirects are followed once for every wire, in the runtime: a wire sends one request where it is told.

A fake wire stands for a server that answers one request 307 (or 308): the runtime sends the same
request again, through the same wire, with ``Outgoing.url`` set to the target, for every kind of
request it sends (negotiation, a call, the GET stream, the DELETE) and for a client's own request
through the front, whose hop is the runtime's own request (the client's send only reaches its URL).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import anyio
import pytest

from mcp_session_recovery.model import Outgoing, RedirectRefused
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions, WireResponse
from mcp_session_recovery.runtime.front import Front, read_client_request
from mcp_session_recovery.runtime.redirects import MAX_REDIRECTS

pytestmark = pytest.mark.anyio

ENDPOINT = "http://127.0.0.1:9/mcp"
MOVED = "http://127.0.0.1:9/moved/mcp"
_INITIALIZE_RESULT = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "fake"}}


class _Answer:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        self.status, self.headers, self._body = status, headers, body
        self.closed = False

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        if self._body:
            yield self._body

    async def aclose(self) -> None:
        self.closed = True


def what(outgoing: Outgoing) -> str:
    """The JSON-RPC method of a POST, else the HTTP method."""
    if outgoing.http_method != "POST":
        return outgoing.http_method
    return str(json.loads(outgoing.body).get("method"))


class RedirectingServer:
    """A legacy server behind the ``Wire`` protocol that answers the first ``redirected`` request with
    ``status`` to ``location`` and everything else as a server would; it records what it was sent."""

    def __init__(self, redirected: str, status: int = 307, location: str = "/moved/mcp", times: int = 1) -> None:
        self.redirected, self.status, self.location, self.times = redirected, status, location, times
        #: Every request it was sent, in order, as the wire got it.
        self.sent: list[Outgoing] = []
        self.redirects: list[_Answer] = []
        #: Set when a request with a ``url`` (a followed redirect) arrives.
        self.hop_arrived = anyio.Event()

    async def send(self, outgoing: Outgoing) -> WireResponse:
        await anyio.lowlevel.checkpoint()
        self.sent.append(outgoing)
        if outgoing.url is not None:
            self.hop_arrived.set()
        kind = what(outgoing)
        if kind == self.redirected and len(self.redirects) < self.times:
            self.redirects.append(_Answer(self.status, {"location": self.location}))
            return self.redirects[-1]
        if kind == "GET":
            return _Answer(405, {})
        if kind in ("DELETE", "notifications/initialized"):
            return _Answer(202, {})
        message = json.loads(outgoing.body)
        result: Any = _INITIALIZE_RESULT if kind == "initialize" else {"content": [{"type": "text", "text": "3"}]}
        headers = {"content-type": "application/json", "mcp-session-id": "s1"}
        return _Answer(200, headers, json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode())

    def of(self, kind: str) -> list[Outgoing]:
        return [outgoing for outgoing in self.sent if what(outgoing) == kind]


def options(*, listen: bool = False) -> SessionOptions:
    return SessionOptions(backoff=Backoff(base=0.01, cap=0.05), era_cache=EraCache(), listen=listen)


def assert_followed_once(server: RedirectingServer, kind: str, target: str = MOVED) -> None:
    first, hop = server.of(kind)
    assert first.url is None, "the runtime's first send goes to the endpoint"
    assert hop.url == target, "the runtime re-sent to the redirect's target, through the same wire"
    assert (hop.http_method, hop.headers, hop.body) == (first.http_method, first.headers, first.body)
    assert all(answer.closed for answer in server.redirects), "the followed redirect was released"


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("redirected", ["initialize", "notifications/initialized", "tools/call"])
async def test_the_runtime_follows_a_redirect_by_sending_again_through_the_same_wire(
    anyio_backend: str, redirected: str, status: int
) -> None:
    server = RedirectingServer(redirected, status)
    async with Session(server, ENDPOINT, options()) as session:
        result = await session.request("tools/call", {"name": "add", "arguments": {}})
    assert result == {"content": [{"type": "text", "text": "3"}]}
    assert_followed_once(server, redirected)
    assert [outgoing.url for outgoing in server.sent].count(MOVED) == 1, "only that one request was redirected"


async def test_the_delete_and_the_get_stream_are_followed_alike(anyio_backend: str) -> None:
    server = RedirectingServer("DELETE", location=MOVED)
    async with Session(server, ENDPOINT, options()) as session:
        await session.request("ping")
    assert_followed_once(server, "DELETE")

    server = RedirectingServer("GET")
    async with Session(server, ENDPOINT, options(listen=True)) as session:
        await session.request("ping")
        with anyio.fail_after(5):
            await server.hop_arrived.wait()
    assert_followed_once(server, "GET")


async def test_another_origin_and_endless_hops_are_not_followed(anyio_backend: str) -> None:
    server = RedirectingServer("tools/call", location="http://127.0.0.2:9/mcp")
    async with Session(server, ENDPOINT, options()) as session:
        with pytest.raises(RedirectRefused):
            await session.request("tools/call", {"name": "add", "arguments": {}})
    assert [outgoing.url for outgoing in server.of("tools/call")] == [None]

    server = RedirectingServer("tools/call", location="/mcp", times=100)
    async with Session(server, ENDPOINT, options()) as session:
        with pytest.raises(RedirectRefused):
            await session.request("tools/call", {"name": "add", "arguments": {}})
    assert [outgoing.url for outgoing in server.of("tools/call")] == [None, *[ENDPOINT] * MAX_REDIRECTS]


async def test_a_client_requests_redirect_is_followed_as_the_runtimes_own_request(anyio_backend: str) -> None:
    # The front's client send (an adapter's: the client's own request object, to its own URL) never
    # gets a url; the hop goes through the front's wire.
    server = RedirectingServer("tools/call")
    client_sent: list[Outgoing] = []

    async def send_client(outgoing: Outgoing) -> WireResponse:
        client_sent.append(outgoing)
        return await server.send(outgoing)

    front = Front(server, options=options(), not_started=RuntimeError)
    await front.open()
    try:
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25"}}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {}}}
        requests = [read_client_request("POST", json.dumps(message).encode()) for message in (initialize, call)]
        session = front.session_for(ENDPOINT, requests[0])
        assert (await front.handle(session, requests[0], send=send_client)).status == 200
        forwarded = await front.handle(session, requests[1], send=send_client)
    finally:
        await front.close()
    assert forwarded.status == 200
    assert json.loads(forwarded.body)["id"] == 2
    assert [outgoing.url for outgoing in client_sent] == [None]
    assert_followed_once(server, "tools/call")
