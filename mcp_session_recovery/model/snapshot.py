"""The model's whole state as one immutable value: what the transition table reads and rewrites."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from itertools import repeat
from operator import attrgetter

from .binding import Binding
from .errors import SessionUnusable
from .states import Era, EraMode, Replayability, Signal, State

__all__ = ["ConnectWaiter", "ModelConfig", "Snapshot", "TrackedRequest", "initial_snapshot"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelConfig:
    """The knobs the model's decisions depend on."""

    #: Which era(s) to speak.
    mode: EraMode = EraMode.AUTO
    #: Failed negotiations in one round of recovery before waiting requests get ``RecoveryFailed``.
    max_attempts: int = 5
    #: How often one request may be sent again after it was lost.
    max_replays: int = 2
    #: The era this origin spoke last time (a per-origin cache), tried first in ``AUTO`` mode.
    known_era: Era | None = None
    #: New sessions lost in a row before any of their requests was answered, after which waiting
    #: requests and ``connect()`` callers get ``SessionNotKept`` at once: waiting cannot help.
    unkept_sessions_limit: int = 3
    #: Resumptions of one request's paused stream in a row without progress (no new event id) before
    #: the pause counts as a cut (``OUTCOME_UNKNOWN``, and so the replay policy).
    max_resumptions: int = 3
    #: Seconds to wait before resuming a paused stream whose server gave no ``retry`` value.
    resume_delay: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.unkept_sessions_limit < 1:
            raise ValueError("unkept_sessions_limit must be at least 1")
        if self.max_replays < 0:
            raise ValueError("max_replays cannot be negative")
        if self.max_resumptions < 0:
            raise ValueError("max_resumptions cannot be negative")
        if not self.resume_delay >= 0:
            raise ValueError("resume_delay cannot be negative")
        pinned = {EraMode.LEGACY: Era.LEGACY, EraMode.MODERN: Era.MODERN}.get(self.mode)
        if pinned is not None and self.known_era not in (None, pinned):
            raise ValueError(f"known_era {self.known_era} contradicts mode {self.mode}")

    def first_era(self) -> Era:
        """The era the first negotiation tries."""
        if self.mode is EraMode.LEGACY:
            return Era.LEGACY
        if self.mode is EraMode.MODERN:
            return Era.MODERN
        return self.known_era or Era.MODERN


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackedRequest:
    """One request the model is responsible for until it resolves."""

    request_id: int
    method: str
    replayability: Replayability
    #: The generation it was last sent under, or ``None`` while it is parked (waiting for READY).
    generation: int | None = None
    #: How often it has been re-sent (or parked to be re-sent) after being lost.
    replays: int = 0
    #: The signal that last disrupted it.
    last_signal: Signal | None = None
    #: Resumptions of its paused stream in a row without progress (0: not resuming).
    resumptions: int = 0
    #: The last event id its stream carried before the latest pause (``None``: no pause yet).
    last_event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectWaiter:
    """One ``connect()`` caller waiting for a live binding."""

    waiter_id: int
    #: Its deadline in seconds (the runtime keeps the time; the error names it).
    timeout: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything the model knows about one endpoint."""

    state: State
    config: ModelConfig
    #: The generation of the latest negotiation started (0: none yet).
    generation: int = 0
    #: The live binding in READY; in INVALIDATED and RECOVERING, the binding that was lost.
    binding: Binding | None = None
    #: A legacy binding whose ``notifications/initialized`` is not yet delivered.
    pending: Binding | None = None
    #: The era the next negotiation tries.
    era: Era = Era.MODERN
    #: Failed negotiations in the current round of recovery.
    attempt: int = 0
    #: Whether this attempt already switched era once (a second switch counts as a failure).
    era_switched: bool = False
    #: Whether a backoff timer is running (``BackoffElapsed`` is then expected).
    recovery_scheduled: bool = False
    #: Requests not yet resolved, in submission order.
    requests: tuple[TrackedRequest, ...] = ()
    #: The signal that last disrupted the session or a negotiation.
    last_signal: Signal | None = None
    #: Why the session is FAILED.
    failure: SessionUnusable | None = None
    #: What the last failed negotiation step saw, in words (empty: not known).
    last_cause: str = ""
    #: ``connect()`` callers waiting for a live binding, in arrival order.
    waiters: tuple[ConnectWaiter, ...] = ()
    #: New sessions lost in a row before any of their requests was answered.
    unkept_sessions: int = 0
    #: Whether a request sent under ``binding`` (live or just lost) was answered.
    binding_served: bool = False
    #: Whether the last 404 to a GET stream that ended a session was to a session whose stream was
    #: never served (a fresh session's GET), with no stream served since: another such 404 means
    #: the server offers no GET stream at all, not that the session is gone.
    fresh_stream_refused: bool = False

    @property
    def live_binding(self) -> Binding | None:
        """The binding requests go out under: :attr:`binding` when READY, else ``None``.

        Outside READY, :attr:`binding` is the binding that was lost (kept to compare the next one
        with and to restore what it held); nothing may be sent under it.
        """
        return self.binding if self.state is State.READY else None

    def request(self, request_id: int) -> TrackedRequest | None:
        """The tracked request with this id, if any."""
        for tracked in self.requests:
            if tracked.request_id == request_id:
                return tracked
        return None

    def in_flight(self) -> tuple[TrackedRequest, ...]:
        """Requests sent and not yet answered."""
        return tuple(r for r in self.requests if r.generation is not None)

    def waiter(self, waiter_id: int) -> ConnectWaiter | None:
        """The waiting ``connect()`` caller with this id, if any."""
        for waiter in self.waiters:
            if waiter.waiter_id == waiter_id:
                return waiter
        return None

    def parked(self) -> tuple[TrackedRequest, ...]:
        """Requests waiting for a binding."""
        return tuple(r for r in self.requests if r.generation is None)

    def with_request(self, tracked: TrackedRequest) -> Snapshot:
        """This snapshot with ``tracked`` added, or replacing the request with its id."""
        requests = self.requests
        if self.request(tracked.request_id) is None:
            return self._with_requests((*requests, tracked))
        return self._with_requests(tuple(tracked if r.request_id == tracked.request_id else r for r in requests))

    def without_request(self, request_id: int) -> Snapshot:
        """This snapshot with the request ``request_id`` forgotten."""
        requests = self.requests
        if len(requests) == 1 and requests[0].request_id == request_id:
            return self._with_requests(())  # the common case: the only request in flight resolves
        return self._with_requests(tuple(r for r in requests if r.request_id != request_id))

    def _with_requests(self, requests: tuple[TrackedRequest, ...]) -> Snapshot:
        # ``dataclasses.replace`` re-runs ``__init__``; this runs twice on every call, so the other
        # fields are copied in C (their values are already checked): ``attrgetter`` reads them all,
        # ``object.__setattr__`` writes each slot (a frozen dataclass's own ``__setattr__`` refuses),
        # and a ``deque`` of no length drains the ``map``.
        copy = _new_snapshot(Snapshot)
        deque(map(_put, repeat(copy), _COPIED, _copied_values(self)), maxlen=0)
        _put(copy, "requests", requests)
        return copy


_new_snapshot = object.__new__
_put = object.__setattr__
#: The fields a copy with other requests takes over unchanged.
_COPIED = tuple(f.name for f in fields(Snapshot) if f.name != "requests")
_copied_values = attrgetter(*_COPIED)


def initial_snapshot(config: ModelConfig | None = None) -> Snapshot:
    """The snapshot of a session that has done nothing yet."""
    config = config or ModelConfig()
    return Snapshot(state=State.UNINITIALIZED, config=config, era=config.first_era())
