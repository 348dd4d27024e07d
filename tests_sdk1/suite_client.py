"""The official MCP conformance suite's client for the SDK's 1.x line: modes ``plain-sdk1`` and ``sdk1``.

Run by ``python -m tests.official_suite`` with the 1.x environment's interpreter (``nox -s sdk1``
builds it), as ``python -m tests_sdk1.suite_client --mode MODE URL``. The client logic is the one of
``tests/official_suite/client.py`` (initialize, list the tools, call each once with arguments from
its schema, accept elicitation with the schema's defaults, the SDK's OAuth providers for ``auth/*``),
written against the 1.x API:

- ``plain-sdk1``: the 1.x ``ClientSession`` over ``streamable_http_client`` with a plain
  ``httpx.AsyncClient``, the yardstick of the 1.x column;
- ``sdk1``: the same with ``RecoveringTransport(httpx.AsyncHTTPTransport())`` under the client.

Exit status: 0 when every step worked, 1 when one failed (the error is on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
from mcp import ClientSession, types
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.context import RequestContext
from pydantic import AnyUrl

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from tests.official_suite.logic import InMemoryTokenStorage, arguments_for, form_defaults, say

__all__ = ["SDK1_MODES", "UNSUPPORTED", "main"]

#: The modes this client serves (``tests/official_suite/modes.py`` names them too).
SDK1_MODES = ("plain-sdk1", "sdk1")
#: The whole run (the suite allows 30 s by default).
RUN_SECONDS = 25.0
REDIRECT_URI = "http://localhost:3000/callback"
CIMD_URL = "https://conformance-test.local/client-metadata.json"
#: Scenarios the 1.x line has no API for: the client says so and runs without it.
UNSUPPORTED: dict[str, str] = {
    "auth/cross-app-access-complete-flow": "the 1.x SDK has no IdentityAssertionOAuthProvider (SEP-990)",
}


async def answer_elicitation(
    context: RequestContext[ClientSession, Any], params: types.ElicitRequestParams
) -> types.ElicitResult | types.ErrorData:
    content = form_defaults(params.requestedSchema) if isinstance(params, types.ElicitRequestFormParams) else {}
    return types.ElicitResult(action="accept", content=content)


async def exercise(session: ClientSession) -> list[str]:
    """List the tools and call each once; the failures, one line each."""
    failures: list[str] = []
    listed = await session.list_tools()
    say(f"tools: {[tool.name for tool in listed.tools]}")
    for tool in listed.tools:
        try:
            result = await session.call_tool(tool.name, arguments_for(tool.inputSchema))
        except Exception as exc:
            failures.append(f"tools/call {tool.name}: {type(exc).__name__}: {exc}")
        else:
            say(f"tools/call {tool.name}: isError={result.isError}")
    return failures


class HeadlessAuthorization:
    """The browser step: fetch the authorization URL, keep the code and state its redirect carries."""

    def __init__(self) -> None:
        self._result: tuple[str, str | None] | None = None

    async def redirect(self, authorization_url: str) -> None:
        async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
            response = await http.get(authorization_url)
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise RuntimeError(f"the authorization endpoint answered {response.status_code} without a redirect")
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise RuntimeError(f"the authorization redirect carries no code: {query.get('error')}")
        self._result = (query["code"][0], query.get("state", [None])[0])

    async def callback(self) -> tuple[str, str | None]:
        result, self._result = self._result, None
        if result is None:
            raise RuntimeError("the authorization callback came before the redirect")
        return result


async def auth_for(scenario: str, server_url: str, context: dict[str, Any]) -> httpx.Auth | None:
    """The 1.x SDK's OAuth provider for an ``auth/*`` scenario (``None`` for the others)."""
    if not scenario.startswith("auth/") or scenario in UNSUPPORTED:
        return None
    storage: InMemoryTokenStorage[OAuthToken, OAuthClientInformationFull] = InMemoryTokenStorage()
    if scenario == "auth/client-credentials-basic":
        return ClientCredentialsOAuthProvider(
            server_url, storage, context["client_id"], context["client_secret"], "client_secret_basic"
        )
    if scenario == "auth/client-credentials-jwt":
        signing = SignedJWTParameters(
            issuer=context["client_id"],
            subject=context["client_id"],
            signing_key=context["private_key_pem"],
            signing_algorithm=context.get("signing_algorithm", "ES256"),
        )
        return PrivateKeyJWTOAuthProvider(
            server_url, storage, context["client_id"], signing.create_assertion_provider()
        )
    if "client_id" in context:  # pre-registration: the suite hands the client its registration
        secret = context.get("client_secret")
        await storage.set_client_info(
            OAuthClientInformationFull(
                client_id=context["client_id"],
                client_secret=secret,
                redirect_uris=[AnyUrl(REDIRECT_URI)],
                token_endpoint_auth_method="client_secret_basic" if secret else "none",
            )
        )
    headless = HeadlessAuthorization()
    return OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-session-recovery official-suite client (SDK 1.x)",
            redirect_uris=[AnyUrl(REDIRECT_URI)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=headless.redirect,
        callback_handler=headless.callback,
        client_metadata_url=CIMD_URL,
    )


@asynccontextmanager
async def sdk1_over_http(url: str, auth: httpx.Auth | None, recovering: bool) -> AsyncIterator[ClientSession]:
    # RecoveringTransport is typed as an httpx2 transport; at run time it serves httpx alike.
    transport = cast(httpx.AsyncBaseTransport, RecoveringTransport(httpx.AsyncHTTPTransport())) if recovering else None
    http = httpx.AsyncClient(auth=auth, transport=transport, timeout=httpx.Timeout(20, read=RUN_SECONDS))
    async with (
        http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write, elicitation_callback=answer_elicitation) as session,
    ):
        await session.initialize()
        yield session


async def run(mode: str, url: str, scenario: str, context: dict[str, Any]) -> int:
    if scenario in UNSUPPORTED:
        say(f"left out in this mode: {UNSUPPORTED[scenario]}")
    with anyio.fail_after(RUN_SECONDS):
        auth = await auth_for(scenario, url, context)
        async with sdk1_over_http(url, auth, recovering=mode == "sdk1") as session:
            failures = await exercise(session)
    for failure in failures:
        say(f"failed: {failure}")
    return 1 if failures else 0


def innermost(exc: BaseException) -> str:
    """The first error inside any exception groups, as ``Type: message`` on one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests_sdk1.suite_client", description=__doc__)
    parser.add_argument("--mode", choices=SDK1_MODES, required=True)
    parser.add_argument("url", help="the scenario's server (appended by the suite)")
    args = parser.parse_args(argv)
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context: dict[str, Any] = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    say(f"scenario {scenario!r}, mode {args.mode}")
    try:
        return anyio.run(run, args.mode, args.url, scenario, context)
    except Exception as exc:
        say(f"failed: {innermost(exc)}")
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
