"""Row 1: warm calls of a cheap tool (``add``) on the SDK 2.3.0 server, each adapter against its bare twin.

Every client of a row is open at once and the calls alternate between them (the order rotating),
so the medians see the same noise; the figure is median(adapter) / median(bare). The Session rows
pin the handshake era, which their raw anchors speak (an ``initialize`` of their own, then POSTs
with the same session id and protocol-version headers); ``connect()`` is pinned to it too, the
era the SDK's own ``ClientSession`` negotiates.

The aiohttp pair runs on both servers; the SDK server's row has the target. On the test server,
which answers in under a millisecond, the same fixed cost per call weighs about three times more.
(Before the SDK server's connections had ``TCP_NODELAY``, see ``tests/integration/servers/
sdk_server.py``, aiohttp's kept-alive connections waited out a delayed ACK there, about 40 ms, on
whichever side reused one, and that row measured anything between 0.1x and 8x.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2

from mcp_session_recovery.adapters.mcp_sdk import connect

from .clients import (
    ADD,
    PassThrough,
    aiohttp_session_and_raw,
    recovering,
    sdk_client,
    session_and_raw,
)
from .common import Context, Result, Row, interleave, median, ms, ratio

__all__ = ["ROWS"]

Call = Callable[[], Awaitable[object]]
Subjects = Callable[[str], Any]  # url -> an async context manager yielding {name: call}
#: Seconds a row may spend interleaving before it reports what it has.
BUDGET = 60.0
PARAMS = {"name": ADD[0], "arguments": ADD[1]}


def _tool(session: Any) -> Call:
    return lambda: session.call_tool(*ADD)


@asynccontextmanager
async def _sdk_transport(url: str) -> AsyncIterator[dict[str, Call]]:
    async with (
        sdk_client(url, httpx2.AsyncHTTPTransport()) as bare,
        sdk_client(url, recovering()) as adapter,
        sdk_client(url, PassThrough(httpx2.AsyncHTTPTransport())) as naive,
    ):
        yield {"bare": _tool(bare), "adapter": _tool(adapter), "naive": _tool(naive)}


@asynccontextmanager
async def _session_httpx(url: str) -> AsyncIterator[dict[str, Call]]:
    async with session_and_raw(url) as (session, raw):
        yield {"bare": lambda: raw.call(*ADD), "adapter": lambda: session.request("tools/call", PARAMS)}


@asynccontextmanager
async def _connect(url: str) -> AsyncIterator[dict[str, Call]]:
    async with sdk_client(url, httpx2.AsyncHTTPTransport()) as bare, connect(url, mode="legacy") as client:
        yield {"bare": _tool(bare), "adapter": _tool(client)}


@asynccontextmanager
async def _session_aiohttp(url: str) -> AsyncIterator[dict[str, Call]]:
    async with aiohttp_session_and_raw(url) as (session, raw):
        yield {"bare": lambda: raw.call(*ADD), "adapter": lambda: session.request("tools/call", PARAMS)}


def _row(subjects: Subjects, target: float | None, *, testing: bool = False) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        rounds = context.scale.pick(1000, 30)
        server = context.servers.testing() if testing else context.servers.sdk()

        async def main() -> dict[str, float]:
            with anyio.fail_after(BUDGET + 60):
                async with subjects(server.url) as calls:
                    samples = await interleave(calls, rounds, budget=BUDGET, warmup=10)
            return {name: median(values) for name, values in samples.items()} | {"rounds": len(samples["bare"])}

        medians = anyio.run(main)
        return _result(target, medians)

    return run


def _result(target: float | None, medians: Mapping[str, float]) -> Result:
    value = ratio(medians["adapter"], medians["bare"])
    anchor = f"bare {ms(medians['bare'])}"
    values: dict[str, object] = {"ratio": value, **medians}
    if "naive" in medians:
        values["naive_ratio"] = naive = ratio(medians["naive"], medians["bare"])
        anchor += f"; pass-through wrapper {naive:.3f}x"
    met = None if target is None else value <= target
    return Result(f"{value:.3f}x ({ms(medians['adapter'])})", anchor, met=met, values=values)


ROWS = [
    Row("hot-sdk", "SDK ClientSession, RecoveringTransport / bare transport", "≤ 1.03x", _row(_sdk_transport, 1.03)),
    Row("hot-session", "Session over HttpxWire / raw httpx2 POST", "≤ 1.03x", _row(_session_httpx, 1.03)),
    Row("hot-connect", "connect(url, mode='legacy') / SDK ClientSession, bare", "≤ 1.05x", _row(_connect, 1.05)),
    Row(
        "hot-aiohttp",
        "Session over AiohttpWire / raw aiohttp POST, SDK server",
        "≤ 1.03x",
        _row(_session_aiohttp, 1.03),
    ),
    Row(
        "hot-aiohttp-testserver",
        "the same on the test server (answers in under 1 ms)",
        "—",
        _row(_session_aiohttp, None, testing=True),
    ),
]
