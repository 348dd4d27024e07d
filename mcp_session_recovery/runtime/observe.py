"""What the runtime tells observers: one typed record per transition, and stdlib logging.

Records and log lines never hold a session id or a credential: events carry session ids only as
:class:`~mcp_session_recovery.model.SessionId`, whose ``repr`` is redacted, and no header value is
ever logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from mcp_session_recovery.model import Binding, Event, State

__all__ = ["BindingChange", "EventHook", "SessionLog", "TransitionRecord", "logger"]

#: The runtime's logger; adapters log under ``mcp_session_recovery.adapters.*``. The package's top
#: logger has a ``NullHandler`` (see the package's ``__init__``): nothing is printed unless the
#: application configures logging, e.g. ``logging.basicConfig(level=logging.INFO)``.
logger = logging.getLogger("mcp_session_recovery.runtime")


@dataclass(frozen=True, slots=True)
class BindingChange:
    """The server's terms changed across a re-negotiation: hosts should refresh their tool lists."""

    previous: Binding
    current: Binding


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionRecord:
    """One step of the session machine, as a host UI or a log would show it."""

    #: Where the session of ``origin`` was.
    origin: str
    old_state: State
    event: Event
    new_state: State
    #: The generation of the latest negotiation after the step (it counts attempts, failed ones too).
    generation: int
    #: How many negotiations succeeded so far: the first connection and every recovery, each one a
    #: new session the server saw (what a status line shows as the session's generation).
    negotiated: int = 0
    #: Why, in words: the classifier's reason for a disruption, or empty.
    reason: str = ""
    #: Set when this step made a binding live whose terms differ from the lost one's.
    binding_change: BindingChange | None = None

    def describe(self) -> str:
        """A one-line, credential-free description."""
        arrow = f"{self.old_state.name} --{type(self.event).__name__}--> {self.new_state.name}"
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.origin}: {arrow} generation={self.generation}{why}"


#: The ``on_event`` hook: called synchronously for every transition; it must not block.
EventHook = Callable[[TransitionRecord], None]


class SessionLog:
    """What a library should log of the transitions: one WARNING when the session is lost (or the
    first connection fails), one INFO when it is back, with how long it took and how many attempts;
    the attempts in between, and everything else, are DEBUG.

    A round of recovery that gives up (its waiting requests fail) is a WARNING too, and the loss
    then goes on until a session is live again. ``clock`` is in seconds (monotonic).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: When the session was lost (``None``: it is not).
        self._lost_at: float | None = None
        #: The generation of the last live binding (0: none yet): attempts count from it.
        self._live_generation = 0

    def line(self, record: TransitionRecord, *, gave_up: bool = False) -> tuple[int, str]:
        """The level and text to log for ``record`` (a change of state or of the binding's terms).

        ``gave_up``: this step ended a round of recovery without a session.
        """
        state, origin = record.new_state, record.origin
        attempts = record.generation - self._live_generation
        why = f" ({record.reason})" if record.reason else ""
        if state is State.INVALIDATED:
            if self._lost_at is None:
                self._lost_at = self._clock()
                if record.old_state is State.READY:
                    return logging.WARNING, f"{origin}: session lost{why}; reconnecting"
                if gave_up:  # nothing retries by itself (refused credentials, or a round of one attempt)
                    return logging.WARNING, f"{origin}: cannot connect{why}; the next request tries again"
                return logging.WARNING, f"{origin}: cannot connect{why}; retrying"
            if gave_up:
                return logging.WARNING, (
                    f"{origin}: no session after {attempts} attempt(s) in {self._elapsed():.1f} s{why}; "
                    "waiting requests failed, the next request tries again"
                )
            return logging.DEBUG, f"{origin}: attempt {attempts} failed{why}"
        if state is State.READY:
            back = "session back" if self._live_generation else "connected"
            self._live_generation = record.generation
            changed = "; the server's terms changed" if record.binding_change is not None else ""
            if self._lost_at is not None:
                elapsed = self._elapsed()
                self._lost_at = None
                return logging.INFO, f"{origin}: {back} after {elapsed:.1f} s and {attempts} attempt(s){changed}"
            return logging.DEBUG, f"{origin}: connected{changed}"
        if state is State.FAILED:
            self._lost_at = None
            return logging.WARNING, f"{origin}: the session failed and is not retried{why}"
        if state is State.CLOSED:
            self._lost_at = None
        return logging.DEBUG, f"{origin}: {record.describe()}"

    def _elapsed(self) -> float:
        return self._clock() - (self._lost_at if self._lost_at is not None else self._clock())
