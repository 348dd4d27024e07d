"""``HttpxWire``: the runtime's :class:`~mcp_session_recovery.runtime.Wire` over an httpx or httpx2 client.

Thin: it sends what the runtime built and maps the client's exceptions to ``WireError`` (what
failed, and how far the request got). Both libraries share their exception names, so the module
is taken from the client's class and nothing else differs.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncGenerator, Awaitable, Mapping
from contextlib import aclosing
from types import ModuleType
from typing import Any

from mcp_session_recovery.model import AuthFlowFailed, Outgoing, Progress, TransportFailureKind
from mcp_session_recovery.runtime.redaction import credential_values
from mcp_session_recovery.runtime.wire import WireError, WireResponse

__all__ = ["LIBRARIES", "HttpxResponse", "HttpxWire", "library_of", "sent", "transport_failure"]


#: Words of httpcore's messages for a connection that ended, as opposed to an answer it could not parse.
_ENDED = ("disconnected", "peer closed", "incomplete", "closed")


def transport_failure(module: ModuleType, exc: BaseException, *, streaming: bool) -> WireError | None:
    """The ``WireError`` for an exception of ``module`` (httpx or httpx2); ``None`` if not a transport one.

    Details name the exception's type only: its message may quote a header (a session id).
    """
    if isinstance(exc, module.DecodingError):  # the body does not match its Content-Encoding
        return WireError(TransportFailureKind.MALFORMED_ANSWER, Progress.STREAMING, type(exc).__name__)
    if not isinstance(exc, module.TransportError):
        return None
    if isinstance(exc, module.RemoteProtocolError) and not any(word in str(exc).lower() for word in _ENDED):
        # h11 could not parse the answer's head (an illegal header line): the server answered badly.
        progress = Progress.STREAMING if streaming else Progress.SENT
        return WireError(TransportFailureKind.MALFORMED_ANSWER, progress, type(exc).__name__)
    if streaming:
        timed_out = isinstance(exc, module.ReadTimeout)
        kind = TransportFailureKind.READ_TIMEOUT if timed_out else TransportFailureKind.STREAM_CUT
        return WireError(kind, Progress.STREAMING, type(exc).__name__)
    table: tuple[tuple[type[BaseException], TransportFailureKind, Progress], ...] = (
        (module.ConnectTimeout, TransportFailureKind.CONNECT_TIMEOUT, Progress.NOT_SENT),
        (module.PoolTimeout, TransportFailureKind.CONNECT_TIMEOUT, Progress.NOT_SENT),
        (module.ConnectError, TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT),
        (module.WriteTimeout, TransportFailureKind.WRITE_TIMEOUT, Progress.SENT),
        (module.ReadTimeout, TransportFailureKind.READ_TIMEOUT, Progress.SENT),
        (module.ProxyError, TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT),
        (module.UnsupportedProtocol, TransportFailureKind.PROTOCOL_ERROR, Progress.NOT_SENT),
        (module.LocalProtocolError, TransportFailureKind.PROTOCOL_ERROR, Progress.NOT_SENT),
    )
    if isinstance(exc, module.ConnectError) and _resolver_failed(exc):
        return WireError(TransportFailureKind.NAME_RESOLUTION, Progress.NOT_SENT, type(exc).__name__)
    for exc_type, kind, progress in table:
        if isinstance(exc, exc_type):
            return WireError(kind, progress, type(exc).__name__)
    # ReadError, WriteError, RemoteProtocolError: the request may have reached the server.
    return WireError(TransportFailureKind.CONNECTION_RESET, Progress.SENT, type(exc).__name__)


#: The libraries an httpx-style transport or client may belong to.
LIBRARIES = ("httpx", "httpx2")
#: The classes of those libraries whose subclasses tell which library an object belongs to.
_BASES = ("AsyncBaseTransport", "BaseTransport", "AsyncClient", "Client")


def _resolver_failed(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by the host name not resolving (a ``socket.gaierror`` in its chain:
    httpx raises its ``ConnectError`` from httpcore's, raised from the resolver's error)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # bounded: a chain may loop back
        if isinstance(cause, socket.gaierror):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def library_of(obj: object, library: ModuleType | None = None) -> ModuleType:
    """The library (``httpx`` or ``httpx2``) ``obj``, a transport or a client, belongs to.

    ``library`` when given; else the library of the first of its base classes that is one of the
    library's transport or client classes, wherever ``obj``'s own class is defined (a user's
    wrapper in ``__main__`` is told by what it subclasses, not by its module). Raises ``TypeError``
    when it cannot tell: no such base class, or a ``library`` that is neither.
    """
    if library is not None:
        if getattr(library, "__name__", None) not in LIBRARIES:
            raise TypeError(f"library must be the httpx or the httpx2 module, not {library!r}")
        return library
    for cls in type(obj).__mro__:
        name = cls.__module__.partition(".")[0]
        # Any class of httpx or httpx2 in the chain means the module is imported already.
        module = sys.modules.get(name) if name in LIBRARIES else None
        if module is not None and any(cls is getattr(module, base, None) for base in _BASES):
            return module
    raise TypeError(
        f"cannot tell whether {type(obj).__qualname__} belongs to httpx or httpx2: subclass one of their "
        "AsyncBaseTransport, BaseTransport, AsyncClient or Client, or pass library=httpx2 (or httpx)"
    )


class HttpxResponse:
    """A response of httpx or httpx2 (from a client or a transport) as the runtime's ``WireResponse``.

    ``direct``: a transport's own response (not yet wrapped by a client). Its body is read from the
    transport's stream itself when it carries no content coding, so the bytes are the server's and
    an adapter may hand ``response`` on with another stream in place (see ``RecoveringTransport``).
    """

    def __init__(self, response: Any, module: ModuleType, *, direct: bool = False) -> None:
        self.response = response
        self._module = module
        self.status: int = response.status_code
        # httpx's own Headers: lower-case names when iterated, case-insensitive lookups, no copy.
        self.headers: Mapping[str, str] = response.headers
        coding = response.headers.get("content-encoding", "identity").strip().lower()
        #: Whether :meth:`iter_bytes` yields the transport's bytes as they came (no content coding).
        self.verbatim = direct and coding in ("", "identity")
        self._stream = response.stream if self.verbatim else None

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        try:
            if self._stream is not None:
                chunks = aiter(self._stream)
                try:
                    async for chunk in chunks:
                        yield chunk
                finally:
                    # Closed here: left to the garbage collector, asyncio would close it in a task of
                    # its own, one more task and wake-up of the loop per request. (A transport's
                    # stream may iterate with a plain iterator, which has nothing to close.)
                    close = getattr(chunks, "aclose", None)
                    if close is not None:
                        await close()
            else:
                async with aclosing(self.response.aiter_bytes()) as chunks:
                    async for chunk in chunks:
                        yield chunk
        except Exception as exc:
            failure = transport_failure(self._module, exc, streaming=True)
            if failure is None:
                raise
            raise failure from exc

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
        else:
            await self.response.aclose()


class HttpxWire:
    """Sends the runtime's requests to ``url`` (or the ``url`` a request names) with ``client`` (an
    ``httpx`` or ``httpx2`` ``AsyncClient``), following no redirect.

    The client keeps its own configuration: auth, default headers, timeouts, the transport.
    ``library`` (``httpx`` or ``httpx2``) is told from the client's base class when not given.
    ``auth_failures``: the exceptions the client's auth flow raises when it cannot get credentials
    (the SDK's ``OAuthFlowError``); they become ``AuthFlowFailed``, the exception its ``__cause__``.
    """

    def __init__(
        self,
        client: Any,
        url: str,
        *,
        library: ModuleType | None = None,
        auth_failures: tuple[type[Exception], ...] = (),
    ) -> None:
        self._client = client
        self._url = url
        self._module = library_of(client, library)
        self._auth_failures = auth_failures

    async def send(self, outgoing: Outgoing) -> WireResponse:
        url = outgoing.url or self._url
        request = self._client.build_request(
            outgoing.http_method, url, headers=dict(outgoing.headers), content=outgoing.body or None
        )
        # The client's own redirect setting would carry the session id to wherever it points: the
        # runtime follows what may be followed.
        sending = self._client.send(request, stream=True, follow_redirects=False)
        if not self._auth_failures:
            return await sent(self._module, sending)
        try:
            return await sent(self._module, sending)
        except self._auth_failures as exc:
            raise AuthFlowFailed(type(exc).__name__) from exc

    def credential_values(self) -> list[str]:
        """The credential values among the client's default headers (kept out of messages)."""
        return credential_values(self._client.headers)


async def sent(module: ModuleType, sending: Awaitable[Any], *, direct: bool = False) -> HttpxResponse:
    """The response ``sending`` (a send of ``module``) gives, its transport failures as ``WireError``.

    ``direct``: ``sending`` is a transport's ``handle_async_request`` (see :class:`HttpxResponse`).
    """
    try:
        response = await sending
    except Exception as exc:
        failure = transport_failure(module, exc, streaming=False)
        if failure is None:
            raise
        raise failure from exc
    return HttpxResponse(response, module, direct=direct)
