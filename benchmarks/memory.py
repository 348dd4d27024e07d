"""Row 5: memory. Nothing may grow with the number of calls, and an idle Session must be small.

- Over calls: 200,000 calls through one Session against the in-memory server, which forgets the
  session every 1,000 calls (so recovery is part of the run); the traced memory (tracemalloc,
  after a full collection) once the bounded caches are full (the redactor keeps the newest 64
  session ids, one per negotiation: 66,000 calls) and at the end, 134 negotiations later. Tracing makes each
  call about three times slower, and memory is no timing, so each backend runs in its own child
  process, side by side. Bounded in time: a slow runtime reports how far it got.
- The same on a Session that is never lost (20,000 calls): what the runtime keeps per call of
  one session, which the run above frees every 1,000 calls.
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
from dataclasses import dataclass
from typing import Any

import anyio

from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions
from mcp_session_recovery.runtime.redaction import MAX_SESSION_IDS

from .common import Context, Result, Row
from .fake_wire import InstantServer

__all__ = ["ROWS"]

URL = "http://127.0.0.1:9/mcp"
BUMP = {"name": "bump", "arguments": {}}
FLAT = 1.1
FLAT_TARGET = f"flat: ≤ {FLAT}x"
#: Seconds the over-calls row may run per backend before it reports what it measured so far.
BUDGET = 150.0


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def _over_calls(calls: int, lose_every: int | None) -> dict[str, Any]:
    server = InstantServer(lose_every=lose_every)
    checkpoint = calls // 10
    if lose_every:
        # The bounded caches fill first: the redactor keeps the newest MAX_SESSION_IDS session ids
        # (one per negotiation). Read the early figure once they are full, when there is room.
        checkpoint = max(checkpoint, min((MAX_SESSION_IDS + 2) * lose_every, calls // 2))
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
    found = {"early": early, "late": late, "at": checkpoint, "done": done}
    return found | {"negotiations": negotiations, "tracked": tracked}


@dataclass(frozen=True)
class _Run:
    """One over-calls run: its backend, its number of calls (full, quick), how often the session is lost."""

    backend: str
    full: int
    quick: int
    lose_every: int | None

    def argv(self, context: Context) -> list[str]:
        calls = context.scale.pick(self.full, self.quick)
        lose = str(self.lose_every or 0)
        return [sys.executable, "-m", "benchmarks.memory", self.backend, str(calls), lose]


RUNS = {
    "memory-asyncio": _Run("asyncio", 200_000, 2_000, 1000),
    "memory-trio": _Run("trio", 200_000, 2_000, 1000),
    "memory-live": _Run("asyncio", 20_000, 2_000, None),
}


def _start(context: Context) -> None:
    """Start every selected run's child process at once: they run side by side (2 cores)."""
    for name, spec in RUNS.items():
        if name in context.selected and name not in context.started:
            context.started[name] = context.servers.spawn(spec.argv(context))


def _calls_row(name: str) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        _start(context)
        child = context.started.pop(name, None)
        if not isinstance(child, subprocess.Popen):
            child = context.servers.spawn(RUNS[name].argv(context))
        try:
            out, err = child.communicate(timeout=BUDGET + 60)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
        if child.returncode != 0 or not out.strip():
            tail = (err.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"the child exited {child.returncode}: {tail}")
        found = json.loads(out.strip().splitlines()[-1])
        value = found["late"] / found["early"]
        calls = context.scale.pick(RUNS[name].full, RUNS[name].quick)
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
        Row(name, f"traced memory over calls, Session lost every 1,000, {spec.backend}", FLAT_TARGET, _calls_row(name))
        for name, spec in RUNS.items()
        if spec.lose_every is not None
    ),
    Row("memory-live", "the same, a Session never lost (20,000 calls)", FLAT_TARGET, _calls_row("memory-live")),
    Row("memory-idle", "traced memory per idle Session (negotiated once)", "—", idle),
]


def child(argv: list[str]) -> None:
    """``python -m benchmarks.memory BACKEND CALLS LOSE_EVERY`` (0: never): one run, its figures as one JSON line."""
    backend, calls, lose_every = argv
    logging.getLogger("mcp_session_recovery").addHandler(logging.NullHandler())
    print(json.dumps(anyio.run(_over_calls, int(calls), int(lose_every) or None, backend=backend)))


if __name__ == "__main__":
    child(sys.argv[1:])
