"""What a check found: the invariants, each violation with its story, and the counters it saw."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields

__all__ = ["ConformanceReport", "Counters", "Invariant", "Violation"]


class Invariant(enum.Enum):
    """The recovery invariants a check judges, each with what it demands."""

    #: Every call resolves with a result or an exception, never hangs past its deadline, and
    #: answers its own request (``add`` returns its sum).
    RESOLVED = "every call resolves within its deadline, with its own answer"
    #: A call whose request the fault did not put in doubt returns a result: a restart, an expired
    #: session, an outage or a gateway window are not the caller's problem.
    RECOVERED = "a call that lost nothing in doubt returns a result"
    #: The client lives through the faults: its ``async with`` neither hangs nor raises.
    CLIENT_SURVIVES = "the client's async with neither hangs nor raises"
    #: One successful ``initialize`` when the client starts and one per lost session, no more
    #: (a client that re-initializes per caller breaks it).
    ONE_INITIALIZE_PER_LOST_SESSION = "at most one initialize per lost session"
    #: Waiting out a gateway window or an outage with backoff: no ``initialize`` storm.
    NO_STORM = "no initialize storm while the server is unavailable"
    #: No request carries a session id the server already rejected (the SDK's bug after a restart).
    NO_REJECTED_SESSION_ID = "no request carries a session id already rejected"
    #: ``notifications/initialized`` once per session, before any other request of that session.
    INITIALIZED_FIRST = "notifications/initialized once per session, before anything else"
    #: A non-idempotent tool (``bump``) runs at most once per call: a cut answer is not replayed.
    NO_DUPLICATE_EXECUTION = "a non-idempotent tool runs at most once per call"
    #: A request never mixes eras: no session id on a sessionless request, no sessionless
    #: protocol version on a session's request.
    NO_ERA_MIXING = "a request never mixes protocol eras"
    #: A wire delivers a request and its answer unchanged: status, headers, body.
    WIRE_ROUND_TRIP = "a wire delivers the request and its answer unchanged"
    #: A wire shows response header names in lower case.
    WIRE_HEADERS = "a wire shows response header names in lower case"
    #: A failure is the right ``WireError(kind, progress)``: refused is (connect_refused, not_sent), a
    #: drop before the answer (connection_reset, sent), a cut body (stream_cut, streaming), a slow
    #: answer (read_timeout, sent).
    WIRE_ERRORS = "a transport failure is the right WireError(kind, progress)"
    #: A body is streamed as it arrives, never buffered whole first.
    WIRE_STREAMED = "a wire streams a body rather than buffering it"
    #: ``aclose`` releases the connection, the body read or not.
    WIRE_CLOSED = "a wire's aclose releases the connection"
    #: A request goes where the runtime says (``Outgoing.url`` when set, else the endpoint), and a
    #: redirect comes back as an answer: the runtime follows what may be followed, once for every wire.
    WIRE_ADDRESSED = "a wire sends to the Outgoing's url when it names one, and follows no redirect"

    @property
    def label(self) -> str:
        """The invariant's name and what it demands, for messages."""
        return f"{self.name} ({self.value})"


@dataclass(frozen=True)
class Violation:
    """One invariant broken: which, how (``detail``, never a session id), and the story that broke it."""

    invariant: Invariant
    detail: str
    #: The shortest failing story found, one numbered line per step.
    story: str

    def __str__(self) -> str:
        story = "\n".join(f"    {line}" for line in self.story.splitlines())
        return f"{self.invariant.label}: {self.detail}\n  story:\n{story}"


@dataclass(frozen=True)
class Counters:
    """What a check saw, summed over every story it ran (shrinking runs included)."""

    #: Stories run (examples plus shrinking attempts) and the steps in them (final calls included).
    stories: int = 0
    steps: int = 0
    #: Calls made, and how they ended: a result, an exception, a hang past the deadline.
    calls: int = 0
    results: int = 0
    exceptions: int = 0
    hangs: int = 0
    #: Faults applied.
    restarts: int = 0
    expiries: int = 0
    outages: int = 0
    gateway_windows: int = 0
    cut_streams: int = 0
    era_switches: int = 0
    #: The server's side: successful initializes, every initialize POST (a gateway's answer
    #: included), sessions created, stale-session answers, ``notifications/initialized``
    #: received, requests on a session before it, and ``bump`` executions.
    initializes: int = 0
    initialize_posts: int = 0
    sessions_created: int = 0
    stale_answers: int = 0
    initialized_notifications: int = 0
    requests_before_initialized: int = 0
    bump_executions: int = 0
    #: Requests that carried a session id the server had already rejected.
    rejected_id_requests: int = 0
    #: Wall-clock seconds the check took.
    seconds: float = 0.0

    def __add__(self, other: Counters) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True)
class ConformanceReport:
    """The verdict of one check: ``passed``, the ``violations`` of the shortest failing story, ``counters``."""

    #: What was checked, e.g. ``"client (legacy era)"`` or ``"wire"``.
    subject: str
    violations: tuple[Violation, ...] = ()
    counters: Counters = field(default_factory=Counters)
    #: Examples run before the first failure (or all of them) and shrinking runs after it.
    examples_run: int = 0
    shrink_runs: int = 0

    @property
    def passed(self) -> bool:
        """Whether no invariant was broken."""
        return not self.violations

    @property
    def broken(self) -> frozenset[Invariant]:
        """The invariants broken."""
        return frozenset(violation.invariant for violation in self.violations)

    def summary(self) -> str:
        """A few lines for a test failure or a log: verdict, each violation with its story, counters."""
        c = self.counters
        if self.subject == "wire":
            verdict = "passed" if self.passed else "FAILED"
            lines = [f"conformance wire: {verdict} ({self.examples_run} cases, {c.seconds:.1f} s)"]
            return "\n".join([*lines, *(str(violation) for violation in self.violations)])
        head = (
            f"conformance {self.subject}: {'passed' if self.passed else 'FAILED'} "
            f"({self.examples_run} examples, {self.shrink_runs} shrinking runs, {c.stories} stories, "
            f"{c.calls} calls: {c.results} results, {c.exceptions} exceptions, {c.hangs} hangs; "
            f"{c.restarts} restarts, {c.outages} outages, {c.gateway_windows} gateway windows, "
            f"{c.cut_streams} cut streams, {c.era_switches} era switches; {c.initializes} initializes; "
            f"{c.seconds:.1f} s)"
        )
        return "\n".join([head, *(str(violation) for violation in self.violations)])

    def __str__(self) -> str:
        return self.summary()
