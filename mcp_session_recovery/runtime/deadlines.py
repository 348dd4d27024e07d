"""``Deadlines``: every call's deadline of one session, kept by one timer.

A cancel scope with a deadline schedules a timer of its own. On asyncio that is costly on the hot
path, and not for the scope alone: asyncio keeps a cancelled timer in its heap until it reaches
the top, so a far-off deadline per call (60 s by default) keeps the heap full, and every timer the
HTTP library below schedules and cancels (httpcore's read and write timeouts, several per request)
then pays Python-level heap comparisons; a bare client's heap stays empty. Here each call gets a
plain cancel scope, and one watcher task of the session cancels the scopes whose deadline passed.
It sleeps until the earliest deadline registered and is woken only when a call's deadline is
earlier than that; calls with the same timeout one after another never wake it.

:func:`sending_deadline` tells a wire whose I/O no cancellation can reach (the blocking twin's, in
the caller's own thread) when the call it sends for must end, so that it gives its I/O that bound.
"""

from __future__ import annotations

import math
from contextvars import ContextVar, Token

import anyio

__all__ = ["Deadlines", "sending_deadline", "sends_for_no_call"]

#: The deadline (``anyio.current_time()``) of the open call whose sends the current task performs.
_SENDING: ContextVar[float] = ContextVar("mcp_session_recovery_sending_deadline", default=math.inf)


def sending_deadline() -> float:
    """When the call the current task sends for must end (``inf``: it sends for none)."""
    return _SENDING.get()


def sends_for_no_call() -> None:
    """The current task is no call's (a background task, which copied its starter's context)."""
    _SENDING.set(math.inf)


class Deadlines:
    """The deadlines of a session's calls; :meth:`watch` runs in the session's task group."""

    __slots__ = ("_armed", "_live", "_rearm", "_sending")

    def __init__(self) -> None:
        #: Each open scope and the time (``anyio.current_time()``) it is cancelled at.
        self._live: dict[anyio.CancelScope, float] = {}
        #: When the waiting watcher wakes (read only while ``_rearm`` is set).
        self._armed = math.inf
        #: Set to wake the watcher early; ``None`` while it is not waiting.
        self._rearm: anyio.Event | None = None
        #: What restores :func:`sending_deadline` when each open scope closes.
        self._sending: dict[anyio.CancelScope, Token[float]] = {}

    def open(self, deadline: float) -> anyio.CancelScope:
        """A new scope, cancelled at ``deadline`` unless :meth:`close` is called first (in the same
        task: until then, :func:`sending_deadline` is ``deadline`` there)."""
        scope = anyio.CancelScope()
        self._live[scope] = deadline
        self._sending[scope] = _SENDING.set(deadline)
        if deadline < self._armed and self._rearm is not None:
            self._rearm.set()  # the watcher sleeps past this deadline
        return scope

    def close(self, scope: anyio.CancelScope) -> None:
        """Forget ``scope``'s deadline (its ``with`` block is done)."""
        self._live.pop(scope, None)
        token = self._sending.pop(scope, None)
        if token is not None:
            _SENDING.reset(token)

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
