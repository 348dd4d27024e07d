"""Terminal output for the commands: colour only on a terminal, and plain-text tables."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import TextIO

__all__ = ["Painter", "format_table", "scrub"]

_CODES = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1", "cyan": "36"}
#: Long opaque tokens (session ids, bearer tokens, UUIDs): never echoed, whatever the server put them in.
_TOKEN = re.compile(
    r"[A-Za-z0-9_\-.~+/]{24,}=*|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class Painter:
    """Wraps text in ANSI colours when ``stream`` is a terminal and ``NO_COLOR`` is not set."""

    def __init__(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.stdout
        self.enabled = stream.isatty() and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, colour: str) -> str:
        return f"\x1b[{_CODES[colour]}m{text}\x1b[0m" if self.enabled else text


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned plain-text table with a rule under the header."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    head = "  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip()
    return "\n".join([head, "  ".join("-" * width for width in widths), *lines])


def scrub(text: str, secrets: Sequence[str] = (), limit: int = 160) -> str:
    """``text`` on one line, at most ``limit`` characters, with ``secrets`` and token-like words redacted."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = _TOKEN.sub("<redacted>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
