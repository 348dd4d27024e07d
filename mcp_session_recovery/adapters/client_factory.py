"""``recovering_client_factory()``: an httpx client factory whose clients keep their MCP session alive.

The official SDK and the frameworks built on it take a factory of the SDK's
``McpHttpClientFactory`` shape where they build their HTTP client: ``headers``, ``timeout`` and
``auth`` keywords (FastMCP adds ``follow_redirects``), returning an ``AsyncClient``. This one
returns an ``AsyncClient`` over :class:`~.httpx_transport.RecoveringTransport`, so the client above
survives server restarts, outages, gateway windows and expired sessions without changing::

    factory = recovering_client_factory()
    fastmcp.Client(StreamableHttpTransport(url, httpx_client_factory=factory))
    MCPToolset(StreamableHttpTransport(url, httpx_client_factory=factory))  # pydantic-ai
    MCPServerStreamableHttp({"url": url, "httpx_client_factory": factory})  # the OpenAI Agents SDK
    async with factory() as http:  # the SDK 2.x does not enter a client it is given: you do
        streamable_http_client(url, http_client=http)

The SDK's 1.x line (``mcp<2``) and the frameworks on it build ``httpx`` clients::

    factory = recovering_client_factory(library="httpx")
    MultiServerMCPClient({"s": {"transport": "streamable_http", "url": url, "httpx_client_factory": factory}})
    async with factory() as http:  # the SDK 1.x
        streamable_http_client(url, http_client=http)

Each call builds a new client with its own transport and runtime session: a framework that calls
the factory again (a reconnect, an isolated retry) gets a fresh session, never one shared with a
client it closed. Whoever enters the client enters its transport (httpx does that), so a client
handed to a framework that never enters it (pydantic-ai's ``http_client=``) must be entered by you.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import SessionOptions
from mcp_session_recovery.runtime.observe import EventHook

from .httpx_transport import RecoveringTransport
from .httpx_wire import LIBRARIES

if TYPE_CHECKING:
    import httpx
    import httpx2

__all__ = ["DEFAULT_READ_TIMEOUT", "DEFAULT_TIMEOUT", "RecoveringClientFactory", "recovering_client_factory"]

#: The SDK's own defaults (``mcp.shared._httpx_utils``): 30 s to connect, write and wait for a pooled
#: connection; 300 s between two reads, since a server may hold a response stream open that long.
DEFAULT_TIMEOUT = 30.0
DEFAULT_READ_TIMEOUT = 300.0

ClientT = TypeVar("ClientT")


class RecoveringClientFactory(Generic[ClientT]):
    """Builds ``AsyncClient``s of ``httpx2`` (or ``httpx``) over a :class:`RecoveringTransport`.

    Called as the SDK calls an ``McpHttpClientFactory``: ``headers``, ``timeout`` and ``auth`` go to
    the client as given (``timeout=None`` means the SDK's 30 s, read 300 s), ``follow_redirects``
    (FastMCP passes it) too; any other keyword is a ``TypeError``, never silently dropped.
    """

    def __init__(
        self,
        library: ModuleType,
        *,
        mode: EraMode | str,
        options: SessionOptions | None,
        on_event: EventHook | None,
        inner: Callable[[], Any] | None,
    ) -> None:
        self._library = library
        self._mode = mode
        self._options = options
        self._on_event = on_event
        self._inner = inner
        self._last_transport: RecoveringTransport | None = None

    @property
    def library(self) -> ModuleType:
        """The HTTP library of the clients built (``httpx2`` or ``httpx``)."""
        return self._library

    @property
    def last_transport(self) -> RecoveringTransport | None:
        """The transport under the client built last (its ``session`` tells what the runtime saw)."""
        return self._last_transport

    def __call__(
        self,
        headers: Mapping[str, str] | None = None,
        timeout: Any = None,
        auth: Any = None,
        *,
        follow_redirects: bool = False,
    ) -> ClientT:
        library = self._library
        if timeout is None:
            timeout = library.Timeout(DEFAULT_TIMEOUT, read=DEFAULT_READ_TIMEOUT)
        inner = self._inner() if self._inner is not None else library.AsyncHTTPTransport()
        transport = RecoveringTransport(
            inner, library=library, mode=self._mode, options=self._options, on_event=self._on_event
        )
        self._last_transport = transport
        client: ClientT = library.AsyncClient(
            transport=transport,
            headers=dict(headers) if headers is not None else None,
            timeout=timeout,
            auth=auth,
            follow_redirects=follow_redirects,
        )
        return client

    def __repr__(self) -> str:
        return f"<RecoveringClientFactory {self._library.__name__} mode={EraMode(self._mode).value}>"


@overload
def recovering_client_factory(
    *,
    library: Literal["httpx2"] = ...,
    mode: EraMode | str = ...,
    options: SessionOptions | None = ...,
    on_event: EventHook | None = ...,
    inner: Callable[[], Any] | None = ...,
) -> RecoveringClientFactory[httpx2.AsyncClient]: ...


@overload
def recovering_client_factory(
    *,
    library: Literal["httpx"],
    mode: EraMode | str = ...,
    options: SessionOptions | None = ...,
    on_event: EventHook | None = ...,
    inner: Callable[[], Any] | None = ...,
) -> RecoveringClientFactory[httpx.AsyncClient]: ...


@overload
def recovering_client_factory(
    *,
    library: Literal["httpx2", "httpx"],
    mode: EraMode | str = ...,
    options: SessionOptions | None = ...,
    on_event: EventHook | None = ...,
    inner: Callable[[], Any] | None = ...,
) -> RecoveringClientFactory[Any]: ...


def recovering_client_factory(
    *,
    library: Literal["httpx2", "httpx"] = "httpx2",
    mode: EraMode | str = EraMode.AUTO,
    options: SessionOptions | None = None,
    on_event: EventHook | None = None,
    inner: Callable[[], Any] | None = None,
) -> RecoveringClientFactory[Any]:
    """A factory of recovering ``AsyncClient``s, for wherever the SDK or a framework takes an httpx client factory.

    ``library``: ``"httpx2"`` (the SDK 2.x line and the frameworks on it) or ``"httpx"`` (the SDK
    1.x line). ``mode``, ``options`` and ``on_event`` are :class:`RecoveringTransport`'s, given to
    every transport the factory builds. ``inner`` builds the transport that sends the bytes
    (default: the library's ``AsyncHTTPTransport()``); give one for TLS settings, proxies or
    limits, which a client does not apply to a transport it is handed.
    """
    if library not in LIBRARIES:
        raise ValueError(f"library must be 'httpx2' or 'httpx', not {library!r}")
    EraMode(mode)  # a wrong mode fails here, not at the first request
    module = importlib.import_module(library)
    return RecoveringClientFactory(module, mode=mode, options=options, on_event=on_event, inner=inner)
