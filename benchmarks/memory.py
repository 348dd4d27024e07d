"""Row 5: memory. Nothing may grow with the number of calls, and an idle Session must be small.

- Over calls: 100,000 calls through one Session against the in-memory server, which forgets the
  session every 1,000 calls (so recovery is part of the run); the traced memory (tracemalloc,
  after a full collection) after the first 10% of the calls and at the end. Tracing makes each
  call about three times slower, and memory is no timing, so each backend runs in its own child
  process, side by side. Bounded in time: a slow runtime reports how far it got.
- Idle: 1,000 Sessions, each negotiated once against the fake and then left idle, in one process;
  the traced memory they hold, per Session.
"""

from __future__ import annotations

import gc
import json
import logging
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio

from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions

from .common import Context, Result, Row
from .fake_wire import InstantServer

__all__ = ["ROWS"]

URL = "http://127.0.0.1:9/mcp"
BUMP = {"name": "bump", "arguments": {}}
FLAT = 1.1
BACKENDS = ("asyncio", "trio")
#: Seconds the over-calls row may run per backend before it reports what it measured so far.
BUDGET = 150.0


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def _over_calls(calls: int) -> dict[str, Any]:
    server = InstantServer(lose_every=1000)
    checkpoint = calls // 10
    early = late = done = 0
    deadline = time.monotonic() + BUDGET
    tracemalloc.start()
    try:
        async with Session(server, URL, SessionOptions(era_cache=EraCache())) as session:
            for done in range(1, calls + 1):
                await session.request("tools/call", BUMP)
                if done == checkpoint:
                    early = _traced()
                if done > checkpoint and done % 1000 == 0 and time.monotonic() > deadline:
                    break
            late = _traced()
            negotiations = session.snapshot.generation
            tracked = len(session.snapshot.requests)
    finally:
        tracemalloc.stop()
    return {
        "early": early,
        "late": late,
        "at": checkpoint,
        "done": done,
        "negotiations": negotiations,
        "tracked": tracked,
    }


def _start(context: Context, calls: int) -> None:
    """Start one child process per selected backend at once: they run side by side (2 cores)."""
    for backend in BACKENDS:
        key = f"memory-{backend}"
        if key in context.selected and key not in context.started:
            argv = [sys.executable, "-m", "benchmarks.memory", backend, str(calls)]
            context.started[key] = context.servers.spawn(argv)


def _calls_row(backend: str) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        calls = context.scale.pick(100_000, 5_000)
        _start(context, calls)
        child = context.started.pop(f"memory-{backend}", None)
        if not isinstance(child, subprocess.Popen):
            child = context.servers.spawn([sys.executable, "-m", "benchmarks.memory", backend, str(calls)])
        try:
            out, err = child.communicate(timeout=BUDGET + 60)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
        if child.returncode != 0 or not out.strip():
            tail = (err.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the {backend} child exited {child.returncode}: {tail}")
        found = json.loads(out.strip().splitlines()[-1])
        value = found["late"] / found["early"]
        cut = "" if found["done"] == calls else f" (time budget: stopped at {found['done']:,})"
        return Result(
            f"{value:.2f}x ({found['early'] / 1024:.0f} KiB → {found['late'] / 1024:.0f} KiB){cut}",
            f"after {found['at']:,} vs {found['done']:,} calls; {found['negotiations']} negotiations, "
            f"{found['tracked']} requests still tracked",
            met=value <= FLAT and found["tracked"] == 0,
            values=found | {"ratio": value},
        )

    return run


async def _idle(count: int) -> dict[str, int]:
    server = InstantServer()
    options = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache())
    async with Session(server, URL, options) as warm:  # module-level caches, first-use imports
        await warm.connect()
    tracemalloc.start()
    try:
        before = _traced()
        async with AsyncExitStack() as stack:
            sessions = [await stack.enter_async_context(Session(server, URL, options)) for _ in range(count)]
            for session in sessions:
                await session.connect()
            held = _traced() - before
    finally:
        tracemalloc.stop()
    return {"sessions": count, "bytes": held}


def idle(context: Context) -> Result:
    count = context.scale.pick(1000, 100)
    found = anyio.run(_idle, count)
    per = found["bytes"] / count
    return Result(
        f"{per / 1024:.1f} KiB per Session",
        f"{found['bytes'] / 1024:.0f} KiB for {count:,} idle Sessions (asyncio)",
        values=found | {"bytes_per_session": per},
    )


ROWS = [
    *(
        Row(
            f"memory-{backend}",
            f"traced memory over calls, one Session, {backend}",
            f"flat: ≤ {FLAT}x",
            _calls_row(backend),
        )
        for backend in BACKENDS
    ),
    Row("memory-idle", "traced memory per idle Session (negotiated once)", "—", idle),
]


def child(argv: list[str]) -> None:
    """``python -m benchmarks.memory BACKEND CALLS``: one over-calls run, its figures as one JSON line."""
    backend, calls = argv
    logging.getLogger("mcp_session_recovery").addHandler(logging.NullHandler())
    print(json.dumps(anyio.run(_over_calls, int(calls), backend=backend)))


if __name__ == "__main__":
    child(sys.argv[1:])
