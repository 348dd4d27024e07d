"""The bridges' OAuth pieces on their own: the store, when the flow starts, one refresh before a typed
error, the options, the loopback callback. The SDK's provider runs for real; the server is an
``httpx2.MockTransport`` (unit tests: the real server process is in ``test_oauth_bridges.py``)."""

from __future__ import annotations

import argparse
import socket
import stat
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from mcp_session_recovery.cli.oauth import (
    AuthorizationFailed,
    BridgeAuth,
    OAuthSettings,
    add_oauth_arguments,
    oauth_settings,
)
from mcp_session_recovery.cli.oauth_browser import LoopbackCallback
from mcp_session_recovery.cli.oauth_store import TokenStore
from mcp_session_recovery.cli.status import StatusLine
from mcp_session_recovery.model import McpSessionError

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/mcp"
SECRET = "client-secret-value-0123456789"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_the_store_keeps_one_0600_file_per_server_and_never_writes_a_given_secret(tmp_path: Path) -> None:
    given = OAuthClientInformationFull(client_id="mine", client_secret=SECRET, redirect_uris=None)
    store = TokenStore(tmp_path / "store", URL, pre_registered=given)
    other = TokenStore(tmp_path / "store", "http://127.0.0.1:9/other")
    await store.set_tokens(OAuthToken(access_token="access-aaaa", refresh_token="refresh-bbbb"))
    await store.set_client_info(given)
    await other.set_tokens(OAuthToken(access_token="access-cccc"))
    files = sorted((tmp_path / "store").iterdir())
    assert len(files) == 2
    assert {stat.S_IMODE(file.stat().st_mode) for file in files} == {0o600}
    assert stat.S_IMODE((tmp_path / "store").stat().st_mode) == 0o700
    assert SECRET not in store.path.read_text()
    assert await store.get_client_info() == given
    assert (await TokenStore(tmp_path / "store", URL).get_tokens()) == OAuthToken(
        access_token="access-aaaa", refresh_token="refresh-bbbb"
    )
    assert set(store.secrets()) == {"access-aaaa", "refresh-bbbb", SECRET}
    assert "access" not in repr(store)
    assert "mine" not in repr(store)


class FakeServer:
    """An MCP endpoint behind OAuth, and its token endpoint (the fallback ``/token``)."""

    def __init__(self, *, accepts: set[str], challenge: str = 'Bearer error="invalid_token"') -> None:
        self.accepts = accepts
        self.challenge = challenge
        self.seen: list[str | None] = []
        self.token_requests = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/token":
            self.token_requests += 1
            new = f"access-new-{self.token_requests}"
            body = {"access_token": new, "token_type": "Bearer", "expires_in": 3600, "refresh_token": "refresh-2"}
            return httpx2.Response(200, json=body)
        authorization = request.headers.get("authorization")
        self.seen.append(authorization)
        if authorization in self.accepts:
            return httpx2.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": {}})
        return httpx2.Response(401, headers={"www-authenticate": self.challenge})


async def _stored(directory: Path) -> None:
    store = TokenStore(directory, URL)
    client = OAuthClientInformationFull(client_id="registered", redirect_uris=None, token_endpoint_auth_method="none")
    await store.set_client_info(client)
    await store.set_tokens(OAuthToken(access_token="access-old", refresh_token="refresh-1"))


async def _post(auth: BridgeAuth, server: FakeServer) -> httpx2.Response:
    try:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(server), auth=auth) as http:
            return await http.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    finally:
        auth.close()  # its callback listener


async def test_a_refused_stored_token_is_refreshed_once_and_the_request_goes_again(tmp_path: Path) -> None:
    await _stored(tmp_path)
    server = FakeServer(accepts={"Bearer access-new-1"})
    auth = BridgeAuth(OAuthSettings(mode="auto", store_dir=tmp_path), URL, StatusLine(quiet=True))
    response = await _post(auth, server)
    assert response.status_code == 200
    assert server.seen == ["Bearer access-old", "Bearer access-new-1"]
    assert server.token_requests == 1
    assert auth.counters.authorizations == 0, "no browser: a refresh sufficed"


async def test_a_401_to_a_freshly_refreshed_token_is_a_typed_error_after_one_refresh(tmp_path: Path) -> None:
    await _stored(tmp_path)
    server = FakeServer(accepts=set())
    auth = BridgeAuth(OAuthSettings(mode="auto", store_dir=tmp_path), URL, StatusLine(quiet=True))
    with pytest.raises(AuthorizationFailed) as caught:
        await _post(auth, server)
    assert isinstance(caught.value, McpSessionError)
    assert "refused the access token it had just refreshed" in str(caught.value)
    assert "access-new" not in str(caught.value)
    assert server.token_requests == 1, "one refresh, no loop"
    assert server.seen == ["Bearer access-old", "Bearer access-new-1"]
    assert auth.counters.authorizations == 0


async def test_auto_mode_leaves_a_401_without_a_bearer_challenge_to_the_host(tmp_path: Path) -> None:
    server = FakeServer(accepts=set(), challenge='Basic realm="elsewhere"')
    auth = BridgeAuth(OAuthSettings(mode="auto", store_dir=tmp_path), URL, StatusLine(quiet=True))
    response = await _post(auth, server)
    assert response.status_code == 401
    assert server.seen == [None]
    assert server.token_requests == 0
    assert list(tmp_path.iterdir()) == [], "OAuth never started: nothing stored"


def _parse(*words: str, default_on: bool = True) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_oauth_arguments(parser, default_on=default_on)
    return parser.parse_args(list(words))


def test_when_oauth_starts_by_the_options(tmp_path: Path) -> None:
    store = ("--oauth-store", str(tmp_path))
    auto = oauth_settings(_parse(*store), static_authorization=False)
    assert auto is not None
    assert auto.mode == "auto"
    assert oauth_settings(_parse(*store), static_authorization=True) is None, "a static Authorization wins"
    assert oauth_settings(_parse("--no-oauth", *store), static_authorization=False) is None
    assert oauth_settings(_parse(*store, default_on=False), static_authorization=False) is None, "proxy: off"
    on = oauth_settings(_parse("--oauth", *store, default_on=False), static_authorization=False)
    assert on is not None
    assert on.mode == "on"


def test_bad_oauth_options_are_refused_without_showing_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THE_SECRET", SECRET)
    with pytest.raises(ValueError, match="client-credentials needs"):
        oauth_settings(_parse("--oauth-grant", "client-credentials"), static_authorization=False)
    with pytest.raises(ValueError, match="NOT_SET"):
        oauth_settings(_parse("--oauth-client-secret-env", "NOT_SET"), static_authorization=False)
    settings = oauth_settings(
        _parse("--oauth-client-id", "x", "--oauth-client-secret-env", "THE_SECRET", "--oauth-store", str(tmp_path)),
        static_authorization=False,
    )
    assert settings is not None
    assert settings.client_secret == SECRET
    assert SECRET not in repr(settings)


async def test_the_callback_takes_the_code_and_ignores_other_paths() -> None:
    callback = LoopbackCallback()
    try:
        assert callback.redirect_uri == f"http://127.0.0.1:{callback.port}/callback"

        def browse(path: str) -> bytes:
            with socket.create_connection(("127.0.0.1", callback.port), timeout=10) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                return sock.recv(4096)

        answers: list[bytes] = []

        def a_browser() -> None:  # a browser asks for a favicon first
            answers.append(browse("/favicon.ico"))
            answers.append(browse("/callback?code=the-code&state=s1"))

        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, a_browser)
            result = await callback.wait(10)
        assert (result.code, result.state) == ("the-code", "s1")
        assert [answer.split(b"\r\n")[0] for answer in answers] == [b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]
    finally:
        callback.close()


async def test_no_authorization_within_the_timeout_is_a_typed_error() -> None:
    callback = LoopbackCallback()
    try:
        with pytest.raises(AuthorizationFailed, match=r"within 0\.2 s"):
            await callback.wait(0.2)
    finally:
        callback.close()


async def test_calls_with_a_valid_token_do_not_queue_behind_each_other(tmp_path: Path) -> None:
    await _stored(tmp_path)
    both_arrived = anyio.Event()
    arrived: list[str | None] = []

    async def server(request: httpx2.Request) -> httpx2.Response:
        arrived.append(request.headers.get("authorization"))
        if len(arrived) == 2:
            both_arrived.set()
        await both_arrived.wait()  # the first answers only once the second has arrived
        return httpx2.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": {}})

    auth = BridgeAuth(OAuthSettings(mode="auto", store_dir=tmp_path), URL, StatusLine(quiet=True))
    statuses: list[int] = []
    try:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(server), auth=auth) as http:

            async def call() -> None:
                response = await http.post(URL, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                statuses.append(response.status_code)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    group.start_soon(call)
                    group.start_soon(call)
    finally:
        auth.close()
    assert statuses == [200, 200]
    assert arrived == ["Bearer access-old", "Bearer access-old"]
