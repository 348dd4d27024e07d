"""The server's memory: sessions, the side-effect counter and the counters a test reads.

Everything a real process would lose when it dies lives in one :class:`ProcessState`, so an
in-process restart is "throw it away and start a new one" and cannot forget to reset something.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from ._wire import EventFeed, StreamTally
from .stats import COUNTERS, MAX_INITIALIZE_TIMES, TALLIES, RecordedRequest, ServerStats, frozen_counts

__all__ = ["ProcessState", "Session"]


@dataclass(eq=False)
class Session:
    """One legacy session, as the server remembers it."""

    id: str
    protocol_version: str
    initialized: bool = False
    subscriptions: set[str] = field(default_factory=set)
    log_level: str | None = None
    feeds: set[EventFeed] = field(default_factory=set)
    #: Answers of paused ``tools/call`` streams, by the id of their priming event (SEP-1699).
    paused_answers: dict[str, bytes] = field(default_factory=dict)
    #: Event ids handed out in this session so far (ids are unique within a session).
    events_sent: int = 0


@dataclass(eq=False)
class ProcessState:
    """What one server process holds; replaced wholesale by an in-process restart."""

    restarts: int = 0
    sessions: dict[str, Session] = field(default_factory=dict)
    #: The ``bump`` tool's side effect, also the text of ``test://counter``.
    bumps: int = 0
    # From here to dropped_requests: the counters named in stats.COUNTERS (snapshot() copies them).
    initializes: int = 0
    discovers: int = 0
    sessions_created: int = 0
    sessions_deleted: int = 0
    initialized_notifications: int = 0
    requests_before_initialized: int = 0
    get_streams_opened: int = 0
    stale_answers: int = 0
    mismatched_answers: int = 0
    get_requests: int = 0
    delete_requests: int = 0
    canned_answers: int = 0
    dropped_requests: int = 0
    streams_paused: int = 0
    streams_resumed: int = 0
    connections_accepted: int = 0
    #: ``time.monotonic()`` when each paused stream ended, and when each resuming GET arrived (bounded).
    pause_times: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_INITIALIZE_TIMES))
    resume_times: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_INITIALIZE_TIMES))
    #: ``time.monotonic()`` of the latest ``initialize`` POSTs received (bounded).
    initialize_times: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_INITIALIZE_TIMES))
    #: The latest requests received, while ``Behaviour.record_requests`` is not 0 (bounded by it).
    recorded_requests: deque[RecordedRequest] = field(default_factory=lambda: deque(maxlen=0))
    #: The generated answers (``stats.TALLIES``), updated by the connection that writes them.
    endless_events: StreamTally = field(default_factory=StreamTally)
    oversized_answers: StreamTally = field(default_factory=StreamTally)
    tool_executions: Counter[str] = field(default_factory=Counter)
    requests_by_method: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> ServerStats:
        """The counters as an immutable value."""
        tallies = {
            f"{kind}_{part}": getattr(getattr(self, kind), part)
            for kind in TALLIES
            for part in ("started", "ended", "bytes_sent")
        }
        return ServerStats(
            **{name: getattr(self, name) for name in COUNTERS},
            **tallies,
            tool_executions=frozen_counts(self.tool_executions),
            requests_by_method=frozen_counts(self.requests_by_method),
            initialize_times=tuple(self.initialize_times),
            pause_times=tuple(self.pause_times),
            resume_times=tuple(self.resume_times),
            recorded_requests=tuple(self.recorded_requests),
            live_sessions=len(self.sessions),
            restarts=self.restarts,
        )

    def record(self, request: RecordedRequest, keep: int) -> None:
        """Keep ``request`` among the last ``keep`` recorded ones (0: recording is off)."""
        if self.recorded_requests.maxlen != keep:
            self.recorded_requests = deque(self.recorded_requests, maxlen=keep)
        self.recorded_requests.append(request)

    def drop_session(self, session_id: str, *, abort: bool) -> bool:
        """Forget a session and end its GET streams; ``False`` if it was not known."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        for feed in session.feeds:
            if abort:
                feed.abort()
            else:
                feed.end()
        session.feeds.clear()
        return True

    def drop_all(self, *, abort: bool) -> int:
        """Forget every session; returns how many there were."""
        ids = list(self.sessions)
        for session_id in ids:
            self.drop_session(session_id, abort=abort)
        return len(ids)

    def notify_subscribers(self, uri: str, event: bytes) -> None:
        """Push ``event`` on every open GET stream of every session subscribed to ``uri``."""
        for session in self.sessions.values():
            if uri in session.subscriptions:
                for feed in session.feeds:
                    feed.push(event)
