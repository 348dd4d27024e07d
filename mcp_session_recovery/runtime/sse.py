"""An incremental decoder for ``text/event-stream`` bodies (the subset MCP servers send).

Pure: bytes in, events out. Handles CRLF, LF and CR line endings, multi-line ``data``, comments,
and events split across chunks. ``id`` and ``retry`` are read but only ``event`` and ``data``
matter to the runtime (event ids are scoped to a session and die with it).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["SseDecoder", "SseEvent"]

#: The longest line the decoder holds (1 MiB, the SDK's default event limit); longer is an error.
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched server-sent event."""

    event: str
    data: str


class SseDecoder:
    """Feed body chunks; collect complete events."""

    def __init__(self) -> None:
        # Incremental: a character split between two chunks is decoded whole.
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Decode ``chunk`` and return the events it completed."""
        text = self._text.decode(chunk)
        if not text:
            return []
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]
        self._pending_cr = text.endswith("\r")
        self._buffer += text
        lines = self._buffer.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_LINE:
            raise ValueError("server-sent event line too long")
        events: list[SseEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None
