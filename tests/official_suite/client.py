"""The client the official MCP conformance suite runs: one client logic, one way per mode to reach the server.

The suite starts a scenario's server, then runs ``python -m tests.official_suite.client --mode MODE``
with the server's URL appended and the scenario in ``MCP_CONFORMANCE_SCENARIO`` (scenario data,
such as pre-registered credentials, in ``MCP_CONFORMANCE_CONTEXT``, JSON). It watches the traffic
and judges it. The client logic is the same in every mode: initialize, list the tools, call each
tool once with arguments built from its input schema, answer elicitation with the schema's defaults;
for ``auth/*`` scenarios the SDK's OAuth providers run on the HTTP client (no browser: the redirect
handler fetches the authorization URL and reads the code from the redirect the suite answers with).
Only how the calls reach the server differs (see :mod:`.modes`); what a mode cannot take is left out
and named on stderr.

Exit status: 0 when every step worked, 1 when one failed (the error is on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
import httpx2
from mcp import ClientSession, types
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.context import ClientRequestContext
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.mcp_sdk import connect

from .logic import InMemoryTokenStorage, arguments_for, form_defaults, say
from .modes import MODES, connect_accepts, gaps

__all__ = ["arguments_for", "elicitation_defaults", "main"]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The whole run (the suite allows 30 s by default): every wait below ends inside it.
RUN_SECONDS = 25.0
#: The redirect URI the client registers; nothing listens there: the code is read from the redirect.
REDIRECT_URI = "http://localhost:3000/callback"
#: The client id metadata document URL the suite's ``auth/basic-cimd`` expects (SEP-991).
CIMD_URL = "https://conformance-test.local/client-metadata.json"
#: How the proxy bridge tells where it listens (its status line on stderr).
PROXY_LISTENING = re.compile(r"(http://127\.0\.0\.1:\d+/mcp)")


class Calls(Protocol):
    """What the client logic needs from a connection: the SDK's ``ClientSession`` and our ``RecoveringClient``."""

    async def list_tools(self) -> types.ListToolsResult: ...

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> types.CallToolResult: ...


# -- the client logic (the same in every mode) ---------------------------------------------------------


def elicitation_defaults(params: types.ElicitRequestParams) -> types.ElicitResult:
    """Accept a form elicitation with the defaults its schema gives (SEP-1034)."""
    content = form_defaults(params.requested_schema) if isinstance(params, types.ElicitRequestFormParams) else {}
    return types.ElicitResult(action="accept", content=content)


async def answer_elicitation(
    context: ClientRequestContext, params: types.ElicitRequestParams
) -> types.ElicitResult | types.ErrorData:
    return elicitation_defaults(params)


async def exercise(calls: Calls) -> list[str]:
    """List the tools and call each once; the failures, one line each."""
    failures: list[str] = []
    listed = await calls.list_tools()
    say(f"tools: {[tool.name for tool in listed.tools]}")
    for tool in listed.tools:
        try:
            result = await calls.call_tool(tool.name, arguments_for(tool.input_schema))
        except Exception as exc:
            failures.append(f"tools/call {tool.name}: {type(exc).__name__}: {exc}")
        else:
            say(f"tools/call {tool.name}: isError={result.is_error}")
    return failures


# -- OAuth, headless ---------------------------------------------------------------------------------


class HeadlessAuthorization:
    """The browser step of the authorization-code flow: fetch the URL, keep the code the redirect carries."""

    def __init__(self) -> None:
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, authorization_url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=10) as http:
            response = await http.get(authorization_url)
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise RuntimeError(f"the authorization endpoint answered {response.status_code} without a redirect")
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise RuntimeError(f"the authorization redirect carries no code: {query.get('error')}")
        self._result = AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    async def callback(self) -> AuthorizationCodeResult:
        result, self._result = self._result, None
        if result is None:
            raise RuntimeError("the authorization callback came before the redirect")
        return result


async def authorization_server_of(server_url: str) -> str:
    """The first authorization server the MCP server's protected-resource metadata names (RFC 9728)."""
    parts = urlsplit(server_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    candidates = [
        f"{origin}/.well-known/oauth-protected-resource{parts.path}",
        f"{origin}/.well-known/oauth-protected-resource",
    ]
    async with httpx2.AsyncClient(timeout=10) as http:
        for candidate in candidates:
            response = await http.get(candidate)
            if response.status_code == 200:
                servers = response.json().get("authorization_servers") or []
                if servers:
                    return str(servers[0])
    raise RuntimeError("no protected-resource metadata names an authorization server")


def id_jag_from_idp(context: dict[str, Any]) -> Callable[[str, str], Awaitable[str]]:
    """SEP-990: exchange the IdP's ID token for an ID-JAG at the IdP (RFC 8693), for ``(audience, resource)``."""

    async def fetch(audience: str, resource: str) -> str:
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": context["idp_id_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
            "audience": audience,
            "resource": resource,
            "client_id": context.get("idp_client_id", ""),
        }
        async with httpx2.AsyncClient(timeout=10) as http:
            response = await http.post(context["idp_token_endpoint"], data=form)
        response.raise_for_status()
        return str(response.json()["access_token"])

    return fetch


async def auth_for(scenario: str, server_url: str, context: dict[str, Any]) -> httpx2.Auth | None:
    """The SDK's OAuth provider for an ``auth/*`` scenario (``None`` for the others)."""
    if not scenario.startswith("auth/"):
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
    if scenario == "auth/cross-app-access-complete-flow":
        return IdentityAssertionOAuthProvider(
            server_url,
            storage,
            context["client_id"],
            context["client_secret"],
            await authorization_server_of(server_url),
            id_jag_from_idp(context),
            token_endpoint_auth_method="client_secret_basic",
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
            client_name="mcp-session-recovery official-suite client",
            redirect_uris=[AnyUrl(REDIRECT_URI)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=headless.redirect,
        callback_handler=headless.callback,
        client_metadata_url=CIMD_URL,
    )


# -- the modes: how the calls reach the server ----------------------------------------------------------


@asynccontextmanager
async def sdk_over_http(
    url: str, auth: httpx2.Auth | None, transport: httpx2.AsyncBaseTransport | None
) -> AsyncIterator[Calls]:
    http = httpx2.AsyncClient(auth=auth, transport=transport, timeout=httpx2.Timeout(20, read=RUN_SECONDS))
    async with (
        http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, elicitation_callback=answer_elicitation) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def through_connect(url: str, auth: httpx2.Auth | None) -> AsyncIterator[Calls]:
    keywords: dict[str, Any] = {}
    if connect_accepts("auth"):
        keywords["auth"] = auth
    if connect_accepts("elicitation_callback"):
        keywords["elicitation_callback"] = answer_elicitation
    async with connect(url, **keywords) as client:
        yield client


async def stdio_oauth_arguments(
    scenario: str, url: str, context: dict[str, Any], scratch: Path
) -> tuple[list[str], dict[str, str]]:
    """The ``stdio`` bridge's OAuth options (and environment) for a scenario: what the HTTP modes give
    the SDK's providers, as flags. The browser is :mod:`tests.cli.fake_browser`."""
    arguments = ["--oauth-store", str(scratch / "store")]
    env = {"BROWSER": f"{sys.executable} -m tests.cli.fake_browser %s"}
    if not scenario.startswith("auth/"):
        return arguments, env
    if "client_secret" in context:
        env["CONFORMANCE_CLIENT_SECRET"] = context["client_secret"]
        arguments += ["--oauth-client-secret-env", "CONFORMANCE_CLIENT_SECRET"]
    if scenario == "auth/client-credentials-basic":
        arguments += ["--oauth-grant", "client-credentials", "--oauth-client-id", context["client_id"]]
    elif scenario == "auth/client-credentials-jwt":
        key = scratch / "client-key.pem"
        key.write_text(context["private_key_pem"])
        arguments += ["--oauth-grant", "client-credentials", "--oauth-client-id", context["client_id"]]
        arguments += ["--oauth-private-key-file", str(key)]
        arguments += ["--oauth-jwt-algorithm", context.get("signing_algorithm", "ES256")]
    elif scenario == "auth/cross-app-access-complete-flow":
        arguments += ["--oauth-client-id", context["client_id"], "--oauth-issuer", await authorization_server_of(url)]
        arguments += ["--oauth-id-jag-command", f"{sys.executable} -m tests.official_suite.id_jag"]
    elif "client_id" in context:  # pre-registration
        arguments += ["--oauth-client-id", context["client_id"]]
    else:
        arguments += ["--oauth-client-metadata-url", CIMD_URL]
    return arguments, env


@asynccontextmanager
async def through_stdio(url: str, scenario: str, context: dict[str, Any]) -> AsyncIterator[Calls]:
    with tempfile.TemporaryDirectory(prefix="official-suite-") as scratch:
        oauth, oauth_env = await stdio_oauth_arguments(scenario, url, context, Path(scratch))
        bridge = StdioServerParameters(
            command=sys.executable,
            args=["-m", "mcp_session_recovery", "stdio", url, "--timeout", "20", *oauth],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **oauth_env},
            cwd=REPO_ROOT,
        )
        async with through_stdio_bridge(bridge) as calls:
            yield calls


@asynccontextmanager
async def through_stdio_bridge(bridge: StdioServerParameters) -> AsyncIterator[Calls]:
    async with (
        stdio_client(bridge) as (read, write),
        ClientSession(read, write, elicitation_callback=answer_elicitation) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def proxy_bridge(url: str) -> AsyncIterator[str]:
    """``mcp-session-recovery proxy URL`` on a port the kernel picks; yields its local endpoint."""
    argv = [sys.executable, "-m", "mcp_session_recovery", "proxy", url, "--listen", "127.0.0.1:0", "--timeout", "20"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = await anyio.open_process(argv, stdin=None, stdout=None, stderr=-1, cwd=REPO_ROOT, env=env)
    endpoint: str | None = None
    found = anyio.Event()

    async def relay_stderr(stream: anyio.abc.ByteReceiveStream) -> None:
        # Every line goes on to our stderr (the suite keeps it); the first names the endpoint.
        nonlocal endpoint
        pending = b""
        async for chunk in stream:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.decode("utf-8", "replace")
                print(f"[proxy] {text}", file=sys.stderr, flush=True)
                match = PROXY_LISTENING.search(text)
                if endpoint is None and match:
                    endpoint = match.group(1)
                    found.set()
        found.set()

    async with process, anyio.create_task_group() as relay:
        assert process.stderr is not None
        relay.start_soon(relay_stderr, process.stderr)
        try:
            with anyio.fail_after(15):
                await found.wait()
            if endpoint is None:
                raise RuntimeError(f"the proxy exited ({await process.wait()}) without listening")
            yield endpoint
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.move_on_after(5, shield=True):
                await process.wait()
            if process.returncode is None:
                process.kill()
            relay.cancel_scope.cancel()


@asynccontextmanager
async def open_calls(
    mode: str, url: str, auth: httpx2.Auth | None, scenario: str = "", context: dict[str, Any] | None = None
) -> AsyncIterator[Calls]:
    async with AsyncExitStack() as stack:
        if mode == "plain":
            calls = await stack.enter_async_context(sdk_over_http(url, auth, None))
        elif mode == "transport":
            recovering = RecoveringTransport(httpx2.AsyncHTTPTransport())
            calls = await stack.enter_async_context(sdk_over_http(url, auth, recovering))
        elif mode == "connect":
            calls = await stack.enter_async_context(through_connect(url, auth))
        elif mode == "stdio":
            calls = await stack.enter_async_context(through_stdio(url, scenario, context or {}))
        elif mode == "proxy":
            local = await stack.enter_async_context(proxy_bridge(url))
            calls = await stack.enter_async_context(sdk_over_http(local, auth, None))
        else:
            raise ValueError(f"unknown mode {mode!r}")
        yield calls


async def run(mode: str, url: str, scenario: str, context: dict[str, Any]) -> int:
    for gap in gaps(mode):
        say(f"left out in this mode: {gap}")
    failures: list[str] = []
    with anyio.fail_after(RUN_SECONDS):
        auth = await auth_for(scenario, url, context)
        async with open_calls(mode, url, auth, scenario, context) as calls:
            failures = await exercise(calls)
    for failure in failures:
        say(f"failed: {failure}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.official_suite.client", description=__doc__)
    parser.add_argument("--mode", choices=MODES, required=True)
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


def innermost(exc: BaseException) -> str:
    """The first error inside any exception groups, as ``Type: message`` on one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return " ".join(f"{type(exc).__name__}: {exc}".split())


if __name__ == "__main__":
    sys.exit(main())
