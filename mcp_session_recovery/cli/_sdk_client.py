"""The demo's two clients: the official SDK's ``ClientSession``, over a bare or a recovering transport.

Both run the same code; only the ``httpx2`` transport differs. A bare SDK client that broke stays
broken (a stale session id for ever, or a dead task group after a refused connection), so the
demo rebuilds it before its next call, as a user would restart the host; every rebuild is
counted. Nothing the SDK raises, an ``ExceptionGroup`` from its task group included, leaves this
module: each call resolves to a :class:`CallResult`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from ._output import scrub

__all__ = ["CallResult", "SdkClient"]

#: How long one call of the demo may take before it counts as failed (a recovering call waits
#: out the outages the demo makes, which last about a second).
CALL_TIMEOUT = 15.0
#: The most times a client is rebuilt: every call could break it once, and no more calls are made.
MAX_REBUILDS = 100


@dataclass
class CallResult:
    """How one call ended."""

    ok: bool
    #: Wall-clock milliseconds from the call to its answer (or failure).
    ms: float
    #: The tool's answer, or the error in one scrubbed line.
    detail: str
    #: The client was (re)built for this call: its time includes connecting.
    fresh: bool = False


@dataclass
class _Job:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: CallResult | None = None
    started: float = field(default_factory=time.perf_counter)

    fresh: bool = False

    def resolve(self, ok: bool, detail: str) -> None:
        if self.result is None:
            self.result = CallResult(ok, (time.perf_counter() - self.started) * 1000, detail, self.fresh)
            self.done.set()


def describe_error(error: BaseException) -> str:
    """``Type: message`` of the innermost error (an ``ExceptionGroup`` is opened), on one line."""
    for _ in range(10):
        if isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        else:
            break
    message = str(error) or "(no message)"
    return scrub(f"{type(error).__name__}: {message}", limit=100)


class SdkClient:
    """One SDK ``ClientSession`` that calls the ``bump`` tool on request, rebuilt when it broke."""

    def __init__(self, url: str, era: str, transport: Callable[[], Any]) -> None:
        self._url = url
        self._era = era
        self._transport = transport
        #: How many times the client had to be built again after it broke.
        self.rebuilds = 0
        self._send: MemoryObjectSendStream[_Job]
        self._receive: MemoryObjectReceiveStream[_Job]
        self._send, self._receive = anyio.create_memory_object_stream[_Job](max_buffer_size=1)

    async def call(self) -> CallResult:
        """Call ``bump`` once; never raises (a failure is a ``CallResult`` with ``ok=False``)."""
        job = _Job()
        await self._send.send(job)
        with anyio.move_on_after(CALL_TIMEOUT + 5):
            await job.done.wait()
        job.resolve(False, f"no answer within {CALL_TIMEOUT + 5:.0f} s")
        assert job.result is not None
        return job.result

    def close(self) -> None:
        """Let :meth:`serve` end after the calls in flight."""
        self._send.close()

    async def serve(self) -> None:
        """Run the client until :meth:`close`; run it in a task group beside the callers."""
        pending: _Job | None = None
        async with self._receive:
            for _ in range(MAX_REBUILDS + 1):
                if pending is None:
                    pending = await self._next()
                    if pending is None:
                        return
                pending.fresh = True
                try:
                    async with self._session() as session:
                        while pending is not None:
                            healthy = await self._call(session, pending)
                            pending = None
                            if not healthy:
                                break
                            pending = await self._next()
                        else:
                            return  # closed while healthy
                except Exception as error:  # the SDK's task group died: this call, at most, is lost
                    if pending is not None:
                        pending.resolve(False, describe_error(error))
                        pending = None
                self.rebuilds += 1

    async def _next(self) -> _Job | None:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            return None

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[ClientSession]:
        async with (
            httpx2.AsyncClient(transport=self._transport(), timeout=httpx2.Timeout(10, read=30)) as http,
            streamable_http_client(self._url, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            with anyio.fail_after(CALL_TIMEOUT):
                if self._era == "modern":
                    await session.discover()
                else:
                    await session.initialize()
            yield session

    async def _call(self, session: ClientSession, job: _Job) -> bool:
        """Make ``job``'s call; ``False`` when the client is now unusable (rebuild it)."""
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                result = await session.call_tool("bump", {})
        except Exception as error:
            job.resolve(False, describe_error(error))
            return False
        text = getattr(result.content[0], "text", "?") if result.content else "?"
        if result.is_error:
            job.resolve(False, scrub(f"tool error: {text}", limit=100))
            return False
        job.resolve(True, f"bump -> {text}")
        return True
