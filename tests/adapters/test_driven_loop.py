"""``DrivenLoop``: the blocking front's private loop, run by the threads that wait on it.

- a call's own blocking steps run in its caller's thread; any other task's in a worker thread;
- a thread in a blocking step holds no other thread up, and the loop moves on for every caller;
- a thread that runs a loop of its own can still call; the loop's own thread cannot;
- the held context manager is entered and left in one task, at ``hold`` and ``close``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest

from mcp_session_recovery.adapters.driven_loop import DrivenLoop, blocking

BOUND = 10.0  # seconds any wait in these tests may take before it counts as a failure


@pytest.fixture
def driven() -> Any:
    loop = DrivenLoop()
    yield loop
    loop.close()


def _in_thread(function: Any, *args: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(function(*args)))
    thread.start()
    return thread, outcome


def test_a_call_gives_its_value_or_raises_its_error(driven: DrivenLoop) -> None:
    async def double(value: int) -> int:
        await anyio.sleep(0)
        return value * 2

    async def fail() -> None:
        raise KeyError("no such thing")

    assert driven.run(double, 21) == 42
    with pytest.raises(KeyError, match="no such thing"):
        driven.run(fail)
    assert driven.run(double, 4) == 8, "the loop serves on after a call failed"


def test_a_calls_own_blocking_steps_run_in_its_thread_and_others_in_a_worker(driven: DrivenLoop) -> None:
    async def threads() -> tuple[int, int]:
        own = await blocking(threading.get_ident)
        other: list[int] = []

        async def child() -> None:
            other.append(await blocking(threading.get_ident))

        async with anyio.create_task_group() as group:
            group.start_soon(child)
        return own, other[0]

    for _ in range(2):
        caller = threading.get_ident()
        own, other = driven.run(threads)
        assert own == caller
        assert other != caller, "a task that is not the call's own (a background one) may block no caller"
    thread, outcome = _in_thread(driven.run, threads)
    thread.join(BOUND)
    assert outcome[0][0] == thread.ident


def test_a_thread_in_a_blocking_step_holds_no_other_up(driven: DrivenLoop) -> None:
    entered, gate = threading.Event(), threading.Event()

    def wait_for_gate() -> bool:
        entered.set()
        return gate.wait(BOUND)

    async def held() -> bool:
        return await blocking(wait_for_gate)

    async def quick(value: int) -> int:
        return await blocking(lambda: value + 1)

    thread, outcome = _in_thread(driven.run, held)
    assert entered.wait(BOUND)
    assert [driven.run(quick, n) for n in range(5)] == [1, 2, 3, 4, 5]
    assert thread.is_alive(), "the other calls finished while the first was still blocked"
    assert not outcome
    gate.set()
    thread.join(BOUND)
    assert outcome == [True]


def test_the_loop_moves_for_a_caller_waiting_on_another_call(driven: DrivenLoop) -> None:
    async def make() -> anyio.Event:
        return anyio.Event()

    async def wait(event: anyio.Event) -> str:
        with anyio.fail_after(BOUND):
            await event.wait()
        return "woken"

    async def wake(event: anyio.Event) -> None:
        await blocking(lambda: None)
        event.set()

    for _ in range(20):
        event = driven.run(make)
        thread, outcome = _in_thread(driven.run, wait, event)
        driven.run(wake, event)
        thread.join(BOUND)
        assert outcome == ["woken"]


def test_many_threads_calling_at_once_each_get_their_own_answers(driven: DrivenLoop) -> None:
    async def step(thread: int, n: int) -> tuple[int, int, int]:
        await anyio.sleep(0)
        ident = await blocking(threading.get_ident)
        return thread, n, ident

    def calls(thread: int) -> list[tuple[int, int, int]]:
        return [driven.run(step, thread, n) for n in range(25)]

    started = [_in_thread(calls, thread) for thread in range(8)]
    for index, (thread, outcome) in enumerate(started):
        thread.join(BOUND)
        assert outcome[0] == [(index, n, thread.ident) for n in range(25)]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_thread_running_its_own_loop_can_call_but_the_loops_own_thread_cannot(
    driven: DrivenLoop, backend: str
) -> None:
    async def answer() -> int:
        return await blocking(lambda: 7)

    async def inside_another_loop() -> int:
        return driven.run(answer)  # blocks this loop, as any blocking client would

    assert anyio.run(inside_another_loop, backend=backend) == 7

    async def reentrant() -> None:
        driven.run(answer)

    with pytest.raises(RuntimeError, match="would wait for ever"):
        driven.run(reentrant)


def test_background_work_moves_on_between_calls() -> None:
    """Work a call started goes on after the call returned, step after step, with no call to run
    the loop: a worker runs it while it has work ready."""
    group: list[anyio.abc.TaskGroup] = []
    done = threading.Event()
    threads: set[int] = set()

    @asynccontextmanager
    async def held() -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            group.append(tasks)
            yield
            tasks.cancel_scope.cancel()

    async def background() -> None:
        for _ in range(3):
            await anyio.sleep(0)  # a round of the loop between the steps
            threads.add(await blocking(threading.get_ident))
        await blocking(done.set)

    async def start() -> None:
        group[0].start_soon(background)

    driven = DrivenLoop()
    driven.hold(held())
    driven.run(start)
    assert done.wait(BOUND), "the background work finished with no call made after it started"
    assert threading.get_ident() not in threads
    driven.close()


class _SlowToWake(DrivenLoop):
    """A loop whose workers take 20 ms to begin a step, as on a loaded machine."""

    def _work(self, job: Any) -> None:
        time.sleep(0.02)  # less than the most a caller waits for it (BACKGROUND_FIRST)
        super()._work(job)


def test_a_background_step_handed_out_first_is_done_before_the_callers_own() -> None:
    """What the session decided first is done first: the DELETE of a session given up, handed to a
    worker, before the request the caller's running thread re-sends on the new session."""
    driven = _SlowToWake()
    done: list[float] = []
    own: list[float] = []

    async def call() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(blocking, lambda: done.append(time.monotonic()))  # a task of its own: a worker's
            await anyio.sleep(0)  # it is handed out
            await blocking(lambda: own.append(time.monotonic()))

    try:
        driven.run(call)
    finally:
        driven.close()
    assert len(done) == 1
    assert own[0] >= done[0], "the caller's own step went out before the worker's was done"


def test_an_interrupted_call_leaves_the_loop_serving_the_others(driven: DrivenLoop) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    async def interrupt() -> None:
        await blocking(interrupted)

    async def answer() -> int:
        return await blocking(lambda: 5)

    with pytest.raises(KeyboardInterrupt):
        driven.run(interrupt)
    assert driven.run(answer) == 5
    thread, outcome = _in_thread(driven.run, answer)
    thread.join(BOUND)
    assert outcome == [5]


def test_the_held_context_is_entered_and_left_in_one_task_at_hold_and_close() -> None:
    log: list[tuple[str, int]] = []

    @asynccontextmanager
    async def held() -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:  # a task group must be left in its own task
            log.append(("entered", anyio.get_current_task().id))
            group.start_soon(anyio.sleep_forever)
            yield
            group.cancel_scope.cancel()
        log.append(("left", anyio.get_current_task().id))

    driven = DrivenLoop()
    driven.hold(held())
    assert [what for what, _ in log] == ["entered"]
    assert driven.run(anyio.sleep, 0) is None
    driven.close()
    assert [what for what, _ in log] == ["entered", "left"]
    assert log[0][1] == log[1][1]
    driven.close()  # a second close does nothing


def test_a_context_that_fails_to_enter_raises_at_hold() -> None:
    @asynccontextmanager
    async def refused() -> AsyncIterator[None]:
        raise ConnectionRefusedError("no")
        yield  # pragma: no cover

    driven = DrivenLoop()
    with pytest.raises(ConnectionRefusedError):
        driven.hold(refused())
    driven.close()
