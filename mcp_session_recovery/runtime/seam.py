"""The seam between a session's core and the code that sends on it.

:class:`~.core.SessionCore` runs the model and performs its effects. The senders, the library's own
requests (:mod:`.exchange`), a client's own messages (:mod:`.forwarding`) and the GET stream
(:mod:`.listening`), see only :class:`SessionSeam`: they open calls and report on them, send on the
wire, and read the snapshot; they never reach the model's engine. The core imports none of them:
what it needs of them (restoring a re-negotiated session's state) it is given as a
:data:`Restore`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from mcp_session_recovery.model import Binding, ClientIdentity, Outgoing, Snapshot, TransportFailure

if TYPE_CHECKING:
    from .calls import Call
    from .memory import SessionMemory
    from .options import SessionOptions
    from .reading import Pause, Reply
    from .redaction import Redactor
    from .wire import Wire

__all__ = ["Background", "Restore", "SessionSeam"]

#: What a background task runs.
Background = Callable[..., Awaitable[None]]


class SessionSeam(Protocol):
    """What the senders may use of one endpoint's session core."""

    @property
    def wire(self) -> Wire:
        """The one way to the network."""

    @property
    def url(self) -> str:
        """The endpoint: where a request goes unless its ``url`` says otherwise (never written anywhere)."""

    @property
    def options(self) -> SessionOptions:
        """How the session behaves."""

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the endpoint (never its credentials)."""

    @property
    def identity(self) -> ClientIdentity:
        """What the client declares on every (re)negotiation."""

    @property
    def memory(self) -> SessionMemory:
        """What successful requests taught (restored after a legacy re-initialize)."""

    @property
    def redactor(self) -> Redactor:
        """Keeps the session ids and the wire's credentials out of what the library writes."""

    @property
    def snapshot(self) -> Snapshot:
        """Everything the model knows, as one immutable value."""

    async def wait_for_change(self) -> None:
        """Return after the model's next step."""

    def open_call(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        *,
        notification: bool = False,
        tool_annotations: Mapping[str, Any] | None = None,
        client_id: Any = None,
    ) -> Call:
        """Track a new request (``client_id``: the client's own JSON-RPC id, which its errors name);
        the model decides whether it is sent now or waits."""

    def release(self, call: Call) -> None:
        """Forget ``call`` (resolved, or its sender gave up and reported so)."""

    def deadline_scope(self, seconds: float) -> anyio.CancelScope:
        """A cancel scope cancelled ``seconds`` from now; end it with :meth:`end_deadline`."""

    def end_deadline(self, scope: anyio.CancelScope) -> None:
        """Forget the deadline of a scope from :meth:`deadline_scope`."""

    def next_wire_id(self) -> str:
        """A JSON-RPC id for a request the library sends itself."""

    def deliver_message(self, message: Mapping[str, Any]) -> None:
        """Hand a server message that is no response to the ``on_message`` hook."""

    def start_background(self, function: Background, *args: Any) -> None:
        """Run ``function(*args)`` in the session's task group until it ends or the session closes."""

    async def fetch(
        self, outgoing: Outgoing, expected_id: object, *, resume_from: str | None = None
    ) -> Reply | TransportFailure | Pause:
        """One HTTP exchange read to the response (bounded): the reply, or the transport failure."""

    def heed(self, status: int, headers: Mapping[str, str]) -> None:
        """Take a disrupting answer's ``Retry-After`` into account for the next attempt."""

    def listen_opened(self, binding: Binding) -> None:
        """The GET stream that carried ``binding``'s session id was answered 200: tell the model."""

    def listen_refused(self, binding: Binding, *, stream_served: bool, reason: str) -> None:
        """The GET stream that carried ``binding``'s session id was answered 404 (``stream_served``:
        a stream of that session was answered 200 before): tell the model."""


#: Gives a re-negotiated legacy session (``binding``) what the lost one held, through the seam's
#: senders. The :class:`~.session.Session` facade hands it to the core.
Restore = Callable[[SessionSeam, Binding], Awaitable[None]]
