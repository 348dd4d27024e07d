"""``DaemonThread``: blocking calls in a daemon thread of their own, awaited from the event loop.

The ``stdio`` bridge reads stdin and writes stdout with blocking calls. In one of anyio's worker
threads, a read of a stdin the host keeps open holds the process at exit until another line comes
(Python waits for those threads), so a SIGTERM would not stop the bridge. A daemon thread is not
waited for.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel

__all__ = ["DaemonThread"]

T = TypeVar("T")


class DaemonThread:
    """Runs blocking calls one at a time in one daemon thread; :meth:`run` awaits each one's result.

    A call whose caller is cancelled is abandoned: it finishes (or stays blocked) in the thread, and
    its result is dropped. :meth:`close` lets the thread end after the calls queued before it.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        for _ in range(sys.maxsize):  # one turn per call, until close()
            job = self._jobs.get()
            if job is None:
                return
            job()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the thread: its result, or the exception it raised."""
        token = anyio.lowlevel.current_token()
        done = anyio.Event()
        outcome: list[Any] = []

        def job() -> None:
            try:
                outcome.append((True, function(*args)))
            except BaseException as exc:  # handed to the caller, whatever it is
                outcome.append((False, exc))
            # RuntimeError: the event loop is gone, and nobody waits for this any more.
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run_sync(done.set, token=token)

        self._jobs.put(job)
        await done.wait()
        succeeded, value = outcome[0]
        if not succeeded:
            raise value
        return value  # type: ignore[no-any-return]

    def close(self) -> None:
        self._jobs.put(None)
