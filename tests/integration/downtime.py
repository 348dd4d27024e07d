"""The tests' recipes around a dead server: a call made while it is down, completed once it is back;
a herd of calls across a restart; the text of whatever failed, to assert a symptom."""

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


async def herd_after_a_restart(server: ManagedProcess, call: Callable[[], Awaitable[str]], size: int = 50) -> list[str]:
    """Restart ``server`` (SIGKILL, same port), then make ``size`` concurrent calls; their results.

    Every caller finds the session gone at once: the runtime must recover it once for all of them.
    """
    await anyio.to_thread.run_sync(server.restart)
    results: list[str] = []

    async def one() -> None:
        results.append(await call())

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            for _ in range(size):
                tg.start_soon(one)
    return results


def failure_text(error: BaseException) -> str:
    """Every exception's type and message in ``error``'s chain and groups, for asserting a symptom."""
    parts: list[str] = []
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    for _ in range(50):  # bounded: chains and groups are finite, this only guards against cycles
        if not pending:
            break
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return "\n".join(parts)
