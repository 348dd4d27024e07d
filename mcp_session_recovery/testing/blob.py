"""The ``blob`` tool's text: a deterministic pattern of any length, so a lost or changed byte shows.

The text is a run of 64-character records; record *n* is *n* as 8 hex digits followed by 56
characters of an ASCII letters-and-digits alphabet, rotated by *n*. A truncation, a dropped or
repeated chunk and a flipped byte all change the text (the record numbers no longer count up),
and nothing in it needs escaping in JSON or breaks an SSE line. Pure and dependency-free, so a
server built on another stack (the SDK server of the integration tests) imports the same function.
"""

from __future__ import annotations

import string

__all__ = ["BLOB_ALPHABET", "MAX_BLOB_SIZE", "blob_text"]

#: The characters the pattern uses after each record number (62 of them, no escaping anywhere).
BLOB_ALPHABET = string.ascii_letters + string.digits
#: The largest ``size`` the ``blob`` tool accepts: 64 MiB of characters.
MAX_BLOB_SIZE = 64 << 20

_RECORD = 64
_NUMBER = 8
_FILL = _RECORD - _NUMBER
_ROTATIONS = tuple((BLOB_ALPHABET * 2)[shift : shift + _FILL] for shift in range(len(BLOB_ALPHABET)))


def blob_text(size: int) -> str:
    """``size`` characters of the pattern (``0 <= size <= MAX_BLOB_SIZE``); the same every call."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_BLOB_SIZE:
        raise ValueError(f"size must be an int in 0..{MAX_BLOB_SIZE}, got {size!r}")
    records = -(-size // _RECORD)
    count = len(_ROTATIONS)
    text = "".join([f"{n:08x}{_ROTATIONS[n % count]}" for n in range(records)])
    return text[:size]
