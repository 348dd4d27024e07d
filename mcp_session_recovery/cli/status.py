"""The status line on stderr: where the upstream session stands (connected, reconnecting…).

Fed by the runtime's ``on_event`` records, it writes one line per change a host's user cares about
(connecting, connected, reconnecting, failed, closed; "refused" when the server answers as one that
lost the session may, in a way the settings do not take for a lost session), never one per
attempt: an outage is one ``reconnecting… (why)`` line and one ``connected`` line when it is over.
Each line ends with a newline, on a terminal too, so nothing else written there (the bridge's
output, a log line) runs into it. It names the upstream by its origin only (``scheme://host:port``):
never a path, a query, a header or a session id.

"generation N" counts the negotiations that made a session live: the first connection is 1, and
each recovery adds one, as many as the server saw ``initialize`` requests that led anywhere. Failed
attempts in between do not count.
"""

from __future__ import annotations

import enum
import logging
import sys
from typing import TextIO

from mcp_session_recovery.model import Binding, CredentialsRefused, State
from mcp_session_recovery.model.classify import UNTREATED_LOSS
from mcp_session_recovery.runtime import TransitionRecord

from .arguments import classifier_flag

__all__ = ["Phase", "StatusLine", "configure_logging", "phase_of", "status_text"]


class Phase(enum.Enum):
    """What the status line tells: the session's state as a host's user sees it."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    #: Connected, but the server answers a request of the session as a server that lost it may,
    #: in a way the library does not take for a lost session with its settings.
    REFUSED = "refused"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    CLOSED = "closed"


_PHASES = {
    State.INITIALIZING: Phase.CONNECTING,
    State.READY: Phase.CONNECTED,
    State.INVALIDATED: Phase.RECONNECTING,
    State.RECOVERING: Phase.RECONNECTING,
    State.FAILED: Phase.FAILED,
    State.CLOSED: Phase.CLOSED,
}


def phase_of(record: TransitionRecord) -> Phase | None:
    """The phase ``record`` leads to (``None``: nothing started yet)."""
    if record.new_state is State.READY and record.reason in UNTREATED_LOSS:
        return Phase.REFUSED
    return _PHASES.get(record.new_state)


def status_text(record: TransitionRecord, binding: Binding | None) -> str | None:
    """What the line says when ``record`` starts a new phase (``binding``: the live one, if any)."""
    phase = phase_of(record)
    why = f" ({record.reason})" if record.reason else ""
    if phase is Phase.CONNECTED:
        terms = f"{binding.era.value} {binding.protocol_version}, " if binding is not None else ""
        return f"connected: {terms}generation {record.negotiated}"
    if phase is Phase.REFUSED:
        flag = classifier_flag(UNTREATED_LOSS[record.reason])
        return f"{record.reason}; if it lost the session (a restart), run with {flag} (`doctor URL` tells)"
    if phase is Phase.CONNECTING:
        return "connecting…"
    if phase is Phase.RECONNECTING:
        if isinstance(record.event, CredentialsRefused):
            # No timer retries refused credentials: the reason says what happens next.
            return f"not connected{why}"
        if record.negotiated == 0:  # never connected yet: nothing to reconnect
            return f"cannot connect{why}; retrying…"
        return f"reconnecting…{why}"
    if phase is Phase.FAILED:
        return f"failed{why}"
    if phase is Phase.CLOSED:
        return "closed"
    return None


class StatusLine:
    """Writes status and notes to ``stream`` (stderr by default); ``quiet`` silences all but warnings."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        #: The phase each session is in (a proxy keeps one upstream session per host session).
        self._phases: dict[object, Phase] = {}

    def update(self, origin: str, record: TransitionRecord, binding: Binding | None, *, key: object = None) -> None:
        """Show the phase ``record`` leads to, when it is a new one for the session ``key``."""
        phase = phase_of(record)
        if phase is None or self._phases.get(key) is phase:
            return
        self._phases[key] = phase
        if phase is Phase.CLOSED:
            del self._phases[key]  # nothing follows; forget the session
        text = status_text(record, binding)
        if text is not None and not self._quiet:
            self._write(f"upstream {origin}: {text}")

    def note(self, text: str) -> None:
        """One message of its own (not the status): ``listening on …``, ``stopping``."""
        if not self._quiet:
            self._write(text)

    def warn(self, text: str) -> None:
        """A warning, shown even when quiet."""
        self._write(f"warning: {text}")

    def _write(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()


def configure_logging(*, verbose: bool) -> None:
    """Logs go to stderr only (stdout may be a protocol stream). The status line already tells the
    state changes, so the library logs only errors unless ``verbose``."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mcp_session_recovery").setLevel(logging.INFO if verbose else logging.ERROR)
