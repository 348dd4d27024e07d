"""Delays between recovery attempts: short, capped, jittered, never faster than a floor.

Attempt 0 (the first try after a loss) has no delay. Attempt ``k >= 1`` waits a uniformly random
time in ``[min(floor, c), c]`` where ``c = min(cap, base * 2**(k-1))``, so a fleet of clients that
lost the same server does not come back in lockstep.

The defaults are tuned for promptness without rudeness: while a server is down an attempt costs it
nothing (a refused connection) or little (a gateway's 502), so the client keeps trying every 0.2 to
0.5 s, at most 5 ``initialize`` per second, and the call waiting on it completes within half a second
of the server accepting connections again. A server that asks for more time with ``Retry-After``
gets it (:func:`retry_after_seconds`).

The GET stream has a schedule of its own (:class:`RelistenSchedule`): nothing waits on it, so it
backs off further and gives up sooner.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Backoff", "RelistenSchedule", "retry_after_seconds"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """The delay before each recovery attempt."""

    #: The longest delay of attempt 1, in seconds; each later attempt may wait twice as long.
    base: float = 0.2
    #: No delay is longer than this, in seconds.
    cap: float = 0.5
    #: No delay after attempt 0 is shorter than this (or than the attempt's ceiling, if lower).
    floor: float = 0.2
    #: The random source (seed it for reproducible tests).
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.floor < 0:
            raise ValueError("backoff delays cannot be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest delay attempt ``attempt`` may wait."""
        if attempt <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(attempt - 1, 62)))

    def delay(self, attempt: int) -> float:
        """A random delay for attempt ``attempt``, between the floor and :meth:`ceiling`."""
        high = self.ceiling(attempt)
        return self.rng.uniform(min(self.floor, high), high)


@dataclass(frozen=True, slots=True, kw_only=True)
class RelistenSchedule:
    """When the legacy GET stream is opened again: a pure function of the failures in a row.

    A stream that served events and ended (the server closed it) is reopened after
    ``after_close``. After the n-th failure in a row (refused, an error status, a stream that ended
    before any event) the next opening waits ``min(cap, base * 2**(n-1))``; after ``max_failures``
    in a row the stream is left closed until the session is negotiated again.
    """

    #: The wait before reopening a stream that served events and ended, in seconds.
    after_close: float = 0.1
    #: The wait after the first failure, in seconds; each later failure doubles it.
    base: float = 0.5
    #: No wait is longer than this, in seconds.
    cap: float = 8.0
    #: Failures in a row after which the stream waits for the next negotiation.
    max_failures: int = 5

    def __post_init__(self) -> None:
        if not (self.after_close >= 0 and self.base >= 0 and self.cap >= 0):
            raise ValueError("relisten delays cannot be negative")
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")

    def delay(self, failures: int) -> float:
        """The wait before the next opening after ``failures`` failures in a row (0: it served)."""
        if failures <= 0:
            return self.after_close
        return float(min(self.cap, self.base * 2 ** min(failures - 1, 62)))

    def gives_up(self, failures: int) -> bool:
        """Whether ``failures`` failures in a row leave the stream closed until the next negotiation."""
        return failures >= self.max_failures


def retry_after_seconds(status: int, headers: Mapping[str, str], limit: float) -> float | None:
    """How long a 429 or 503 answer asks the client to wait (at most ``limit``), or ``None``.

    ``Retry-After`` is a number of seconds or an HTTP date; anything else is ignored.
    """
    if status not in (429, 503):
        return None
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), limit)
