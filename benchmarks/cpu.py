"""Row 2: the library's CPU per call on a live (READY) session, on asyncio and on trio.

``Session.request`` over the in-memory :class:`~.fake_wire.InstantServer`, minus the CPU of
sending the very same request to the fake directly (and reading its answer) as many times: what
is left is the runtime and the model. Blocks of calls alternate between the two, so both see the
same noise; ``time.process_time`` leaves out the time the process was not running.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio

from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions

from .common import Context, Result, Row
from .fake_wire import InstantServer

__all__ = ["ROWS"]

TARGET_US = 60.0
BLOCKS = 10
URL = "http://127.0.0.1:9/mcp"
PARAMS = {"name": "add", "arguments": {"a": 1, "b": 2}}


async def _cpu(call: Callable[[], Awaitable[object]], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        await call()
    return time.process_time() - started


async def _measure(calls: int) -> tuple[float, float]:
    """CPU seconds per call: through the Session, and the fake wire alone."""
    server = InstantServer()
    options = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache())
    async with Session(server, URL, options) as session:

        async def through_session() -> object:
            return await session.request("tools/call", PARAMS)

        for _ in range(200):  # negotiated, warm
            await through_session()
        outgoing = server.last_call
        assert outgoing is not None

        async def wire_alone() -> None:
            response = await server.send(outgoing)
            async for _ in response.iter_bytes():
                pass
            await response.aclose()

        per_block = max(1, calls // BLOCKS)
        spent = {"session": 0.0, "wire": 0.0}
        for block in range(BLOCKS):
            order = [("session", through_session), ("wire", wire_alone)]
            for name, call in order if block % 2 == 0 else order[::-1]:
                spent[name] += await _cpu(call, per_block)
        total = per_block * BLOCKS
        return spent["session"] / total, spent["wire"] / total


def _row(backend: str) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        calls = context.scale.pick(20_000, 2_000)

        async def bounded() -> tuple[float, float]:
            with anyio.fail_after(120):
                return await _measure(calls)

        session, wire = anyio.run(bounded, backend=backend)
        library_us = (session - wire) * 1e6
        return Result(
            f"{library_us:.1f} µs/call",
            f"Session {session * 1e6:.1f} µs - fake wire alone {wire * 1e6:.1f} µs ({calls:,} calls each)",
            met=library_us <= TARGET_US,
            values={"library_us": library_us, "session_us": session * 1e6, "wire_us": wire * 1e6, "calls": calls},
        )

    return run


ROWS = [
    Row(
        f"cpu-{backend}",
        f"library CPU per READY call, Session.request, {backend}",
        f"≤ {TARGET_US:.0f} µs",
        _row(backend),
    )
    for backend in ("asyncio", "trio")
]
