"""``DrivenLoop``: a private event loop run by the blocking threads that wait on it.

A blocking front (``RecoveringSyncTransport``) needs the async runtime. Running it on a loop in a
thread of its own costs four hand-offs between threads per request (caller to loop, loop to a
worker for the blocking I/O, and back twice); on a loaded machine each pair costs about as much as
3 % of a 1 MiB answer. Here no thread owns the loop: a caller waiting for its answer runs the loop
itself, and the blocking steps of its own request (:func:`blocking`) run in its own thread with the
loop let go meanwhile, so a request that meets no other makes no hand-off at all.

One thread runs the loop at a time. The others wait for their own blocking steps, for their answer,
or for the loop to be free; while any caller waits, one of them runs the loop. Background work (the
DELETE of a session given up, a stream nobody's call reads) does its blocking steps in the loop's
worker threads, and whenever the loop has work ready and no thread runs it, a worker runs it until
it has none: background work moves on between calls too. Only its timers wait for the next call.
It is asyncio's loop: the blocking caller cannot tell, and anyio runs on it as on any.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import anyio
import anyio.to_thread

__all__ = ["DrivenLoop", "blocking"]

T = TypeVar("T")

#: The most blocking steps of background work at once (anyio's own default for its worker threads).
MAX_WORKERS = 40
#: The most a caller's blocking step waits for the background steps handed to workers before it to end.
BACKGROUND_FIRST = 0.05
#: The most rounds a worker runs the loop in one go before it lets another thread in.
MAX_ROUNDS = 1000


@dataclass(slots=True, eq=False)
class _Job:
    """A blocking step: run in a caller's thread (its own request's) or a worker, its outcome set on the loop."""

    function: Callable[[], Any]
    outcome: asyncio.Future[Any]

    def run(self) -> tuple[Any, BaseException | None]:
        try:
            return self.function(), None
        except BaseException as exc:  # handed to the awaiting task, whatever it is
            return None, exc


def _settle(outcome: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if not outcome.done():  # the loop may have closed its tasks meanwhile
        if error is None:
            outcome.set_result(value)
        else:
            outcome.set_exception(error)


@dataclass(slots=True, eq=False)
class _Caller:
    """One blocking call: its task, the blocking steps it left for its thread, and whether it is over."""

    driven: DrivenLoop
    task: asyncio.Task[Any] | None = None
    jobs: list[_Job] = field(default_factory=list)
    finished: bool = False
    #: Its thread left before the task was done (an interrupt): its steps go to workers now.
    left: bool = False
    #: Set while this caller runs the loop: done when the loop must let it go (a job, or its answer).
    turn: asyncio.Future[None] | None = None


#: The call whose task is running (set in each call's own task).
_CALLER: contextvars.ContextVar[_Caller | None] = contextvars.ContextVar("mcp_session_recovery_caller", default=None)
#: Each driven loop, by its asyncio loop: where a background task's blocking steps go.
_DRIVEN: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DrivenLoop] = weakref.WeakKeyDictionary()


async def blocking(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, blocking: in the waiting caller's own thread when the current task is a
    call's own, else in a worker thread. Like ``anyio.to_thread.run_sync``, a cancellation waits for
    it (its result, an open response, must not be lost) and lands after."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # trio
        loop = None
    driven = _DRIVEN.get(loop) if loop is not None else None
    if loop is None or driven is None:  # not a driven loop: called by async code of its own
        return await anyio.to_thread.run_sync(function, *args)
    outcome: asyncio.Future[T] = loop.create_future()
    job = _Job(lambda: function(*args), outcome)
    caller = _CALLER.get()
    if caller is not None and caller.task is asyncio.current_task():
        driven.post(caller, job)
    else:
        driven.in_worker(job)
    with anyio.CancelScope(shield=True):
        value = await outcome
    return value


class DrivenLoop:
    """A private asyncio loop that the threads of :meth:`run` take turns to run."""

    def __init__(self) -> None:
        # A selector loop, whatever the policy: it does no I/O itself, and its queue of ready
        # callbacks can be looked at (a uvloop or proactor loop's cannot).
        self._loop = asyncio.SelectorEventLoop()
        self._changed = threading.Condition()
        self._driving = False
        #: Callers waiting for the loop to be free (a worker running it lets them in at once).
        self._waiting = 0
        #: Background steps handed to workers and not done yet.
        self._background = 0
        self._workers = ThreadPoolExecutor(MAX_WORKERS, thread_name_prefix="mcp-session-recovery-blocking")
        # One worker started now, idle until needed: the first background step (the DELETE of a session
        # given up, sent while the call that re-negotiated is replayed) must not wait for a new thread.
        self._workers.submit(int)
        #: The task keeping :meth:`hold`'s context manager open, and what tells it to leave.
        self._held: tuple[asyncio.Task[None], asyncio.Event] | None = None
        _DRIVEN[self._loop] = self

    def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await function(*args)`` on the loop, from a blocking thread; return or raise its outcome."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("a blocking call from the session's own loop (an event hook?) would wait for ever")
        if running is not None:
            # A thread that runs a loop of its own cannot run this one too: a helper thread waits instead.
            return cast(T, _in_new_thread(self.run, function, *args))
        caller = _Caller(self)
        context = contextvars.copy_context()
        context.run(_CALLER.set, caller)
        with self._changed:
            if self._driving:
                # The thread running the loop may wait in it for ever (for this very call, say): the
                # task is made by the loop itself, woken for it.
                self._loop.call_soon_threadsafe(self._start, caller, function(*args), context)
            else:
                self._start(caller, function(*args), context)
        try:
            return cast(T, self._serve(caller))
        except BaseException:
            if not caller.finished:  # interrupted (KeyboardInterrupt): the call is abandoned, as a task cancelled
                self._abandon(caller)
            raise

    def post(self, caller: _Caller, job: _Job) -> None:
        """On the loop: hand ``job`` to ``caller``'s thread, and stop the loop if that thread runs it."""
        with self._changed:
            if caller.left:
                self.in_worker(job)
                return
            caller.jobs.append(job)
            self._changed.notify_all()
        self._end_turn(caller)

    def in_worker(self, job: _Job) -> None:
        """On the loop: run ``job`` in a worker thread; its outcome wakes the loop, or a worker runs it."""
        with self._changed:
            self._background += 1
        self._workers.submit(self._work, job)

    def hold(self, manager: AbstractAsyncContextManager[Any]) -> None:
        """Enter ``manager`` in a task of its own, which keeps it open (its task group, its cancel
        scopes) across calls until :meth:`close`."""
        self.run(self._open, manager)

    def close(self) -> None:
        """Leave the held context manager, then close the loop (once no call is left)."""
        if self._loop.is_closed():
            return
        try:
            if self._held is not None:
                self.run(self._leave, self._held)
        finally:
            self._held = None
            with self._changed:
                while self._driving:
                    self._changed.wait()
                self._driving = True
            self._workers.shutdown(wait=False, cancel_futures=True)
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            with self._changed:  # a worker's outcome either reaches the loop before, or finds it closed
                self._loop.close()

    # -- callers --------------------------------------------------------------------------------------

    def _start(self, caller: _Caller, work: Awaitable[Any], context: contextvars.Context) -> None:
        """Make ``caller``'s task: in the thread running the loop, or under the lock while none does."""
        if caller.left:
            work.close()  # type: ignore[attr-defined]  # a coroutine, never started
            return
        caller.task = self._loop.create_task(work, context=context)  # type: ignore[arg-type]
        caller.task.add_done_callback(lambda _: self._finish(caller))

    def _serve(self, caller: _Caller) -> Any:
        """Until ``caller``'s task is done: run its blocking steps, and run the loop when it is free."""
        while True:
            with self._changed:
                self._waiting += 1
                while self._driving and not caller.jobs and not caller.finished:
                    self._changed.wait()
                self._waiting -= 1
                jobs, caller.jobs = caller.jobs, []
                drive = not jobs and not caller.finished
                if drive:
                    self._driving = True
            if jobs:
                self._after_background()
                drive = self._hand_over(jobs)
            elif caller.finished:
                with self._changed:  # it may have been counted as waiting to take the loop
                    self._hand_ready_work_on()
                assert caller.task is not None
                return caller.task.result()
            if drive:
                try:
                    caller.turn = self._loop.create_future()
                    self._loop.run_until_complete(caller.turn)
                finally:
                    caller.turn = None
                    self._let_go()

    def _after_background(self) -> None:
        """Wait (briefly) until the background steps handed to workers are done: what the session
        decided first is done first (the DELETE of a session given up, then the request re-sent on
        the new one), though the caller's thread is running and a worker is yet to wake. Background
        steps are rare on the hot path (none in a READY call), and the wait is bounded."""
        with self._changed:
            self._changed.wait_for(lambda: not self._background, timeout=BACKGROUND_FIRST)

    def _hand_over(self, jobs: list[_Job]) -> bool:
        """Run a caller's ``jobs`` and give the loop their outcomes; ``True`` when this thread took the
        loop to do so (it was free: no wake-up through the loop's self-pipe, and no wait for one)."""
        outcomes = [(job.outcome, *job.run()) for job in jobs]
        with self._changed:
            if self._driving:
                for outcome in outcomes:
                    self._loop.call_soon_threadsafe(_settle, *outcome)
                return False
            self._driving = True
        for outcome in outcomes:
            self._loop.call_soon(_settle, *outcome)
        return True

    def _abandon(self, caller: _Caller) -> None:
        """``caller``'s thread is gone: its steps left and to come go to workers, its task is cancelled."""
        with self._changed:
            caller.left = True
            jobs, caller.jobs = caller.jobs, []
            if self._loop.is_closed():
                return
            for job in jobs:
                self.in_worker(job)
            if caller.task is not None:
                self._loop.call_soon_threadsafe(caller.task.cancel)
            self._hand_ready_work_on()

    def _finish(self, caller: _Caller) -> None:
        """On the loop: ``caller``'s task is done."""
        with self._changed:
            caller.finished = True
            self._changed.notify_all()
        self._end_turn(caller)

    @staticmethod
    def _end_turn(caller: _Caller) -> None:
        """Let ``caller``'s thread out of the loop (what this round made ready is left to a worker)."""
        if caller.turn is not None and not caller.turn.done():
            caller.turn.set_result(None)

    # -- background work ------------------------------------------------------------------------------

    def _work(self, job: _Job) -> None:
        """In a worker: run ``job``, hand its outcome to the loop, and run the loop if nobody does."""
        value, error = job.run()
        with self._changed:
            self._background -= 1
            self._changed.notify_all()
            if self._loop.is_closed():
                return
            # Under the lock: a thread letting go of the loop sees this callback, or this worker
            # sees the loop free; the outcome is never left in a loop nobody runs.
            self._loop.call_soon_threadsafe(_settle, job.outcome, value, error)
            if self._driving:
                return
            self._driving = True
        self._run_ready()

    def _run_ready(self) -> None:
        """In a worker holding the loop: run it while it has work ready and no caller waits for it."""
        try:
            for _ in range(MAX_ROUNDS):
                if not self._has_ready() or self._waiting:
                    break
                self._loop.call_soon(self._loop.stop)
                self._loop.run_forever()  # one round: what is ready now
        finally:
            self._let_go()

    def _has_ready(self) -> bool:
        ready = self._loop._ready  # type: ignore[attr-defined]  # a selector loop's queue of ready callbacks
        return bool(ready)

    def _let_go(self) -> None:
        """Let go of the loop; work left ready in it goes to a worker unless a caller takes the loop."""
        with self._changed:
            self._driving = False
            self._changed.notify_all()
            self._hand_ready_work_on()

    def _hand_ready_work_on(self) -> None:
        """Under the lock, the loop free: work ready in it goes to a worker unless a caller waits to
        take the loop (work is never left ready in a loop nobody runs)."""
        if not self._driving and not self._waiting and not self._loop.is_closed() and self._has_ready():
            self._driving = True
            self._workers.submit(self._run_ready)

    # -- the held context manager --------------------------------------------------------------------

    async def _open(self, manager: AbstractAsyncContextManager[Any]) -> None:
        entered: asyncio.Future[None] = self._loop.create_future()
        leave = asyncio.Event()
        # An empty context: the work the manager starts is nobody's call.
        task = self._loop.create_task(_keep_open(manager, entered, leave), context=contextvars.Context())
        await entered
        self._held = (task, leave)

    @staticmethod
    async def _leave(held: tuple[asyncio.Task[None], asyncio.Event]) -> None:
        task, leave = held
        leave.set()
        await task


async def _keep_open(
    manager: AbstractAsyncContextManager[Any], entered: asyncio.Future[None], leave: asyncio.Event
) -> None:
    try:
        async with manager:
            entered.set_result(None)
            await leave.wait()
    except BaseException as exc:
        if entered.done():
            raise
        entered.set_exception(exc)


def _in_new_thread(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a new thread, this one waiting for it."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((function(*args), None))
        except BaseException as exc:
            outcome.append((None, exc))

    thread = threading.Thread(target=target, name="mcp-session-recovery-call")
    thread.start()
    thread.join()
    value, error = outcome[0]
    if error is not None:
        raise error
    return value  # type: ignore[no-any-return]
