"""A call made while the server process is dead, completed once it is back: the tests' one recipe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from mcp_session_recovery.model import State
from mcp_session_recovery.runtime import TransitionRecord
from mcp_session_recovery.testing import ManagedProcess

T = TypeVar("T")

#: The call's deadline: the server is back well before.
DEADLINE = 20.0


class LossWatch:
    """An ``on_event`` hook that tells when the session noticed its server is gone."""

    def __init__(self) -> None:
        self.noticed = anyio.Event()

    def __call__(self, record: TransitionRecord) -> None:
        if record.new_state is State.INVALIDATED:
            self.noticed.set()


async def call_while_down(server: ManagedProcess, watch: LossWatch, call: Callable[[], Awaitable[T]]) -> T:
    """SIGKILL ``server``, start ``call``, start the server again once the session noticed; the result.

    The restart waits for the session's own report, not for a timer, so the call surely met the
    dead server first.
    """
    await anyio.to_thread.run_sync(server.kill)
    results: list[T] = []

    async def run() -> None:
        results.append(await call())

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await watch.noticed.wait()
            await anyio.to_thread.run_sync(server.start)
    return results[0]
