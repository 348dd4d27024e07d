"""First call after a server restart against a warm call, and the wrapper's overhead on warm calls.

The official SDK 2.3.0 client (``ClientSession``, legacy sessions) talks to the SDK 2.3.0 server
running as its own process on 127.0.0.1. Measured in one run so the ratios compare like with like
(the machine is noisy; read the ratios, not the milliseconds):

- warm call, bare SDK transport vs. ``RecoveringTransport``: the overhead of the wrapper;
- first call after SIGKILL + restart (the restart itself not timed): re-initialize, replay.

    python benchmarks/recovery_latency.py [--warm 200] [--restarts 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from tests.integration.processes import ManagedServer, sdk_server_argv


@asynccontextmanager
async def client(url: str, recovering: bool) -> AsyncIterator[ClientSession]:
    inner = httpx2.AsyncHTTPTransport()
    transport = RecoveringTransport(inner) if recovering else inner
    async with (
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def warm_ms(session: ClientSession, calls: int) -> list[float]:
    for _ in range(20):
        await session.call_tool("add", {"a": 1, "b": 2})
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        await session.call_tool("add", {"a": 1, "b": 2})
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def main(warm_calls: int, restarts: int) -> None:
    with ManagedServer(sdk_server_argv()) as server:
        async with client(server.url, recovering=False) as bare:
            bare_warm = await warm_ms(bare, warm_calls)
        async with client(server.url, recovering=True) as session:
            wrapped_warm = await warm_ms(session, warm_calls)
            first, second = [], []
            for _ in range(restarts):
                await anyio.to_thread.run_sync(server.restart)
                started = time.perf_counter()
                await session.call_tool("add", {"a": 1, "b": 2})
                first.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await session.call_tool("add", {"a": 1, "b": 2})
                second.append((time.perf_counter() - started) * 1000)
        fresh = []
        for _ in range(restarts):
            # The baseline a user has today: restart the client too (a new process's first call).
            await anyio.to_thread.run_sync(server.restart)
            started = time.perf_counter()
            async with client(server.url, recovering=False) as bare:
                await bare.call_tool("add", {"a": 1, "b": 2})
                fresh.append((time.perf_counter() - started) * 1000)
    bare_median, wrapped_median = statistics.median(bare_warm), statistics.median(wrapped_warm)
    first_median = statistics.median(first)
    print(f"warm call, bare SDK transport:       median {bare_median:.2f} ms over {warm_calls}")
    print(f"warm call, RecoveringTransport:      median {wrapped_median:.2f} ms over {warm_calls}")
    print(f"first call after a restart:          median {first_median:.2f} ms over {restarts} restarts")
    print(f"  (min {min(first):.2f}, max {max(first):.2f})")
    print(f"second call after a restart:         median {statistics.median(second):.2f} ms")
    print(f"a fresh bare client's connect + first call on a restarted server: median {statistics.median(fresh):.2f} ms")
    print(f"ratio wrapped / bare warm call:      {wrapped_median / bare_median:.2f}")
    print(f"ratio first-after-restart / warm:    {first_median / wrapped_median:.2f}")
    print(f"ratio first-after-restart / fresh bare client: {first_median / statistics.median(fresh):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--restarts", type=int, default=10)
    args = parser.parse_args()
    anyio.run(main, args.warm, args.restarts)
