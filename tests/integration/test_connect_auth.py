"""``connect(auth=OAuthClientProvider(...))`` when the SDK's OAuth flow fails, against the SDK server
behind the SDK's OAuth (a real process on 127.0.0.1) whose authorization server is made to refuse
client registration or tokens.

The caller gets the library's typed error naming the auth failure (``AuthFlowFailed``, a
``CredentialsRejected``), the SDK's ``OAuthFlowError`` its ``__cause__``; never the SDK's exception
as an unexpected one, never a FAILED session: once the authorization server takes the client
again, the next connection (or call) succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp.client.auth import OAuthClientProvider, OAuthFlowError, OAuthRegistrationError, OAuthTokenError
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from mcp_session_recovery import AuthFlowFailed, CredentialsRejected, McpSessionError
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import CredentialsRefused, State
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions, TransitionRecord
from tests.integration.downtime import DEADLINE
from tests.integration.processes import ManagedServer, oauth_server_argv
from tests.integration.servers.oauth_server import AUTH_PATH
from tests.integration.test_sdk_auth import REDIRECT_URI, Browser, Storage

pytestmark = pytest.mark.anyio

#: What the authorization server refuses, and the SDK's exception for it.
REFUSALS = [
    pytest.param("/register", OAuthRegistrationError, id="registration-refused"),
    pytest.param("/token", OAuthTokenError, id="token-refused"),
]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def oauth_server(tmp_path: Path) -> Iterator[ManagedServer]:
    with ManagedServer(oauth_server_argv(tmp_path / "oauth.json")) as server:
        yield server


def _options() -> SessionOptions:
    return SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), max_attempts=5, request_timeout=20.0, era_cache=EraCache()
    )


def _provider(url: str, storage: Storage) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        client_name="mcp-session-recovery tests",
        redirect_uris=[AnyUrl(REDIRECT_URI)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    browser = Browser()
    return OAuthClientProvider(url, metadata, storage, browser.redirect, browser.callback)


@pytest.mark.parametrize(("refused", "flow_error"), REFUSALS)
async def test_a_failed_oauth_flow_in_connect_is_a_typed_refusal_and_the_next_connect_succeeds(
    oauth_server: ManagedServer, refused: str, flow_error: type[OAuthFlowError]
) -> None:
    url, storage = oauth_server.url, Storage()
    oauth_server.request_json("POST", AUTH_PATH, {"refuse": [refused]})
    records: list[TransitionRecord] = []
    with anyio.fail_after(DEADLINE), pytest.raises(AuthFlowFailed) as failed:
        async with connect(url, auth=_provider(url, storage), options=_options(), on_event=records.append):
            pytest.fail("connected though the authorization server refused the client")

    error = failed.value
    assert isinstance(error, CredentialsRejected)
    assert isinstance(error, McpSessionError)
    assert type(error.__cause__) is flow_error, "the SDK's own exception, one step away"
    assert error.flow_error == flow_error.__name__
    assert flow_error.__name__ in str(error)
    assert "refused by the test" not in str(error), "the authorization server's words stay in the cause"
    refusals = [record for record in records if isinstance(record.event, CredentialsRefused)]
    assert [record.new_state for record in refusals] == [State.INVALIDATED], "refused once: not retried"
    assert all(record.new_state is not State.FAILED for record in records), "not a bug: the session never FAILED"

    oauth_server.request_json("POST", AUTH_PATH, {"refuse": []})
    with anyio.fail_after(DEADLINE):
        async with connect(url, auth=_provider(url, storage), options=_options()) as client:
            result = await client.call_tool("bump", {})
    assert str(result.content[0].text) == "1"  # type: ignore[union-attr]


async def test_a_flow_that_fails_on_a_later_call_fails_that_call_with_the_typed_refusal(
    oauth_server: ManagedServer,
) -> None:
    url, storage = oauth_server.url, Storage()
    with anyio.fail_after(DEADLINE):
        async with connect(url, auth=_provider(url, storage), options=_options()) as client:
            assert str((await client.call_tool("bump", {})).content[0].text) == "1"  # type: ignore[union-attr]
            # The token expires, and neither a refresh nor a new token is granted any more.
            oauth_server.request_json("POST", AUTH_PATH, {"expire": True, "refuse": ["/token"]})
            with pytest.raises(AuthFlowFailed) as failed:
                await client.call_tool("bump", {})
            assert isinstance(failed.value.__cause__, OAuthTokenError)

            oauth_server.request_json("POST", AUTH_PATH, {"refuse": []})
            result = await client.call_tool("bump", {})
            assert str(result.content[0].text) == "2", "the client lives on: the flow ran again and the call went"  # type: ignore[union-attr]
            assert client.session.state is State.READY
