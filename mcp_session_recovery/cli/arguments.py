"""Arguments ``proxy`` and ``stdio`` share: the upstream URL's check, ``--timeout``, ``--quiet``, ``--verbose``,
and the runtime's options they make."""

from __future__ import annotations

import argparse
import dataclasses
from urllib.parse import urlsplit

from mcp_session_recovery.model import ClassifierOptions
from mcp_session_recovery.runtime import SessionOptions

__all__ = ["STOP_DELETE_SECONDS", "add_common_arguments", "checked_url", "classifier_flag", "session_options"]

#: How long a bridge stopping on a signal gives each upstream session's DELETE: a stop takes about
#: a second even when the upstream hangs.
STOP_DELETE_SECONDS = 1.0


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--timeout``, ``--quiet``, ``--verbose`` (shared with ``stdio``)."""
    parser.add_argument(
        "--timeout",
        type=positive,
        default=60.0,
        metavar="SECONDS",
        help="how long one request may wait for its answer to begin, recovery included (default 60)",
    )
    for setting in _CLASSIFIER_SETTINGS:
        parser.add_argument(
            classifier_flag(setting),
            action="store_true",
            dest=setting,
            help=f"the library's ClassifierOptions({setting}=True): `doctor URL` says when a server needs it",
        )
    parser.add_argument("--quiet", action="store_true", help="no status line (warnings still go to stderr)")
    parser.add_argument("--verbose", action="store_true", help="log the runtime's state changes to stderr")


#: Every setting of :class:`ClassifierOptions` is a flag: each is one a server may need (``doctor``).
_CLASSIFIER_SETTINGS = tuple(field.name for field in dataclasses.fields(ClassifierOptions))


def classifier_flag(setting: str) -> str:
    """The bridges' flag for a :class:`ClassifierOptions` setting: ``--session-gone-on-400``."""
    return "--" + setting.replace("_", "-")


def session_options(args: argparse.Namespace) -> SessionOptions:
    """The runtime's options the shared arguments give."""
    classifier = ClassifierOptions(**{setting: getattr(args, setting) for setting in _CLASSIFIER_SETTINGS})
    return SessionOptions(request_timeout=args.timeout, close_timeout=STOP_DELETE_SECONDS, classifier=classifier)


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
