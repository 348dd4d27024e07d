"""``proxy URL``: a local Streamable HTTP endpoint at ``/mcp`` that forwards to URL through the runtime.

For hosts that take only a URL (Claude Code, Claude Desktop, Cursor, IDEs): they talk to
``http://127.0.0.1:PORT/mcp`` and keep one session with the proxy for as long as they like; an
upstream restart, redeploy, era change or gateway window reaches them only as latency.

Thin: each host session is one :class:`~.upstream.Upstream` (a ``RecoveringTransport``); a host's
request goes to it unchanged and its answer comes back unchanged, SSE streamed as it comes. What
the proxy itself decides is only what a local server must: which host session a request belongs
to (the ``Mcp-Session-Id`` the host was given), the ``Origin`` check against DNS rebinding, and
the listen address.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import signal
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import anyio.to_thread

from mcp_session_recovery.runtime import SessionOptions

from .arguments import add_common_arguments, checked_url, session_options
from .headers import HeaderError, add_header_arguments, upstream_headers
from .host_sessions import HostSessions
from .oauth import OAuthSettings, add_oauth_arguments, oauth_settings
from .session_store import SqliteSessionStore, StoreUnavailable, default_store_path
from .status import StatusLine, configure_logging
from .upstream import close_quietly, failure_message

__all__ = ["ProxyApp", "add_arguments", "origin_allowed", "parse_listen", "run"]

DEFAULT_PORT = 8808
#: The largest request body a host may send (the SDK servers refuse more than 4 MiB).
MAX_BODY = 16 << 20
#: How long, after a stop signal, open host connections may take to finish.
SHUTDOWN_GRACE = 3.0
#: Request headers of the host that go upstream; everything else (cookies, Origin, Referer, hop
#: headers) stays here. The runtime sets the session id and protocol version itself.
_HOST_HEADERS = ("content-type", "accept", "user-agent", "authorization", "last-event-id", "mcp-protocol-version")
#: Response headers that describe one hop, not the answer.
_HOP_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``proxy`` command's arguments."""
    parser.add_argument("url", help="the upstream MCP endpoint (http:// or https://)")
    parser.add_argument(
        "--listen",
        default=f"127.0.0.1:{DEFAULT_PORT}",
        metavar="HOST:PORT",
        help=f"where the endpoint listens (default 127.0.0.1:{DEFAULT_PORT}; loopback unless --allow-remote)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --listen address other than loopback (anyone who reaches it uses your upstream session)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser Origin allowed besides localhost / 127.0.0.1 (repeatable), e.g. https://app.example",
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--session-store",
        type=Path,
        metavar="PATH",
        help="the SQLite file that keeps the host sessions across a restart of the proxy "
        "(default: proxy-sessions.sqlite3 in your state directory)",
    )
    store.add_argument(
        "--no-session-store",
        action="store_true",
        help="keep host sessions in memory only: after a restart of the proxy, hosts get 404 and start anew",
    )
    add_header_arguments(parser)
    add_common_arguments(parser)
    add_oauth_arguments(parser, default_on=False)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM, then delete every upstream session; 0 on a clean stop."""
    status = StatusLine(quiet=args.quiet)
    try:
        settings = _Settings.from_args(args)
    except (HeaderError, ValueError) as exc:
        print(f"mcp-session-recovery proxy: {exc}", file=sys.stderr)
        return 2
    configure_logging(verbose=args.verbose)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"mcp-session-recovery proxy: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    if not _is_loopback(settings.host):
        status.warn(
            f"listening on {settings.host}, not loopback: anyone who can reach it can use the upstream "
            "session and the credentials given with --header / --header-env"
        )
    return anyio.run(_serve, settings, sock, status, backend="asyncio")


@dataclass(frozen=True, repr=False)
class _Settings:
    url: str
    host: str
    port: int
    headers: Mapping[str, str]
    allowed_origins: frozenset[str]
    options: SessionOptions
    #: The proxy's own OAuth (``--oauth``: for hosts that cannot do it); ``None``: the host's passes through.
    oauth: OAuthSettings | None = None
    #: Where the host sessions are kept across restarts (``None``: in memory only).
    session_store: Path | None = None

    def __repr__(self) -> str:  # never the headers
        return f"_Settings({self.host}:{self.port})"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _Settings:
        url = checked_url(args.url)
        host, port = parse_listen(args.listen)
        if not _is_loopback(host) and not args.allow_remote:
            raise ValueError(f"--listen {host} is not a loopback address: add --allow-remote to mean it")
        origins = frozenset(_origin_of(origin) for origin in args.allow_origin)
        headers = upstream_headers(args.header, args.header_env)
        oauth = oauth_settings(args, static_authorization="authorization" in headers)
        store = None if args.no_session_store else (args.session_store or default_store_path())
        return cls(url, host, port, headers, origins, session_options(args), oauth, store)


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT``, ``:PORT`` or ``PORT`` → (host, port); the host defaults to 127.0.0.1."""
    host, _, port_text = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--listen takes HOST:PORT, not {value!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--listen: port {port} is out of range")
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin_of(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--allow-origin takes an origin like https://app.example, not {value!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(origin: str | None, allowed: frozenset[str] = frozenset()) -> bool:
    """Whether a request with this ``Origin`` may use the proxy (DNS-rebinding protection).

    No ``Origin`` (a non-browser client) is allowed; a browser page is allowed only from localhost /
    127.0.0.1 / [::1] (any port) or an origin named with ``--allow-origin``.
    """
    if origin is None:
        return True
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        return False  # "null" and anything else that names no web origin
    if parts.hostname in _LOOPBACK_NAMES:
        return True
    return f"{parts.scheme}://{parts.netloc}".lower() in allowed


# -- the host sessions --------------------------------------------------------------------------


# -- the ASGI app -------------------------------------------------------------------------------

Scope = dict[str, Any]
Message = dict[str, Any]


class ProxyApp:
    """The local endpoint: ``/mcp`` only; POST, GET and DELETE, as the Streamable HTTP transport has them."""

    def __init__(self, sessions: HostSessions, allowed_origins: frozenset[str], path: str = "/mcp") -> None:
        self._sessions = sessions
        self._allowed_origins = allowed_origins
        self._path = path

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if scope["path"].rstrip("/") != self._path:
            await _plain(send, 404, "Not Found: the MCP endpoint is " + self._path)
            return
        if not origin_allowed(headers.get("origin"), self._allowed_origins):
            await _json_error(send, 403, -32600, "Forbidden: this Origin may not use the local MCP proxy")
            return
        method = scope["method"]
        if method not in ("POST", "GET", "DELETE"):
            await _plain(send, 405, "Method Not Allowed", allow="GET, POST, DELETE")
            return
        body = await _body(receive)
        if body is None:
            await _json_error(send, 413, -32600, "Request body too large")
            return
        await self._forward(method, headers, body, receive, send)

    async def _forward(self, method: str, headers: Mapping[str, str], body: bytes, receive: Any, send: Any) -> None:
        session_id = headers.get("mcp-session-id")
        message = _json(body) if method == "POST" else None
        new = False
        forwarded = {name: headers[name] for name in _HOST_HEADERS if name in headers}
        if self._sessions.auth is not None:
            forwarded.pop("authorization", None)  # the proxy's own OAuth sets it
        if session_id is not None:
            upstream = await self._sessions.find(session_id, forwarded)
            if upstream is None:  # the spec's answer: the host starts a new session
                await _json_error(send, 404, -32600, "Session not found", request_id=_id_of(message))
                return
        elif method == "POST" and isinstance(message, dict) and message.get("method") == "initialize":
            upstream, new = await self._sessions.open(), True
        elif method == "POST":
            upstream = await self._sessions.sessionless()
        else:
            await _json_error(send, 400, -32600, "Bad Request: Mcp-Session-Id header is required")
            return
        try:
            response = await upstream.send(method, body, forwarded)
        except Exception as exc:  # that one request fails (a cause in words), the proxy stays up
            if new:
                await upstream.aclose()
            call = message.get("method") if isinstance(message, dict) else None
            text = failure_message(call, exc, upstream.request_timeout)
            await _json_error(send, 502, -32000, text, request_id=_id_of(message))
            return
        if new:
            virtual_id = response.headers.get("mcp-session-id")
            if virtual_id is not None and 200 <= response.status_code < 300 and isinstance(message, dict):
                await self._sessions.register(virtual_id, upstream, message)
            else:  # the handshake failed (the host got the JSON-RPC error): nothing to keep
                await upstream.aclose()
        try:
            await _relay(response, receive, send)
        finally:
            if method == "DELETE" and session_id is not None:
                await self._sessions.end(session_id)


async def _relay(response: Any, receive: Any, send: Any) -> None:
    """Send ``response`` to the host as it streams; stop (and close it) when the host goes away."""
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.multi_items()
        if name.lower() not in _HOP_HEADERS
    ]
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            # The body is relayed as it comes (never decoded here: what the runtime hands over
            # carries no content coding).
            async for chunk in response.aiter_bytes():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()
    finally:
        await close_quietly(response)


async def _cancel_on_disconnect(receive: Any, scope: anyio.CancelScope) -> None:
    # After the body, the only message left is the disconnect (the host closed a stream early).
    for _ in range(1_000):
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _body(receive: Any) -> bytes | None:
    """The request body, or ``None`` past :data:`MAX_BODY`."""
    chunks: list[bytes] = []
    size = 0
    for _ in range(MAX_BODY):  # each message carries at least one byte, or ends the body
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _id_of(message: Any) -> Any:
    return message.get("id") if isinstance(message, dict) else None


async def _plain(send: Any, status: int, text: str, **extra: str) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")] + [(k.encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode()})


async def _json_error(send: Any, status: int, code: int, text: str, *, request_id: Any = None) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# -- serving ------------------------------------------------------------------------------------


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Named TCP, so asyncio sets TCP_NODELAY on each accepted connection (it checks the protocol, and
    # a socket made without one reads 0): with Nagle on, an answer written in pieces (headers, then
    # body) waits for the host's delayed ACK, about 30 ms a call.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(settings: _Settings, sock: socket.socket, status: StatusLine) -> int:
    import uvicorn  # the cli extra; imported here so `--help` works without it

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # our own receiver stops the server after deleting the upstream sessions

    store = await _open_store(settings.session_store, status)
    async with anyio.create_task_group() as group:
        sessions = HostSessions(group, settings, status, store)
        app = ProxyApp(sessions, settings.allowed_origins)
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
        )
        server = Server(config)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            group.start_soon(_stop_on_signal, signals, server, sessions, status)
            status.note(f"mcp-session-recovery proxy: http://{shown}:{port}/mcp → {_origin_only(settings.url)}")
            await server.serve(sockets=[sock])
        await sessions.close_all()
        group.cancel_scope.cancel()
    if store is not None:
        store.close()
    if sessions.auth is not None:
        sessions.auth.close()
    return 0


async def _open_store(path: Path | None, status: StatusLine) -> SqliteSessionStore | None:
    """The store of host sessions, or ``None`` (with a warning) when it cannot be used."""
    if path is None:
        return None
    try:
        return await anyio.to_thread.run_sync(SqliteSessionStore, path)
    except StoreUnavailable as exc:
        status.warn(f"{exc}; host sessions will not survive a restart of the proxy")
        return None


async def _stop_on_signal(signals: Any, server: Any, sessions: HostSessions, status: StatusLine) -> None:
    async for _ in signals:
        if server.should_exit:
            server.force_exit = True  # a second Ctrl-C: do not wait for open connections
            return
        status.note("stopping: ending the upstream sessions")
        await sessions.close_all()
        server.should_exit = True


def _origin_only(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}" + (f":{parts.port}" if parts.port else "")
