"""Arguments ``proxy`` and ``stdio`` share: the upstream URL's check, ``--timeout``, ``--quiet``, ``--verbose``."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

__all__ = ["add_common_arguments", "checked_url"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--timeout``, ``--quiet``, ``--verbose`` (shared with ``stdio``)."""
    parser.add_argument(
        "--timeout",
        type=positive,
        default=60.0,
        metavar="SECONDS",
        help="how long one request may wait for its answer to begin, recovery included (default 60)",
    )
    parser.add_argument("--quiet", action="store_true", help="no status line (warnings still go to stderr)")
    parser.add_argument("--verbose", action="store_true", help="log the runtime's state changes to stderr")


def checked_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host (the error never repeats it: it may hold a token)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("URL must be an http:// or https:// URL with a host")
    return url


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value
