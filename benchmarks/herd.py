"""Row 4: a herd of concurrent calls across one SIGKILL restart of the test server process.

One warm herd first (the anchor: the same number of concurrent calls on a live session), then
SIGKILL and a new process on the same port (not timed), then the herd: every call carries the
dead session's id, and one ``initialize`` must serve them all. The new process's counters say
how many initializes it saw and how often ``bump`` ran; "drained" is from issuing the calls to
the last answer.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions
from mcp_session_recovery.testing import ServerProcess

from .clients import recovering, sdk_client
from .common import Context, Result, Row, ms

__all__ = ["ROWS"]

BUMP = {"name": "bump", "arguments": {}}
#: Every call may wait this long (1,000 calls queue for the client's 100 connections).
CALL_TIMEOUT = 60.0


async def _herd(call: Callable[[], Awaitable[Any]], size: int) -> tuple[int, float]:
    """How many of ``size`` concurrent calls succeeded, and the seconds until the last ended."""
    succeeded = 0

    async def one() -> None:
        nonlocal succeeded
        try:
            await call()
        except Exception:
            return
        succeeded += 1

    started = time.perf_counter()
    with anyio.fail_after(CALL_TIMEOUT + 30):
        async with anyio.create_task_group() as group:
            for _ in range(size):
                group.start_soon(one)
    return succeeded, time.perf_counter() - started


async def _across_restart(server: ServerProcess, call: Callable[[], Awaitable[Any]], size: int) -> dict[str, Any]:
    await call()
    warm_ok, warm = await _herd(call, size)
    await anyio.to_thread.run_sync(server.restart)
    succeeded, drained = await _herd(call, size)
    stats = await anyio.to_thread.run_sync(server.stats)
    return {
        "initializes": stats.initializes,
        "succeeded": succeeded,
        "bump_runs": stats.tool_executions.get("bump", 0),
        "drain_s": drained,
        "warm_drain_s": warm,
        "warm_succeeded": warm_ok,
    }


async def _sessions(server: ServerProcess, size: int) -> dict[str, Any]:
    options = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache(), request_timeout=CALL_TIMEOUT)
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(CALL_TIMEOUT)) as http,
        Session(HttpxWire(http, server.url), server.url, options) as session,
    ):
        return await _across_restart(server, lambda: session.request("tools/call", BUMP), size)


async def _sdk(server: ServerProcess, size: int) -> dict[str, Any]:
    async with sdk_client(server.url, recovering()) as session:

        async def call() -> Any:
            result = await session.call_tool("bump", {})
            if getattr(result, "is_error", False):
                raise RuntimeError("the tool call failed")
            return result

        return await _across_restart(server, call, size)


def _row(full: int, quick: int, sdk: bool) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        size = context.scale.pick(full, quick)
        server = context.servers.testing()
        found = anyio.run(_sdk if sdk else _sessions, server, size)
        met = found["initializes"] == 1 and found["succeeded"] == size
        return Result(
            f"{found['initializes']} initialize, {found['succeeded']}/{size} ok, drained {ms(found['drain_s'])}",
            f"warm herd drained {ms(found['warm_drain_s'])}; bump ran {found['bump_runs']}x after restart",
            met=met,
            values=found,
        )

    return run


ROWS = [
    Row("herd-100", "100 concurrent Session.request across a restart", "1 initialize, all ok", _row(100, 100, False)),
    Row(
        "herd-1000",
        "1,000 (--quick: 250) concurrent Session.request across a restart",
        "1 initialize, all ok",
        _row(1000, 250, False),
    ),
    Row(
        "herd-sdk-100",
        "100 concurrent SDK calls over RecoveringTransport, restart",
        "1 initialize, all ok",
        _row(100, 100, True),
    ),
]
