"""The one status line on stderr: where the upstream session stands (connected, reconnecting…).

Fed by the runtime's ``on_event`` records. On a terminal the line is rewritten in place; into a
pipe or a file each change is one line. It names the upstream by its origin only
(``scheme://host:port``): never a path, a query, a header or a session id.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from mcp_session_recovery.model import Binding, State
from mcp_session_recovery.runtime import TransitionRecord

__all__ = ["StatusLine", "configure_logging", "status_text"]


def status_text(record: TransitionRecord, binding: Binding | None) -> str | None:
    """What the line says after ``record`` (``binding``: the live one, if any); ``None``: nothing new."""
    state = record.new_state
    why = f" ({record.reason})" if record.reason else ""
    if state is State.READY and binding is not None:
        return f"connected: {binding.era.value} {binding.protocol_version}, generation {binding.generation}"
    if state is State.INITIALIZING:
        return "connecting…"
    if state in (State.INVALIDATED, State.RECOVERING):
        return f"reconnecting…{why}"
    if state is State.FAILED:
        return f"failed{why}"
    if state is State.CLOSED:
        return "closed"
    return None


class StatusLine:
    """Writes status and notes to ``stream`` (stderr by default); ``quiet`` silences all but warnings."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet
        self._tty = self._stream.isatty()
        self._last: str | None = None
        self._open_line = False

    def update(self, origin: str, record: TransitionRecord, binding: Binding | None) -> None:
        """Show the state ``record`` leads to, when it says something new."""
        text = status_text(record, binding)
        if text is None:
            return
        line = f"upstream {origin}: {text}"
        if line == self._last:
            return
        self._last = line
        if self._quiet:
            return
        if self._tty:
            self._stream.write(f"\r\x1b[K{line}")
            self._open_line = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def note(self, text: str) -> None:
        """One message of its own (not the status): ``listening on …``, ``stopping``."""
        if not self._quiet:
            self._write(text)

    def warn(self, text: str) -> None:
        """A warning, shown even when quiet."""
        self._write(f"warning: {text}")

    def _write(self, text: str) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False
        self._stream.write(text + "\n")
        self._stream.flush()


def configure_logging(*, verbose: bool) -> None:
    """Logs go to stderr only (stdout may be a protocol stream). The status line already tells the
    state changes, so the library logs only errors unless ``verbose``."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mcp_session_recovery").setLevel(logging.INFO if verbose else logging.ERROR)
