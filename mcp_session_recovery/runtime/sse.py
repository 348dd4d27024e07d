"""An incremental, bounded reader of ``text/event-stream`` bodies that keeps every event's raw bytes.

Pure: bytes in, events out. Each :class:`SseEvent` carries the exact bytes it was made of (from the
end of the previous event to the blank line that ends it), so a relay can hand a client the
server's bytes unchanged while the runtime reads the same event's ``data``. Handles CRLF, LF and
CR line endings, multi-line ``data``, comments and events split across chunks. ``id`` and
``retry`` are not interpreted (event ids are scoped to a session and die with it).

Bounded: an event is held until its blank line arrives, never longer than ``max_event`` bytes,
and no line longer than ``max_line``; crossing either raises :class:`LimitCrossed` naming it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["LimitCrossed", "SseEvent", "SseReader"]

_LINE_END = re.compile(rb"\r\n|\r|\n")


class LimitCrossed(ValueError):
    """A read limit was crossed: ``limit`` names the ``ReadLimits`` field, ``bound`` its value."""

    def __init__(self, limit: str, bound: int) -> None:
        self.limit = limit
        self.bound = bound
        super().__init__(f"{limit} ({bound} bytes) crossed")


class SseEvent(NamedTuple):
    """One event: its name (``message`` by default), its data, and the raw bytes it came in.

    A named tuple, not a dataclass: one is made for every event read, and a tuple is made in C.
    """

    event: str
    data: str
    raw: bytes


class SseReader:
    """Feed body chunks; collect complete events (with ``data``) and the raw bytes of all others."""

    def __init__(self, *, max_event: int, max_line: int) -> None:
        self._max_event = max_event
        self._max_line = max_line
        self._buffer = bytearray()
        #: Where the next line starts in the buffer (everything before it belongs to the event so far).
        self._line_start = 0
        self._name = ""
        self._data: list[bytes] = []
        self._first = True
        #: The last chunk ended in CR: an LF starting the next one completes that line end.
        self._pending_cr = False
        #: How far the buffer was searched for line ends (a long line is scanned once, not per chunk).
        self._scanned = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Take ``chunk``; return the events it completed, in order.

        An event without ``data`` (a keep-alive comment, say) is returned with ``data == ""`` and
        ``event == ""`` so its bytes are still relayed.
        """
        if not self._buffer and not self._pending_cr:
            whole = self._whole_events(chunk)
            if whole is not None:
                return whole
        buffer = self._buffer
        buffer += chunk
        if self._first and len(buffer) >= 3:
            self._first = False
            if buffer.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is not part of the first line
                self._line_start = 3
        events: list[SseEvent] = []
        event_start = 0
        position = self._line_start
        if self._pending_cr and chunk:
            self._pending_cr = False
            if buffer[position : position + 1] == b"\n":
                position += 1
        end = len(buffer)
        for match in _LINE_END.finditer(buffer, max(position, self._scanned)):
            # A CR at the very end ends its line now; an LF opening the next chunk is its other half.
            self._pending_cr = match.end() == end and match.group() == b"\r"
            if match.start() - position > self._max_line:
                raise LimitCrossed("max_sse_line", self._max_line)
            line = bytes(buffer[position : match.start()])
            position = match.end()
            if line:
                self._field(line)
                continue
            if position - event_start > self._max_event:
                raise LimitCrossed("max_sse_event", self._max_event)
            events.append(self._dispatch(bytes(buffer[event_start:position])))
            event_start = position
        self._scanned = end
        if event_start:
            del buffer[:event_start]
            position -= event_start
            self._scanned -= event_start
        self._line_start = position
        if len(buffer) - position > self._max_line:
            raise LimitCrossed("max_sse_line", self._max_line)
        if len(buffer) > self._max_event:
            raise LimitCrossed("max_sse_event", self._max_event)
        return events

    def _whole_events(self, chunk: bytes) -> list[SseEvent] | None:
        """The events of ``chunk`` when it is whole events with one kind of line end and nothing is
        held from before (a server writes an answer so): split in C, no line-by-line scan. ``None``
        for anything else (which the line scan decodes to the same events)."""
        if self._first:
            if len(chunk) < 3 or chunk.startswith(b"\xef\xbb\xbf"):
                return None
            self._first = False
        if b"\r" in chunk:
            crs = chunk.count(b"\r")
            if chunk.count(b"\r\n") != crs or chunk.count(b"\n") != crs:
                return None  # a lone CR or LF among CRLFs
            newline = b"\r\n"
        else:
            newline = b"\n"
        blank = newline + newline
        if (
            not chunk.endswith(blank)
            or chunk.startswith(newline)  # an event of a lone blank line
            or blank + newline in chunk
            or len(chunk) > self._max_line
            or len(chunk) > self._max_event
        ):
            return None
        parts = chunk.split(blank)
        del parts[-1]  # what follows the last blank line: nothing
        events: list[SseEvent] = []
        for part in parts:
            # Each line is taken, and each event dispatched, exactly as the line scan does.
            for line in part.split(newline):
                self._field(line)
            events.append(self._dispatch(chunk if len(parts) == 1 else part + blank))
        return events

    @property
    def pending(self) -> bytes:
        """The raw bytes of the event not yet complete (what a stream cut leaves behind)."""
        return bytes(self._buffer)

    def _field(self, line: bytes) -> None:
        if line.startswith(b":"):
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._name = value.decode("utf-8", errors="replace")

    def _dispatch(self, raw: bytes) -> SseEvent:
        data, name = self._data, self._name
        self._data, self._name = [], ""
        if not data:
            return SseEvent("", "", raw)
        text = b"\n".join(data).decode("utf-8", errors="replace")
        return SseEvent(name or "message", text, raw)
