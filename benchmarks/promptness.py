"""Row 7: how soon a call waiting out a restart completes once the server accepts again, and how
politely the client waited.

The library's DEFAULT ``SessionOptions`` are what is measured (the backoff is the figure), through
``RecoveringTransport`` under the SDK's ``ClientSession`` and through ``Session`` over
``HttpxWire``. Each round, on the test server as a real process (legacy sessions, SSE answers):

1. SIGKILL the server and start a call at once; wait until the session reports the loss
   (``INVALIDATED`` in its ``on_event`` records), so the call surely met the dead server;
2. leave the server down for a random 0.5-2 s outage (seeded), counted from the kill;
3. start a new process on the same port; a thread of ours polls ``connect()`` on that port every
   millisecond from just before the spawn (the kernel completes a handshake as soon as the socket
   listens, before the server has served anything), and ``ServerProcess.start`` returns when the
   process prints ``READY <port>`` right after it listens. "The server accepts again" is the
   earlier of the two (they are about a millisecond apart, in either order: the threads compete
   for the GIL), so the figure is the harsher one; the anchor shows how far apart they were;
4. time from that moment to the call's completion.

Three windows: ``refused`` (nothing listens on the port: connects are refused), ``502`` and
``404`` (a gateway, ``testing/proxy.py`` as its own process, stays up in front and answers
``502 Bad Gateway`` or a plain-text ``404 page not found`` while its backend is down; the poll
is on the backend's port).

Politeness, per round: the client's negotiation attempts during the outage (from the kill to the
accept; transitions into ``RECOVERING`` in the ``on_event`` records), judged on the busiest
1-second window (target: at most 5), with the average over the outage beside it. For refused
connections the server receives none of them; for a gateway, its own count of the requests it
answered while the backend was down (``down_answers`` in its ``/_stats``) is compared: it should
be those attempts plus the waiting call's own first request and nothing else. And the
initializes the new process counted over its life (read just before the next kill, or after a
short idle at the end): one per restart is the target.
"""

from __future__ import annotations

import random
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import State
from mcp_session_recovery.runtime import Session, SessionOptions, TransitionRecord
from mcp_session_recovery.testing import ServedEra, ServerProcess
from tests.integration.processes import ManagedServer, proxy_argv

from .clients import ADD, TIMEOUT, sdk_client, text_of
from .common import Context, Result, Row, ms

__all__ = ["ROWS", "Round", "measure"]

#: The targets of the issue: seconds from accepting again to the waiting call's completion.
MEDIAN_TARGET = 0.3
WORST_TARGET = 1.0
#: Attempts a second the server may receive while it is down, and initializes per restart.
RATE_TARGET = 5.0
INITIALIZES_TARGET = 1
#: The outage, from the kill to the new process's spawn (uniform, seeded).
OUTAGE = (0.5, 2.0)
SEED = 9
#: Bounds: the loss must be noticed, the port accept, and the call complete within these.
NOTICE_TIMEOUT = 10.0
ACCEPT_TIMEOUT = 20.0
CALL_TIMEOUT = 30.0
POLL_INTERVAL = 0.001
#: The idle moment after the last round (the backoff's longest delay and then some).
LAST_IDLE = 0.6


@dataclass
class Round:
    """What one restart showed."""

    outage_s: float
    #: From the server accepting again (the earlier of the two signals) to the call's completion.
    latency_s: float
    #: From our poll's first accepted connect to ``READY <port>`` on the process's stdout (either may
    #: come first: ``latency_s`` counts from the earlier).
    ready_lag_s: float
    #: Requests the gateway answered itself during the outage (``None``: no gateway).
    gateway_requests: int | None
    #: Negotiation attempts the client started during the outage, and the most in 1 s.
    client_attempts: int
    client_peak_per_s: int
    #: Initializes the restarted process counted over its life (set at the next kill).
    initializes: int = -1

    @property
    def rate(self) -> float:
        """The client's negotiation attempts a second over the outage (from the kill to the accept)."""
        return self.client_attempts / max(self.outage_s, 1e-9)


@dataclass
class _Watch:
    """The client's ``on_event`` hook: when it noticed a loss, and when each attempt started."""

    noticed: anyio.Event = field(default_factory=anyio.Event)
    attempts: list[float] = field(default_factory=list)

    def __call__(self, record: TransitionRecord) -> None:
        if record.new_state is State.INVALIDATED:
            self.noticed.set()
        if record.new_state is State.RECOVERING:
            self.attempts.append(time.monotonic())

    def arm(self) -> None:
        self.noticed = anyio.Event()


def _first_accept(port: int, stop: threading.Event) -> float | None:
    """Poll ``connect()`` on ``port`` until one succeeds; its time (``None`` if stopped or timed out)."""
    deadline = time.monotonic() + ACCEPT_TIMEOUT
    for _ in range(int(ACCEPT_TIMEOUT / POLL_INTERVAL) + 1):
        if stop.is_set() or time.monotonic() > deadline:
            return None
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return time.monotonic()
        except OSError:
            time.sleep(POLL_INTERVAL)
    return None


def _peak(times: list[float]) -> int:
    """The most of ``times`` inside any 1-second window."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


Call = Callable[[], Awaitable[None]]


@asynccontextmanager
async def _sdk(url: str, watch: _Watch) -> AsyncIterator[Call]:
    """The SDK's ``ClientSession`` over ``RecoveringTransport`` with the default options."""
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), on_event=watch)
    name, arguments = ADD
    async with sdk_client(url, transport) as session:

        async def call() -> None:
            result = await session.call_tool(name, arguments)
            if text_of(result) != "3":
                raise RuntimeError(f"add answered {text_of(result)!r}")

        yield call


@asynccontextmanager
async def _session(url: str, watch: _Watch) -> AsyncIterator[Call]:
    """``Session`` over ``HttpxWire`` with the default options."""
    name, arguments = ADD
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=TIMEOUT))
        session = await stack.enter_async_context(Session(HttpxWire(http, url), url, SessionOptions(), on_event=watch))

        async def call() -> None:
            result = await session.request("tools/call", {"name": name, "arguments": arguments})
            if text_of(result) != "3":
                raise RuntimeError(f"add answered {text_of(result)!r}")

        yield call


CLIENTS = {"sdk": _sdk, "session": _session}


@contextmanager
def _servers(gateway: str | None) -> Iterator[tuple[ServerProcess, ManagedServer | None]]:
    """The backend (test server, legacy) and, for a gateway window, the proxy in front of it."""
    with ExitStack() as stack:
        backend = stack.enter_context(ServerProcess(eras=[ServedEra.LEGACY]))
        proxy = None
        if gateway is not None:
            proxy = stack.enter_context(ManagedServer(proxy_argv(backend.port, down_answer=gateway)))
        yield backend, proxy


def _down_answers(proxy: ManagedServer | None) -> int:
    return 0 if proxy is None else int(proxy.stats()["down_answers"])


async def _round(
    backend: ServerProcess, proxy: ManagedServer | None, call: Call, watch: _Watch, outage: float
) -> Round:
    gateway_before = await anyio.to_thread.run_sync(_down_answers, proxy)
    watch.arm()
    attempts_before = len(watch.attempts)
    await anyio.to_thread.run_sync(backend.kill)
    killed = time.monotonic()
    done: list[float] = []

    async def waiting_call() -> None:
        await call()
        done.append(time.monotonic())

    stop = threading.Event()
    accepted: list[float | None] = []
    ready: list[float] = []

    async def poll() -> None:
        accepted.append(await anyio.to_thread.run_sync(_first_accept, backend.port, stop))

    async def restart() -> None:
        await anyio.to_thread.run_sync(backend.start)
        ready.append(time.monotonic())

    try:
        with anyio.fail_after(NOTICE_TIMEOUT + OUTAGE[1] + ACCEPT_TIMEOUT + CALL_TIMEOUT):
            async with anyio.create_task_group() as group:
                group.start_soon(waiting_call)
                with anyio.fail_after(NOTICE_TIMEOUT):
                    await watch.noticed.wait()
                # The outage's length is the scenario, not a synchronisation: sleep out the rest of it.
                await anyio.sleep(max(0.0, killed + outage - time.monotonic()))
                group.start_soon(poll)
                group.start_soon(restart)
    finally:
        stop.set()
    polled = accepted[0] if accepted else None
    if polled is None or not done or not ready:
        raise RuntimeError("the restarted server never accepted a connection")
    # The two signals are within about a millisecond of each other, in either order (the threads
    # compete for the GIL); the earlier one is the moment, which makes the latency the longer one.
    first = min(polled, ready[0])
    window = [moment for moment in watch.attempts[attempts_before:] if moment <= first]
    gateway_after = await anyio.to_thread.run_sync(_down_answers, proxy)
    return Round(
        outage_s=first - killed,
        latency_s=done[0] - first,
        ready_lag_s=ready[0] - polled,
        gateway_requests=None if proxy is None else gateway_after - gateway_before,
        client_attempts=len(window),
        client_peak_per_s=_peak(window),
    )


async def measure(client: str, gateway: str | None, rounds: int, seed: int = SEED) -> list[Round]:
    """``rounds`` restarts of a fresh backend (behind a gateway answering ``gateway``, if given)."""
    rng = random.Random(seed)
    watch = _Watch()
    results: list[Round] = []
    with _servers(gateway) as (backend, proxy):
        url = backend.url if proxy is None else proxy.url
        async with CLIENTS[client](url, watch) as call:
            await call()
            for _ in range(rounds):
                if results:  # the previous process's life ends with the next kill: read it first
                    results[-1].initializes = await _initializes(backend)
                results.append(await _round(backend, proxy, call, watch, rng.uniform(*OUTAGE)))
            # An idle moment before the last read, so a late stray attempt would be counted too.
            await anyio.sleep(LAST_IDLE)
            results[-1].initializes = await _initializes(backend)
    return results


async def _initializes(backend: ServerProcess) -> int:
    stats = await anyio.to_thread.run_sync(backend.stats)
    return stats.initializes


def _row(client: str, gateway: str | None) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        rounds = context.scale.pick(10, 2)
        found = anyio.run(measure, client, gateway, rounds)
        return summarize(found)

    return run


def summarize(found: list[Round]) -> Result:
    """The table's cells for a list of rounds.

    Politeness is judged on the busiest second (an average over a short outage is mostly the
    first, undelayed attempt); the gateway's own count shows that what it received was those
    attempts plus the waiting call's first request, nothing else.
    """
    latencies = [item.latency_s for item in found]
    median, worst = statistics.median(latencies), max(latencies)
    rate = max(item.rate for item in found)
    peak = max(item.client_peak_per_s for item in found)
    initializes = [item.initializes for item in found]
    met = (
        median <= MEDIAN_TARGET
        and worst <= WORST_TARGET
        and peak <= RATE_TARGET
        and all(count == INITIALIZES_TARGET for count in initializes)
    )
    outages = [item.outage_s for item in found]
    lags = [abs(item.ready_lag_s) for item in found]
    others = sorted(
        {item.gateway_requests - item.client_attempts for item in found if item.gateway_requests is not None}
    )
    received = (
        "the server received none (refused)"
        if not others
        else f"the gateway received those + {'/'.join(str(count) for count in others)} other"
    )
    values: dict[str, Any] = {
        "median_s": median,
        "worst_s": worst,
        "peak_attempts_in_1s": peak,
        "max_attempts_per_s": rate,
        "initializes_per_restart": initializes,
        "rounds": [vars(item) for item in found],
    }
    return Result(
        f"median {ms(median)}, worst {ms(worst)}; ≤ {peak} initialize attempts in any 1 s "
        f"(≤ {rate:.1f}/s over an outage; {received}); initializes per restart {min(initializes)}-{max(initializes)}",
        f"{len(found)} restarts, outages {min(outages):.2f}-{max(outages):.2f} s (kill → accept); "
        f"READY and our connect poll {ms(statistics.median(lags))} apart (median)",
        met=met,
        values=values,
    )


_TARGET = f"median ≤ {MEDIAN_TARGET} s, worst ≤ {WORST_TARGET:g} s; ≤ {RATE_TARGET:g} in 1 s; 1 initialize"
_WINDOWS = {
    "refused": (None, "connections refused"),
    "502": ("bad_gateway", "gateway 502"),
    "404": ("not_found", "gateway 404 text"),
}
_SUBJECTS = {"sdk": "SDK over RecoveringTransport", "session": "Session over HttpxWire"}

ROWS = [
    Row(
        f"promptness-{window}-{client}",
        f"accept again → waiting call done, {words}, {_SUBJECTS[client]}",
        _TARGET,
        _row(client, gateway),
    )
    for window, (gateway, words) in _WINDOWS.items()
    for client in _SUBJECTS
]
