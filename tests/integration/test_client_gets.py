"""A client's own GETs through both adapters whose client negotiates itself (``RecoveringTransport``,
``RecoveringMiddleware`` in its default mode), against real server processes on 127.0.0.1.

- A GET with ``Last-Event-ID`` resumes a response stream the client saw paused (SEP-1699): it goes
  to the server with the client's ``Last-Event-ID`` under the live session, and the client gets the
  server's answer (the result under its own JSON-RPC id), never the session's GET stream.
- A GET refused for its credentials (401 with ``WWW-Authenticate``) reaches the client as the
  server sent it, so that its auth flow runs; the session lives on.

Raw clients, so what went on the wire and what came back are checked byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import aiohttp
import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from mcp_session_recovery.adapters.aiohttp_middleware import RecoveringMiddleware
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import EraMode, State
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions
from mcp_session_recovery.testing import ServedEra, ServerProcess
from tests.integration.downtime import DEADLINE
from tests.integration.processes import ManagedServer, oauth_server_argv
from tests.integration.servers.oauth_server import AUTH_PATH
from tests.integration.test_sdk_auth import REDIRECT_URI, Browser, Storage

pytestmark = pytest.mark.anyio

ACCEPT_BOTH = {"accept": "application/json, text/event-stream"}
ACCEPT_STREAM = {"accept": "text/event-stream"}
HTTP_TIMEOUT = 30.0
#: Long: the runtime must not resume the stream the client resumes itself.
PAUSE_RETRY_MS = 10_000
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
CALL_ID = 5
CALL = {"jsonrpc": "2.0", "id": CALL_ID, "method": "tools/call", "params": {"name": "bump", "arguments": {}}}


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class RawClient(Protocol):
    """One adapter under a raw HTTP client."""

    @property
    def adapter(self) -> RecoveringTransport | RecoveringMiddleware:
        """The adapter under the client."""
        ...

    async def send(self, method: str, url: str, body: object, headers: dict[str, str]) -> Answer:
        """The whole answer to one request."""
        ...

    async def first_event(self, url: str, body: object, headers: dict[str, str]) -> bytes:
        """POST ``body`` and read its SSE answer up to its first event, then close it."""
        ...


def _options() -> SessionOptions:
    return SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), era_cache=EraCache(), request_timeout=20.0, mode=EraMode.LEGACY
    )


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class _Httpx2Client:
    def __init__(self, adapter: RecoveringTransport, http: httpx2.AsyncClient) -> None:
        self.adapter = adapter
        self._http = http

    async def send(self, method: str, url: str, body: object, headers: dict[str, str]) -> Answer:
        content = json.dumps(body).encode() if body is not None else None
        extra = {"content-type": "application/json"} if content else {}
        response = await self._http.request(method, url, content=content, headers={**headers, **extra})
        return Answer(response.status_code, _lower(response.headers), response.content)

    async def first_event(self, url: str, body: object, headers: dict[str, str]) -> bytes:
        content = json.dumps(body).encode()
        request_headers = {**headers, "content-type": "application/json"}
        async with self._http.stream("POST", url, content=content, headers=request_headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            return await _until_event(response.aiter_bytes())


class _AiohttpClient:
    def __init__(self, adapter: RecoveringMiddleware, http: aiohttp.ClientSession) -> None:
        self.adapter = adapter
        self._http = http

    async def send(self, method: str, url: str, body: object, headers: dict[str, str]) -> Answer:
        data = json.dumps(body).encode() if body is not None else None
        extra = {"content-type": "application/json"} if data else {}
        async with self._http.request(method, url, data=data, headers={**headers, **extra}) as response:
            return Answer(response.status, _lower(response.headers), await response.read())

    async def first_event(self, url: str, body: object, headers: dict[str, str]) -> bytes:
        data = json.dumps(body).encode()
        request_headers = {**headers, "content-type": "application/json"}
        async with self._http.post(url, data=data, headers=request_headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            return await _until_event(response.content.iter_any())


async def _until_event(chunks: AsyncIterator[bytes]) -> bytes:
    """The bytes up to the end of the first SSE event (bounded by the stream's length)."""
    seen = b""
    async for chunk in chunks:
        seen += chunk.replace(b"\r\n", b"\n")
        if b"\n\n" in seen:
            return seen.partition(b"\n\n")[0]
    return seen


@asynccontextmanager
async def _httpx2() -> AsyncIterator[RawClient]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=_options())
    async with httpx2.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT) as http:
        yield _Httpx2Client(transport, http)


@asynccontextmanager
async def _aiohttp() -> AsyncIterator[RawClient]:
    recovering = RecoveringMiddleware(options=_options())  # the default: SSE answers handed over unread
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
        yield _AiohttpClient(recovering, http)


#: Each adapter on the backends it runs on (aiohttp: asyncio only).
CASES = [
    pytest.param("asyncio", _httpx2, id="httpx2-transport-asyncio"),
    pytest.param("trio", _httpx2, id="httpx2-transport-trio"),
    pytest.param("asyncio", _aiohttp, id="aiohttp-middleware-asyncio"),
]


def _data_of(stream: bytes) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body's ``data`` lines (one line each, as servers send them)."""
    lines = stream.replace(b"\r\n", b"\n").split(b"\n")
    return [json.loads(line[5:]) for line in lines if line.startswith(b"data:") and line[5:].strip()]


def _message_of(answer: Answer) -> dict[str, Any]:
    """The one JSON-RPC message of a JSON or SSE answer."""
    if answer.headers["content-type"].startswith("text/event-stream"):
        [message] = _data_of(answer.body)
        return message
    message = json.loads(answer.body)
    assert isinstance(message, dict)
    return message


def _field(event: bytes, name: bytes) -> str:
    for line in event.split(b"\n"):
        if line.startswith(name + b":"):
            return line[len(name) + 1 :].strip().decode()
    raise AssertionError(f"no {name!r} field in {event!r}")


async def _handshake(client: RawClient, url: str, headers: dict[str, str]) -> str:
    """Initialize through the adapter; the session id the client holds (the adapter's virtual one)."""
    initialized = await client.send("POST", url, INITIALIZE, {**ACCEPT_BOTH, **headers})
    assert initialized.status == 200, initialized
    virtual_id = initialized.headers["mcp-session-id"]
    both = {**ACCEPT_BOTH, **headers, "mcp-session-id": virtual_id, "mcp-protocol-version": "2025-11-25"}
    assert (await client.send("POST", url, INITIALIZED, both)).status == 202
    return virtual_id


# -- a GET that resumes a stream -------------------------------------------------------------------


@pytest.fixture(scope="module")
def paused_server() -> Iterator[ServerProcess]:
    with ServerProcess(eras=frozenset({ServedEra.LEGACY}), extra_args=("--record-requests", "50")) as server:
        yield server


@pytest.mark.parametrize(("anyio_backend", "opener"), CASES)
async def test_a_get_with_last_event_id_resumes_the_clients_stream_at_the_server(
    paused_server: ServerProcess, opener: Any, anyio_backend: str
) -> None:
    server = paused_server
    await anyio.to_thread.run_sync(server.soft_restart)
    url = server.url
    with anyio.fail_after(DEADLINE):
        async with opener() as client:
            virtual_id = await _handshake(client, url, {})
            session = client.adapter.session
            assert isinstance(session, Session)
            real_id = session.binding.session_id.header_value  # type: ignore[union-attr]
            assert real_id != virtual_id
            server.configure(pause_tool_responses=1, pause_retry_ms=PAUSE_RETRY_MS)
            headers = {"mcp-session-id": virtual_id, "mcp-protocol-version": "2025-11-25"}
            # The server closes the call's stream after a priming event (or the client drops it).
            priming = await client.first_event(url, CALL, {**ACCEPT_BOTH, **headers})
            event_id = _field(priming, b"id")
            assert _field(priming, b"retry") == str(PAUSE_RETRY_MS)

            resumed = await client.send("GET", url, None, {**ACCEPT_STREAM, **headers, "last-event-id": event_id})

            assert resumed.status == 200
            assert resumed.headers["content-type"].startswith("text/event-stream")
            assert resumed.headers["mcp-session-id"] == virtual_id, "the client never sees the real id"
            [answer] = _data_of(resumed.body)
            assert answer["id"] == CALL_ID, "the result under the client's own id"
            assert answer["result"]["content"][0]["text"] == "1"
            assert session.state is State.READY

    stats = server.stats()
    assert stats.tool_executions == {"bump": 1}, "resumed, never sent again"
    assert (stats.streams_paused, stats.streams_resumed) == (1, 1)
    assert stats.get_streams_opened == 0, "the resumption was no GET stream of the session"
    [get] = [r.headers for r in stats.recorded_requests if r.method == "GET"]
    assert get["last-event-id"] == event_id, "the client's Last-Event-ID went to the server"
    assert get["mcp-session-id"] == real_id, "under the live session"


@pytest.mark.parametrize(("anyio_backend", "opener"), CASES)
async def test_a_resumption_the_server_refuses_reaches_the_client_and_the_session_lives_on(
    paused_server: ServerProcess, opener: Any, anyio_backend: str
) -> None:
    server = paused_server
    await anyio.to_thread.run_sync(server.soft_restart)
    url = server.url
    with anyio.fail_after(DEADLINE):
        async with opener() as client:
            virtual_id = await _handshake(client, url, {})
            headers = {"mcp-session-id": virtual_id, "mcp-protocol-version": "2025-11-25"}
            refused = await client.send("GET", url, None, {**ACCEPT_STREAM, **headers, "last-event-id": "event-9"})
            # Our server answers 404 for a resume point it does not hold: the client's to see.
            assert refused.status == 404
            assert json.loads(refused.body)["error"]["message"].startswith("Not Found")
            session = client.adapter.session
            assert isinstance(session, Session)
            assert session.state is State.READY, "a refused resumption says nothing of the session"
            called = await client.send("POST", url, CALL, {**ACCEPT_BOTH, **headers})
            assert _message_of(called)["result"]["content"][0]["text"] == "1"
    stats = server.stats()
    assert stats.initializes == 1
    assert stats.get_streams_opened == 0


# -- a GET refused for its credentials --------------------------------------------------------------


@pytest.fixture
def oauth_server(tmp_path: Path) -> Iterator[ManagedServer]:
    with ManagedServer(oauth_server_argv(tmp_path / "oauth.json")) as server:
        yield server


async def _bearer(url: str) -> str:
    """A valid access token for ``url``, from the SDK's own OAuth flow on a plain client."""
    storage, browser = Storage(), Browser()
    metadata = OAuthClientMetadata(
        client_name="mcp-session-recovery tests",
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    auth = OAuthClientProvider(url, metadata, storage, browser.redirect, browser.callback)
    async with httpx2.AsyncClient(auth=auth, timeout=HTTP_TIMEOUT) as http:
        await http.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "ping"}, headers=ACCEPT_BOTH)
    return storage.bearer()


@pytest.mark.parametrize(("anyio_backend", "opener"), CASES)
async def test_a_get_refused_for_its_credentials_reaches_the_client_as_sent(
    oauth_server: ManagedServer, opener: Any, anyio_backend: str
) -> None:
    url = oauth_server.url
    with anyio.fail_after(DEADLINE):
        bearer = await _bearer(url)
        async with opener() as client:
            credentials = {"authorization": bearer}
            virtual_id = await _handshake(client, url, credentials)
            session = client.adapter.session
            assert isinstance(session, Session)
            assert session.state is State.READY
            # The token expires while the session lives; the client opens its GET stream.
            oauth_server.request_json("POST", AUTH_PATH, {"expire": True})
            session_headers = {"mcp-session-id": virtual_id, "mcp-protocol-version": "2025-11-25"}
            refused = await client.send("GET", url, None, {**ACCEPT_STREAM, **credentials, **session_headers})

            assert refused.status == 401, "the refusal as the server sent it, not a 405"
            challenge = refused.headers["www-authenticate"]
            assert challenge.startswith("Bearer")
            assert "resource_metadata=" in challenge
            assert json.loads(refused.body)["error"] == "invalid_token"
            assert session.state is State.READY, "the credentials are the client's: the session lives on"
    assert oauth_server.stats()["responses_by_status"].get("401", 0) >= 1
