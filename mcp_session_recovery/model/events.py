"""Events: the facts the model is told (inputs). Each is frozen and cannot be built invalid."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .binding import SessionId
from .errors import CredentialsRejected, SessionUnusable
from .states import Replayability, Signal

__all__ = [
    "EVENT_TYPES",
    "Abandonment",
    "BackoffElapsed",
    "CloseRequested",
    "ConnectAbandoned",
    "ConnectRequested",
    "CredentialsRefused",
    "DiscoverSucceeded",
    "Event",
    "InitializeSucceeded",
    "InitializedDelivered",
    "ListenOpened",
    "ListenRefused",
    "NegotiationDisrupted",
    "NegotiationRejected",
    "RequestAbandoned",
    "RequestDisrupted",
    "RequestSubmitted",
    "ResponseReceived",
    "StreamPaused",
]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event."""


def _check_request_id(request_id: int) -> None:
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
        raise ValueError(f"request ids are non-negative integers, not {request_id!r}")


def _check_generation(generation: int) -> None:
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 1:
        raise ValueError(f"generations are integers from 1, not {generation!r}")


def _check_disruption(signal: Signal) -> None:
    if not isinstance(signal, Signal) or signal is Signal.PASS_THROUGH:
        raise ValueError(f"a disruption needs a failure signal, not {signal!r}")


def _check_waiter_id(waiter_id: int) -> None:
    if isinstance(waiter_id, bool) or not isinstance(waiter_id, int) or waiter_id < 0:
        raise ValueError(f"waiter ids are non-negative integers, not {waiter_id!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRequested(Event):
    """A ``connect()`` caller (``waiter_id``) wants a live binding now, before any request, within
    ``timeout`` seconds (its deadline, named in the error if it passes)."""

    waiter_id: int
    timeout: float

    def __post_init__(self) -> None:
        _check_waiter_id(self.waiter_id)
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0:
            raise ValueError(f"a connect timeout is a positive number of seconds, not {self.timeout!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSubmitted(Event):
    """A caller hands over a request (or a notification) to be sent.

    ``replayability`` comes from the replay policy (:mod:`.policy`).
    """

    request_id: int
    method: str
    replayability: Replayability

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)
        if not self.method:
            raise ValueError("a request needs a method name")
        if not isinstance(self.replayability, Replayability):
            raise ValueError(f"not a Replayability: {self.replayability!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived(Event):
    """A request got an answer that belongs to its caller (the classifier said PASS_THROUGH)."""

    request_id: int

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDisrupted(Event):
    """A request failed in a way that concerns the session (any signal but PASS_THROUGH)."""

    request_id: int
    signal: Signal

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)
        _check_disruption(self.signal)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamPaused(Event):
    """A request's response stream ended (closed by the server, or cut) before the response, after
    an event that carried an ``id`` (SEP-1699: a server may close a stream after a priming event).

    ``last_event_id`` is the id of the last such event on that stream; ``retry_ms`` the last
    ``retry`` value the stream gave (``None``: none). The model decides whether the request waits to
    resume the stream (``ResumeStream``) or the pause is a cut like any other (``OUTCOME_UNKNOWN``).
    """

    request_id: int
    last_event_id: str
    retry_ms: int | None = None

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)
        if not isinstance(self.last_event_id, str):
            raise ValueError(f"an event id is a string, not {self.last_event_id!r}")
        if self.retry_ms is not None and (
            isinstance(self.retry_ms, bool) or not isinstance(self.retry_ms, int) or self.retry_ms < 0
        ):
            raise ValueError(f"a retry delay is a non-negative number of milliseconds, not {self.retry_ms!r}")


class Abandonment(enum.Enum):
    """Why a request was given up before it resolved."""

    #: Its deadline passed.
    DEADLINE = "deadline"
    #: Its caller went away.
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestAbandoned(Event):
    """A request is given up: its deadline passed or its caller cancelled."""

    request_id: int
    reason: Abandonment

    def __post_init__(self) -> None:
        _check_request_id(self.request_id)
        if not isinstance(self.reason, Abandonment):
            raise ValueError(f"not an Abandonment: {self.reason!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenRefused(Event):
    """The server answered 404 to the GET stream that carried the session id of ``generation``.

    The server-to-client stream is no request: nothing was processed and nothing waits for it. The
    404 says what a 404 to a request says (the session is gone) about the binding of
    ``generation`` only; a report about an older binding says nothing about the live one.

    ``stream_served`` says whether the server had opened (answered 200) a GET stream of that
    session before. A 404 to the GET of a session never served may also come from a server that
    offers no stream at all (it should answer 405; some answer 404): the model tells the two apart.
    """

    generation: int
    stream_served: bool = False

    def __post_init__(self) -> None:
        _check_generation(self.generation)
        if not isinstance(self.stream_served, bool):
            raise ValueError(f"stream_served is a bool, not {self.stream_served!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenOpened(Event):
    """The server answered 200 to the GET stream that carried the session id of ``generation``.

    It offers a stream, and it held that session when it answered.
    """

    generation: int

    def __post_init__(self) -> None:
        _check_generation(self.generation)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectAbandoned(Event):
    """A ``connect()`` caller gives up: its deadline passed or it was cancelled."""

    waiter_id: int
    reason: Abandonment

    def __post_init__(self) -> None:
        _check_waiter_id(self.waiter_id)
        if not isinstance(self.reason, Abandonment):
            raise ValueError(f"not an Abandonment: {self.reason!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoverSucceeded(Event):
    """A modern ``server/discover`` of negotiation ``generation`` proved a sessionless server."""

    generation: int
    protocol_version: str
    server_capabilities: Mapping[str, Any] = field(default_factory=_empty, hash=False)
    server_info: Mapping[str, Any] = field(default_factory=_empty, hash=False)

    def __post_init__(self) -> None:
        _check_generation(self.generation)
        if not self.protocol_version:
            raise ValueError("a negotiated protocol version cannot be empty")


@dataclass(frozen=True, slots=True, kw_only=True)
class InitializeSucceeded(Event):
    """The legacy ``initialize`` of negotiation ``generation`` got a result.

    ``session_id`` is only ever taken from this event: a 400 may carry a throwaway id, and it must
    never become the session's id.
    """

    generation: int
    protocol_version: str
    session_id: SessionId | None
    server_capabilities: Mapping[str, Any] = field(default_factory=_empty, hash=False)
    server_info: Mapping[str, Any] = field(default_factory=_empty, hash=False)

    def __post_init__(self) -> None:
        _check_generation(self.generation)
        if not self.protocol_version:
            raise ValueError("a negotiated protocol version cannot be empty")
        if self.session_id is not None and not isinstance(self.session_id, SessionId):
            raise ValueError("session_id must be a SessionId (built with SessionId(value))")


@dataclass(frozen=True, slots=True, kw_only=True)
class InitializedDelivered(Event):
    """``notifications/initialized`` of negotiation ``generation`` was accepted by the server."""

    generation: int

    def __post_init__(self) -> None:
        _check_generation(self.generation)


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiationDisrupted(Event):
    """A step of negotiation ``generation`` failed with a retriable ``signal``; ``detail`` says what
    was seen, in words (a refused connection, ``HTTP 502``, no answer in time)."""

    generation: int
    signal: Signal
    detail: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _check_generation(self.generation)
        _check_disruption(self.signal)


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiationRejected(Event):
    """Negotiation ``generation`` failed in a way no retry can fix (the session becomes FAILED)."""

    generation: int
    error: SessionUnusable

    def __post_init__(self) -> None:
        _check_generation(self.generation)
        if not isinstance(self.error, SessionUnusable):
            raise ValueError("a rejection carries a SessionUnusable error")


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialsRefused(Event):
    """A step of negotiation ``generation`` was refused for its credentials (401 or 403).

    Neither a fault to wait out nor a dead end: the credentials are the client's to renew (its auth
    flow, a refreshed token). ``error`` carries the server's answer for the callers that waited.
    """

    generation: int
    error: CredentialsRejected

    def __post_init__(self) -> None:
        _check_generation(self.generation)
        if not isinstance(self.error, CredentialsRejected):
            raise ValueError("a refusal of credentials carries a CredentialsRejected error")


@dataclass(frozen=True, slots=True)
class BackoffElapsed(Event):
    """The delay of the scheduled recovery attempt is over."""


@dataclass(frozen=True, slots=True)
class CloseRequested(Event):
    """The owner closes the session."""


#: Every concrete event type, in a stable order (for strategies, totality checks and diagrams).
EVENT_TYPES: tuple[type[Event], ...] = (
    ConnectRequested,
    RequestSubmitted,
    ResponseReceived,
    RequestDisrupted,
    StreamPaused,
    RequestAbandoned,
    ListenRefused,
    ListenOpened,
    ConnectAbandoned,
    DiscoverSucceeded,
    InitializeSucceeded,
    InitializedDelivered,
    NegotiationDisrupted,
    NegotiationRejected,
    CredentialsRefused,
    BackoffElapsed,
    CloseRequested,
)
