"""``Upstream``: one stable session with the upstream URL, for one host, on the runtime.

A :class:`~mcp_session_recovery.adapters.httpx_transport.RecoveringTransport` does all the work:
it negotiates upstream (following era changes), gives the host one virtual session id for as long
as the host keeps it, recovers lost sessions, refused connections and cut streams, and answers
what the runtime gives up on as a JSON-RPC error for that one request. This class only owns the
transport's lifetime (its task group lives in a task of its own, so host requests in other tasks
can come and go) and turns a host's request into a request of the transport.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.abc
import httpx2

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import McpSessionError
from mcp_session_recovery.runtime import SessionOptions, TransitionRecord

from .status import StatusLine

__all__ = ["Upstream", "close_quietly", "failure_message"]

#: Per request: connecting and writing are bounded; reading is not (an SSE answer or the GET
#: stream may stay open as long as a tool runs; the runtime bounds the wait for an answer to begin).
_TIMEOUTS = {"connect": 10.0, "read": None, "write": 30.0, "pool": 30.0}
#: How long closing may take (the runtime's DELETE is bounded by its own close timeout).
CLOSE_SECONDS = 5.0


class Upstream:
    """One session with ``url`` that survives whatever the runtime can recover from.

    Start it with ``await task_group.start(upstream.run)``; end it with :meth:`aclose`, which
    deletes a live upstream session.
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        status: StatusLine,
        options: SessionOptions | None = None,
        auth: httpx2.Auth | None = None,
        virtual_session_id: str | None = None,
    ) -> None:
        self.url = url
        #: A host request's deadline (seconds), waiting for a lost session included.
        self.request_timeout = (options or SessionOptions()).request_timeout
        self._headers = dict(headers)
        self._status = status
        self._transport = RecoveringTransport(
            httpx2.AsyncHTTPTransport(),
            options=options,
            on_event=self._on_event,
            virtual_session_id=virtual_session_id,
        )
        #: With the bridge's own OAuth: a client whose auth flow runs above the transport, as the
        #: SDK's does (the transport hands it the server's 401 and negotiates with its token).
        self._client: httpx2.AsyncClient | None = None
        if auth is not None:
            from .oauth import WaitForAuthorizationServer

            waiting = WaitForAuthorizationServer(self._transport, url, self.request_timeout)
            self._client = httpx2.AsyncClient(transport=waiting, auth=auth, follow_redirects=False)  # type: ignore[arg-type]
        self._stop = anyio.Event()
        self._stopped = anyio.Event()

    def __repr__(self) -> str:
        # Never the headers: they hold credentials.
        session = self._transport.session
        return f"<Upstream {session!r}>" if session is not None else "<Upstream not started>"

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Own the transport until :meth:`aclose`; its exit deletes the upstream session."""
        try:
            async with self._client if self._client is not None else self._transport:
                task_status.started()
                await self._stop.wait()
        finally:
            self._stopped.set()

    async def aclose(self) -> None:
        """End the session (one DELETE for a live legacy session) and wait, bounded, until done."""
        self._stop.set()
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS):
            await self._stopped.wait()

    async def send(self, method: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> httpx2.Response:
        """Send one host request through the runtime; the response's body is a live stream.

        The caller closes the response (``await response.aclose()``). The options' headers
        (credentials) win over the host's.
        """
        request = httpx2.Request(
            method,
            self.url,
            headers={**(headers or {}), **self._headers},
            content=body or None,
            extensions={"timeout": dict(_TIMEOUTS)},
        )
        if self._client is not None:
            return await self._client.send(request, stream=True)
        response: httpx2.Response = await self._transport.handle_async_request(request)
        return response

    def _on_event(self, record: TransitionRecord) -> None:
        session = self._transport.session
        self._status.update(record.origin, record, session.binding if session is not None else None, key=self)


async def close_quietly(response: Any) -> None:
    """Close ``response`` even while cancelled (bounded)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS), contextlib.suppress(Exception):
        await response.aclose()


def failure_message(method: object, error: Exception, timeout: float) -> str:
    """What a host's request that raised ``error`` below the bridge is told: its method, the cause,
    and what to try. Never the text of a foreign exception (it may quote a header or a session id)."""
    if isinstance(error, McpSessionError):
        return str(error)  # the library's own words: they say the cause and hold no secret
    subject = f"{method}: " if isinstance(method, str) and method else ""
    if isinstance(error, TimeoutError):
        return (
            f"{subject}the upstream did not answer within {timeout:g} s: it is down, unreachable or "
            "slow; check that it is running, or allow a longer --timeout"
        )
    return (
        f"{subject}the bridge failed ({type(error).__name__}): a bug in the bridge or the library, "
        "not the upstream; the request was not completed"
    )
