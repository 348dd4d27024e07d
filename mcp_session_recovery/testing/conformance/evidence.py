"""What one story leaves behind: the server's counters and request log, and each call's outcome.

The server forgets its counters when it restarts, so the ledger takes a snapshot just before
every restart the story makes and sums the parts. It also marks, in the log of requests the
server received, where sessions died and where a gateway answered instead of the server, so the
judge can tell a request that carried a rejected session id from one a gateway turned away.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from mcp_session_recovery.testing.server import TestServer
from mcp_session_recovery.testing.stats import RecordedRequest, ServerStats

__all__ = ["CallRecord", "Ending", "Ledger"]

#: How many requests the server keeps in its log per process (its own upper bound).
RECORDED_REQUESTS = 1000
#: The header a legacy session's id travels in (the server's log has lower-case names).
SESSION_HEADER = "mcp-session-id"


class Ending(enum.Enum):
    """How a call ended, as its caller saw it."""

    RESULT = "result"
    EXCEPTION = "exception"
    #: Not resolved within its deadline.
    HANG = "hang"
    #: Still unresolved when the client's ``async with`` died under it.
    KILLED = "killed"


@dataclass
class CallRecord:
    """One call: what was asked, whether the fault put its outcome in doubt, and how it ended."""

    step: int
    tool: str
    #: The answer's text that proves it is this call's (``add``'s sum), when there is one.
    expected_text: str | None
    #: A cut answer: an exception is an acceptable end (the outcome is unknown).
    in_doubt: bool
    ending: Ending = Ending.KILLED
    #: The exception's type and message (session ids the story saw are scrubbed), or the result's text.
    detail: str = ""
    text: str | None = None


@dataclass
class Ledger:
    """The evidence of one story, filled in by the story runner and read by the judge."""

    server: TestServer
    #: Closed parts: the server's counters just before each restart.
    parts: list[ServerStats] = field(default_factory=list)
    #: Requests of the closed parts, oldest first.
    recorded: list[RecordedRequest] = field(default_factory=list)
    #: (position in the request log, the session ids that died there).
    deaths: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    #: (first, end) positions of requests a gateway answered; seconds the windows lasted.
    windows: list[tuple[int, int]] = field(default_factory=list)
    window_seconds: float = 0.0
    #: Positions in the log where a step that made calls ended: by then the client has seen
    #: whatever the server answered a dead session id.
    call_steps_ended: list[int] = field(default_factory=list)
    #: Sessions lost by a fault (each may need one new initialize).
    losses: int = 0
    calls: list[CallRecord] = field(default_factory=list)
    #: The most calls in flight at once.
    max_callers: int = 1
    #: Why the client's ``async with`` failed (it hung or raised), if it did.
    client_failure: str | None = None
    #: Faults applied, by kind (a :class:`~.report.Counters` field name).
    faults: dict[str, int] = field(default_factory=dict)
    steps_run: int = 0

    def position(self) -> int:
        """Where the next request will land in the log."""
        return len(self.recorded) + len(self.server.stats.recorded_requests)

    def session_ids(self) -> frozenset[str]:
        """Every session id a request of this story carried so far."""
        requests = (*self.recorded, *self.server.stats.recorded_requests)
        return frozenset(r.headers[SESSION_HEADER] for r in requests if SESSION_HEADER in r.headers)

    def sessions_die(self) -> None:
        """Every session the client used so far is gone from now on (call before the fault)."""
        ids = self.session_ids()
        if not self.deaths or ids - self.deaths[-1][1]:
            self.losses += 1  # a session unused since the last death is not lost twice
        self.deaths.append((self.position(), ids))

    def close_part(self) -> None:
        """Keep the counters and log of the server process about to restart."""
        stats = self.server.stats
        self.parts.append(stats)
        self.recorded.extend(stats.recorded_requests)

    def count(self, fault: str) -> None:
        """One more fault of kind ``fault`` applied."""
        self.faults[fault] = self.faults.get(fault, 0) + 1

    def finish(self) -> None:
        """Close the last part (the story is over, the client closed)."""
        self.close_part()

    def total(self, name: str) -> int:
        """A counter summed over every part."""
        return sum(int(getattr(part, name)) for part in self.parts)

    def executions(self, tool: str) -> int:
        """How many times ``tool`` ran, over every part."""
        return sum(part.tool_executions.get(tool, 0) for part in self.parts)

    def initialize_posts(self) -> int:
        """Every ``initialize`` POST the server received, whoever answered it."""
        return sum(len(part.initialize_times) for part in self.parts)

    def log_truncated(self) -> bool:
        """Whether a part's request log overflowed (the id checks then see only its end)."""
        return any(len(part.recorded_requests) >= RECORDED_REQUESTS for part in self.parts)

    def scrub(self, text: str) -> str:
        """``text`` with every session id of this story replaced (they never appear in a report)."""
        for session_id in sorted(self.session_ids(), key=len, reverse=True):
            if session_id:
                text = text.replace(session_id, "<session id>")
        return text
