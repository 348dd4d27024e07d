"""``Deadlines``: every call's deadline of one session, kept by one timer.

A cancel scope with a deadline schedules a timer of its own. On asyncio that is costly on the hot
path, and not for the scope alone: asyncio keeps a cancelled timer in its heap until it reaches
the top, so a far-off deadline per call (60 s by default) keeps the heap full, and every timer the
HTTP library below schedules and cancels (httpcore's read and write timeouts, several per request)
then pays Python-level heap comparisons; a bare client's heap stays empty. Here each call gets a
plain cancel scope, and one watcher task of the session cancels the scopes whose deadline passed.
It sleeps until the earliest deadline registered and is woken only when a call's deadline is
earlier than that; calls with the same timeout one after another never wake it.
"""

from __future__ import annotations

import math

import anyio

__all__ = ["Deadlines"]


class Deadlines:
    """The deadlines of a session's calls; :meth:`watch` runs in the session's task group."""

    __slots__ = ("_armed", "_live", "_rearm")

    def __init__(self) -> None:
        #: Each open scope and the time (``anyio.current_time()``) it is cancelled at.
        self._live: dict[anyio.CancelScope, float] = {}
        #: When the waiting watcher wakes (read only while ``_rearm`` is set).
        self._armed = math.inf
        #: Set to wake the watcher early; ``None`` while it is not waiting.
        self._rearm: anyio.Event | None = None

    def open(self, deadline: float) -> anyio.CancelScope:
        """A new scope, cancelled at ``deadline`` unless :meth:`close` is called first."""
        scope = anyio.CancelScope()
        self._live[scope] = deadline
        if deadline < self._armed and self._rearm is not None:
            self._rearm.set()  # the watcher sleeps past this deadline
        return scope

    def close(self, scope: anyio.CancelScope) -> None:
        """Forget ``scope``'s deadline (its ``with`` block is done)."""
        self._live.pop(scope, None)

    async def watch(self) -> None:
        """Cancel each scope at its deadline, until cancelled."""
        while True:
            now = anyio.current_time()
            earliest = math.inf
            for scope, deadline in tuple(self._live.items()):
                if deadline <= now:
                    del self._live[scope]
                    scope.cancel()
                elif deadline < earliest:
                    earliest = deadline
            rearm = self._rearm = anyio.Event()
            self._armed = earliest
            try:
                with anyio.CancelScope(deadline=earliest):
                    await rearm.wait()
            finally:
                self._rearm = None

    def __len__(self) -> int:
        return len(self._live)
