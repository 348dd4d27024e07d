"""``RecoveringTransport``: the unmodified official SDK survives restarts, outages and era changes.

Wrap the SDK's HTTP transport (httpx2 for mcp 2.x, httpx for 1.x) and enter the client::

    transport = RecoveringTransport(httpx2.AsyncHTTPTransport())
    async with httpx2.AsyncClient(transport=transport) as http_client:
        async with streamable_http_client(url, http_client=http_client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()

Thin: every decision is the runtime's :class:`~mcp_session_recovery.runtime.Session`. What the
transport does is translate:

- the SDK's ``server/discover`` or ``initialize`` becomes the runtime's own negotiation (with the
  SDK's client info and capabilities); the SDK gets the server's answer and a *virtual* session
  id it keeps forever, and its ``notifications/initialized`` is answered here (the runtime sent
  the real one). Every later POST, GET and DELETE carries the live session id instead;
- every other request is forwarded through the runtime (``Session.forward``), so a lost session,
  a refused connection or a cut stream is recovered below the SDK, and what cannot be recovered
  reaches that one caller as a JSON-RPC error: no exception ever escapes into the SDK's task group.
  The SDK's own request goes out with only the runtime's headers swapped in, and the server's own
  response comes back with only its stream replaced by the relay's (the same bytes);
- the SDK's GET stream is kept open across recoveries; its DELETE closes the runtime's session;
- the SDK's answer to a server's request (sampling, elicitation, roots) goes to the live session
  once, unchanged: it belongs to the session the request came from, so it is never replayed into
  a new one (the server's request died with its session).

A message the SDK wrote for another era than the server now speaks is rebuilt for the server's,
so a server that changes era under the SDK is spoken to in its new era while the SDK keeps its own.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcp_session_recovery.model import (
    Era,
    EraMode,
    McpSessionError,
    Outgoing,
)
from mcp_session_recovery.model.messages import OWN_HEADERS, RUNTIME_HEADERS
from mcp_session_recovery.model.negotiation import declared_identity, handshake_result
from mcp_session_recovery.runtime import Session, SessionOptions, origin_of
from mcp_session_recovery.runtime.forwarding import Forwarded, error_answer
from mcp_session_recovery.runtime.groups import BackgroundGroup
from mcp_session_recovery.runtime.observe import EventHook
from mcp_session_recovery.runtime.reading import is_response, json_object
from mcp_session_recovery.runtime.redaction import credential_values
from mcp_session_recovery.runtime.redirects import following

from .httpx_wire import HttpxResponse, library_of, sent

__all__ = ["RecoveringTransport", "TransportNotStarted"]


if TYPE_CHECKING:
    # Typed as an httpx2 transport (what mcp 2.x takes); at run time it serves httpx alike.
    from httpx2 import AsyncBaseTransport as _TransportBase
else:
    _TransportBase = object

#: Response headers that no longer describe the body handed to the SDK (decoded, re-framed).
_STALE_RESPONSE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})


#: ``RUNTIME_HEADERS`` as ``Headers.raw`` names compare.
_RUNTIME_HEADERS = frozenset(name.encode() for name in RUNTIME_HEADERS)

#: The client's request being handled in this task, so its first send can reuse it unchanged.
_client_request: contextvars.ContextVar[Any] = contextvars.ContextVar("client_request", default=None)


class TransportNotStarted(RuntimeError):
    """The transport was used before its client was entered (``async with httpx2.AsyncClient(...)``)."""


class _InnerWire:
    """The runtime's ``Wire`` over the wrapped transport, with the SDK's own headers (auth, ...)."""

    def __init__(self, inner: Any, module: ModuleType) -> None:
        self._inner = inner
        self._module = module
        self.url: Any = None
        #: ``str(self.url)``, made once per request (httpx builds the text anew on every ``str``).
        self.url_text = ""
        #: The headers of the client's latest request (read only when the runtime builds a request).
        self._client_headers: Any = None
        self._header_swap = _HeaderSwap(module)

    def learn(self, request: Any, url_text: str) -> None:
        """Take the endpoint and the client's own headers (credentials included) from ``request``."""
        self.url, self.url_text, self._client_headers = request.url, url_text, request.headers

    @property
    def base_headers(self) -> dict[str, str]:
        """The client's own headers on its latest request, without those the runtime sets."""
        headers = self._client_headers
        if headers is None:
            return {}
        return {k.lower(): v for k, v in headers.items() if k.lower() not in OWN_HEADERS}

    def credential_values(self) -> list[str]:
        """The credential values among the client's headers (kept out of messages)."""
        return credential_values(self.base_headers)

    async def send(self, outgoing: Outgoing) -> HttpxResponse:
        request = _client_request.get()
        if request is not None and outgoing.body and outgoing.body is request.content:
            # The client's own request goes out as it is, with the runtime's headers in place.
            self._header_swap.put(request, outgoing.headers)
        else:
            headers = {**self.base_headers, **outgoing.headers}
            content = outgoing.body or None
            request = self._module.Request(outgoing.http_method, self.url, headers=headers, content=content)
        first = await sent(self._module, self._inner.handle_async_request(request), direct=True)

        async def send_to(url: str) -> HttpxResponse:
            hop = self._module.Request(request.method, url, headers=request.headers, content=request.content)
            return await sent(self._module, self._inner.handle_async_request(hop), direct=True)

        # The client above follows no redirect of ours (it never sees one): the runtime decides.
        return await following(self.url_text, first, send_to, _stay)


class _HeaderSwap:
    """Puts the runtime's headers on the client's own requests, in place of the client's own.

    Usually only the session id differs (the client holds a virtual one): it is set in place.
    Otherwise the headers are rebuilt in their order (:func:`_rebuilt_headers`). The comparison is
    remembered: httpx's ``Headers`` scans every header on each lookup, and a client sends the same
    headers, under the same runtime headers, call after call.
    """

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        #: The client's raw headers and the runtime's last compared, and the names to set in place
        #: (``None``: rebuild).
        self._compared: tuple[list[tuple[bytes, bytes]], dict[str, str], list[str] | None] | None = None

    def put(self, request: Any, runtime: Mapping[str, str]) -> None:
        """Give ``request`` the ``runtime`` headers."""
        raw = request.headers.raw
        compared = self._compared
        if compared is not None and compared[0] == raw and compared[1] == runtime:
            differing = compared[2]
        else:
            differing = _differing(raw, runtime)
            self._compared = (raw, dict(runtime), differing)
        if differing is None:
            request.headers = self._module.Headers(_rebuilt_headers(raw, runtime))
            return
        for name in differing:
            request.headers[name] = runtime[name]


def _differing(raw: list[tuple[bytes, bytes]], runtime: Mapping[str, str]) -> list[str] | None:
    """The names of ``runtime``'s headers whose values differ in ``raw``; ``None`` when the headers
    must be rebuilt: a runtime header is missing, repeated, or sent though the runtime sends none."""
    wanted = {name.encode(): value.encode() for name, value in runtime.items()}
    differing: list[str] = []
    placed: set[bytes] = set()
    for key, value in raw:
        name = key.lower()
        if name in wanted:
            if name in placed:
                return None
            placed.add(name)
            if value != wanted[name]:
                differing.append(name.decode())
        elif name in _RUNTIME_HEADERS:
            return None
    return differing if len(placed) == len(wanted) else None


def _rebuilt_headers(raw: list[tuple[bytes, bytes]], runtime: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """``raw`` with ``runtime``'s headers in their places: a runtime header not sent now (``Mcp-Method``
    of another era) dropped, a repeated one kept once, one the client lacks added at the end."""
    wanted = {name.encode(): value.encode() for name, value in runtime.items()}
    headers: list[tuple[bytes, bytes]] = []
    placed: set[bytes] = set()
    for key, value in raw:
        name = key.lower()
        if name in wanted:
            if name not in placed:
                placed.add(name)
                headers.append((key, wanted[name]))
        elif name not in _RUNTIME_HEADERS:
            headers.append((key, value))
    headers.extend(item for item in wanted.items() if item[0] not in placed)
    return headers


_MISDIRECTED = json.dumps(
    {"error": "RecoveringTransport serves the origin of its first request; this one was not sent"}
).encode()


def _stay(url: str) -> None:
    """A permanent move is not remembered: the client above keeps sending to its URL."""


class RecoveringTransport(_TransportBase):
    """An async transport of ``httpx`` or ``httpx2`` that keeps the MCP session under it alive.

    ``mode``: ``"auto"`` follows the client above (its ``server/discover`` probes the sessionless
    era first, its ``initialize`` tries the handshake first) and the server wherever it goes;
    ``"legacy"`` or ``"modern"`` pin the era the runtime speaks to the server. ``options`` and
    ``on_event`` go to the runtime's :class:`~mcp_session_recovery.runtime.Session`. ``library``
    (``httpx`` or ``httpx2``) is told from ``inner``'s base class when not given; ``TypeError`` if
    it cannot be.
    """

    def __init__(
        self,
        inner: Any,
        *,
        library: ModuleType | None = None,
        mode: EraMode | str = EraMode.AUTO,
        options: SessionOptions | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        self._inner = inner
        self._module = library_of(inner, library)
        self._mode = EraMode(mode)
        self._options = options or SessionOptions()
        self._on_event = on_event
        self._wire = _InnerWire(inner, self._module)
        self._background = BackgroundGroup()
        self._session: Session | None = None
        # What the SDK above believes its session id is; it never sees a real one.
        self._virtual_id = f"recovering-{secrets.token_hex(16)}"

    @property
    def session(self) -> Session | None:
        """The runtime session (``None`` before the first request)."""
        return self._session

    async def __aenter__(self) -> RecoveringTransport:
        await self._background.open()
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._background.close(self.aclose)

    async def aclose(self) -> None:
        """Close the runtime session (one DELETE for a live legacy session), then the inner transport."""
        if self._session is not None:
            await self._session.aclose()
        await self._inner.aclose()

    # -- the transport interface ----------------------------------------------------------------------

    async def handle_async_request(self, request: Any) -> Any:
        body = await request.aread()
        _client_request.set(request)
        message = _message(body) if request.method == "POST" else None
        session = self._session_for(request, message)
        url = str(request.url)
        if url != self._wire.url_text and origin_of(url) != session.origin:
            # One transport, one endpoint: its session id and the client's credentials stay there.
            headers = {"content-type": "application/json"}
            return self._module.Response(421, headers=headers, content=_MISDIRECTED, request=request)
        self._wire.learn(request, url)
        if request.method == "GET":
            forwarded = await session.listen_stream()
        elif request.method == "DELETE":
            await session.aclose()
            forwarded = Forwarded(200, {})
        elif message is None:
            answer = json_object(body)
            if answer is not None and is_response(answer):
                await session.relay_answer(body)
                forwarded = Forwarded(202, {})  # the client sent an answer: nothing comes back
            else:
                forwarded = Forwarded(400, {"content-type": "application/json"}, _PARSE_ERROR)
        else:
            forwarded = await self._post(session, message, body)
        return self._response(forwarded, request)

    async def _post(self, session: Session, message: Mapping[str, Any], body: bytes) -> Forwarded:
        method = message.get("method")
        if method == "initialize":
            return await self._initialize(session, message)
        if method == "server/discover":
            return await self._discover(session, message)
        if method == "notifications/initialized":
            return Forwarded(202, {})  # the runtime sent the real one after its own initialize
        return await session.forward(message, body)

    async def _initialize(self, session: Session, message: Mapping[str, Any]) -> Forwarded:
        session.adopt_identity(declared_identity(message))
        try:
            binding = await session.connect()
        except McpSessionError as exc:
            return error_answer(message.get("id"), exc)
        result = handshake_result(message, binding, session.negotiated_result)
        headers = {"content-type": "application/json", "mcp-session-id": self._virtual_id}
        return Forwarded(200, headers, _answer(message.get("id"), result))

    async def _discover(self, session: Session, message: Mapping[str, Any]) -> Forwarded:
        session.adopt_identity(declared_identity(message))
        try:
            binding = await session.connect()
        except McpSessionError as exc:
            return error_answer(message.get("id"), exc)
        if binding.era is Era.MODERN:
            answer = _answer(message.get("id"), session.negotiated_result)
            return Forwarded(200, {"content-type": "application/json"}, answer)
        # A legacy server: tell the SDK so; it falls back to initialize, which the live session answers.
        error = {"code": -32600, "message": "Bad Request: this server speaks the legacy era; initialize first"}
        body = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "error": error}).encode()
        return Forwarded(400, {"content-type": "application/json"}, body)

    # -- plumbing -------------------------------------------------------------------------------------

    def _session_for(self, request: Any, message: Mapping[str, Any] | None) -> Session:
        if self._session is not None:
            return self._session
        if self._background.task_group is None:
            raise TransportNotStarted(
                "enter the client first: async with httpx2.AsyncClient(transport=RecoveringTransport(...)) as client"
            )
        url = str(request.url)
        # The client above chose the handshake: try it first (a sessionless-only server is still found).
        chose_handshake = message is not None and message.get("method") == "initialize"
        first_era = Era.LEGACY if chose_handshake else self._options.first_era
        options = dataclasses.replace(self._options, mode=self._mode, listen=False, first_era=first_era)
        self._session = Session(self._wire, url, options, on_event=self._on_event)
        self._session.start_in(self._background.task_group)
        return self._session

    def _response(self, forwarded: Forwarded, request: Any) -> Any:
        source = forwarded.source
        if forwarded.stream is not None and isinstance(source, HttpxResponse) and source.verbatim:
            # The server's own response, its bytes relayed as they came: only the stream is ours.
            response = source.response
            response.stream = _stream_class(self._module)(forwarded.stream)
            response.request = request
            if "mcp-session-id" in response.headers:
                response.headers["mcp-session-id"] = self._virtual_id
            return response
        headers = {k: v for k, v in forwarded.headers.items() if k.lower() not in _STALE_RESPONSE_HEADERS}
        if "mcp-session-id" in {k.lower() for k in headers}:
            headers = {k: v for k, v in headers.items() if k.lower() != "mcp-session-id"}
            headers["mcp-session-id"] = self._virtual_id
        if forwarded.stream is not None:
            stream = _stream_class(self._module)(forwarded.stream)
            return self._module.Response(forwarded.status, headers=headers, stream=stream, request=request)
        return self._module.Response(forwarded.status, headers=headers, content=forwarded.body, request=request)


_PARSE_ERROR = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: not a JSON-RPC message"}}'


def _message(body: bytes) -> dict[str, Any] | None:
    """A JSON-RPC request or notification in ``body``, or ``None``."""
    document = json_object(body)
    return document if document is not None and isinstance(document.get("method"), str) else None


def _answer(client_id: Any, result: Mapping[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": client_id, "result": dict(result)}).encode()


_STREAM_CLASSES: dict[str, type] = {}


def _stream_class(module: ModuleType) -> type:
    """An ``AsyncByteStream`` of ``module`` that relays a runtime stream and closes it when done."""
    cls = _STREAM_CLASSES.get(module.__name__)
    if cls is None:

        def __aiter__(self: Any) -> AsyncIterator[bytes]:
            relay: AsyncGenerator[bytes, None] = self._relay
            return relay  # the relay's own generator: no layer of ours per chunk

        async def aclose(self: Any) -> None:
            await self._relay.aclose()

        def __init__(self: Any, relay: AsyncGenerator[bytes, None]) -> None:
            self._relay = relay

        namespace = {"__init__": __init__, "__aiter__": __aiter__, "aclose": aclose}
        cls = type("RelayedStream", (module.AsyncByteStream,), namespace)
        _STREAM_CLASSES[module.__name__] = cls
    return cls
