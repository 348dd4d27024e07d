"""``RecoveringTransport``: the unmodified official SDK survives restarts, outages and era changes.

Wrap the SDK's HTTP transport (httpx2 for mcp 2.x, httpx for 1.x) and enter the client::

    transport = RecoveringTransport(httpx2.AsyncHTTPTransport())
    async with httpx2.AsyncClient(transport=transport) as http_client:
        async with streamable_http_client(url, http_client=http_client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()

Thin: the runtime's :class:`~mcp_session_recovery.runtime.front.Front` decides what each of the
SDK's requests gets (its negotiation taken over, a virtual session id, recovery below it, errors as
JSON-RPC answers under its own id). The transport only translates httpx requests and responses to
and from the front's, and sends over the wrapped transport: the SDK's own request goes out with
only the runtime's headers swapped in, and the server's own response comes back with only its
stream replaced by the relay's (the same bytes).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mcp_session_recovery.model import EraMode, Outgoing
from mcp_session_recovery.model.messages import RUNTIME_HEADERS, with_runtime_headers
from mcp_session_recovery.runtime import SessionOptions, origin_of
from mcp_session_recovery.runtime.answers import Forwarded
from mcp_session_recovery.runtime.front import ClientHeaders, Front, read_client_request
from mcp_session_recovery.runtime.observe import EventHook
from mcp_session_recovery.runtime.session import Session

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


class TransportNotStarted(RuntimeError):
    """The transport was used before its client was entered (``async with httpx2.AsyncClient(...)``)."""


class _InnerWire:
    """The runtime's ``Wire`` over the wrapped transport, with the client's own headers (auth, ...)."""

    def __init__(self, inner: Any, module: ModuleType) -> None:
        self._inner = inner
        self._module = module
        self.url: Any = None
        #: ``str(self.url)``, made once per request (httpx builds the text anew on every ``str``).
        self.url_text = ""
        self.client_headers = ClientHeaders()
        #: The client's latest request's extensions (its timeouts): the runtime's own requests keep
        #: them, so a server that never answers cannot hold one (or a worker thread) for ever.
        self._extensions: Any = {}
        self._header_swap = _HeaderSwap(module)

    def learn(self, request: Any, url_text: str) -> None:
        """Take the endpoint and the client's own headers (credentials included) from ``request``."""
        self.url, self.url_text, self._extensions = request.url, url_text, request.extensions
        self.client_headers.learn(request.headers)

    def credential_values(self) -> list[str]:
        """The credential values among the client's headers (kept out of messages)."""
        return self.client_headers.credential_values()

    async def send(self, outgoing: Outgoing) -> HttpxResponse:
        """The runtime's own request, with the client's headers."""
        headers = {**self.client_headers.base, **outgoing.headers}
        url = outgoing.url or self.url
        request = self._module.Request(
            outgoing.http_method, url, headers=headers, content=outgoing.body or None, extensions=self._extensions
        )
        return await sent(self._module, self._inner.handle_async_request(request), direct=True)

    async def send_client(self, request: Any, outgoing: Outgoing) -> HttpxResponse:
        """The client's own ``request`` as the runtime sends it (``outgoing``), to its own URL."""
        if not outgoing.body or outgoing.body is not request.content:
            return await self.send(outgoing)  # rebuilt: a fresh id, or another era's message
        self._header_swap.put(request, outgoing.headers)
        return await sent(self._module, self._inner.handle_async_request(request), direct=True)


class _HeaderSwap:
    """Puts the runtime's headers on the client's own requests, as :func:`with_runtime_headers` says.

    Usually only the session id differs (the client holds a virtual one): it is set in place, which
    gives the same headers. The comparison is remembered: httpx's ``Headers`` scans every header on
    each lookup, and a client sends the same headers, under the same runtime headers, call after call.
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
            items = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]
            request.headers = self._module.Headers(with_runtime_headers(items, runtime))
            return
        for name in differing:
            request.headers[name] = runtime[name]


def _differing(raw: list[tuple[bytes, bytes]], runtime: Mapping[str, str]) -> list[str] | None:
    """The names of ``runtime``'s headers whose values differ in ``raw``, when setting them in place
    gives what :func:`with_runtime_headers` gives; ``None`` when it would not (a runtime header is
    missing, repeated, or sent though the runtime sends none)."""
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


class RecoveringTransport(_TransportBase):
    """An async transport of ``httpx`` or ``httpx2`` that keeps the MCP session under it alive.

    ``mode``: ``"auto"`` follows the client above (its ``server/discover`` probes the sessionless
    era first, its ``initialize`` tries the handshake first) and the server wherever it goes;
    ``"legacy"`` or ``"modern"`` pin the era the runtime speaks to the server. ``options`` and
    ``on_event`` go to the runtime's :class:`~mcp_session_recovery.runtime.Session`. ``library``
    (``httpx`` or ``httpx2``) is told from ``inner``'s base class when not given; ``TypeError`` if
    it cannot be. ``virtual_session_id``: the session id the client above is given, for as long as it
    keeps the session (a random one when ``None``); a proxy that restores a client's session after
    its own restart gives the id the client holds.
    """

    def __init__(
        self,
        inner: Any,
        *,
        library: ModuleType | None = None,
        mode: EraMode | str = EraMode.AUTO,
        options: SessionOptions | None = None,
        on_event: EventHook | None = None,
        virtual_session_id: str | None = None,
    ) -> None:
        self._inner = inner
        self._module = library_of(inner, library)
        self._wire = _InnerWire(inner, self._module)
        self._front = Front(
            self._wire,
            mode=mode,
            options=options,
            on_event=on_event,
            not_started=_not_started,
            virtual_id=virtual_session_id,
        )

    @property
    def session(self) -> Session | None:
        """The runtime session (``None`` before the first request)."""
        return self._front.session

    async def __aenter__(self) -> RecoveringTransport:
        await self._front.open()
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._front.close(self._inner.aclose)

    async def aclose(self) -> None:
        """Close the runtime session (one DELETE for a live legacy session), then the inner transport."""
        await self._front.aclose()
        await self._inner.aclose()

    async def handle_async_request(self, request: Any) -> Any:
        client_request = read_client_request(request.method, await request.aread(), request.headers)
        url = str(request.url)
        front = self._front
        if not front.serves(url, client_request):
            # Not the MCP endpoint (an auth flow's metadata, registration or token request): as a plain
            # transport would send it; another origin gets none of the session's headers.
            if origin_of(url) != origin_of(front.endpoint or url):
                request.headers = self._module.Headers(with_runtime_headers(request.headers.multi_items(), {}))
            return await self._inner.handle_async_request(request)
        session = front.session_for(url, client_request)
        self._wire.learn(request, url)
        wire = self._wire

        async def send(outgoing: Outgoing) -> HttpxResponse:
            return await wire.send_client(request, outgoing)

        forwarded = await front.handle(session, client_request, send=send)
        return self._response(forwarded, request)

    def _response(self, forwarded: Forwarded, request: Any) -> Any:
        source = forwarded.source
        if forwarded.stream is not None and isinstance(source, HttpxResponse) and source.verbatim:
            # The server's own response, its bytes relayed as they came: only the stream is ours.
            response = source.response
            response.stream = _stream_class(self._module)(forwarded.stream)
            response.request = request
            if "mcp-session-id" in response.headers:
                response.headers["mcp-session-id"] = self._front.virtual_id
            return response
        headers = {k: v for k, v in forwarded.headers.items() if k.lower() not in _STALE_RESPONSE_HEADERS}
        if "mcp-session-id" in {k.lower() for k in headers}:
            headers = {k: v for k, v in headers.items() if k.lower() != "mcp-session-id"}
            headers["mcp-session-id"] = self._front.virtual_id
        if forwarded.stream is not None:
            stream = _stream_class(self._module)(forwarded.stream)
            return self._module.Response(forwarded.status, headers=headers, stream=stream, request=request)
        return self._module.Response(forwarded.status, headers=headers, content=forwarded.body, request=request)


def _not_started() -> TransportNotStarted:
    return TransportNotStarted(
        "enter the client first: async with httpx2.AsyncClient(transport=RecoveringTransport(...)) as client"
    )


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
