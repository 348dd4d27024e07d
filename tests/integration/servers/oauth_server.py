"""The SDK 2.3.0 server of ``sdk_server.py`` behind the SDK's own OAuth: an authorization server and a
protected resource in one process, as the SDK builds them (``mcp.server.auth``).

The MCP endpoint ``/mcp`` answers 401 with ``WWW-Authenticate`` (naming its protected-resource
metadata) to a request without a valid bearer token. The authorization server registers clients
dynamically and grants every authorization request at once (its ``/authorize`` redirects straight
back with a code), so a client's ``OAuthClientProvider`` completes the flow with no person in it.

Its state (clients, codes, tokens) lives in a JSON file (``--state``), so a SIGKILL restart keeps
the tokens it issued, as a real deployment's store would. A test expires the access tokens (the
refresh tokens stay) with :func:`expire_access_tokens` on the file while the process is dead, or
with ``POST /_auth {"expire": true}`` while it runs; ``{"forbid": true}`` makes the endpoint
answer 403 to every request (kept in the file too, as :func:`forbid` sets it while the process is
dead) until ``{"forbid": false}``; ``{"refuse": ["/register", "/token"]}`` makes the authorization
server refuse client registrations and token requests (400, as OAuth errors; ``[]`` ends it), and
:func:`refuse` sets it while the process is dead. The file also lists every token ever issued
(``issued``). ``GET /_auth``
answers how often the authorization server granted an authorization and a refresh, and whether
it forbids. ``--token-seconds N`` makes access tokens expire N seconds after they are issued (the
client is told so in ``expires_in``). ``GET /_stats`` is ``sdk_server.py``'s.

Run as its own process::

    python -m tests.integration.servers.oauth_server --port 8123 --state /tmp/oauth.json

Once listening it prints exactly one line, ``READY <port>``, to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.integration.servers.sdk_server import (
    COUNTERS,
    MCP_PATH,
    ReadyServer,
    StatsMiddleware,
    bind,
    build_server,
    send_json,
)

__all__ = ["AUTH_PATH", "REFUSABLE", "FileBackedProvider", "expire_access_tokens", "forbid", "main", "refuse"]

#: The control path: ``GET`` what the authorization server did; ``POST`` expire tokens, forbid.
AUTH_PATH = "/_auth"
#: The authorization server's paths a test can make refuse (``refuse``), and the OAuth error each answers.
REFUSABLE = {"/register": "invalid_client_metadata", "/token": "invalid_grant"}
#: How long an access token is valid unless expired by a test (long: expiry is the test's to decide).
ACCESS_TOKEN_SECONDS = 3600


def _empty_state() -> dict[str, Any]:
    return {
        "clients": {},
        "codes": {},
        "access_tokens": {},
        "refresh_tokens": {},
        "forbid": False,
        "refuse": [],
        "authorizations": 0,
        "refreshes": 0,
        "issued": [],
    }


def expire_access_tokens(path: Path) -> None:
    """Make the server refuse every access token issued so far (refresh tokens stay valid).

    Call it on the file while the server process is dead, or use ``POST /_auth`` while it runs.
    """
    state = json.loads(path.read_text())
    state["access_tokens"] = {}
    _write(path, state)


def forbid(path: Path, forbidden: bool = True) -> None:
    """Make the server answer 403 to every request to the MCP endpoint (while the process is dead)."""
    state = json.loads(path.read_text())
    state["forbid"] = forbidden
    _write(path, state)


def refuse(path: Path, paths: list[str]) -> None:
    """Make the authorization server refuse requests to ``paths`` (of :data:`REFUSABLE`) (while the
    process is dead)."""
    state = json.loads(path.read_text())
    state["refuse"] = list(paths)
    _write(path, state)


def _write(path: Path, state: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)


class FileBackedProvider:
    """An ``OAuthAuthorizationServerProvider`` that grants every request, its state in a JSON file."""

    def __init__(self, path: Path, token_seconds: int = ACCESS_TOKEN_SECONDS) -> None:
        self._path = path
        self._token_seconds = token_seconds
        self.state = json.loads(path.read_text()) if path.exists() else _empty_state()
        self.save()

    def save(self) -> None:
        _write(self._path, self.state)

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        client = self.state["clients"].get(client_id)
        return OAuthClientInformationFull.model_validate(client) if client is not None else None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.state["clients"][client_info.client_id] = client_info.model_dump(mode="json")
        self.save()

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Granted at once: back to the client's redirect URI with a code."""
        assert client.client_id is not None
        code = AuthorizationCode(
            code=secrets.token_urlsafe(32),
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        self.state["codes"][code.code] = code.model_dump(mode="json")
        self.state["authorizations"] += 1
        self.save()
        return construct_redirect_uri(str(params.redirect_uri), code=code.code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.state["codes"].get(authorization_code)
        return AuthorizationCode.model_validate(code) if code is not None else None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self.state["codes"].pop(authorization_code.code, None)
        return self._issue(authorization_code.client_id, authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        token = self.state["refresh_tokens"].get(refresh_token)
        return RefreshToken.model_validate(token) if token is not None else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        self.state["refresh_tokens"].pop(refresh_token.token, None)
        self.state["refreshes"] += 1
        return self._issue(refresh_token.client_id, scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.state["access_tokens"].get(token)
        if found is None:
            return None
        access = AccessToken.model_validate(found)
        return access if access.expires_at is None or access.expires_at > time.time() else None

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.state["access_tokens"].pop(token.token, None)
        self.state["refresh_tokens"].pop(token.token, None)
        self.save()

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access = AccessToken(
            token=f"access-{secrets.token_urlsafe(24)}",
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self._token_seconds,
            resource=resource,
        )
        refresh = RefreshToken(
            token=f"refresh-{secrets.token_urlsafe(24)}", client_id=client_id, scopes=scopes, resource=resource
        )
        # Every token ever issued, so a test can look for each in a client's output.
        self.state.setdefault("issued", []).extend([access.token, refresh.token])
        self.state["access_tokens"][access.token] = access.model_dump(mode="json")
        self.state["refresh_tokens"][refresh.token] = refresh.model_dump(mode="json")
        self.save()
        return OAuthToken(
            access_token=access.token,
            expires_in=self._token_seconds,
            scope=" ".join(scopes) or None,
            refresh_token=refresh.token,
        )


class AuthControl:
    """Answers ``/_auth`` and, while ``forbid`` is set, 403 to every request to the MCP endpoint."""

    def __init__(self, app: ASGIApp, provider: FileBackedProvider) -> None:
        self._app = app
        self._provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        state = self._provider.state
        if scope["path"] == AUTH_PATH:
            if scope["method"] == "POST":
                body = b""
                for _ in range(1000):  # bounded: a control body is tiny
                    message = await receive()
                    body += message.get("body", b"")
                    if not message.get("more_body", False):
                        break
                command = json.loads(body or b"{}")
                if command.get("expire"):
                    state["access_tokens"] = {}
                if "forbid" in command:
                    state["forbid"] = bool(command["forbid"])
                if "refuse" in command:
                    state["refuse"] = [path for path in command["refuse"] if path in REFUSABLE]
                self._provider.save()
            counts = {key: state.get(key) for key in ("authorizations", "refreshes", "forbid", "refuse")}
            await send_json(send, 200, counts)
            return
        if scope["path"] in state.get("refuse", ()) and scope["method"] == "POST":
            refusal = {"error": REFUSABLE[scope["path"]], "error_description": "refused by the test"}
            await send_json(send, 400, refusal)
            return
        if scope["path"] == MCP_PATH and state["forbid"]:
            await send_json(send, 403, {"error": "access_denied", "error_description": "forbidden by the test"})
            return
        await self._app(scope, receive, send)


def build_app(port: int, state: Path, token_seconds: int = ACCESS_TOKEN_SECONDS) -> StatsMiddleware:
    """The SDK's Streamable HTTP app at ``/mcp`` behind the SDK's OAuth, with its control paths."""
    base = f"http://127.0.0.1:{port}"
    provider = FileBackedProvider(state, token_seconds)
    auth = AuthSettings(
        issuer_url=AnyHttpUrl(base),
        resource_server_url=AnyHttpUrl(f"{base}{MCP_PATH}"),
        client_registration_options=ClientRegistrationOptions(enabled=True),
        validate_token_resource=True,
    )
    server = build_server(auth_server_provider=provider, auth=auth)
    sdk_app = server.streamable_http_app(streamable_http_path=MCP_PATH, host="127.0.0.1")
    return StatsMiddleware(AuthControl(sdk_app, provider), COUNTERS)


def main() -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description="The SDK 2.3.0 server behind the SDK's OAuth.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--state", type=Path, required=True, help="the JSON file of clients and tokens")
    parser.add_argument(
        "--token-seconds", type=int, default=ACCESS_TOKEN_SECONDS, help="how long an access token is valid"
    )
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        sock = bind(args.port)
    except OSError as error:
        print(f"cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr, flush=True)
        return 2
    port = sock.getsockname()[1]
    app = build_app(port, args.state, args.token_seconds)
    config = uvicorn.Config(app, log_config=None, access_log=False, log_level=args.log_level.lower(), lifespan="on")
    ReadyServer(config, port).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
