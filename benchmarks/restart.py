"""Row 3: the first call after a SIGKILL restart against a warm call, SDK over RecoveringTransport.

Each round: SIGKILL the server and start it again (not timed), time the first call from issuing
it to its result, then three warm calls. Then, as many rounds again with the recovering client
closed, time what a user does today (the anchor): a fresh bare SDK client's connect and first call
on the restarted server.

The SDK server runs twice: as uvicorn serves it by default (``TCP_NODELAY`` on its connections),
and without ``TCP_NODELAY``, as this row's previous figure was measured. Without it, the server's
SSE answer on a kept-alive connection waits out the client's delayed ACK (about 40 ms): the
``initialize`` goes out on the connection the 404 left open and pays it once. (The re-sent call
paid it too, on the connection ``notifications/initialized`` left open, until the runtime left
that 202 unread, as the SDK does, so its connection is not kept.)
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx2

from mcp_session_recovery.testing import ManagedProcess

from .clients import ADD, recovering, sdk_client
from .common import Context, Result, Row, median, ms, ratio, skipped, times

__all__ = ["ROWS"]

#: The first call after a restart, median, measured before this command existed (SDK server,
#: its connections without TCP_NODELAY).
PREVIOUS_MS = 98.8
WARM_PER_ROUND = 3


async def _rounds(server: ManagedProcess, rounds: int) -> dict[str, list[float]]:
    name, arguments = ADD
    samples: dict[str, list[float]] = {"first": [], "warm": [], "fresh": []}
    async with sdk_client(server.url, recovering()) as session:
        for _ in range(5):
            await session.call_tool(name, arguments)
        for _ in range(rounds):
            await anyio.to_thread.run_sync(server.restart)
            samples["first"].append(await times(lambda: session.call_tool(name, arguments)))
            for _ in range(WARM_PER_ROUND):
                samples["warm"].append(await times(lambda: session.call_tool(name, arguments)))
    # The anchor's restarts come after, with the recovering client closed: a restart while it idles
    # would start a recovery in the background (its GET stream ends), and the next round would then
    # time that recovery's backoff, not the first call after a restart.
    for _ in range(rounds):
        await anyio.to_thread.run_sync(server.restart)
        samples["fresh"].append(await times(lambda: _fresh_call(server.url)))
    return samples


async def _fresh_call(url: str) -> None:
    """A new bare client: connect (initialize) and the first call; closing it is not timed."""
    name, arguments = ADD
    async with sdk_client(url, httpx2.AsyncHTTPTransport()) as bare:
        await bare.call_tool(name, arguments)


#: The server a row restarts, from the run's shared ones (a string: why it cannot run).
ServerOf = Callable[[Context], ManagedProcess | str]


def _row(server_of: ServerOf, *, bounded_by_previous: bool) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        server = server_of(context)
        if isinstance(server, str):
            return skipped(server)
        rounds = context.scale.pick(10, 2)

        async def bounded() -> dict[str, list[float]]:
            with anyio.fail_after(40 * rounds):
                return await _rounds(server, rounds)

        samples = anyio.run(bounded)
        first, warm, fresh = (median(samples[name]) for name in ("first", "warm", "fresh"))
        return Result(
            f"{ms(first)} = {ratio(first, warm):.1f}x warm ({ms(warm)})",
            f"fresh bare client {ms(fresh)} ({ratio(first, fresh):.2f}x); {rounds} restarts",
            met=first * 1000 <= PREVIOUS_MS if bounded_by_previous else None,
            values={"first_ms": first * 1000, "warm_ms": warm * 1000, "fresh_ms": fresh * 1000, "samples": samples},
        )

    return run


def _restart_row(name: str, figure: str, server_of: ServerOf, *, bounded_by_previous: bool) -> Row:
    target = f"≤ {PREVIOUS_MS} ms (previous)" if bounded_by_previous else "—"
    return Row(name, figure, target, _row(server_of, bounded_by_previous=bounded_by_previous))


ROWS = [
    _restart_row(
        "restart-sdk",
        "first call after a restart, SDK server",
        lambda context: context.servers.sdk(),
        bounded_by_previous=True,
    ),
    # The server as the previous figure was measured on: no TCP_NODELAY on its connections.
    _restart_row(
        "restart-sdk-no-nodelay",
        "the same, the server's connections without TCP_NODELAY",
        lambda context: context.servers.sdk(nodelay=False),
        bounded_by_previous=True,
    ),
    _restart_row(
        "restart-ts",
        "first call after a restart, TypeScript SDK server",
        lambda context: context.servers.typescript(),
        bounded_by_previous=False,
    ),
    _restart_row(
        "restart-testing",
        "first call after a restart, test server",
        lambda context: context.servers.testing(),
        bounded_by_previous=False,
    ),
]
