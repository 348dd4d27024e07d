"""The SDK's own OAuth (``OAuthClientProvider`` on the ``AsyncClient``) over ``RecoveringTransport``,
against the SDK 2.3.0 server behind the SDK's OAuth, a real process on 127.0.0.1.

The client's auth flow sits above the transport, as the SDK's docs set it up: the transport must
hand it the server's 401 (status, ``WWW-Authenticate``, body) on the handshake and in a recovery,
let its metadata, registration and token requests through untouched, and negotiate a recovery with
the token the client holds now. A recording transport under ours shows what went on the wire.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError
from pydantic import AnyUrl

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import CredentialsRefused, State
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions, TransitionRecord
from tests.integration.downtime import DEADLINE
from tests.integration.processes import ManagedServer, oauth_server_argv
from tests.integration.servers.oauth_server import AUTH_PATH, expire_access_tokens, forbid

pytestmark = pytest.mark.anyio

#: Where the authorization server sends the browser back (nothing listens: the test reads the redirect).
REDIRECT_URI = "http://127.0.0.1:9/callback"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client is tested on asyncio; the runtime itself runs on both


@pytest.fixture
def oauth_server(tmp_path: Path) -> Iterator[ManagedServer]:
    with ManagedServer(oauth_server_argv(tmp_path / "oauth.json")) as server:
        yield server


class Seen(NamedTuple):
    """One request that went on the wire, and its answer's status."""

    http_method: str
    path: str
    #: The JSON-RPC method and id (``None`` for no JSON-RPC message).
    method: str | None
    message_id: object
    authorization: str | None
    status: int


class RecordingTransport(httpx2.AsyncBaseTransport):
    """The real transport, recording every request that goes through it."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.seen: list[Seen] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            message = json.loads(request.content)
        except ValueError:
            message = None
        method = message.get("method") if isinstance(message, dict) else None
        message_id = message.get("id") if isinstance(message, dict) else None
        response = await self.inner.handle_async_request(request)
        authorization = request.headers.get("authorization")
        self.seen.append(
            Seen(request.method, request.url.path, method, message_id, authorization, response.status_code)
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def initializes(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == "initialize"]


@dataclass
class Storage:
    """The client's token storage, in memory (``mcp.client.auth.TokenStorage``)."""

    tokens: OAuthToken | None = None
    client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info

    def bearer(self) -> str:
        assert self.tokens is not None
        return f"Bearer {self.tokens.access_token}"


@dataclass
class Browser:
    """Follows the authorization URL as a person's browser would; the server grants it at once."""

    results: list[AuthorizationCodeResult] = field(default_factory=list)

    async def redirect(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient() as http:
            response = await http.get(authorization_url, follow_redirects=False)
        assert response.status_code in (302, 303, 307), response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        self.results.append(AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0]))

    async def callback(self) -> AuthorizationCodeResult:
        return self.results[-1]


class Watch:
    """The session's ``on_event`` hook: every transition, and when the session noticed a loss."""

    def __init__(self) -> None:
        self.records: list[TransitionRecord] = []
        self.noticed = anyio.Event()

    def __call__(self, record: TransitionRecord) -> None:
        self.records.append(record)
        if record.new_state is State.INVALIDATED:
            self.noticed.set()

    def arm(self) -> None:
        """Wait for the next loss from now on."""
        self.noticed = anyio.Event()


@dataclass
class AuthClient:
    """An SDK session over ``RecoveringTransport`` with the SDK's OAuth above it."""

    session: ClientSession
    transport: RecoveringTransport
    wire: RecordingTransport
    storage: Storage
    watch: Watch

    def refusals(self) -> list[CredentialsRefused]:
        return [r.event for r in self.watch.records if isinstance(r.event, CredentialsRefused)]

    async def call(self, tool: str) -> str:
        with anyio.fail_after(DEADLINE):
            result = await self.session.call_tool(tool, {})
        return str(result.content[0].text)  # type: ignore[union-attr]


@asynccontextmanager
async def oauth_session(url: str) -> AsyncIterator[AuthClient]:
    storage, browser, wire = Storage(), Browser(), RecordingTransport()
    watch = Watch()
    options = SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20.0, era_cache=EraCache()
    )
    transport = RecoveringTransport(wire, options=options, on_event=watch)
    metadata = OAuthClientMetadata(
        client_name="mcp-session-recovery tests",
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    auth = OAuthClientProvider(url, metadata, storage, browser.redirect, browser.callback)
    async with (
        httpx2.AsyncClient(transport=transport, auth=auth, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        with anyio.fail_after(DEADLINE):
            await session.initialize()
        yield AuthClient(session, transport, wire, storage, watch)


def _auth_counts(server: ManagedServer) -> dict[str, Any]:
    return server.request_json("GET", AUTH_PATH)


async def _restart(server: ManagedServer) -> None:
    await anyio.to_thread.run_sync(server.restart)


async def test_the_first_handshake_gets_the_401_and_the_clients_oauth_flow_completes(
    oauth_server: ManagedServer,
) -> None:
    async with oauth_session(oauth_server.url) as client:
        assert await client.call("bump") == "1"
        first, *later = client.wire.initializes()
        # The handshake without a token got the server's 401, and it went up to the client's auth
        # flow: its discovery, registration and token requests went to the server untouched.
        assert (first.authorization, first.status) == (None, 401)
        paths = {seen.path for seen in client.wire.seen}
        assert {"/.well-known/oauth-protected-resource/mcp", "/register", "/token"} <= paths
        assert [(seen.authorization, seen.status) for seen in later] == [(client.storage.bearer(), 200)]
        assert len(client.refusals()) == 1
        assert client.transport.session is not None
        assert client.transport.session.state is State.READY
    assert _auth_counts(oauth_server)["authorizations"] == 1


async def test_a_restart_is_recovered_with_the_token_the_client_holds_now(oauth_server: ManagedServer) -> None:
    async with oauth_session(oauth_server.url) as client:
        first_token = client.storage.bearer()
        assert await client.call("bump") == "1"
        # The server stops taking the first token: the call's 401 goes to the client's flow, which
        # gets a new token and sends the call again.
        oauth_server.request_json("POST", AUTH_PATH, {"expire": True})
        assert await client.call("bump") == "2"
        current = client.storage.bearer()
        assert current != first_token
        assert _auth_counts(oauth_server)["authorizations"] == 2

        await _restart(oauth_server)
        before = len(client.wire.seen)
        assert await client.call("peek") == "0", "a new process: the call ran there"

        after_restart = client.wire.seen[before:]
        recoveries = [seen for seen in after_restart if seen.method == "initialize"]
        # The runtime's own initialize carried the token the client holds now, and was taken.
        assert [(seen.authorization, seen.status) for seen in recoveries] == [(current, 200)]
        assert all(seen.status != 401 for seen in after_restart)
    assert _auth_counts(oauth_server)["authorizations"] == 2, "no new authorization was needed"
    assert oauth_server.stats()["tool_executions"] == {"peek": 1}


async def test_a_token_refused_during_a_recovery_goes_to_the_clients_flow_once_not_a_loop(
    oauth_server: ManagedServer, tmp_path: Path
) -> None:
    async with oauth_session(oauth_server.url) as client:
        assert await client.call("bump") == "1"
        old_token = client.storage.bearer()
        client.watch.arm()
        await anyio.to_thread.run_sync(oauth_server.kill)
        results: list[str] = []

        async def call() -> None:
            results.append(await client.call("bump"))

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await (
                    client.watch.noticed.wait()
                )  # the call waits for a recovery; the server comes back refusing its token
                expire_access_tokens(tmp_path / "oauth.json")
                await anyio.to_thread.run_sync(oauth_server.start)
        assert results == ["1"], "a new process: the call ran there once"
        refused = client.refusals()
        assert len(refused) == 2, "the first handshake's refusal, and the recovery's with the old token"
        assert refused[-1].error.status == 401
        assert client.storage.bearer() != old_token
        last = client.wire.initializes()[-1]
        assert (last.authorization, last.status) == (client.storage.bearer(), 200)
        assert client.transport.session is not None
        assert client.transport.session.state is State.READY
    stats = oauth_server.stats()
    assert stats["tool_executions"] == {"bump": 1}
    assert stats["responses_by_status"].get("401") == 1, "one refusal, then the renewed token: no retry loop"
    assert _auth_counts(oauth_server)["authorizations"] == 2


async def test_a_403_during_a_recovery_reaches_the_caller_and_the_session_lives_on(
    oauth_server: ManagedServer, tmp_path: Path
) -> None:
    async with oauth_session(oauth_server.url) as client:
        assert await client.call("bump") == "1"
        client.watch.arm()
        await anyio.to_thread.run_sync(oauth_server.kill)
        errors: list[MCPError] = []

        async def call() -> None:
            with pytest.raises(MCPError) as refused:
                await client.call("bump")
            errors.append(refused.value)

        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                # The call waits for a recovery; the server comes back forbidding the client.
                await client.watch.noticed.wait()
                forbid(tmp_path / "oauth.json")
                await anyio.to_thread.run_sync(oauth_server.start)
        assert len(errors) == 1, "the caller got the 403 (as the SDK reports one), the client lives on"
        refused = client.refusals()
        assert [event.error.status for event in refused[1:]] == [403], "refused once: no retry by a timer"
        assert client.transport.session is not None
        assert client.transport.session.state is State.INVALIDATED
        assert oauth_server.stats()["responses_by_status"].get("403") == 1

        oauth_server.request_json("POST", AUTH_PATH, {"forbid": False})
        assert await client.call("peek") == "0", "the next call negotiates again and runs"
        assert client.transport.session.snapshot.state is State.READY
    assert oauth_server.stats()["tool_executions"] == {"peek": 1}
