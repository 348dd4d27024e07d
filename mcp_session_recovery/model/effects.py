"""Effects: the model's instructions to the runtime (outputs). The model never performs them."""

from __future__ import annotations

from dataclasses import dataclass

from .binding import Binding
from .errors import McpSessionError

__all__ = [
    "DeliverBinding",
    "DeliverResponse",
    "Effect",
    "FailConnect",
    "FailRequest",
    "NotifyBindingChanged",
    "ReplayRequest",
    "RestoreSessionState",
    "ResumeStream",
    "ScheduleRecovery",
    "SendDelete",
    "SendDiscover",
    "SendInitialize",
    "SendInitialized",
    "SendRequest",
]


@dataclass(frozen=True, slots=True)
class Effect:
    """Base of every effect."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendDiscover(Effect):
    """Negotiate in the sessionless era: send ``server/discover`` (this is also the era probe)."""

    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendInitialize(Effect):
    """Negotiate in the legacy era: send ``initialize`` carrying no session id."""

    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendInitialized(Effect):
    """Send ``notifications/initialized`` for the session that negotiation ``generation`` opened."""

    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest(Effect):
    """Send a request for the first time, under the binding of ``generation``."""

    request_id: int
    generation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayRequest(Effect):
    """Send a request again under the binding of ``generation``; this is re-send number ``replay``.

    A replay uses a fresh JSON-RPC id: ids are unique only within a session.
    """

    request_id: int
    generation: int
    replay: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeStream(Effect):
    """After ``delay`` seconds, resume the paused response stream of a request with a GET that
    carries ``Last-Event-ID: last_event_id`` and the session of ``generation`` (the one the request
    was sent under: event ids belong to their session). What the resumed stream carries continues
    the request's answer."""

    request_id: int
    generation: int
    last_event_id: str
    delay: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreSessionState(Effect):
    """Re-establish what the lost binding held (log level, subscriptions, the GET stream)."""

    generation: int
    previous: Binding


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyBindingChanged(Effect):
    """Tell observers the server now offers other terms (era, version or capabilities)."""

    previous: Binding
    current: Binding


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRecovery(Effect):
    """Start the backoff before recovery attempt number ``attempt`` (0: no delay)."""

    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverResponse(Effect):
    """Hand the answer that arrived for a request to its caller."""

    request_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FailRequest(Effect):
    """Resolve a request with a typed error."""

    request_id: int
    error: McpSessionError


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverBinding(Effect):
    """Hand the live binding to the ``connect()`` caller ``waiter_id``."""

    waiter_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FailConnect(Effect):
    """Resolve the ``connect()`` caller ``waiter_id`` with a typed error."""

    waiter_id: int
    error: McpSessionError


@dataclass(frozen=True, slots=True, kw_only=True)
class SendDelete(Effect):
    """Best-effort HTTP DELETE of the legacy session opened by negotiation ``generation``.

    Sent on close for the live session, and for a session the model gives up without the server
    having said it is gone: lost to an unreachable server (which may still hold it), or opened by
    an ``initialize`` whose handshake did not complete. ``binding`` is that session's binding
    (its id and protocol version go on the DELETE).
    """

    binding: Binding

    @property
    def generation(self) -> int:
        """The negotiation that opened the session."""
        return self.binding.generation
