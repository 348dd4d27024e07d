"""The front: the one implementation of "a client above negotiates, the runtime takes it over".

An adapter under a client that speaks MCP itself (the SDK over ``RecoveringTransport``, a raw
JSON-RPC client over ``RecoveringMiddleware``, and so the ``proxy`` and ``stdio`` bridges) hands
each of the client's HTTP requests to :meth:`Front.handle` and translates the :class:`Forwarded`
answer back into its framework's response. Every decision is made here, once:

- what the request is (:func:`read_client_request`): a negotiation (``initialize`` or
  ``server/discover``), the client's ``notifications/initialized``, any other request or
  notification, the client's answer to a server request, the GET stream, the DELETE;
- which era the session tries first: the one the client's first message chose;
- the client's negotiation becomes the runtime's own, declaring the client's identity; the client
  gets the negotiated result under its own JSON-RPC id, and a *virtual* session id it keeps forever
  (the runtime puts the live one on every request). A ``server/discover`` to a legacy server is
  answered 400 under the client's id (the client falls back to ``initialize``), and the client's
  ``notifications/initialized`` 202 (the runtime sent the real one);
- every other request is forwarded through the session (a lost session, an outage or a cut stream
  is recovered below the client); what the runtime gives up on is a JSON-RPC error under the
  client's id, never an exception;
- the GET stream is the session's, kept open across recoveries, but a GET refused for its
  credentials (401, 403) reaches the client as it came; a GET that resumes a stream
  (``Last-Event-ID``) is the client's own, sent under the live session and answered as the server
  answers it; the client's answer to a server
  request goes once to the live session; the DELETE closes the session (its one DELETE);
- while the client's request is in progress its sends go through the adapter's ``send`` (its own
  request, the runtime's headers swapped in by :func:`~mcp_session_recovery.model.messages.with_runtime_headers`);
  a redirect the runtime follows (``Outgoing.url`` set) and a re-send after the request returned (a
  relayed stream cut later) go through the wire, as the runtime's own requests.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from mcp_session_recovery.model import Binding, Era, EraMode, McpSessionError, Outgoing
from mcp_session_recovery.model.messages import OWN_HEADERS
from mcp_session_recovery.model.negotiation import declared_identity, handshake_result

from .answers import Forwarded, error_answer
from .groups import BackgroundGroup
from .observe import EventHook
from .options import SessionOptions
from .reading import is_response, json_object
from .redaction import credential_values
from .session import Session
from .wire import Wire, WireResponse

__all__ = ["ClientHeaders", "ClientRequest", "Front", "Kind", "SendClient", "read_client_request"]

#: Sends the client's own request to its own URL (``outgoing`` is the runtime's version of it: the
#: runtime's headers, and a fresh body when it had to be rebuilt; its ``url`` is always ``None``)
#: while the client's call is in progress.
SendClient = Callable[[Outgoing], Awaitable[WireResponse]]

_JSON = {"content-type": "application/json"}
_PARSE_ERROR = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: not a JSON-RPC message"}}'


class Kind(enum.Enum):
    """What a client's HTTP request to the endpoint is."""

    NEGOTIATE = "initialize or server/discover"
    INITIALIZED = "notifications/initialized"
    FORWARD = "a request or notification"
    ANSWER = "the client's answer to a server request"
    LISTEN = "the GET stream"
    RESUME = "a GET that resumes a stream (Last-Event-ID)"
    END = "the DELETE"
    MALFORMED = "no JSON-RPC message"
    NOT_ALLOWED = "an HTTP method the endpoint does not take"


class ClientRequest(NamedTuple):
    """A client's HTTP request to the endpoint, read once."""

    kind: Kind
    body: bytes
    #: The JSON-RPC request or notification (``FORWARD``, ``NEGOTIATE``, ``INITIALIZED``).
    message: Mapping[str, Any] | None = None
    #: The id of the last event the client saw on the stream it resumes (``RESUME``).
    last_event_id: str | None = None

    @property
    def method(self) -> str | None:
        """The JSON-RPC method, if the request carries one."""
        return self.message.get("method") if self.message is not None else None


def read_client_request(http_method: str, body: bytes, headers: Mapping[str, str] | None = None) -> ClientRequest:
    """What the client's ``http_method`` request with ``body`` and ``headers`` (names in any case)
    is (no I/O).

    A GET with a ``Last-Event-ID`` resumes a stream the client saw (SEP-1699: a response stream the
    server closed after an event with an id, or the GET stream itself): it is the client's own
    request, not the session's GET stream.
    """
    if http_method == "GET":
        items = headers.items() if headers is not None else ()
        last_event_id = next((value for name, value in items if name.lower() == "last-event-id"), "")
        if last_event_id:
            return ClientRequest(Kind.RESUME, body, last_event_id=last_event_id)
        return ClientRequest(Kind.LISTEN, body)
    if http_method == "DELETE":
        return ClientRequest(Kind.END, body)
    if http_method != "POST":
        return ClientRequest(Kind.NOT_ALLOWED, body)
    document = json_object(body) if body else None
    if document is None:
        return ClientRequest(Kind.MALFORMED, body)
    method = document.get("method")
    if isinstance(method, str):
        if method in ("initialize", "server/discover"):
            return ClientRequest(Kind.NEGOTIATE, body, document)
        if method == "notifications/initialized":
            return ClientRequest(Kind.INITIALIZED, body, document)
        return ClientRequest(Kind.FORWARD, body, document)
    if is_response(document):
        return ClientRequest(Kind.ANSWER, body)
    return ClientRequest(Kind.MALFORMED, body)


class ClientHeaders:
    """The client's own headers on its latest request (auth, user agent, ...), for the runtime's own
    requests: never those the runtime or the HTTP client sets (``OWN_HEADERS``)."""

    def __init__(self) -> None:
        self._latest: Any = None

    def learn(self, headers: Any) -> None:
        """Keep the headers of the client's latest request (read only when the runtime builds one)."""
        self._latest = headers

    @property
    def base(self) -> dict[str, str]:
        """The client's headers the runtime's own requests carry."""
        latest = self._latest
        if latest is None:
            return {}
        return {k.lower(): v for k, v in latest.items() if k.lower() not in OWN_HEADERS}

    def credential_values(self) -> list[str]:
        """The credential values among them (kept out of every message the library writes)."""
        return credential_values(self.base)


class Front:
    """The runtime's side of one client that negotiates itself, over ``wire`` (the adapter's).

    Enter it (``await front.open()``) before the first request and close it (``await front.close()``)
    when the adapter closes: it owns the session's task group. ``mode``, ``options`` and
    ``on_event`` configure the :class:`Session`, made on the client's first request. ``virtual_id``:
    the session id the client is given (a random one when ``None``).
    """

    def __init__(
        self,
        wire: Wire,
        *,
        endpoint: str | None = None,
        mode: EraMode | str = EraMode.AUTO,
        options: SessionOptions | None = None,
        on_event: EventHook | None = None,
        not_started: Callable[[], Exception],
        virtual_id: str | None = None,
    ) -> None:
        self._wire = wire
        self._mode = EraMode(mode)
        self._options = options or SessionOptions()
        self._on_event = on_event
        self._not_started = not_started
        self._background = BackgroundGroup()
        #: The runtime session (``None`` before the client's first request).
        self.session: Session | None = None
        #: What the client believes its session id is; it never sees a real one.
        self.virtual_id = virtual_id or f"recovering-{secrets.token_hex(16)}"
        #: The URL of the MCP endpoint (``None`` until the client's first JSON-RPC message, unless given).
        self.endpoint = _without_fragment(endpoint) if endpoint is not None else None

    async def open(self) -> None:
        """Open the task group of the session's background work."""
        await self._background.open()

    async def close(self, closing: Callable[[], Awaitable[None]] | None = None) -> None:
        """Close the session (one DELETE for a live legacy session), then ``closing`` (the adapter's
        own resources), shielded; then end the task group."""

        async def close_all() -> None:
            try:
                await self.aclose()
            finally:
                if closing is not None:
                    await closing()

        await self._background.close(close_all)

    async def aclose(self) -> None:
        """Close the session: waiting calls end, a live legacy session gets its one DELETE."""
        if self.session is not None:
            await self.session.aclose()

    @property
    def task_group(self) -> Any:
        """The open task group (``None`` outside ``open``/``close``): for an adapter's own pumps."""
        return self._background.task_group

    def serves(self, url: str, request: ClientRequest) -> bool:
        """Whether the client's ``request`` to ``url`` is the endpoint's, which the session serves.

        The endpoint is where the client posts its first JSON-RPC message. Every other request (an
        auth flow's: protected-resource and authorization-server metadata, client registration,
        tokens; any other URL) is no MCP message: the adapter sends it on untouched, and the
        runtime learns nothing from it (a token request's client credentials never become the
        session's headers).
        """
        url = _without_fragment(url)
        if self.endpoint is None:
            if request.method is None:
                return False
            self.endpoint = url
        return url == self.endpoint

    def session_for(self, url: str, first: ClientRequest) -> Session:
        """The session, made for ``url`` on the client's first request ``first``."""
        if self.session is not None:
            return self.session
        task_group = self._background.task_group
        if task_group is None:
            raise self._not_started()
        # The client chose the handshake: try it first (a sessionless-only server is still found).
        chose_handshake = first.method == "initialize"
        first_era = Era.LEGACY if chose_handshake else self._options.first_era
        options = dataclasses.replace(self._options, mode=self._mode, listen=False, first_era=first_era)
        self.session = Session(self._wire, url, options, on_event=self._on_event)
        self.session.start_in(task_group)
        return self.session

    async def handle(
        self,
        session: Session,
        request: ClientRequest,
        *,
        send: SendClient | None = None,
        hand_over_streams: bool = False,
    ) -> Forwarded:
        """The answer for the client's ``request``; never raises for what a server does.

        ``send`` sends the client's own request while this call runs (see the module's docstring).
        ``hand_over_streams``: hand a 2xx SSE answer carrying the client's own id over unread
        (``source``), not relayed.
        """
        kind = request.kind
        if kind is Kind.FORWARD:
            assert request.message is not None
            return await self._forward(session, request, send, hand_over_streams)
        if kind is Kind.NEGOTIATE:
            assert request.message is not None
            return await self._negotiate(session, request.message)
        if kind is Kind.INITIALIZED:
            # The runtime sent the real one after its own initialize, once per session.
            assert request.message is not None
            live = await _connected(session, request.message)
            return live if isinstance(live, Forwarded) else Forwarded(202, {})
        if kind is Kind.LISTEN:
            return await session.listen_stream()
        if kind is Kind.RESUME:
            assert request.last_event_id is not None
            return await self._resume(session, request.last_event_id, send, hand_over_streams)
        if kind is Kind.END:
            await session.aclose()
            return Forwarded(200, {})
        if kind is Kind.ANSWER:
            await session.relay_answer(request.body)
            return Forwarded(202, {})  # the client sent an answer: nothing comes back
        if kind is Kind.NOT_ALLOWED:
            return Forwarded(405, {"allow": "GET, POST, DELETE"})
        return Forwarded(400, _JSON, _PARSE_ERROR)

    async def _forward(
        self, session: Session, request: ClientRequest, send: SendClient | None, hand_over_streams: bool
    ) -> Forwarded:
        assert request.message is not None
        if send is None:
            return await session.forward(request.message, request.body, hand_over_streams=hand_over_streams)
        sending = _ClientSending(send, self._wire)
        try:
            return await session.forward(
                request.message, request.body, send=sending.send, hand_over_streams=hand_over_streams
            )
        finally:
            sending.inside = False

    async def _resume(
        self, session: Session, last_event_id: str, send: SendClient | None, hand_over_streams: bool
    ) -> Forwarded:
        if send is None:
            return await session.resume_stream(last_event_id, hand_over=hand_over_streams)
        sending = _ClientSending(send, self._wire)
        try:
            return await session.resume_stream(last_event_id, send=sending.send, hand_over=hand_over_streams)
        finally:
            sending.inside = False

    async def _negotiate(self, session: Session, message: Mapping[str, Any]) -> Forwarded:
        session.adopt_identity(declared_identity(message))
        binding = await _connected(session, message)
        if isinstance(binding, Forwarded):
            return binding
        client_id = message.get("id")
        if message.get("method") == "server/discover":
            if binding.era is Era.LEGACY:
                # A legacy server: the client falls back to initialize, which the live session answers.
                error = {"code": -32600, "message": "Bad Request: this server speaks the legacy era; initialize first"}
                return Forwarded(400, _JSON, _encode({"jsonrpc": "2.0", "id": client_id, "error": error}))
            # The sessionless era: no session id to hand out.
            return Forwarded(
                200, _JSON, _encode({"jsonrpc": "2.0", "id": client_id, "result": dict(session.negotiated_result)})
            )
        result = handshake_result(message, binding, session.negotiated_result)
        headers = {**_JSON, "mcp-session-id": self.virtual_id}
        return Forwarded(200, headers, _encode({"jsonrpc": "2.0", "id": client_id, "result": result}))


class _ClientSending:
    """The sends of one client request: its own (``send``) while its call is in progress, to its own
    URL; a redirected hop (``url`` set) and a re-send after the call returned (a stream relayed
    later) are the runtime's own requests (``wire``)."""

    def __init__(self, send: SendClient, wire: Wire) -> None:
        self._send = send
        self._wire = wire
        #: Whether the client's call is still in progress.
        self.inside = True

    async def send(self, outgoing: Outgoing) -> WireResponse:
        return await (self._send(outgoing) if self.inside and outgoing.url is None else self._wire.send(outgoing))


async def _connected(session: Session, message: Mapping[str, Any]) -> Binding | Forwarded:
    """The live binding (negotiated now if need be), or the error answer for ``message``."""
    try:
        return await session.connect()
    except McpSessionError as exc:
        error = exc.in_context(method=str(message.get("method")), client_id=message.get("id"))
        return error_answer(message.get("id"), error)


def _without_fragment(url: str) -> str:
    return url.partition("#")[0]


def _encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message).encode()
