"""``demo``: a plain SDK client and a recovering one, side by side, through real server restarts.

It starts two copies of the library's test server (``python -m mcp_session_recovery.testing``),
each behind a gateway (``python -m mcp_session_recovery.testing.proxy``), as real processes on
127.0.0.1: one pair for each client, so each server's counters are one client's evidence. Both
clients are the official SDK's ``ClientSession``; the recovering one has its ``httpx2`` transport
wrapped in :class:`~mcp_session_recovery.adapters.httpx_transport.RecoveringTransport`, the plain
one has not. Then, to both at once: warm calls; several SIGKILL restarts on the same port; a
call made while the server behind the gateway is down (the gateway answers 502); a call made while
server and gateway are both down (connections refused). The recovering client's state changes are
printed as they happen, then a summary table.

Exit 0 when the recovering client succeeded on every call; 1 otherwise. Every process it started
is killed by pid before it returns, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from ._output import Painter, format_table

if TYPE_CHECKING:
    from mcp_session_recovery.runtime import TransitionRecord
    from mcp_session_recovery.testing import ManagedProcess, ServerProcess

    from ._sdk_client import CallResult, SdkClient

__all__ = ["add_arguments", "run"]

#: SIGKILL restarts of the servers.
RESTARTS = 3
#: Calls before the first restart (the warm figure), and after each restart.
WARM_CALLS = 3
CALLS_AFTER_RESTART = 2
#: How long a down window may wait for the recovering client to notice it.
NOTICE_TIMEOUT = 10.0
#: How many answers the gateway gives for its dead backend before the backend comes back.
GATEWAY_DOWN_ANSWERS = 3
GATEWAY_POLL_INTERVAL = 0.05
GATEWAY_POLL_LIMIT = 200

_STATE_COLOURS = {"READY": "green", "INVALIDATED": "red", "FAILED": "red", "RECOVERING": "yellow"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--era",
        choices=["legacy", "modern"],
        default="legacy",
        help="legacy: sessions that a restart loses (default); modern: the sessionless 2026-07-28 era",
    )
    parser.add_argument("--restarts", type=_restarts, default=RESTARTS, help=f"SIGKILL restarts (default {RESTARTS})")


def _restarts(value: str) -> int:
    count = int(value)
    if not 1 <= count <= 20:
        raise argparse.ArgumentTypeError("must be between 1 and 20")
    return count


def run(args: argparse.Namespace) -> int:
    import anyio

    # The demo prints its own trace; without this the library's warnings would be printed twice
    # (Python shows them on stderr when the application configured no logging).
    # The same for the SDK's own complaints (a DELETE of a lost session answered 404, say).
    for name in ("mcp_session_recovery", "mcp"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    demo = Demo(era=args.era, restarts=args.restarts)
    try:
        return anyio.run(demo.main)
    finally:
        demo.stop_processes()
        # Every process the demo started, so anyone (its tests, too) can check none is left.
        print("processes started (pids, all stopped): " + " ".join(str(pid) for pid in demo.pids), flush=True)


@dataclass
class _Side:
    """One client with its own server and gateway, and what happened to it."""

    name: str
    server: ServerProcess
    gateway: ManagedProcess
    client: SdkClient | None = None
    results: list[tuple[str, CallResult]] = field(default_factory=list)
    #: Counters of each server process, in order (the stats read just before it was killed).
    per_process: list[dict[str, int]] = field(default_factory=list)


class Demo:
    """The demo's script; :meth:`stop_processes` must run whatever happens."""

    def __init__(self, *, era: str, restarts: int) -> None:
        from mcp_session_recovery.testing import ManagedProcess, ServedEra, ServerProcess

        self.era = era
        self.restarts = restarts
        self.paint = Painter()
        self.t0 = time.perf_counter()
        served = ServedEra.MODERN if era == "modern" else ServedEra.LEGACY
        self.sides: list[_Side] = []
        for name in ("plain", "recovering"):
            server = ServerProcess(eras=[served])
            gateway = ManagedProcess(_gateway_argv(server))
            self.sides.append(_Side(name, server, gateway))
        self.pids: list[int] = []
        self.records: list[TransitionRecord] = []
        self._noticed: Any = None  # an anyio.Event, made inside the event loop
        self._retries = 0
        self._retry_reason = ""

    # -- processes ---------------------------------------------------------------------------

    def _start(self, process: ManagedProcess) -> None:
        process.start()
        self.pids.append(process.pid)

    def start_processes(self) -> None:
        for side in self.sides:
            self._start(side.server)
            self._start(side.gateway)

    def stop_processes(self) -> None:
        """SIGKILL every process still running (each by its pid) and reap it."""
        for side in self.sides:
            for process in (side.gateway, side.server):
                try:
                    process.kill()
                except Exception as error:  # keep killing the others
                    print(f"demo: could not stop pid {self._pid(process)}: {error}", file=sys.stderr)

    @staticmethod
    def _pid(process: ManagedProcess) -> str:
        return str(process.pid) if process.running else "?"

    def _record_stats(self) -> None:
        for side in self.sides:
            stats = side.server.stats()
            side.per_process.append(
                {
                    "initializes": stats.initializes,
                    "discovers": stats.discovers,
                    "bump": stats.tool_executions.get("bump", 0),
                }
            )

    def _kill_servers(self, *, gateways: bool = False) -> None:
        self._record_stats()
        for side in self.sides:
            side.server.kill()
            if gateways:
                side.gateway.kill()

    def _start_servers(self, *, gateways: bool = False) -> None:
        for side in self.sides:
            self._start(side.server)
            if gateways:
                self._start(side.gateway)

    # -- output ------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(f"{self.paint(f'{time.perf_counter() - self.t0:6.2f}s', 'dim')}  {text}", flush=True)

    def step(self, text: str) -> None:
        print(flush=True)
        self.say(self.paint(f"== {text}", "bold"))

    def on_event(self, record: TransitionRecord) -> None:
        self.records.append(record)
        if record.new_state.name == "INVALIDATED" and self._noticed is not None:
            self._noticed.set()
        if record.old_state is record.new_state:
            return
        old, new = record.old_state.name, record.new_state.name
        # A recovery retried against the same outage: one line per outage, not one per attempt.
        retry = (old, new) in (("INVALIDATED", "RECOVERING"), ("RECOVERING", "INVALIDATED"))
        if retry and old == "RECOVERING" and record.reason == self._retry_reason:
            self._retries += 1
            return
        if retry and old == "INVALIDATED" and self._retry_reason:
            return
        self._flush_retries()
        if retry:
            self._retry_reason = record.reason
        arrow = f"{old} -> {self.paint(new, _STATE_COLOURS.get(new, 'cyan'))}"
        why = f"  ({record.reason})" if record.reason else ""
        self.say(f"   recovering: {arrow}  generation {record.generation}, {type(record.event).__name__}{why}")

    def _flush_retries(self) -> None:
        if self._retries:
            self.say(f"   recovering: ... tried again {self._retries} more times ({self._retry_reason})")
        self._retries = 0
        self._retry_reason = ""

    def _show(self, side: _Side, label: str, result: CallResult) -> None:
        if label == "warm" and result.fresh:
            # Not a warm call: the client connected first (its first call, or it had broken before).
            label = "rebuilt" if side.results else "connect"
        side.results.append((label, result))
        verdict = self.paint("ok    ", "green") if result.ok else self.paint("FAILED", "red")
        self.say(f"{side.name:>10}: {verdict} {result.ms:7.1f} ms  {result.detail}")

    # -- the script --------------------------------------------------------------------------

    async def main(self) -> int:
        import anyio
        import httpx2

        from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
        from mcp_session_recovery.runtime import Backoff, SessionOptions

        from ._sdk_client import SdkClient

        self._noticed = anyio.Event()
        self.say(f"starting 2 test servers ({self.era} era) and 2 gateways on 127.0.0.1 ...")
        await anyio.to_thread.run_sync(self.start_processes)
        plain, recovering = self.sides
        for side in self.sides:
            self.say(
                f"{side.name:>10}: server pid {side.server.pid} port {side.server.port}, "
                f"gateway pid {side.gateway.pid} at {side.gateway.url}"
            )
        # Quick retries so the demo is short; the defaults suit production (DESIGN: backoff).
        options = SessionOptions(backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20.0)

        def recovering_transport() -> Any:
            return RecoveringTransport(
                httpx2.AsyncHTTPTransport(), mode=self.era, options=options, on_event=self.on_event
            )

        plain.client = SdkClient(plain.gateway.url, self.era, httpx2.AsyncHTTPTransport)
        recovering.client = SdkClient(recovering.gateway.url, self.era, recovering_transport)
        async with anyio.create_task_group() as group:
            for side in self.sides:
                assert side.client is not None
                group.start_soon(side.client.serve)
            try:
                await self._script()
            finally:
                for side in self.sides:
                    assert side.client is not None
                    side.client.close()
        await anyio.to_thread.run_sync(self._record_stats)
        return self._summary()

    async def _both(self, label: str, *, together: bool = False) -> None:
        """One call from each client: one after the other (so neither's timing includes the
        other's work), or ``together`` (in an outage, where the recovering call waits)."""
        import anyio

        async def one(side: _Side) -> None:
            assert side.client is not None
            self._show(side, label, await side.client.call())

        if not together:
            for side in self.sides:
                await one(side)
            return
        async with anyio.create_task_group() as group:
            for side in self.sides:
                group.start_soon(one, side)

    async def _script(self) -> None:
        import anyio

        self.step(f"warm: {WARM_CALLS} calls each (the SDK connects: {self._handshake()})")
        for _ in range(WARM_CALLS):
            await self._both("warm")
        for number in range(1, self.restarts + 1):
            self.step(f"restart {number}/{self.restarts}: SIGKILL both servers, start them again on the same ports")
            await anyio.to_thread.run_sync(self._restart_servers)
            await self._both("first after restart")
            for _ in range(CALLS_AFTER_RESTART - 1):
                await self._both("warm")
        self.step("a call while the server behind the gateway is down (the gateway answers 502 Bad Gateway)")
        await self._call_while_down(gateways=False)
        await self._both("warm")
        self.step("a call while server and gateway are both down (connection refused)")
        await self._call_while_down(gateways=True)
        await self._both("warm")

    def _handshake(self) -> str:
        return "server/discover, no session" if self.era == "modern" else "initialize, a session id"

    def _restart_servers(self) -> None:
        self._kill_servers()
        self._start_servers()
        for side in self.sides:
            self.say(f"{side.name:>10}: server restarted, new pid {side.server.pid}")

    async def _call_while_down(self, *, gateways: bool) -> None:
        """Kill, call, and bring the processes back once the recovering client met the outage."""
        import anyio

        await anyio.to_thread.run_sync(lambda: self._kill_servers(gateways=gateways))
        self._noticed = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(partial(self._both, "made while down", together=True))
            with anyio.fail_after(NOTICE_TIMEOUT):
                await self._noticed.wait()
                if not gateways:
                    await anyio.to_thread.run_sync(self._wait_for_gateway_answers)
            self.say("           (the recovering call waits; bringing the processes back)")
            await anyio.to_thread.run_sync(lambda: self._start_servers(gateways=gateways))

    def _wait_for_gateway_answers(self) -> None:
        """Let the gateway answer a few times for its dead backend: the 502 window, shown."""
        gateway = self.sides[1].gateway
        for _ in range(GATEWAY_POLL_LIMIT):
            if gateway.request_json("GET", "/_stats")["down_answers"] >= GATEWAY_DOWN_ANSWERS:
                return
            time.sleep(GATEWAY_POLL_INTERVAL)

    # -- the summary -------------------------------------------------------------------------

    def _summary(self) -> int:
        plain, recovering = self.sides
        negotiation = "discovers" if self.era == "modern" else "initializes"
        recoveries = sum(1 for r in self.records if r.old_state.name == "RECOVERING" and r.new_state.name == "READY")

        def made(side: _Side) -> str:
            return str(len(side.results))

        def succeeded(side: _Side) -> str:
            return str(sum(result.ok for _, result in side.results))

        def per_process(side: _Side, key: str) -> str:
            return " ".join(str(counts[key]) for counts in side.per_process)

        def timing(side: _Side, label: str) -> str:
            times = [result.ms for name, result in side.results if name == label and result.ok]
            failed = sum(1 for name, result in side.results if name == label and not result.ok)
            if not times and not failed:
                return "-"
            if not times:
                return f"failed ({failed} of {failed})"
            text = f"{statistics.median(times):.1f} ms (median of {len(times)})"
            return f"{text}, {failed} failed" if failed else text

        rows = [
            ("calls made", made(plain), made(recovering)),
            ("calls succeeded", succeeded(plain), succeeded(recovering)),
            ("client rebuilt after it broke", str(_rebuilds(plain)), str(_rebuilds(recovering))),
            ("recoveries (RECOVERING -> READY)", "-", str(recoveries)),
            (
                f"{negotiation} per server process",
                per_process(plain, negotiation),
                per_process(recovering, negotiation),
            ),
            ("bump runs per server process", per_process(plain, "bump"), per_process(recovering, "bump")),
            (
                "first call after a restart",
                timing(plain, "first after restart"),
                timing(recovering, "first after restart"),
            ),
            ("first call (connects)", timing(plain, "connect"), timing(recovering, "connect")),
            ("warm call", timing(plain, "warm"), timing(recovering, "warm")),
            ("call that had to rebuild the client", timing(plain, "rebuilt"), timing(recovering, "rebuilt")),
        ]
        print()
        print(format_table(("", "plain SDK client", "SDK + RecoveringTransport"), rows))
        print()
        print(f"server processes: {self.restarts + 3} per client (the first, {self.restarts} restarts, 2 outages)")
        ok = all(result.ok for _, result in recovering.results)
        if ok:
            failed = len(plain.results) - int(succeeded(plain))
            print(self.paint(f"the recovering client succeeded on every call; the plain one failed {failed}", "green"))
            return 0
        print(self.paint("the recovering client failed a call: that is a bug, please report it", "red"))
        return 1


def _rebuilds(side: _Side) -> int:
    return side.client.rebuilds if side.client is not None else 0


def _gateway_argv(server: ManagedProcess) -> Callable[[int], Sequence[str]]:
    """The gateway's command line: a reverse proxy to ``server`` answering 502 while it is down."""

    def argv(port: int) -> Sequence[str]:
        return [
            *(sys.executable, "-m", "mcp_session_recovery.testing.proxy", "--port", str(port)),
            *("--backend-port", str(server.port), "--down-answer", "bad_gateway"),
        ]

    return argv
