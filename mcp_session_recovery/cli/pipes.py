"""Lines read from, and bytes written to, a file descriptor with the system's calls, no buffered file.

The ``stdio`` bridge reads and writes in daemon threads (:mod:`.daemon_thread`). A daemon thread
blocked inside ``sys.stdin.buffer.readline`` holds that file's lock, and Python aborts at exit when
it cannot take it; ``os.read`` and ``os.write`` hold no lock.
"""

from __future__ import annotations

import os
import sys

__all__ = ["FdLines", "write_all"]

#: How much one read asks for.
_READ_SIZE = 1 << 16


class FdLines:
    """The lines of a file descriptor, each with its line end; a line longer than ``limit`` is
    returned as its first ``limit + 1`` bytes (the caller refuses it), and ``b""`` is the end."""

    def __init__(self, fd: int, limit: int) -> None:
        self._fd = fd
        self._limit = limit
        self._pending = bytearray()
        self._ended = False

    def readline(self) -> bytes:
        searched = 0
        for _ in range(sys.maxsize):  # one turn per read, until a line end, the limit or the end
            end = self._pending.find(b"\n", searched)
            if end >= 0:
                return self._take(end + 1)
            if len(self._pending) > self._limit:
                return self._take(self._limit + 1)
            if self._ended:
                return self._take(len(self._pending))
            searched = len(self._pending)
            chunk = os.read(self._fd, _READ_SIZE)
            if chunk:
                self._pending += chunk
            else:
                self._ended = True
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self, size: int) -> bytes:
        line = bytes(self._pending[:size])
        del self._pending[:size]
        return line


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (a pipe may take it in parts)."""
    view = memoryview(data)
    for _ in range(len(data) + 1):  # each write takes at least one byte, or raises
        if not view:
            return
        view = view[os.write(fd, view) :]
