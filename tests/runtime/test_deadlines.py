"""``Deadlines``: every call's deadline on one watcher, on both backends.

What the runtime relies on: a scope is cancelled at its deadline (whatever deadline the watcher
slept towards before), never after it was closed, and at once when its deadline has passed.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from mcp_session_recovery.runtime.deadlines import Deadlines, sending_deadline, sends_for_no_call

pytestmark = pytest.mark.anyio

#: Far enough that no test waits for it.
LATER = 3600.0
#: A deadline the tests do wait for, and how late its cancellation may come on a loaded machine.
SOON, SLACK = 0.05, 2.0
#: The deadline of a scope the test closes first: long enough to close it in time on a loaded machine.
CLOSED_AFTER = 0.5


@asynccontextmanager
async def watched() -> AsyncIterator[Deadlines]:
    deadlines = Deadlines()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(deadlines.watch)
            yield deadlines
            group.cancel_scope.cancel()


async def cancelled_after(deadlines: Deadlines, seconds: float) -> tuple[bool, float]:
    """Wait in a scope due ``seconds`` from now: whether it was cancelled, and after how long."""
    started = anyio.current_time()
    scope = deadlines.open(started + seconds)
    with scope:
        await anyio.sleep(LATER)
    deadlines.close(scope)
    return scope.cancelled_caught, anyio.current_time() - started


async def test_a_scope_is_cancelled_at_its_deadline() -> None:
    async with watched() as deadlines:
        cancelled, elapsed = await cancelled_after(deadlines, SOON)
    assert cancelled
    assert SOON <= elapsed < SOON + SLACK
    assert len(deadlines) == 0


async def test_an_earlier_deadline_wakes_a_watcher_armed_for_a_later_one() -> None:
    async with watched() as deadlines:
        later = deadlines.open(anyio.current_time() + LATER)
        await anyio.wait_all_tasks_blocked()  # the watcher now sleeps towards LATER
        cancelled, elapsed = await cancelled_after(deadlines, SOON)
        assert not later.cancel_called
        deadlines.close(later)
    assert cancelled
    assert elapsed < SOON + SLACK


async def test_a_closed_scope_is_never_cancelled() -> None:
    async with watched() as deadlines:
        due = anyio.current_time() + CLOSED_AFTER
        closed = deadlines.open(due)
        await anyio.wait_all_tasks_blocked()  # the watcher now sleeps towards the closed one's deadline
        assert anyio.current_time() < due, "the machine stalled past the deadline before the test could close"
        deadlines.close(closed)
        cancelled, _ = await cancelled_after(deadlines, CLOSED_AFTER + SOON)  # the watcher passes ``due``
    assert cancelled
    assert not closed.cancel_called


async def test_a_deadline_already_passed_cancels_at_once() -> None:
    async with watched() as deadlines:
        await anyio.wait_all_tasks_blocked()
        cancelled, elapsed = await cancelled_after(deadlines, -1.0)
    assert cancelled
    assert elapsed < SLACK


async def test_scopes_opened_before_the_watcher_starts_are_kept() -> None:
    deadlines = Deadlines()
    scope = deadlines.open(anyio.current_time() + SOON)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(deadlines.watch)
            with scope:
                await anyio.sleep(LATER)
            group.cancel_scope.cancel()
    assert scope.cancelled_caught


async def test_the_sending_deadline_is_the_open_calls_in_its_own_task_only() -> None:
    """What a blocking wire reads to bound I/O no cancellation reaches: the deadline of the call the
    current task sends for, while it is open; a background task started meanwhile sends for none."""
    seen: list[float] = []

    async def background() -> None:
        sends_for_no_call()  # what the core's background tasks do first
        seen.append(sending_deadline())

    async with watched() as deadlines:
        assert sending_deadline() == math.inf
        outer = deadlines.open(anyio.current_time() + LATER)
        due = deadlines._live[outer]
        assert sending_deadline() == due
        inner = deadlines.open(due - 1)
        assert sending_deadline() == due - 1
        async with anyio.create_task_group() as group:
            group.start_soon(background)
        deadlines.close(inner)
        assert sending_deadline() == due
        deadlines.close(outer)
        assert sending_deadline() == math.inf
    assert seen == [math.inf]
