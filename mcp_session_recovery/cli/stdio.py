"""``stdio URL``: a stdio MCP server (newline-delimited JSON-RPC) that forwards to URL through the runtime.

For hosts configured with a command (``"command"`` / ``"args"``): the role mcp-remote and mcp-proxy
play, on the runtime, so it never dies on an upstream restart. stdout carries only protocol
messages, one per line; the status line and logs go to stderr.

Thin: every message read from stdin is POSTed through one :class:`~.upstream.Upstream` (a
``RecoveringTransport``: it owns the upstream negotiation and recovery), concurrently, and
everything the answer carries (progress, the server's requests, the response) is written out
as it arrives; the GET stream's messages too. The host's answers to the server's requests go
back the same way. When stdin closes, requests still running get a moment to finish, then the
upstream session is deleted and the bridge exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from contextlib import aclosing
from dataclasses import dataclass
from typing import IO, Any

import anyio
import anyio.abc
import httpx2

from mcp_session_recovery.adapters.httpx_wire import HttpxResponse
from mcp_session_recovery.runtime import SessionOptions
from mcp_session_recovery.runtime.answers import LIBRARY_ERROR_CODE
from mcp_session_recovery.runtime.reading import LimitCrossed, ReadLimits, json_object, read_body, sse_events
from mcp_session_recovery.runtime.wire import WireError

from .arguments import add_common_arguments, checked_url, session_options
from .daemon_thread import DaemonThread
from .headers import HeaderError, add_header_arguments, upstream_headers
from .oauth import BridgeAuth, OAuthSettings, add_oauth_arguments, oauth_settings
from .pipes import FdLines, write_all
from .status import StatusLine, configure_logging
from .upstream import Upstream, close_quietly, failure_message

__all__ = ["StdioBridge", "add_arguments", "run"]

#: The longest line read from stdin (one message); a longer one is refused, not buffered on.
MAX_LINE = 64 << 20
#: After stdin closes, how long requests still running may take before they are abandoned.
EOF_GRACE = 2.0
_POST_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``stdio`` command's arguments."""
    parser.add_argument("url", help="the upstream MCP endpoint (http:// or https://)")
    add_header_arguments(parser)
    add_common_arguments(parser)
    add_oauth_arguments(parser, default_on=True)


def run(args: argparse.Namespace) -> int:
    """Bridge stdin/stdout to URL until stdin closes (or Ctrl-C / SIGTERM); 0 on a clean stop."""
    try:
        url = checked_url(args.url)
        headers = upstream_headers(args.header, args.header_env)
        oauth = oauth_settings(args, static_authorization="authorization" in headers)
    except (HeaderError, ValueError) as exc:
        print(f"mcp-session-recovery stdio: {exc}", file=sys.stderr)
        return 2
    configure_logging(verbose=args.verbose)
    settings = _Settings(url, headers, session_options(args), args.quiet, oauth)
    return anyio.run(_bridge, settings, backend="asyncio")


@dataclass(frozen=True, repr=False)
class _Settings:
    url: str
    headers: dict[str, str]
    options: SessionOptions
    quiet: bool
    oauth: OAuthSettings | None = None


async def _bridge(settings: _Settings) -> int:
    status = StatusLine(quiet=settings.quiet)
    auth = None
    if settings.oauth is not None:
        auth = BridgeAuth(settings.oauth, settings.url, status)
    async with anyio.create_task_group() as group:
        upstream = Upstream(settings.url, settings.headers, status=status, options=settings.options, auth=auth)
        await group.start(upstream.run)
        bridge = StdioBridge(upstream, sys.stdin.buffer, sys.stdout.buffer, settings.options.limits)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            stopping = anyio.CancelScope()
            group.start_soon(_cancel_on_signal, signals, stopping)
            with stopping:
                await bridge.serve()
        await upstream.aclose()  # deletes the upstream session
        group.cancel_scope.cancel()
    if auth is not None:
        auth.close()
    return 0


async def _cancel_on_signal(signals: Any, scope: anyio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


class StdioBridge:
    """Reads messages from ``stdin``, forwards each through ``upstream``, writes what comes back to ``stdout``."""

    def __init__(self, upstream: Upstream, stdin: IO[bytes], stdout: IO[bytes], limits: ReadLimits) -> None:
        self._upstream = upstream
        self._lines = FdLines(stdin.fileno(), MAX_LINE)
        self._stdout = stdout.fileno()
        self._limits = limits
        self._write_lock = anyio.Lock()
        self._session_id: str | None = None
        self._listening = False
        self._in_flight = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._output_closed = False
        # stdin and stdout in daemon threads, with no buffered file: a read blocked on a stdin the
        # host keeps open must not hold the process when a signal stops the bridge.
        self._reading = DaemonThread("mcp-session-recovery stdin")
        self._writing = DaemonThread("mcp-session-recovery stdout")

    async def serve(self) -> None:
        """Until stdin closes (then a short grace for what still runs) or the host stops reading."""
        try:
            async with anyio.create_task_group() as streams:  # the GET stream, which outlives requests
                async with anyio.create_task_group() as work:
                    await self._read(work, streams)
                    with anyio.move_on_after(EOF_GRACE):
                        await self._idle.wait()
                    work.cancel_scope.cancel()
                streams.cancel_scope.cancel()
        finally:
            self._reading.close()
            self._writing.close()

    async def _read(self, work: anyio.abc.TaskGroup, streams: anyio.abc.TaskGroup) -> None:
        for _ in range(sys.maxsize):  # one turn per line; ends at end of input
            line = await self._reading.run(self._lines.readline)
            if not line or self._output_closed:
                return
            if len(line) > MAX_LINE:
                await self._write({"jsonrpc": "2.0", "id": None, "error": _error(-32600, "message too large")})
                return  # the rest of that line cannot be told from the next message
            line = line.strip()
            if line:
                self._started()
                work.start_soon(self._handle, line, streams)

    def _started(self) -> None:
        self._in_flight += 1
        self._idle = anyio.Event()

    def _finished(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    async def _handle(self, line: bytes, streams: anyio.abc.TaskGroup) -> None:
        try:
            message = json_object(line)
            if message is None:
                await self._write({"jsonrpc": "2.0", "id": None, "error": _error(-32700, "Parse error")})
                return
            await self._post(message, line)
            if message.get("method") == "notifications/initialized" and not self._listening:
                self._listening = True
                streams.start_soon(self._listen)
        finally:
            self._finished()

    async def _post(self, message: dict[str, Any], line: bytes) -> None:
        request_id = message.get("id") if "method" in message else None
        headers = dict(_POST_HEADERS)
        if self._session_id is not None:
            headers["mcp-session-id"] = self._session_id
        try:
            response = await self._upstream.send("POST", line, headers)
        except Exception as exc:  # that one request fails (a cause in words), the bridge stays up
            if request_id is not None:
                text = failure_message(message.get("method"), exc, self._upstream.request_timeout)
                await self._write(_failure(request_id, text, type(exc).__name__))
            return
        if message.get("method") == "initialize" and 200 <= response.status_code < 300:
            self._session_id = response.headers.get("mcp-session-id", self._session_id)
        await self._deliver(response, request_id)

    async def _deliver(self, response: httpx2.Response, request_id: Any) -> None:
        """Write every message of ``response``; a request whose answer holds none gets an error."""
        answered = False
        wire = HttpxResponse(response, httpx2, direct=True)
        try:
            if "text/event-stream" in response.headers.get("content-type", ""):
                async with aclosing(sse_events(wire, self._limits)) as events:
                    async for event in events:
                        # Only ``message`` events carry MCP messages (a relay closes a cut half event
                        # under another type).
                        found = json_object(event.data) if event.event == "message" and event.has_data else None
                        if found is not None:
                            answered = answered or _answers(found, request_id)
                            await self._write(found)
            else:
                found = json_object(await read_body(wire, self._limits))
                # A JSON-RPC error object only: an OAuth refusal's body ({"error": "insufficient_scope"})
                # is no answer the host could read.
                if found is not None and (200 <= response.status_code < 300 or isinstance(found.get("error"), dict)):
                    if found.get("id") is None and "error" in found and request_id is not None:
                        found = {**found, "id": request_id}  # an HTTP-level refusal of this request
                    answered = _answers(found, request_id)
                    await self._write(found)
        except (WireError, LimitCrossed) as exc:
            if request_id is not None and not answered:
                await self._write(_failure(request_id, f"the answer could not be read: {exc}"))
                answered = True
        finally:
            await close_quietly(response)
        if request_id is not None and not answered:
            await self._write(_failure(request_id, _unanswered(response.status_code)))

    async def _listen(self) -> None:
        """The server's own messages (the GET stream, kept open across upstream sessions)."""
        headers = {"accept": "text/event-stream"}
        if self._session_id is not None:
            headers["mcp-session-id"] = self._session_id
        try:
            response = await self._upstream.send("GET", b"", headers)
        except Exception:
            return
        if response.status_code != 200:  # a sessionless server, or one without a GET stream
            await close_quietly(response)
            return
        await self._deliver(response, None)

    async def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
        async with self._write_lock:
            if self._output_closed:
                return
            try:
                await self._writing.run(write_all, self._stdout, data)
            except (BrokenPipeError, ValueError):  # the host stopped reading: nothing left to do
                self._output_closed = True


def _unanswered(status: int) -> str:
    if status in (401, 403):
        return (
            f"upstream refused the request's credentials (HTTP {status}); the bridge's OAuth "
            "(or --header) did not satisfy the server"
        )
    return f"upstream answered HTTP {status} without a response"


def _answers(message: dict[str, Any], request_id: Any) -> bool:
    return request_id is not None and "method" not in message and message.get("id") == request_id


def _error(code: int, text: str) -> dict[str, Any]:
    return {"code": code, "message": text}


def _failure(request_id: Any, text: str, kind: str | None = None) -> dict[str, Any]:
    error = _error(LIBRARY_ERROR_CODE, text)
    if kind is not None:
        error["data"] = {"error": kind}
    return {"jsonrpc": "2.0", "id": request_id, "error": error}
