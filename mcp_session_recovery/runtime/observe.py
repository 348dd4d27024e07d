"""What the runtime tells observers: one typed record per transition, and stdlib logging.

Records and log lines never hold a session id or a credential: events carry session ids only as
:class:`~mcp_session_recovery.model.SessionId`, whose ``repr`` is redacted, and no header value is
ever logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from mcp_session_recovery.model import Binding, Event, State

__all__ = ["BindingChange", "EventHook", "TransitionRecord", "log_level", "logger"]

#: The runtime's logger; adapters log under ``mcp_session_recovery.adapters.*``.
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
    #: The generation of the latest negotiation after the step.
    generation: int
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


def log_level(record: TransitionRecord) -> int:
    """Losing or failing a session is worth a warning, recovering it a note; the rest is debug."""
    if record.new_state in (State.INVALIDATED, State.FAILED):
        return logging.WARNING
    if record.new_state is State.READY and record.old_state is State.RECOVERING:
        return logging.INFO
    return logging.DEBUG
