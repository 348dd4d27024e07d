"""Delays between recovery attempts: exponential, capped, with full jitter.

Attempt 0 (the first try after a loss) has no delay. Attempt ``k >= 1`` waits a uniformly random
time in ``[0, min(cap, base * 2**(k-1))]`` ("full jitter"), so a fleet of clients that lost the same
server does not come back in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """The delay before each recovery attempt."""

    #: The largest delay of attempt 1, in seconds.
    base: float = 0.25
    #: No delay is longer than this, in seconds.
    cap: float = 5.0
    #: The random source (seed it for reproducible tests).
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError("backoff delays cannot be negative")

    def ceiling(self, attempt: int) -> float:
        """The longest delay attempt ``attempt`` may wait."""
        if attempt <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(attempt - 1, 62)))

    def delay(self, attempt: int) -> float:
        """A random delay for attempt ``attempt``, at most :meth:`ceiling`."""
        return self.rng.uniform(0.0, self.ceiling(attempt))
