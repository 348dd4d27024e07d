"""OAuth for the ``stdio`` and ``proxy`` bridges, on the MCP SDK's own providers (``mcp.client.auth``).

Nothing of the protocol is written here: authorization code with PKCE, metadata discovery, dynamic
client registration, client id metadata documents, refresh, scopes from ``WWW-Authenticate``,
step-up and client credentials are the SDK's (``OAuthClientProvider`` and its client-credentials,
private-key-JWT and identity-assertion siblings, each an ``httpx2.Auth``). This module chooses the
provider from the options, gives it a store (:mod:`.oauth_store`), a browser and a loopback
callback (:mod:`.oauth_browser`), and adds what a long-running bridge needs around it:

- **When it starts.** ``stdio``: by default when the server asks for it, that is on a 401 with a
  ``Bearer`` challenge in ``WWW-Authenticate`` (or at once when tokens for the server are stored);
  ``--oauth`` from the first request; ``--no-oauth`` never. ``proxy``: only with ``--oauth`` (by
  default the host's own ``Authorization`` and the server's 401 pass through unchanged).
- **Refresh before re-authorizing.** The SDK answers every 401 with a whole new authorization
  (a browser again). A 401 to a token the bridge holds is answered with one refresh first, and a
  401 to a freshly refreshed token is an :class:`AuthorizationFailed` that says so, never a loop.
  Only when the refresh itself is refused does the user authorize again.
- **The authorization server may be down too.** Its requests (metadata, registration, tokens) that
  cannot connect are tried again with backoff within the request's deadline, so a token that
  expired during an outage is refreshed once the server is back.
- **No secret in any message.** Errors of the flow become :class:`AuthorizationFailed` with the
  step's words and the server's, every stored token and secret replaced.
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
import warnings
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import httpx2

from mcp_session_recovery.runtime import Backoff, origin_of
from mcp_session_recovery.runtime.redaction import REDACTED

from .oauth_browser import AuthorizationFailed
from .status import StatusLine

if TYPE_CHECKING:
    from .oauth_browser import LoopbackCallback
    from .oauth_store import TokenStore

__all__ = [
    "AuthorizationFailed",
    "BridgeAuth",
    "OAuthSettings",
    "WaitForAuthorizationServer",
    "add_oauth_arguments",
    "oauth_settings",
]

#: The grant types ``--oauth-grant`` names.
GRANTS = ("authorization-code", "client-credentials")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
#: How long the user has to authorize in the browser, by default.
DEFAULT_CALLBACK_SECONDS = 300.0
#: Steps of one request's auth flow (discovery, registration, token, the request again, redirects).
_MAX_FLOW_STEPS = 64
#: Timeouts of the authorization server's requests (the SDK's carry none).
_AUTH_TIMEOUTS = {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}
#: How much of a flow error's own words a message keeps.
_MAX_DETAIL = 300


def add_oauth_arguments(parser: argparse.ArgumentParser, *, default_on: bool) -> None:
    """The ``--oauth*`` options (``default_on``: OAuth starts when the server asks, as for ``stdio``)."""
    group = parser.add_argument_group(
        "OAuth",
        "the bridge's own OAuth (the MCP SDK's providers); "
        + (
            "by default it starts when the server answers 401 with a Bearer challenge"
            if default_on
            else "off unless --oauth: by default the host's own authorization passes through"
        ),
    )
    switch = group.add_mutually_exclusive_group()
    switch.add_argument(
        "--oauth", dest="oauth", action="store_const", const="on", help="run OAuth from the first request"
    )
    if default_on:
        switch.add_argument("--no-oauth", dest="oauth", action="store_const", const="off", help="never run OAuth")
    parser.set_defaults(oauth="auto" if default_on else "off")
    group.add_argument(
        "--oauth-store",
        type=Path,
        metavar="DIR",
        help="where tokens and registrations are kept, one 0600 file per server (default: the user's config directory)",
    )
    group.add_argument(
        "--oauth-grant",
        choices=GRANTS,
        default="authorization-code",
        help="authorization-code (a browser; the default) or client-credentials (a machine without one)",
    )
    group.add_argument("--oauth-client-id", metavar="ID", help="a pre-registered client id (default: registered)")
    group.add_argument(
        "--oauth-client-secret-env", metavar="ENV_VAR", help="the environment variable holding the client secret"
    )
    group.add_argument(
        "--oauth-token-auth-method",
        choices=TOKEN_AUTH_METHODS,
        help="how the pre-registered client authenticates at the token endpoint "
        "(default: client_secret_basic with a secret, none without)",
    )
    group.add_argument(
        "--oauth-private-key-file",
        type=Path,
        metavar="PEM",
        help="client credentials by private_key_jwt: the client's private key (PEM) signs the assertion",
    )
    group.add_argument("--oauth-jwt-algorithm", default="RS256", metavar="ALG", help="its algorithm (default RS256)")
    group.add_argument(
        "--oauth-id-jag-command",
        metavar="COMMAND",
        help="identity assertion (SEP-990): a command printing the ID-JAG for MCP_OAUTH_AUDIENCE and "
        "MCP_OAUTH_RESOURCE (needs --oauth-issuer, the client id and secret)",
    )
    group.add_argument(
        "--oauth-client-metadata-url", metavar="URL", help="an https URL of this client's metadata document (CIMD)"
    )
    group.add_argument("--oauth-scope", metavar="SCOPE", help="the scopes to ask for (default: what the server says)")
    group.add_argument(
        "--oauth-issuer", metavar="URL", help="the authorization server the client credentials belong to"
    )
    group.add_argument(
        "--oauth-callback-port", type=int, default=0, metavar="PORT", help="the callback's port on 127.0.0.1"
    )
    group.add_argument(
        "--oauth-callback-timeout",
        type=float,
        default=DEFAULT_CALLBACK_SECONDS,
        metavar="SECONDS",
        help=f"how long to wait for the authorization in the browser (default {DEFAULT_CALLBACK_SECONDS:g})",
    )


@dataclass(frozen=True, repr=False)
class OAuthSettings:
    """What the options ask of the bridge's OAuth (the repr holds no secret)."""

    #: ``"auto"`` (when the server asks), ``"on"`` or ``"off"``.
    mode: str
    store_dir: Path
    grant: str = "authorization-code"
    client_id: str | None = None
    client_secret: str | None = None
    token_auth_method: str | None = None
    private_key: str | None = None
    jwt_algorithm: str = "RS256"
    id_jag_command: str | None = None
    client_metadata_url: str | None = None
    scope: str | None = None
    issuer: str | None = None
    callback_port: int = 0
    callback_timeout: float = DEFAULT_CALLBACK_SECONDS

    def __repr__(self) -> str:
        return f"OAuthSettings(mode={self.mode!r}, grant={self.grant!r})"


def oauth_settings(args: argparse.Namespace, *, static_authorization: bool) -> OAuthSettings | None:
    """The settings the parsed options ask for, or ``None`` (no OAuth). ``ValueError`` names a bad option.

    A static ``Authorization`` header (``--header``) turns the automatic mode off: the user chose
    the credentials.
    """
    mode = args.oauth
    if mode == "auto" and static_authorization:
        mode = "off"
    given = [
        name
        for name in ("oauth_client_id", "oauth_client_secret_env", "oauth_private_key_file", "oauth_id_jag_command")
        if getattr(args, name) is not None
    ]
    if mode == "off":
        if given and args.oauth == "off" and not static_authorization:
            raise ValueError(f"--{given[0][6:].replace('_', '-')}: OAuth is off; add --oauth")
        return None
    secret = None
    if args.oauth_client_secret_env is not None:
        secret = os.environ.get(args.oauth_client_secret_env)
        if not secret:
            variable = args.oauth_client_secret_env
            raise ValueError(f"--oauth-client-secret-env: the environment variable {variable} is not set")
    private_key = None
    if args.oauth_private_key_file is not None:
        try:
            private_key = args.oauth_private_key_file.read_text()
        except OSError as exc:
            raise ValueError(f"--oauth-private-key-file: cannot read it ({exc.strerror})") from None
    grant = args.oauth_grant
    if grant == "client-credentials" and (args.oauth_client_id is None or (secret is None and private_key is None)):
        raise ValueError(
            "--oauth-grant client-credentials needs --oauth-client-id and --oauth-client-secret-env "
            "or --oauth-private-key-file"
        )
    needs_for_id_jag = (args.oauth_issuer, args.oauth_client_id, secret)
    if args.oauth_id_jag_command is not None and None in needs_for_id_jag:
        raise ValueError("--oauth-id-jag-command needs --oauth-issuer, --oauth-client-id and --oauth-client-secret-env")
    if args.oauth_client_metadata_url is not None and not args.oauth_client_metadata_url.startswith("https://"):
        raise ValueError("--oauth-client-metadata-url must be an https:// URL")
    if not 0 <= args.oauth_callback_port <= 65535:
        raise ValueError("--oauth-callback-port is out of range")
    if not args.oauth_callback_timeout > 0:
        raise ValueError("--oauth-callback-timeout must be a positive number of seconds")
    if args.oauth_store is not None:
        store_dir = args.oauth_store
    else:
        from .oauth_store import default_store_dir

        store_dir = default_store_dir()
    return OAuthSettings(
        mode=mode,
        store_dir=store_dir,
        grant=grant,
        client_id=args.oauth_client_id,
        client_secret=secret,
        token_auth_method=args.oauth_token_auth_method,
        private_key=private_key,
        jwt_algorithm=args.oauth_jwt_algorithm,
        id_jag_command=args.oauth_id_jag_command,
        client_metadata_url=args.oauth_client_metadata_url,
        scope=args.oauth_scope,
        issuer=args.oauth_issuer,
        callback_port=args.oauth_callback_port,
        callback_timeout=args.oauth_callback_timeout,
    )


def _bearer_challenge(response: httpx2.Response) -> bool:
    """Whether a 401 asks for a bearer token (RFC 6750): the automatic mode's cue to start OAuth."""
    challenges = response.headers.get_list("www-authenticate")
    return any(challenge.strip().lower().startswith("bearer") for challenge in challenges)


@dataclass(repr=False)
class _Counters:
    """What the bridge's OAuth did (for tests and the status line; no secret)."""

    authorizations: int = 0
    refreshes_forced: int = 0
    refused_after_refresh: int = 0


class BridgeAuth(httpx2.Auth):
    """The bridge's ``httpx2.Auth``: the SDK's provider, started as the settings say, refreshing before
    it re-authorizes. One per bridge (the proxy's host sessions share it: one token per server)."""

    requires_response_body = True

    def __init__(self, settings: OAuthSettings, server_url: str, status: StatusLine) -> None:
        self._settings = settings
        self._url = server_url
        self._origin = origin_of(server_url)
        self._status = status
        self._provider: Any = None
        self._store: TokenStore | None = None
        self._callback: LoopbackCallback | None = None
        self._pending_url: str | None = None
        self._prepare_lock = anyio.Lock()
        self._started = settings.mode == "on"
        self.counters = _Counters()

    def __repr__(self) -> str:
        return f"<BridgeAuth {self._origin} {self._settings.grant}, {'started' if self._started else 'waiting'}>"

    def secrets(self) -> list[str]:
        """Every token and secret the bridge's OAuth knows (kept out of every message)."""
        found = list(self._store.secrets()) if self._store is not None else []
        if self._settings.client_secret:
            found.append(self._settings.client_secret)
        tokens = getattr(getattr(self._provider, "context", None), "current_tokens", None)
        if tokens is not None:
            found += [tokens.access_token, tokens.refresh_token or ""]
        return [value for value in found if value]

    def close(self) -> None:
        """Stop listening for callbacks."""
        if self._callback is not None:
            self._callback.close()

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        #: An answer already received for ``request`` (a 401, a 403), and the credentials it went with:
        #: the provider's flow starts from it instead of sending the request again.
        held: tuple[httpx2.Response, str | None] | None = None
        if not self._started:
            store = await self._prepared_store()
            if store.has_tokens():
                self._started = True
            else:
                response = yield request
                if response.status_code != 401 or not _bearer_challenge(response):
                    return
                self._started = True
                held = (response, None)
        provider = await self._prepared_provider()
        bearer = _valid_bearer(provider) if held is None else None
        if bearer is not None:
            # The common case, outside the provider's lock (it holds one for a whole request, which
            # would queue every concurrent call behind the slowest): a token it holds and deems valid.
            request.headers["authorization"] = bearer
            response = yield request
            if response.status_code not in (401, 403):
                return
            held = (response, bearer)  # refused: the provider's flow (a refresh, a step-up) takes over
        flow = self._refreshing_first(provider, request, held)
        try:
            outgoing = await flow.__anext__()
            for _ in range(2 * _MAX_FLOW_STEPS):
                response = yield outgoing
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()
        raise AuthorizationFailed(f"the OAuth flow with {self._origin} took too many steps")

    async def _refreshing_first(
        self, provider: Any, request: httpx2.Request, held: tuple[httpx2.Response, str | None] | None
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        """The provider's flow; a 401 to a token it holds gets one refresh before anything else."""
        context = getattr(provider, "context", None)  # the OAuthClientProvider family's
        refreshed_from: str | None = None
        for round_number in range(2):
            flow = provider.async_auth_flow(request)
            try:
                outgoing = await self._step(flow, None)
                for _ in range(_MAX_FLOW_STEPS):
                    own = outgoing is request
                    if own and held is not None and request.headers.get("authorization") == held[1]:
                        response, held = held[0], None  # already answered with these credentials
                    else:
                        response = yield outgoing
                    if own and response.status_code == 401 and context is not None:
                        token = _access_token(context)
                        if round_number == 0 and token is not None and context.can_refresh_token():
                            # Expired for the provider: its next flow refreshes first.
                            context.token_expiry_time = 1.0
                            refreshed_from = token
                            self.counters.refreshes_forced += 1
                            request.headers.pop("authorization", None)
                            break
                        if round_number == 1 and token is not None and token != refreshed_from:
                            self.counters.refused_after_refresh += 1
                            raise AuthorizationFailed(
                                f"{self._origin} refused the access token it had just refreshed (HTTP 401); "
                                "check the server's authorization settings, or remove the stored tokens to "
                                "authorize again"
                            )
                    outgoing = await self._step(flow, response)
                else:
                    raise AuthorizationFailed(f"the OAuth flow with {self._origin} took too many steps")
            except StopAsyncIteration:
                return  # the provider's flow ended: the request's answer stands
            finally:
                await flow.aclose()

    async def _step(self, flow: Any, response: httpx2.Response | None) -> httpx2.Request:
        """The provider's next request; its errors as :class:`AuthorizationFailed` (no secret in it)."""
        try:
            outgoing: httpx2.Request = await (flow.__anext__() if response is None else flow.asend(response))
        except (StopAsyncIteration, AuthorizationFailed):
            raise
        except Exception as exc:
            raise AuthorizationFailed(
                f"OAuth with {self._origin} failed ({type(exc).__name__}: {self._scrubbed(str(exc))})"
            ) from None
        return outgoing

    def _scrubbed(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, REDACTED)
        text = " ".join(text.split())
        return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"

    async def _prepared_store(self) -> TokenStore:
        if self._store is None:
            from .oauth_store import TokenStore

            settings = self._settings
            pre_registered = None
            code_grant = settings.grant == "authorization-code" and not settings.id_jag_command
            if settings.client_id is not None and code_grant:
                from mcp.shared.auth import OAuthClientInformationFull  # the mcp extra, only when OAuth runs

                method = settings.token_auth_method or ("client_secret_basic" if settings.client_secret else "none")
                pre_registered = OAuthClientInformationFull(
                    client_id=settings.client_id,
                    client_secret=settings.client_secret,
                    redirect_uris=None,
                    token_endpoint_auth_method=method,
                )
            self._store = TokenStore(settings.store_dir, self._url, pre_registered=pre_registered)
        return self._store

    async def _prepared_provider(self) -> Any:
        async with self._prepare_lock:
            if self._provider is None:
                store = await self._prepared_store()
                provider = self._build_provider(store)
                context = getattr(provider, "context", None)
                if context is not None:  # the stored token, before the provider's first flow loads it
                    context.current_tokens = await store.get_tokens()
                self._provider = provider
        return self._provider

    def _build_provider(self, store: TokenStore) -> Any:
        settings = self._settings
        url = self._url
        if settings.id_jag_command is not None:
            from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider

            assert settings.client_id is not None
            assert settings.client_secret is not None
            assert settings.issuer is not None
            return IdentityAssertionOAuthProvider(
                url,
                store,
                settings.client_id,
                settings.client_secret,
                settings.issuer,
                self._id_jag,
                scope=settings.scope,
                token_endpoint_auth_method=_secret_method(settings.token_auth_method),
            )
        if settings.grant == "client-credentials":
            from mcp.client.auth.extensions.client_credentials import (
                ClientCredentialsOAuthProvider,
                PrivateKeyJWTOAuthProvider,
                SignedJWTParameters,
            )

            assert settings.client_id is not None
            if settings.issuer is None:
                self._status.warn(
                    "OAuth client credentials without --oauth-issuer: the MCP server names the authorization "
                    "server that receives them"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the SDK's deprecation of a missing issuer, said above
                if settings.private_key is not None:
                    signing = SignedJWTParameters(
                        issuer=settings.client_id,
                        subject=settings.client_id,
                        signing_key=settings.private_key,
                        signing_algorithm=settings.jwt_algorithm,
                    )
                    return PrivateKeyJWTOAuthProvider(
                        url,
                        store,
                        settings.client_id,
                        signing.create_assertion_provider(),
                        scope=settings.scope,
                        issuer=settings.issuer,
                    )
                assert settings.client_secret is not None
                return ClientCredentialsOAuthProvider(
                    url,
                    store,
                    settings.client_id,
                    settings.client_secret,
                    _secret_method(settings.token_auth_method),
                    scope=settings.scope,
                    issuer=settings.issuer,
                )
        from mcp.client.auth import OAuthClientProvider
        from mcp.shared.auth import OAuthClientMetadata
        from pydantic import AnyUrl

        callback = self._listen(store)
        metadata = OAuthClientMetadata(
            client_name="mcp-session-recovery",
            redirect_uris=[AnyUrl(callback.redirect_uri)],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            scope=settings.scope,
        )
        return OAuthClientProvider(
            url,
            metadata,
            store,
            self._redirect,
            self._wait_for_callback,
            client_metadata_url=settings.client_metadata_url,
        )

    def _listen(self, store: TokenStore) -> LoopbackCallback:
        """The callback listener: on the stored registration's port when it is free (the registered
        redirect URI stays right), else on the one asked for or a new one (then register again)."""
        from urllib.parse import urlsplit

        from .oauth_browser import LoopbackCallback

        wanted = self._settings.callback_port
        stored = store.stored_redirect_uri()
        stored_port = urlsplit(stored).port if stored and urlsplit(stored).hostname == "127.0.0.1" else None
        callback: LoopbackCallback | None = None
        if not wanted and stored_port:
            try:
                callback = LoopbackCallback(stored_port)
            except OSError:
                callback = None
        if callback is None:
            callback = LoopbackCallback(wanted)
        if stored is not None and stored != callback.redirect_uri:
            store.forget_registration()
        self._callback = callback
        return callback

    async def _redirect(self, authorization_url: str) -> None:
        # The browser opens when the callback is listening for it (see _wait_for_callback).
        self._pending_url = authorization_url

    async def _wait_for_callback(self) -> Any:
        from .oauth_browser import ask_in_browser

        url, self._pending_url = self._pending_url, None
        assert url is not None
        assert self._callback is not None
        self.counters.authorizations += 1
        async with anyio.create_task_group() as group:
            group.start_soon(ask_in_browser, url, self._status, self._origin)
            result = await self._callback.wait(self._settings.callback_timeout)
            group.cancel_scope.cancel()
        self._status.note(f"oauth: authorized with {self._origin}")
        return result

    async def _id_jag(self, audience: str, resource: str) -> str:
        assert self._settings.id_jag_command is not None
        environment = {**os.environ, "MCP_OAUTH_AUDIENCE": audience, "MCP_OAUTH_RESOURCE": resource}
        try:
            with anyio.fail_after(60):
                done = await anyio.run_process(shlex.split(self._settings.id_jag_command), env=environment, check=False)
        except (OSError, TimeoutError):
            raise AuthorizationFailed("--oauth-id-jag-command could not be run, or ran over 60 s") from None
        assertion = done.stdout.decode("utf-8", "replace").strip()
        if done.returncode != 0 or not assertion:
            raise AuthorizationFailed(f"--oauth-id-jag-command failed (exit status {done.returncode})")
        return assertion


def _secret_method(method: str | None) -> Literal["client_secret_basic", "client_secret_post"]:
    return "client_secret_post" if method == "client_secret_post" else "client_secret_basic"


def _valid_bearer(provider: Any) -> str | None:
    """``Bearer <token>`` when the provider holds a token it deems valid (``None``: its flow decides)."""
    context = getattr(provider, "context", None)
    if context is None or context.current_tokens is None or not context.is_token_valid():
        return None
    token = _access_token(context)
    return f"Bearer {token}" if token is not None else None


def _access_token(context: Any) -> str | None:
    tokens = context.current_tokens
    return tokens.access_token if tokens is not None and tokens.access_token else None


class WaitForAuthorizationServer:
    """A transport under the bridge's ``AsyncClient`` that sends the MCP endpoint's requests to
    ``inner`` (a ``RecoveringTransport``) and the auth flow's own (metadata, registration, tokens)
    with timeouts, trying again with backoff while the authorization server cannot be reached, within
    ``timeout`` seconds."""

    def __init__(self, inner: Any, endpoint: str, timeout: float, backoff: Backoff | None = None) -> None:
        self._inner = inner
        self._endpoint = endpoint.partition("#")[0]
        self._timeout = timeout
        self._backoff = backoff or Backoff(base=0.2, cap=2.0, floor=0.1)

    async def __aenter__(self) -> WaitForAuthorizationServer:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._inner.__aexit__(*exc_info)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if str(request.url).partition("#")[0] == self._endpoint:
            response: httpx2.Response = await self._inner.handle_async_request(request)
            return response
        request.extensions = {"timeout": dict(_AUTH_TIMEOUTS), **request.extensions}
        await request.aread()
        deadline = time.monotonic() + self._timeout
        for attempt in range(1, 10_000):
            try:
                answer: httpx2.Response = await self._inner.handle_async_request(request)
                return answer
            except (httpx2.ConnectError, httpx2.ConnectTimeout):
                delay = self._backoff.delay(attempt)
                if time.monotonic() + delay > deadline:
                    raise AuthorizationFailed(
                        f"the authorization server at {origin_of(str(request.url))} could not be reached "
                        f"within {self._timeout:g} s"
                    ) from None
                await anyio.sleep(delay)
        raise AuthorizationFailed("the authorization server could not be reached")
