"""The one interface through which the runtime reaches the network.

Each adapter implements :class:`Wire` over its HTTP client (httpx, httpx2, aiohttp, ...): send one
HTTP request, get the status and headers back with the body still unread, then read the body as a
stream of bytes. Transport failures are reported as :class:`WireError` naming what failed and how
far the request got, so every adapter feeds the same classifier and the same decisions.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Protocol

import anyio

from mcp_session_recovery.model import Outgoing, Progress, TransportFailure, TransportFailureKind

__all__ = ["Wire", "WireError", "WireResponse", "credentials_of", "release"]


class WireError(Exception):
    """The transport failed: ``kind`` says how, ``progress`` how far the request got.

    The message never holds a URL's credentials, a header value or a session id.
    """

    def __init__(self, kind: TransportFailureKind, progress: Progress, detail: str = "") -> None:
        self.kind = kind
        self.progress = progress
        super().__init__(f"{kind.value} ({progress.value}){': ' + detail if detail else ''}")

    def failure(self) -> TransportFailure:
        """This failure as the classifier's input."""
        return TransportFailure(kind=self.kind, progress=self.progress)


class WireResponse(Protocol):
    """An HTTP answer whose body has not been read yet."""

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers, with lower-case names."""
        ...

    def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        """The body, chunk by chunk; raises :class:`WireError` (``STREAMING``) if it breaks.

        An async generator, so the runtime can close it when it stops reading early.
        """
        ...

    async def aclose(self) -> None:
        """Release the connection (the body may be left unread).

        It must not wait on the network, and a second call after a cancelled one must finish the
        release (:func:`release` relies on both).
        """
        ...


class Wire(Protocol):
    """Sends one HTTP request to the endpoint the session talks to.

    A wire may also define ``credential_values() -> Iterable[str]``: the credential header values
    (``Authorization`` and the like) its client adds, so the runtime can keep them out of every
    message it writes even when a server echoes them (see :func:`credentials_of`).
    """

    async def send(self, outgoing: Outgoing) -> WireResponse:
        """Send ``outgoing`` and return once the response headers arrived.

        Raises :class:`WireError` when no HTTP answer arrived, and a
        :class:`~mcp_session_recovery.model.CredentialsRejected` (such as ``AuthFlowFailed``) when
        the client under the wire could not get credentials to send (its auth flow failed): the
        client's to fix, never retried.
        """
        ...


def credentials_of(wire: object) -> Iterable[str]:
    """The credential values ``wire`` says it sends (none if it does not say)."""
    values = getattr(wire, "credential_values", None)
    return values() if callable(values) else ()


async def release(response: WireResponse, bound: float) -> None:
    """Close ``response``, whatever interrupts it; a cancelled close is finished for at most ``bound`` s.

    Closing waits on no network (an unread body just ends the connection), so the plain path takes
    no cancel scope: a scope with a deadline schedules a timer, and this runs on every request. When
    a cancellation interrupts the close, it is finished under a shield, then the cancellation goes on.
    """
    try:
        await response.aclose()
    except BaseException:
        with anyio.move_on_after(bound, shield=True):
            await response.aclose()
        raise
