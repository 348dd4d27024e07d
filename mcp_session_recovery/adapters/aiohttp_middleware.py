"""``RecoveringMiddleware``: an aiohttp client middleware that keeps the MCP session under it alive.

For a raw JSON-RPC client over Streamable HTTP on ``aiohttp`` (>= 3.12)::

    recovering = RecoveringMiddleware()
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
        ...  # post initialize, then requests with the (virtual) session id it returned

Enter it after the ``ClientSession``, so it closes first: its one DELETE goes through that session.
It only translates; the runtime's :class:`~mcp_session_recovery.runtime.front.Front` decides what
each request gets. What the runtime gives up on raises :class:`McpAiohttpError`. A per-request
``middlewares=`` *replaces* the session's list, so list this middleware there too. The guide
"A raw httpx or aiohttp client" in the docs says the rest.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.payload import BytesPayload
from multidict import CIMultiDict
from yarl import URL

from mcp_session_recovery.model import (
    EraMode,
    McpSessionError,
    Outgoing,
    Progress,
    TransportFailureKind,
    UnexpectedAnswer,
)
from mcp_session_recovery.model.messages import with_runtime_headers
from mcp_session_recovery.runtime import SessionOptions, WireError
from mcp_session_recovery.runtime.answers import Forwarded
from mcp_session_recovery.runtime.front import ClientHeaders, Front, read_client_request
from mcp_session_recovery.runtime.observe import EventHook
from mcp_session_recovery.runtime.session import Session

from ._aiohttp_content import answered, content_of, relayed, with_headers
from .aiohttp_wire import AiohttpResponse, sent

__all__ = ["McpAiohttpError", "MiddlewareNotStarted", "RecoveringMiddleware"]


class McpAiohttpError(McpSessionError, aiohttp.ClientError):
    """What the runtime gave up on for one request (``error``, also the ``__cause__``).

    Both the library's error and an ``aiohttp.ClientError``, so ``except aiohttp.ClientError`` code
    catches it. The message is ``error``'s: never a session id or a credential.
    """

    def __init__(self, error: McpSessionError) -> None:
        super().__init__(str(error))
        self.error = error


class MiddlewareNotStarted(RuntimeError):
    """The middleware was used before it was entered (``async with recovering:``)."""


class _RuntimeWire:
    """The runtime's own requests: ``middlewares=()``, with the client's own headers (auth, ...)."""

    def __init__(self, http: aiohttp.ClientSession, url: URL) -> None:
        self._http = http
        self.url = str(url)
        self.client_headers = ClientHeaders()
        #: The latest response a server sent: the shape of an answer the runtime makes itself.
        self.template: aiohttp.ClientResponse | None = None

    def credential_values(self) -> list[str]:
        """The credential values among the client's headers (kept out of messages)."""
        return self.client_headers.credential_values()

    async def send(self, outgoing: Outgoing) -> AiohttpResponse:
        """One request the runtime sends itself, never through the middlewares or aiohttp's redirects."""
        if self._http.closed:  # closed before the middleware: nothing can be sent any more
            raise WireError(TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT, "the ClientSession is closed")
        headers = {**self.client_headers.base, **outgoing.headers}
        sending = self._http.request(
            outgoing.http_method,
            outgoing.url or self.url,
            headers=headers,
            data=outgoing.body or None,
            middlewares=(),
            allow_redirects=False,
        )
        return self.answered(await sent(sending))

    def answered(self, response: AiohttpResponse) -> AiohttpResponse:
        """``response``, kept as the shape of the answers the runtime makes itself."""
        self.template = response.response
        return response


class RecoveringMiddleware:
    """An aiohttp client middleware that keeps the MCP session of one endpoint alive.

    ``url``: the endpoint (default: the first URL a JSON-RPC request is posted to); requests to any
    other URL pass untouched. ``mode``: ``"auto"`` follows the client (its ``initialize`` tries the
    handshake first) and the server wherever it goes; ``"legacy"`` or ``"modern"`` pin the era.
    ``options`` and ``on_event`` go to the runtime's :class:`~mcp_session_recovery.runtime.Session`.
    ``relay_streams``: relay every SSE answer through the runtime instead of handing it over unread:
    its events are then bounded by the read limits and matched by id, and a cut stream is re-sent
    when the replay policy allows (its new answer continues the same stream).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        mode: EraMode | str = EraMode.AUTO,
        options: SessionOptions | None = None,
        on_event: EventHook | None = None,
        relay_streams: bool = False,
    ) -> None:
        self._relay_streams = relay_streams
        self._wire: _RuntimeWire | None = None
        endpoint = str(URL(url)) if url is not None else None
        self._front = Front(
            self, endpoint=endpoint, mode=mode, options=options, on_event=on_event, not_started=_not_started
        )

    @property
    def session(self) -> Session | None:
        """The runtime session (``None`` before the first request to the endpoint)."""
        return self._front.session

    async def __aenter__(self) -> RecoveringMiddleware:
        await self._front.open()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._front.close()

    async def aclose(self) -> None:
        """Close the runtime session: one DELETE for a live legacy session, then nothing more."""
        await self._front.aclose()

    # The front's wire: the runtime wire, made with the endpoint's ClientSession on its first request.

    async def send(self, outgoing: Outgoing) -> AiohttpResponse:
        assert self._wire is not None
        return await self._wire.send(outgoing)

    def credential_values(self) -> list[str]:
        return self._wire.credential_values() if self._wire is not None else []

    # -- the middleware ---------------------------------------------------------------------------------

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        body = await _body_of(request) if request.method == "POST" else b""
        client_request = read_client_request(request.method, body, request.headers)
        front = self._front
        if not front.serves(str(request.url), client_request):
            if front.endpoint is not None and request.url.origin() != URL(front.endpoint).origin():
                # Another origin (a redirect aiohttp follows, an auth server): no session header of ours goes there.
                request.headers = CIMultiDict(with_runtime_headers(request.headers.items(), {}))
            return await handler(request)
        assert front.endpoint is not None
        if self._wire is None:
            self._wire = _RuntimeWire(request.session, URL(front.endpoint))
        wire = self._wire
        session = front.session_for(front.endpoint, client_request)
        wire.client_headers.learn(request.headers)
        sent_body = body

        async def send(outgoing: Outgoing) -> AiohttpResponse:
            nonlocal sent_body
            request.headers = CIMultiDict(with_runtime_headers(request.headers.items(), outgoing.headers))
            if outgoing.body is not sent_body:  # a re-send with a fresh JSON-RPC id, or another era's body
                await request.update_body(outgoing.body)
                sent_body = outgoing.body
            return wire.answered(await sent(handler(request)))

        forwarded = await self._front.handle(
            session, client_request, send=send, hand_over_streams=not self._relay_streams
        )
        return self._answer(wire, forwarded)

    def _answer(self, wire: _RuntimeWire, forwarded: Forwarded) -> aiohttp.ClientResponse:
        source = forwarded.source
        if isinstance(source, AiohttpResponse):  # the server's own response
            response = source.response
            if forwarded.stream is not None:  # relayed (a re-sent request's answer under the client's id)
                response.content = relayed(forwarded.stream, self._front.task_group)
            elif source.released:  # the runtime read it: the client gets those very bytes
                response.content = content_of(forwarded.body)
            if "mcp-session-id" in response.headers:
                with_headers(response, {**response.headers, "mcp-session-id": self._front.virtual_id})
            return response  # else an SSE answer handed over unread
        if forwarded.error is not None:
            raise McpAiohttpError(forwarded.error) from forwarded.error
        if wire.template is None:  # no server answered anything yet: nothing real to answer in the shape of
            raise McpAiohttpError(UnexpectedAnswer(forwarded.status, "no server has answered yet"))
        if forwarded.stream is not None:
            content = relayed(forwarded.stream, self._front.task_group)
        else:
            content = content_of(forwarded.body)
        return answered(wire.template, forwarded.status, forwarded.headers, content)


# -- helpers ------------------------------------------------------------------------------------------


async def _body_of(request: aiohttp.ClientRequest) -> bytes:
    """The request body as bytes; a streamed body is replaced by them, so it can be sent again."""
    payload = request.body
    if not payload:
        return b""
    data = await payload.as_bytes()
    if not isinstance(payload, BytesPayload):
        await request.update_body(data)
    return data


def _not_started() -> MiddlewareNotStarted:
    return MiddlewareNotStarted(
        "enter the middleware first: async with aiohttp.ClientSession(middlewares=(m,)) as http, m: ..."
    )
