"""The official TypeScript SDK client (the one Claude Code embeds) through ``proxy`` and ``stdio``.

The client is ``tests/integration/ts_server/client.mjs``, a real node process driven by JSON
lines; the servers are the SDK 2.3.0 server with the bridge tools and our test server, each
SIGKILLed and started again on the same port between the client's calls. Every call must be
answered, each new server process must see exactly one ``initialize`` (the bridge's, not the
host's: the host keeps its session), and ``bump`` must run once per call, never twice.

Without node these tests skip with the reason (a skip is never a pass); with node they run.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_session_recovery.testing import ManagedProcess, ServedEra, ServerProcess, blob_text
from tests.integration.processes import REPO_ROOT, ManagedServer, free_port
from tests.integration.ts_server.client import TsClient, ts_client_argv

from .bridges import BridgeProcess, bridge_server, proxy_process

pytestmark = pytest.mark.anyio

#: The TypeScript client's name for its one connection (the host).
HOST = "host"
RESTARTS = 3
#: The large answer: 1 MiB, the SDK client's own default limit for one SSE event.
BLOB_SIZE = 1 << 20
#: A bound on each whole test (servers restart in about 1.5 s each; the machine is shared).
TEST_SECONDS = 120


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the TypeScript client runs in node; the test's side only waits on pipes


@pytest.fixture(scope="module")
def ts_argv() -> list[str]:
    argv = ts_client_argv()
    if isinstance(argv, str):
        pytest.skip(argv)
    return argv


@contextmanager
def started_server(kind: str) -> Iterator[ManagedProcess]:
    """``sdk``: the SDK 2.3.0 server with the bridge tools; ``testing``: our test server (legacy)."""
    server: ManagedProcess = bridge_server() if kind == "sdk" else ServerProcess(eras=[ServedEra.LEGACY])
    with server:
        yield server


def _stats(server: ManagedProcess) -> tuple[int, dict[str, int]]:
    """The process's initializes and tool executions, from either server's counters."""
    if isinstance(server, ServerProcess):
        stats = server.stats()
        return stats.initializes, dict(stats.tool_executions)
    assert isinstance(server, ManagedServer)
    document = server.stats()
    return int(document["initializes"]), {name: int(count) for name, count in document["tool_executions"].items()}


@dataclass
class Route:
    """How the host reaches the server, and the bridge's stderr (its status lines)."""

    line_count: Callable[[], int]
    wait_for_line: Callable[[str, int], Awaitable[str]]
    stderr: Callable[[], str]


@asynccontextmanager
async def host_through(ts: TsClient, path: str, upstream: str) -> AsyncIterator[Route]:
    """The TypeScript client connected to ``upstream`` through a ``proxy`` process or a ``stdio``
    bridge it starts itself (as Claude Code starts a stdio server); the bridge stops cleanly after."""
    if path == "proxy":
        bridge, url = proxy_process(upstream)
        with bridge:
            await ts.request("connect", client=HOST, url=url)

            async def wait_for_proxy_line(text: str, after: int) -> str:
                return await anyio.to_thread.run_sync(lambda: bridge.wait_for_line(text, after=after))

            yield Route(bridge.line_count, wait_for_proxy_line, lambda: bridge.stderr)
            await ts.request("close", client=HOST)
            assert bridge.stop() == 0
        return
    await ts.request(
        "connect",
        client=HOST,
        command=sys.executable,
        args=["-m", "mcp_session_recovery.cli", "stdio", upstream],
        env={"PYTHONPATH": str(REPO_ROOT)},
        cwd=str(REPO_ROOT),
    )

    async def wait_for_stdio_line(text: str, after: int) -> str:
        return await ts.wait_for_bridge_line(HOST, text, after=after)

    yield Route(lambda: len(ts.bridge_stderr(HOST)), wait_for_stdio_line, lambda: "\n".join(ts.bridge_stderr(HOST)))
    await ts.request("close", client=HOST)


async def _bump(ts: TsClient) -> str:
    answer: dict[str, Any] = await ts.call(HOST, "bump")
    assert not answer["is_error"], answer
    return str(answer["text"])


@pytest.mark.parametrize("kind", ["sdk", "testing"])
@pytest.mark.parametrize("path", ["proxy", "stdio"])
async def test_the_typescript_client_keeps_its_session_across_restarts_an_outage_and_a_large_answer(
    ts_argv: list[str], path: str, kind: str
) -> None:
    with anyio.fail_after(TEST_SECONDS), started_server(kind) as server:
        async with TsClient.running(ts_argv) as ts, host_through(ts, path, server.url) as route:
            assert await _bump(ts) == "1"
            for _ in range(RESTARTS):
                await anyio.to_thread.run_sync(server.restart)
                assert await _bump(ts) == "1"  # a new process, and it ran the call once
                assert _stats(server) == (1, {"bump": 1})  # one initialize: the bridge's

            # A call made while the server is down is held, and answered once it is back.
            mark = route.line_count()
            await anyio.to_thread.run_sync(server.kill)
            held = await ts.send("call", client=HOST, tool="bump", arguments={})
            await route.wait_for_line("reconnecting", mark)
            await anyio.to_thread.run_sync(server.start)
            answer = await ts.answer(held, op="the call made during the outage")
            assert answer["text"] == "1"
            assert _stats(server) == (1, {"bump": 1})

            large = await ts.call(HOST, "blob", {"size": BLOB_SIZE})
            assert len(large["text"]) == BLOB_SIZE
            assert large["text"] == blob_text(BLOB_SIZE)
            assert _stats(server) == (1, {"bump": 1, "blob": 1})
        assert "connected: legacy" in route.stderr()
        assert "Traceback" not in route.stderr()


@pytest.mark.parametrize("path", ["proxy", "stdio"])
async def test_progress_notifications_reach_the_typescript_client_before_and_after_a_restart(
    ts_argv: list[str], path: str
) -> None:
    with anyio.fail_after(TEST_SECONDS), started_server("sdk") as server:
        async with TsClient.running(ts_argv) as ts, host_through(ts, path, server.url):
            for restarts in range(2):
                counted = await ts.call(HOST, "count_to", {"n": 4})
                assert counted["text"] == "counted 4"
                seen = [(step["progress"], step["total"], step["message"]) for step in counted["progress"]]
                # In order, none lost before the last: the TypeScript SDK hands a notification to its
                # handler a microtask later, and a response read in the same chunk (a loaded machine
                # reads both lines at once) has already removed the progress handler by then.
                assert seen == [(n, 4, f"step {n}") for n in range(1, len(seen) + 1)]
                assert len(seen) >= 3, seen
                assert _stats(server)[0] == 1  # one initialize in each process: the bridge's
                if restarts == 0:
                    await anyio.to_thread.run_sync(server.restart)


async def test_the_typescript_client_keeps_its_session_across_a_sigkill_and_restart_of_the_proxy(
    ts_argv: list[str], tmp_path: Path
) -> None:
    store = str(tmp_path / "sessions.sqlite3")
    with anyio.fail_after(TEST_SECONDS), started_server("testing") as server:
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        argv = ["proxy", server.url, "--listen", f"127.0.0.1:{port}", "--session-store", store]
        first = BridgeProcess(argv).start()
        with first:
            await anyio.to_thread.run_sync(lambda: first.wait_for_line(url))
            async with TsClient.running(ts_argv) as ts:
                await ts.request("connect", client=HOST, url=url)
                assert await _bump(ts) == "1"
                assert first.process is not None
                first.process.kill()  # the proxy dies (SIGKILL): a crash, an upgrade, a laptop waking
                await anyio.to_thread.run_sync(first.wait)
                with BridgeProcess(argv).start() as second:
                    await anyio.to_thread.run_sync(lambda: second.wait_for_line(url))
                    # The host's next calls, under the session id the dead proxy gave it, are answered.
                    assert await _bump(ts) == "2"
                    assert await _bump(ts) == "3"
                    await ts.request("close", client=HOST)
                    assert "restored a host session" in second.stderr
                    assert "Traceback" not in second.stderr
        assert _stats(server) == (2, {"bump": 3})  # the host's initialize, then the restored session's
