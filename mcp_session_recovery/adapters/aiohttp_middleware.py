"""``RecoveringMiddleware``: an aiohttp client middleware that keeps the MCP session under it alive.

For a raw JSON-RPC client over Streamable HTTP on ``aiohttp`` (>= 3.12)::

    recovering = RecoveringMiddleware()
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:
        async with http.post(url, json=initialize, headers=ACCEPT) as response:
            session_id = response.headers["mcp-session-id"]
        ...

Enter the middleware after the ``ClientSession`` so that it is closed first: its close sends the
session's one DELETE through that ``ClientSession``.

Thin: every decision is the runtime's :class:`~mcp_session_recovery.runtime.Session`. For each
request to the endpoint (``url``, or the first one a JSON-RPC request is posted to):

- the client's ``initialize`` (or ``server/discover``) becomes the runtime's own negotiation, with
  the client's info and capabilities; the client gets the server's own response to it, whose body
  is the negotiated result under the client's JSON-RPC id. Its ``notifications/initialized`` gets
  the server's answer to the runtime's (sent once per session, before anything else);
- every other JSON-RPC message is forwarded through the runtime (``Session.forward``), sent with
  aiohttp's ``handler``: a lost session, a refused connection or a gateway answer in a restart
  window is recovered and the request re-sent through ``handler``, within its deadline. The client
  gets the server's real ``ClientResponse``: a JSON answer with the bytes the runtime read (under
  the client's id when it had to be re-sent with a fresh one), an SSE answer unread. Discarded
  responses are released;
- every request carries the live binding's ``Mcp-Session-Id`` and ``MCP-Protocol-Version`` (and, in
  the sessionless era, ``Mcp-Method`` / ``Mcp-Name``) whatever the client put there, so the client
  keeps the session id it first saw;
- the GET stream is passed on with the live headers; the client's DELETE closes the runtime's
  session (its one DELETE) and gets the server's answer to it.

The runtime's own requests (negotiation, restoration, DELETE) go out with ``middlewares=()``: they
never pass through the chain again. What the runtime gives up on raises :class:`McpAiohttpError`,
both the library's error and an ``aiohttp.ClientError``.

Limits, by design: an SSE answer handed over unread is the caller's: a cut after that is its own
to handle (send the request again), the library's read limits and id matching do not apply to it,
and the runtime learns nothing from it (tool annotations for the replay policy, subscriptions to
restore); ``relay_streams=True`` relays such answers through the runtime instead. A per-request
``middlewares=`` *replaces* the session's list, so such a request bypasses this middleware unless
it is listed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp.payload import BytesPayload
from yarl import URL

from mcp_session_recovery.model import (
    DeadlineExceeded,
    Era,
    EraMode,
    McpSessionError,
    Outgoing,
    Progress,
    TransportFailureKind,
    UnexpectedAnswer,
)
from mcp_session_recovery.model.messages import OWN_HEADERS, RUNTIME_HEADERS
from mcp_session_recovery.model.negotiation import declared_identity, handshake_result
from mcp_session_recovery.runtime import Session, SessionOptions, WireError
from mcp_session_recovery.runtime.forwarding import Forwarded
from mcp_session_recovery.runtime.groups import BackgroundGroup
from mcp_session_recovery.runtime.observe import EventHook
from mcp_session_recovery.runtime.reading import json_object
from mcp_session_recovery.runtime.redaction import credential_values
from mcp_session_recovery.runtime.redirects import following

from ._aiohttp_content import answered, content_of, relayed
from .aiohttp_wire import AiohttpResponse, aiohttp_failure

__all__ = ["McpAiohttpError", "MiddlewareNotStarted", "RecoveringMiddleware"]

#: What the runtime sends whose answer a client's own copy of the message gets.
_NEGOTIATION = frozenset({"initialize", "notifications/initialized", "server/discover"})


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


class _Response(AiohttpResponse):
    """A response the client may get with another content in place; says whether the runtime released it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        super().__init__(response)
        self.released = False

    async def aclose(self) -> None:
        self.released = True
        # Releasing marks the response's content as closed: that must be the content it came with,
        # not the one the client was given in its place.
        given, self.response.content = self.response.content, self._content
        try:
            self.response.release()
        finally:
            self.response.content = given


async def _sent(sending: Any) -> _Response:
    """The response of ``sending`` (an aiohttp send), its transport failures as ``WireError``."""
    try:
        response = await sending
    except Exception as exc:
        failure = aiohttp_failure(exc, streaming=False)
        if failure is None:
            raise
        raise failure from exc
    return _Response(response)


class _RuntimeWire:
    """The runtime's own requests: ``middlewares=()``, with the client's own headers (auth, ...).

    Keeps the server's latest 2xx answer to each negotiation message and to the DELETE, for the
    client's own copy of that message.
    """

    def __init__(self, http: aiohttp.ClientSession, url: URL) -> None:
        self._http = http
        self._url = url
        self.base_headers: dict[str, str] = {}
        self.answers: dict[str, aiohttp.ClientResponse] = {}

    def _moved(self, url: str) -> None:
        self._url = URL(url)

    def learn(self, request: aiohttp.ClientRequest) -> None:
        """Take the client's own headers (credentials included) from its latest request."""
        self.base_headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in OWN_HEADERS}

    def credential_values(self) -> list[str]:
        """The credential values among the client's headers (kept out of messages)."""
        return credential_values(self.base_headers)

    async def send(self, outgoing: Outgoing) -> _Response:
        if self._http.closed:  # closed before the middleware: nothing can be sent any more
            raise WireError(TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT, "the ClientSession is closed")
        headers = {**self.base_headers, **outgoing.headers}

        async def send_to(url: str) -> _Response:
            # Redirects as every wire follows them (same origin, 307/308), never aiohttp's own way.
            sending = self._http.request(
                outgoing.http_method,
                url,
                headers=headers,
                data=outgoing.body or None,
                middlewares=(),
                allow_redirects=False,
            )
            return await _sent(sending)

        url = str(self._url)
        response = await following(url, await send_to(url), send_to, self._moved)
        kind = _kind(outgoing)
        if kind is not None and 200 <= response.status < 300:
            self.answers[kind] = response.response
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
        self._endpoint = URL(url) if url is not None else None
        self._mode = EraMode(mode)
        self._options = options or SessionOptions()
        self._on_event = on_event
        self._background = BackgroundGroup()
        self._session: Session | None = None
        self._wire: _RuntimeWire | None = None

    @property
    def session(self) -> Session | None:
        """The runtime session (``None`` before the first request to the endpoint)."""
        return self._session

    async def __aenter__(self) -> RecoveringMiddleware:
        await self._background.open()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._background.close(self.aclose)

    async def aclose(self) -> None:
        """Close the runtime session: one DELETE for a live legacy session, then nothing more."""
        if self._session is not None:
            await self._session.aclose()

    # -- the middleware ---------------------------------------------------------------------------------

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        body = await _body_of(request) if request.method == "POST" else b""
        message = _message(body)
        if not self._serves(request, message):
            if self._endpoint is not None and request.url.origin() != self._endpoint.origin():
                # Another origin (a redirect aiohttp follows, say): no session header of ours goes there.
                _set_runtime_headers(request, {})
            return await handler(request)
        session, wire = self._session_for(request, message)
        wire.learn(request)
        if request.method == "DELETE":
            return await self._delete(session, wire, request, handler)
        method = message.get("method") if message is not None else None
        if method in ("initialize", "server/discover"):
            assert message is not None
            return await self._negotiate(session, wire, message, request, handler)
        if method == "notifications/initialized":  # the runtime sent its own, once, after its initialize
            binding = await _connected(session, method)
            kind = "notifications/initialized" if binding.era is Era.LEGACY else "server/discover"
            return answered(wire.answers[kind], 202, b"")
        if message is None or method is None:  # the GET stream, a client's JSON-RPC response, ...
            await _connected(session, request.method)
            _set_runtime_headers(request, _live_headers(session))
            return await handler(request)
        return await self._forward(session, wire, message, body, request, handler)

    def _serves(self, request: aiohttp.ClientRequest, message: Mapping[str, Any] | None) -> bool:
        endpoint = self._endpoint
        if endpoint is None:
            if message is None or not isinstance(message.get("method"), str):
                return False  # the endpoint is where the first JSON-RPC request goes
            endpoint = self._endpoint = request.url.with_fragment(None)
        return request.url.with_fragment(None) == endpoint

    def _session_for(
        self, request: aiohttp.ClientRequest, message: Mapping[str, Any] | None
    ) -> tuple[Session, _RuntimeWire]:
        if self._session is not None and self._wire is not None:
            return self._session, self._wire
        if self._background.task_group is None:
            raise MiddlewareNotStarted(
                "enter the middleware first: async with aiohttp.ClientSession(middlewares=(m,)) as http, m: ..."
            )
        assert self._endpoint is not None
        wire = _RuntimeWire(request.session, self._endpoint)
        # The client chose the handshake: try it first (a sessionless-only server is still found).
        chose_handshake = message is not None and message.get("method") == "initialize"
        first_era = Era.LEGACY if chose_handshake else self._options.first_era
        options = dataclasses.replace(self._options, mode=self._mode, listen=False, first_era=first_era)
        session = Session(wire, str(self._endpoint), options, on_event=self._on_event)
        session.start_in(self._background.task_group)
        self._session, self._wire = session, wire
        return session, wire

    async def _negotiate(
        self,
        session: Session,
        wire: _RuntimeWire,
        message: Mapping[str, Any],
        request: aiohttp.ClientRequest,
        handler: aiohttp.ClientHandlerType,
    ) -> aiohttp.ClientResponse:
        method = message["method"]
        session.adopt_identity(declared_identity(message))
        binding = await _connected(session, method)
        if method == "server/discover" and binding.era is Era.LEGACY:
            # The server's own answer to a discover (sessionless: no session headers) tells the client.
            _set_runtime_headers(request, {})
            return await handler(request)
        # The server's own answer to the runtime's negotiation carries the client's copy.
        source = wire.answers["initialize" if binding.era is Era.LEGACY else "server/discover"]
        if method == "server/discover":
            result = dict(session.negotiated_result)
        else:
            result = handshake_result(message, binding, session.negotiated_result)
        answer = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": result}).encode()
        return answered(source, 200, answer)

    async def _delete(
        self, session: Session, wire: _RuntimeWire, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        wire.answers.pop("DELETE", None)
        await session.aclose()
        answer = wire.answers.get("DELETE")
        if answer is not None:
            return answered(answer, answer.status, b"")
        # No live session was deleted: the server's own answer to the client's DELETE, without ids.
        _set_runtime_headers(request, {})
        return await handler(request)

    async def _forward(
        self,
        session: Session,
        wire: _RuntimeWire,
        message: Mapping[str, Any],
        body: bytes,
        request: aiohttp.ClientRequest,
        handler: aiohttp.ClientHandlerType,
    ) -> aiohttp.ClientResponse:
        sent_body = body
        inside = True

        async def send(outgoing: Outgoing) -> _Response:
            nonlocal sent_body
            if not inside:
                # A re-send for a stream relayed after this call returned: aiohttp's handler is done
                # with this request, so the runtime sends it itself (middlewares=()).
                return await wire.send(outgoing)
            _set_runtime_headers(request, outgoing.headers)
            if outgoing.body is not sent_body:  # a re-send with a fresh JSON-RPC id, or another era's body
                await request.update_body(outgoing.body)
                sent_body = outgoing.body
            return await _sent(handler(request))

        try:
            forwarded = await session.forward(message, body, send=send, hand_over_streams=not self._relay_streams)
        finally:
            inside = False
        return self._answer(wire, forwarded)

    def _answer(self, wire: _RuntimeWire, forwarded: Forwarded) -> aiohttp.ClientResponse:
        source = forwarded.source
        if isinstance(source, _Response):
            response = source.response
            if forwarded.stream is not None:  # a re-sent request's SSE answer, relayed under the client's id
                response.content = relayed(forwarded.stream, self._background.task_group)
            elif source.released:  # the runtime read it: the client gets those very bytes (its own id)
                response.content = content_of(forwarded.body)
            return response  # else an SSE answer handed over unread
        if forwarded.error is not None:
            raise McpAiohttpError(forwarded.error) from forwarded.error
        # A notification the runtime answered itself (dropped, as the model says): the status it chose.
        any_answer = next(iter(wire.answers.values()), None)
        if any_answer is None:  # no server answered anything yet: nothing real to hand over
            raise McpAiohttpError(UnexpectedAnswer(forwarded.status, "the notification was dropped unanswered"))
        return answered(any_answer, forwarded.status, forwarded.body)


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


def _message(body: bytes) -> dict[str, Any] | None:
    """The JSON-RPC message in ``body`` (a request, a notification or a response), or ``None``."""
    document = json_object(body) if body else None
    return document if document is not None and document.get("jsonrpc") == "2.0" else None


def _kind(outgoing: Outgoing) -> str | None:
    """Which of the runtime's own messages ``outgoing`` is, when a client's copy gets its answer."""
    if outgoing.http_method == "DELETE":
        return "DELETE"
    if outgoing.http_method != "POST" or b'"method"' not in outgoing.body:
        return None
    document = json_object(outgoing.body)
    method = document.get("method") if document is not None else None
    return method if method in _NEGOTIATION else None


async def _connected(session: Session, method: str) -> Any:
    """The live binding (negotiated now if need be); what the runtime gives up on, typed."""
    try:
        return await session.connect()
    except McpSessionError as exc:
        raise McpAiohttpError(exc) from exc
    except TimeoutError as exc:
        error = DeadlineExceeded(0, method, session.state)
        raise McpAiohttpError(error) from exc


def _live_headers(session: Session) -> dict[str, str]:
    binding = session.binding
    if binding is None or binding.era is not Era.LEGACY:
        return {}
    headers = {"mcp-protocol-version": binding.protocol_version}
    if binding.session_id is not None:
        headers["mcp-session-id"] = binding.session_id.header_value
    return headers


def _set_runtime_headers(request: aiohttp.ClientRequest, headers: Mapping[str, str]) -> None:
    """Put ``headers`` on ``request``; drop the runtime's headers it does not name (a stale id)."""
    for name in RUNTIME_HEADERS:
        if name not in headers:
            request.headers.popall(name, None)
    for name, value in headers.items():
        request.headers[name] = value
