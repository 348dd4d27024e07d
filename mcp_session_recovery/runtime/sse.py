"""An incremental, bounded reader of ``text/event-stream`` bodies that keeps every event's raw bytes.

Pure: bytes in, events out. Each :class:`SseEvent` carries the exact bytes it was made of (from the
end of the previous event to the blank line that ends it), so a relay can hand a client the
server's bytes unchanged while the runtime reads the same event's ``data``. Handles CRLF, LF and
CR line endings, multi-line ``data``, comments and events split across chunks. The reader keeps the
stream's last event id and last ``retry`` value (what resuming a paused stream needs, SEP-1699);
event ids are scoped to a session and die with it.

Bounded: an event is held until its blank line arrives, never longer than ``max_event`` bytes,
and no line longer than ``max_line``; crossing either raises :class:`LimitCrossed` naming it.
"""

from __future__ import annotations

__all__ = ["LimitCrossed", "SseEvent", "SseReader"]

_LF = ord("\n")
_COLON = ord(":")
_SPACE = ord(" ")
#: An event up to this size that came in several pieces is handed on joined.
_JOINED_UP_TO = 1 << 16


class LimitCrossed(ValueError):
    """A read limit was crossed: ``limit`` names the ``ReadLimits`` field, ``bound`` its value."""

    def __init__(self, limit: str, bound: int) -> None:
        self.limit = limit
        self.bound = bound
        super().__init__(f"{limit} ({bound} bytes) crossed")


class SseEvent:
    """One event: its name (``message`` by default), its data, and the bytes it came in.

    ``pieces`` are the event's bytes as the chunks fed carried them: a big event is handed on in
    the chunks it came in, never copied into one piece (a client above reads those chunks as it
    would have read the server's). The data is decoded when it is first asked for: a relay reads a
    big event's head from the bytes it came in (:attr:`data_window`) and leaves the megabyte it
    carries to the client above, undecoded and uncopied.
    """

    __slots__ = ("_source", "_spans", "_text", "event", "pieces")

    def __init__(
        self,
        event: str,
        pieces: tuple[bytes, ...],
        source: bytes | bytearray = b"",
        spans: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.event = event
        self.pieces = pieces
        #: Where the data values are: ``source[start:stop]`` for each span (the reader never
        #: changes a buffer it dispatched an event from).
        self._source = source
        self._spans = spans
        self._text: str | None = None

    @property
    def data(self) -> str:
        """The event's data: its ``data`` values, one per line, decoded (``""`` without any)."""
        if self._text is None:
            spans, source = self._spans, self._source
            with memoryview(source) as view:
                if len(spans) == 1:
                    start, stop = spans[0]
                    self._text = str(view[start:stop], "utf-8", "replace")
                else:
                    self._text = str(b"\n".join([view[start:stop] for start, stop in spans]), "utf-8", "replace")
        return self._text

    @property
    def has_data(self) -> bool:
        """Whether :attr:`data` is not empty (found without decoding it)."""
        spans = self._spans
        return len(spans) > 1 or (len(spans) == 1 and spans[0][1] > spans[0][0])

    @property
    def data_window(self) -> tuple[bytes | bytearray | str, int, int]:
        """The data as ``(text, start, stop)``: its undecoded bytes in place for one ``data`` line,
        else the decoded :attr:`data` whole."""
        if len(self._spans) == 1:
            start, stop = self._spans[0]
            return self._source, start, stop
        data = self.data
        return data, 0, len(data)

    @property
    def raw(self) -> bytes:
        """The event's bytes in one piece."""
        return b"".join(self.pieces)


class SseReader:
    """Feed body chunks; collect complete events (with ``data``) and the raw bytes of all others."""

    def __init__(self, *, max_event: int, max_line: int, last_event_id: str | None = None) -> None:
        """``last_event_id``: the id a resumed stream continues from (its own events may carry none)."""
        #: The id of the last event dispatched that set one (``None``: none yet), as the SSE standard's
        #: "last event ID buffer" (an ``id`` line without a value empties it).
        self.last_event_id = last_event_id
        #: The last valid ``retry`` value (milliseconds) the stream gave, ``None`` if none.
        self.retry: int | None = None
        self._event_id: str | None = None
        self._max_event = max_event
        self._max_line = max_line
        #: The bytes of the event not yet complete, searched for line ends and fields.
        self._buffer = bytearray()
        #: The chunks whose bytes are in the buffer, oldest first (an event's pieces are cut from
        #: them), and how many leading bytes of the first went to events already dispatched.
        self._held: list[bytes] = []
        self._held_skip = 0
        #: Where the next line starts in the buffer (everything before it belongs to the event so far).
        self._line_start = 0
        self._name = ""
        #: Where the event's ``data`` values are, as (start, stop) in the buffer (or the chunk of
        #: :meth:`_whole_events`): decoded from there when the event completes, never copied first.
        self._data: list[tuple[int, int]] = []
        self._first = True
        #: The last chunk ended in CR: an LF starting the next one completes that line end.
        self._pending_cr = False
        #: How far the buffer was searched for line ends (a long line is scanned once, not per chunk).
        self._scanned = 0
        #: How many bytes at the start of the buffer :meth:`hand_on` gave away already.
        self._handed = 0

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
        if chunk:
            self._held.append(chunk)
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
        # Line ends are found with ``find`` (memchr), each kind from where it was last found: a
        # regular expression steps through every byte in Python's engine, about 15 ms for a 1 MiB
        # line where ``find`` takes a few microseconds.
        start = max(position, self._scanned)
        lf = buffer.find(b"\n", start)
        cr = buffer.find(b"\r", start)
        while lf >= 0 or cr >= 0:
            if cr < 0 or 0 <= lf < cr:
                line_end = next_line = lf
            else:
                line_end = next_line = cr
                if cr + 1 == end:
                    # A CR at the very end ends its line now; an LF opening the next chunk is its other half.
                    self._pending_cr = True
                elif buffer[cr + 1] == _LF:
                    next_line += 1
            next_line += 1
            if line_end - position > self._max_line:
                raise LimitCrossed("max_sse_line", self._max_line)
            if line_end > position:
                self._field(buffer, position, line_end)
                position = next_line
            else:
                position = next_line
                if position - event_start > self._max_event:
                    raise LimitCrossed("max_sse_event", self._max_event)
                events.append(self._dispatch(buffer, self._take(position - event_start - self._handed)))
                event_start = position
                self._handed = 0
            if lf < position:
                lf = buffer.find(b"\n", position) if lf >= 0 else -1
            if cr < position:
                cr = buffer.find(b"\r", position) if cr >= 0 else -1
        self._scanned = end
        if event_start:
            # A fresh buffer for what is left (a part of the last chunk): the one a big event grew is
            # freed now, not kept for as long as the stream lasts.
            buffer = self._buffer = buffer[event_start:]
            position -= event_start
            self._scanned -= event_start
            self._data = [(start - event_start, stop - event_start) for start, stop in self._data]
        self._line_start = position
        if len(buffer) - position > self._max_line:
            raise LimitCrossed("max_sse_line", self._max_line)
        if len(buffer) > self._max_event:
            raise LimitCrossed("max_sse_event", self._max_event)
        return events

    def _whole_events(self, chunk: bytes) -> list[SseEvent] | None:
        """The events of ``chunk`` when it is whole events with one kind of line end and nothing is
        held from before (a server writes an answer so): found with ``find``, no line-end bookkeeping.
        ``None`` for anything else (which the line scan decodes to the same events)."""
        if self._first:
            if len(chunk) < 3 or chunk.startswith(b"\xef\xbb\xbf"):
                return None
            self._first = False
        # The ending first: most chunks of a big event end mid-line, and counting takes longer.
        if chunk.endswith(b"\r\n\r\n"):
            crs = chunk.count(b"\r")
            if chunk.count(b"\r\n") != crs or chunk.count(b"\n") != crs:
                return None  # a lone CR or LF among CRLFs
            newline = b"\r\n"
        elif chunk.endswith(b"\n\n") and b"\r" not in chunk:
            newline = b"\n"
        else:
            return None
        blank = newline + newline
        if (
            chunk.startswith(newline)  # an event of a lone blank line
            or blank + newline in chunk
            or len(chunk) > self._max_line
            or len(chunk) > self._max_event
        ):
            return None
        events: list[SseEvent] = []
        size, step = len(chunk), len(newline)
        event_start = 0
        while event_start < size:
            # Each line is taken, and each event dispatched, exactly as the line scan does.
            last_end = chunk.find(blank, event_start)  # where the event's last line ends
            line_start = event_start
            while line_start <= last_end:
                line_end = chunk.find(newline, line_start, last_end)
                if line_end < 0:
                    line_end = last_end
                self._field(chunk, line_start, line_end)
                line_start = line_end + step
            event_end = last_end + 2 * step
            piece = chunk if event_start == 0 and event_end == size else chunk[event_start:event_end]
            events.append(self._dispatch(chunk, (piece,)))
            event_start = event_end
        return events

    @property
    def partial(self) -> int:
        """How many bytes of the event not yet complete were fed (and not handed on)."""
        return len(self._buffer) - self._handed

    @property
    def handed_on(self) -> int:
        """How many bytes of the event not yet complete :meth:`hand_on` gave away."""
        return self._handed

    def hand_on(self) -> tuple[bytes, ...]:
        """The bytes of the event not yet complete fed since the last call, as the chunks carried
        them: handed on before the event completes, they are left out of its ``pieces``."""
        pieces, skip = self._held, self._held_skip
        if skip:
            pieces[0] = pieces[0][skip:]
        self._held, self._held_skip = [], 0
        self._handed = len(self._buffer)
        return tuple(pieces)

    def _field(self, source: bytes | bytearray, start: int, stop: int) -> None:
        """Take the line ``source[start:stop]`` (not empty); a data value is only located here."""
        if source[start] == _COLON:
            return
        colon = source.find(b":", start, stop)
        if colon < 0:
            name, value_start = source[start:stop], stop
        else:
            name, value_start = source[start:colon], colon + 1
            if value_start < stop and source[value_start] == _SPACE:
                value_start += 1
        if name == b"data":
            self._data.append((value_start, stop))
        elif name == b"event":
            self._name = source[value_start:stop].decode("utf-8", errors="replace")
        elif name == b"id":
            value = bytes(source[value_start:stop])
            if b"\0" not in value:  # the standard ignores an id with NUL
                self._event_id = value.decode("utf-8", errors="replace")
        elif name == b"retry":
            value = bytes(source[value_start:stop])
            if value.isdigit() and len(value) <= 9:
                self.retry = int(value)

    def _take(self, size: int) -> tuple[bytes, ...]:
        """The next ``size`` bytes fed, as pieces of the chunks that carried them.

        A chunk shared with the next event is cut; a small event in many pieces is joined (one
        piece is cheaper to hand on than many tiny ones).
        """
        held, skip = self._held, self._held_skip
        pieces: list[bytes] = []
        used = 0
        remaining = size
        while remaining:
            chunk = held[used]
            available = len(chunk) - skip
            if available > remaining:
                pieces.append(chunk[skip : skip + remaining])
                skip += remaining
                break
            pieces.append(chunk[skip:] if skip else chunk)
            remaining -= available
            used += 1
            skip = 0
        del held[:used]
        self._held_skip = skip
        if len(pieces) > 1 and size <= _JOINED_UP_TO:
            return (b"".join(pieces),)
        return tuple(pieces)

    def _dispatch(self, source: bytes | bytearray, pieces: tuple[bytes, ...]) -> SseEvent:
        spans, name = self._data, self._name
        self._data, self._name = [], ""
        if self._event_id is not None:
            self.last_event_id, self._event_id = self._event_id, None
        if not spans:
            return SseEvent("", pieces)
        return SseEvent(name or "message", pieces, source, tuple(spans))
