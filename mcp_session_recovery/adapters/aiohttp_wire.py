"""``AiohttpWire``: the runtime's :class:`~mcp_session_recovery.runtime.Wire` over an ``aiohttp.ClientSession``.

Thin, like :mod:`.httpx_wire`: it sends what the runtime built and maps aiohttp's exceptions to
``WireError``. With it a :class:`~mcp_session_recovery.runtime.Session` runs over aiohttp (asyncio
only, as aiohttp is) and shares every decision with the httpx adapters::

    async with aiohttp.ClientSession() as http, Session(AiohttpWire(http, url), url) as session:
        await session.request("tools/call", {"name": "bump", "arguments": {}})

Requests go out with ``middlewares=()``: the runtime's own traffic never passes through the
session's middlewares again (aiohttp >= 3.12).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Mapping
from typing import Any

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError

from mcp_session_recovery.model import Outgoing, Progress, TransportFailureKind
from mcp_session_recovery.runtime.redaction import credential_values
from mcp_session_recovery.runtime.wire import WireError, WireResponse

__all__ = ["AiohttpResponse", "AiohttpWire", "aiohttp_failure", "sent"]


def aiohttp_failure(exc: BaseException, *, streaming: bool) -> WireError | None:
    """The ``WireError`` for an aiohttp exception; ``None`` if it is not a transport failure.

    Details name the exception's type only: its message may quote a header (a session id).
    """
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientPayloadError) and isinstance(exc.__cause__, ContentEncodingError):
        # The body does not match its Content-Encoding.
        return WireError(TransportFailureKind.MALFORMED_ANSWER, Progress.STREAMING, name)
    if type(exc) is aiohttp.ClientResponseError:  # aiohttp could not parse the answer's head
        progress = Progress.STREAMING if streaming else Progress.SENT
        return WireError(TransportFailureKind.MALFORMED_ANSWER, progress, name)
    if not isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)):
        return None
    if streaming:
        timed_out = isinstance(exc, (aiohttp.SocketTimeoutError, TimeoutError))
        kind = TransportFailureKind.READ_TIMEOUT if timed_out else TransportFailureKind.STREAM_CUT
        return WireError(kind, Progress.STREAMING, name)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return WireError(TransportFailureKind.NAME_RESOLUTION, Progress.NOT_SENT, name)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return WireError(TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT, name)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return WireError(TransportFailureKind.CONNECT_TIMEOUT, Progress.NOT_SENT, name)
    if isinstance(exc, (aiohttp.SocketTimeoutError, TimeoutError)):
        return WireError(TransportFailureKind.READ_TIMEOUT, Progress.SENT, name)
    # Disconnected, reset, a broken payload: the request may have reached the server.
    return WireError(TransportFailureKind.CONNECTION_RESET, Progress.SENT, name)


class AiohttpResponse:
    """An ``aiohttp.ClientResponse`` as the runtime's ``WireResponse``, its body read from the content
    it came with (a client above may be handed the response with another content in place)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status: int = response.status
        self.headers: Mapping[str, str] = {key.lower(): value for key, value in response.headers.items()}
        self._content = response.content
        #: Whether the runtime released it (then its body was read, or is not wanted).
        self.released = False

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in self._content.iter_any():
                yield chunk
        except Exception as exc:
            failure = aiohttp_failure(exc, streaming=True)
            if failure is None:
                raise
            raise failure from exc

    async def aclose(self) -> None:
        self.released = True
        # Releasing marks the response's content as closed: that must be the content it came with,
        # not one a client above was given in its place.
        given, self.response.content = self.response.content, self._content
        try:
            self.response.release()
        finally:
            self.response.content = given


async def sent(sending: Awaitable[aiohttp.ClientResponse]) -> AiohttpResponse:
    """The response of ``sending`` (an aiohttp send), its transport failures as ``WireError``."""
    try:
        response = await sending
    except Exception as exc:
        failure = aiohttp_failure(exc, streaming=False)
        if failure is None:
            raise
        raise failure from exc
    return AiohttpResponse(response)


class AiohttpWire:
    """Sends the runtime's requests to ``url`` (or the ``url`` a request names) with ``session`` (its
    auth, headers and timeouts), following no redirect."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self._url = url

    async def send(self, outgoing: Outgoing) -> WireResponse:
        # aiohttp follows redirects by default, carrying the session id along: the runtime follows
        # what may be followed.
        request_options: dict[str, Any] = {
            "headers": dict(outgoing.headers),
            "middlewares": (),
            "allow_redirects": False,
        }
        if outgoing.body:
            request_options["data"] = outgoing.body

        return await sent(self._session.request(outgoing.http_method, outgoing.url or self._url, **request_options))

    def credential_values(self) -> list[str]:
        """The credential values among the session's default headers and its basic auth."""
        values = credential_values(self._session.headers)
        auth = self._session.auth
        if auth is not None:
            values += credential_values({"authorization": auth.encode()})
        return values
