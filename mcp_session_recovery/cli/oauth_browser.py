"""The person's part of the authorization-code flow: a browser to authorize in, a loopback callback.

The browser is the one Python's :mod:`webbrowser` picks (so ``$BROWSER`` chooses it). A browser
that runs as a command is started with its output on stderr, never stdout: for the ``stdio`` bridge
stdout is the host's JSON-RPC channel. When no browser can be started, the URL is printed on stderr
for the user to open.

The callback listens on 127.0.0.1 (an ephemeral port unless one is given) from when the bridge
needs it until it exits, so the redirect URI it registered stays valid; it reads one ``GET`` of the
callback path carrying ``code`` (or ``error``) and answers a short page. The wait is bounded.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import webbrowser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import anyio

from mcp_session_recovery.model import McpSessionError

from .status import StatusLine

if TYPE_CHECKING:  # the mcp extra
    from mcp.shared.auth import AuthorizationCodeResult

__all__ = ["CALLBACK_PATH", "AuthorizationFailed", "LoopbackCallback", "ask_in_browser", "launch_browser"]

CALLBACK_PATH = "/callback"
#: The longest request head the callback reads.
_MAX_HEAD = 16 << 10
#: How long one connection to the callback may take to send its request.
_READ_SECONDS = 10.0
#: Connections the callback serves while waiting (a browser may ask for a favicon first).
_MAX_CONNECTIONS = 64
_PAGE = b"<!doctype html><title>mcp-session-recovery</title><p>%s You can close this window.</p>"


class AuthorizationFailed(McpSessionError):
    """The bridge's own OAuth could not get a token (the message says which step, never a secret)."""


class LoopbackCallback:
    """The redirect URI's listener on 127.0.0.1 (``port`` 0: one the kernel picks)."""

    def __init__(self, port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(("127.0.0.1", port))
            self._socket.listen(16)
        except OSError:
            self._socket.close()
            raise
        self._socket.setblocking(False)
        self.port: int = self._socket.getsockname()[1]
        self.redirect_uri = f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    def __repr__(self) -> str:
        return f"<LoopbackCallback {self.redirect_uri}>"

    def close(self) -> None:
        self._socket.close()

    async def wait(self, timeout: float) -> AuthorizationCodeResult:
        """The code (and state) the authorization server sent the browser back with; bounded by ``timeout``."""
        found: list[AuthorizationCodeResult | str] = []
        with anyio.move_on_after(timeout):
            for _ in range(_MAX_CONNECTIONS):
                connection, _address = await _accept(self._socket)
                with connection:
                    outcome = await _serve_one(connection)
                if outcome is not None:
                    found.append(outcome)
                    break
        if not found:
            raise AuthorizationFailed(
                f"no authorization came back to the bridge within {timeout:g} s; "
                "authorize in the browser, or allow longer with --oauth-callback-timeout"
            )
        outcome = found[0]
        if isinstance(outcome, str):
            raise AuthorizationFailed(f"the authorization server refused the authorization ({outcome})")
        return outcome


async def _accept(listening: socket.socket) -> tuple[socket.socket, object]:
    for _ in range(sys.maxsize):  # until a connection comes; the caller's deadline bounds it
        await anyio.wait_readable(listening)
        try:
            return listening.accept()
        except BlockingIOError:
            continue
    raise AssertionError("unreachable")


async def _serve_one(connection: socket.socket) -> AuthorizationCodeResult | str | None:
    """Read one request; the code, an ``error`` the server sent, or ``None`` (another path, garbage)."""
    from mcp.shared.auth import AuthorizationCodeResult

    connection.setblocking(False)
    head = b""
    with anyio.move_on_after(_READ_SECONDS):
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
            await anyio.wait_readable(connection)
            try:
                chunk = connection.recv(4096)
            except BlockingIOError:
                continue
            if not chunk:
                break
            head += chunk
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    words = request_line.split(" ")
    outcome: AuthorizationCodeResult | str | None = None
    if len(words) == 3 and words[0] == "GET":
        target = urlsplit(words[1])
        query = parse_qs(target.query)
        if target.path == CALLBACK_PATH and "code" in query:
            outcome = AuthorizationCodeResult(
                code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
            )
        elif target.path == CALLBACK_PATH and "error" in query:
            outcome = "".join(ch for ch in query["error"][0][:80] if ch.isalnum() or ch in "_-.") or "error"
    if outcome is None:
        status, text = b"404 Not Found", b"Not the authorization callback."
    elif isinstance(outcome, str):
        status, text = b"200 OK", b"The authorization was refused."
    else:
        status, text = b"200 OK", b"The bridge is authorized."
    body = _PAGE % text
    reply = (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )
    with anyio.move_on_after(_READ_SECONDS):
        sent = 0
        while sent < len(reply):
            await anyio.wait_writable(connection)
            try:
                sent += connection.send(reply[sent:])
            except BlockingIOError:
                continue
            except OSError:
                break
    return outcome


def launch_browser(url: str) -> bool:
    """Open ``url`` in the browser :mod:`webbrowser` picks; whether one could be started.

    A browser that is a command (``$BROWSER``, xdg-open, ...) is started here, its output sent
    to stderr (stdout may be a protocol stream), without waiting for it.
    """
    try:
        controller = webbrowser.get()
    except webbrowser.Error:
        return False
    if isinstance(controller, webbrowser.GenericBrowser):
        argv = [controller.name, *(argument.replace("%s", url) for argument in controller.args)]
        if not any("%s" in argument for argument in controller.args):
            argv.append(url)
        try:
            output: int = sys.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            output = subprocess.DEVNULL
        try:
            subprocess.Popen(  # the user's own browser command
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, start_new_session=True
            )
        except OSError:
            return False
        return True
    try:
        return bool(controller.open(url))
    except Exception:  # a platform browser that cannot open: the URL is printed instead
        return False


async def ask_in_browser(url: str, status: StatusLine, origin: str) -> None:
    """Open the browser at the authorization URL, or print it when none can be started."""
    opened = await anyio.to_thread.run_sync(launch_browser, url, abandon_on_cancel=True)
    if opened:
        status.note(f"oauth: authorize the bridge with {origin} in the browser that opened")
    else:
        status.warn(f"no browser could be started; to authorize the bridge with {origin}, open: {url}")
