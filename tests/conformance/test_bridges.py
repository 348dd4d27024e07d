"""The command line's bridges pass the kit: the unmodified SDK client, through ``proxy`` or ``stdio``
(real processes), against the kit's server and its faults.

Each story starts its own bridge process pointed at the kit's server and talks to it with the
SDK's own client (streamable HTTP to the proxy's ``/mcp``; the SDK's stdio client for ``stdio``),
so the story judges exactly what a host (an IDE, Claude Desktop) would see.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from mcp_session_recovery.testing.conformance import ToolCaller, check_client
from tests.cli.bridges import host_session, proxy_process
from tests.conftest import thorough
from tests.integration.processes import REPO_ROOT

pytestmark = pytest.mark.anyio

#: Stories per bridge: each starts a process, so few in CI.
EXAMPLES = 20 if thorough() else 4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's clients run on asyncio


@asynccontextmanager
async def through_the_proxy(url: str) -> AsyncIterator[ToolCaller]:
    bridge, endpoint = await anyio.to_thread.run_sync(lambda: proxy_process(url))
    with bridge:
        async with host_session(endpoint) as host:
            yield host


@asynccontextmanager
async def through_stdio(url: str) -> AsyncIterator[ToolCaller]:
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_session_recovery.cli", "stdio", url],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=str(REPO_ROOT),
    )
    with open(os.devnull, "w") as errlog:
        async with stdio_client(command, errlog=errlog) as (read, write), ClientSession(read, write) as host:
            await host.initialize()
            yield host


@pytest.mark.parametrize("bridge", [through_the_proxy, through_stdio], ids=["proxy", "stdio"])
async def test_the_bridges_pass_every_default_fault(bridge: object) -> None:
    report = await check_client(bridge, examples=EXAMPLES, open_timeout=30.0, seed=7)  # type: ignore[arg-type]
    assert report.passed, report.summary()
    counters = report.counters
    assert counters.results > 0
    assert counters.restarts + counters.expiries + counters.outages + counters.gateway_windows > 0, (
        "faults were applied"
    )
