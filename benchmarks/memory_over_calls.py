"""Memory held by one Session over many calls: nothing may grow with the number of calls.

An in-memory wire answers every request at once (a legacy session that is lost every 1,000 calls,
so recovery is part of the run), so what is measured is the runtime and the model alone. Prints
the traced memory after 10% of the calls and at the end, and their ratio (1.0 means flat).

    python benchmarks/memory_over_calls.py [--calls 100000] [--backend asyncio|trio]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import AsyncGenerator, Mapping

import anyio

from mcp_session_recovery.model import Outgoing
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions, WireResponse


class _Answer:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self._body = status, headers, body

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        yield self._body

    async def aclose(self) -> None:
        return None


class InstantServer:
    """A legacy server in memory that forgets its session every ``lose_every`` calls."""

    def __init__(self, lose_every: int) -> None:
        self.lose_every, self.calls, self.session = lose_every, 0, 0

    async def send(self, outgoing: Outgoing) -> WireResponse:
        message = json.loads(outgoing.body) if outgoing.body else {}
        method = message.get("method")
        live = f"s{self.session}"
        if method == "initialize":
            self.session += 1
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "m"}}
            return self._json(message, result, {"mcp-session-id": f"s{self.session}"})
        if outgoing.headers.get("mcp-session-id") != live:
            return _Answer(404, {"content-type": "text/plain"}, b"session not found")
        if method == "notifications/initialized":
            return _Answer(202, {}, b"")
        self.calls += 1
        if self.calls % self.lose_every == 0:
            self.session += 1  # forgotten: the next request gets 404
        return self._json(message, {"content": [{"type": "text", "text": str(self.calls)}]}, {})

    @staticmethod
    def _json(message: Mapping[str, object], result: object, headers: Mapping[str, str]) -> _Answer:
        body = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": result}).encode()
        return _Answer(200, {"content-type": "application/json", **headers}, body)


async def main(calls: int) -> None:
    server = InstantServer(lose_every=1000)
    options = SessionOptions(era_cache=EraCache())
    url = "http://127.0.0.1:9/mcp"
    tracemalloc.start()
    started = time.perf_counter()
    async with Session(server, url, options) as session:
        early = 0
        for n in range(1, calls + 1):
            await session.request("tools/call", {"name": "bump", "arguments": {}})
            if n == calls // 10:
                gc.collect()
                early = tracemalloc.get_traced_memory()[0]
        gc.collect()
        late = tracemalloc.get_traced_memory()[0]
        generation = session.snapshot.generation
        tracked = len(session.snapshot.requests)
    elapsed = time.perf_counter() - started
    print(f"{calls} calls, {generation} negotiations, {elapsed:.1f} s ({calls / elapsed:,.0f} calls/s)")
    print(f"traced memory after {calls // 10} calls: {early / 1024:.0f} KiB; after {calls}: {late / 1024:.0f} KiB")
    print(f"ratio end / 10%: {late / early:.2f}; requests the model still tracks: {tracked}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    args = parser.parse_args()
    anyio.run(main, args.calls, backend=args.backend)
