"""Two real SDK 2.3.0 server processes behind a round-robin balancer without session affinity.

Each request goes to the other server, so every session the SDK's ``initialize`` opens on one is
unknown to the other: its ``notifications/initialized`` is answered 404 "Session not found". Waiting
cannot help, so the unmodified SDK client over ``RecoveringTransport`` gets a typed error naming the
likely cause as the answer to its ``initialize``, quickly and after a handful of initializes, not a
bare ``TimeoutError`` after its whole deadline. The same balancer in front of servers that are down
keeps the client waiting instead (a gateway's 502 or plain 404 is an outage, not a lost session).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.runtime import EraCache, SessionOptions
from mcp_session_recovery.testing.proxy import DownAnswer, reverse_proxy
from tests.conftest import SUMMARY

from .processes import ManagedServer, free_port, sdk_server_argv

pytestmark = pytest.mark.anyio

#: The bound the typed error must arrive within, and the most initializes one connect may cost.
FAIL_FAST_SECONDS = 5.0
MAX_INITIALIZES = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client is tested on asyncio; the runtime itself runs on both


@pytest.fixture
def two_sdk_servers() -> Iterator[tuple[ManagedServer, ManagedServer]]:
    with ManagedServer(sdk_server_argv()) as one, ManagedServer(sdk_server_argv()) as two:
        yield one, two


async def _initialize_through(url: str, options: SessionOptions) -> tuple[BaseException | None, float]:
    """The SDK's ``initialize`` over ``RecoveringTransport`` (default options but a fresh era cache);
    what it raised, and how long it took."""
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options)
    started = anyio.current_time()
    raised: BaseException | None = None
    async with (
        httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        try:
            await session.initialize()
        except MCPError as exc:
            raised = exc
    return raised, anyio.current_time() - started


async def test_the_sdk_behind_a_balancer_without_affinity_gets_session_not_kept_fast(
    two_sdk_servers: tuple[ManagedServer, ManagedServer],
) -> None:
    one, two = two_sdk_servers
    async with reverse_proxy(one.port, more_backends=(two.port,)) as balancer:
        with anyio.fail_after(30):
            raised, seconds = await _initialize_through(balancer.url, SessionOptions(era_cache=EraCache()))
    stats: list[dict[str, Any]] = [await anyio.to_thread.run_sync(server.stats) for server in (one, two)]
    initializes = sum(s["initializes"] for s in stats)
    SUMMARY.append(
        f"balancer without affinity, 2 SDK servers: SessionNotKept after {seconds:.2f} s, "
        f"{initializes} initializes for one connect ({stats[0]['initializes']} + {stats[1]['initializes']})"
    )
    assert isinstance(raised, MCPError), "the SDK's initialize got a JSON-RPC error answer"
    error = raised.error
    assert error.code == -32000
    assert isinstance(error.data, dict)
    assert error.data["error"] == "SessionNotKept"
    assert "balancer without session affinity, or a server that forgets sessions at once" in error.message
    assert "try:" in error.message
    assert seconds < FAIL_FAST_SECONDS
    assert 1 <= initializes <= MAX_INITIALIZES


@pytest.mark.parametrize(
    ("down_answer", "words"), [(DownAnswer.BAD_GATEWAY, "HTTP 502"), (DownAnswer.NOT_FOUND, "404")]
)
async def test_a_balancer_whose_backends_are_down_keeps_the_client_waiting_its_whole_budget(
    down_answer: DownAnswer, words: str
) -> None:
    async with reverse_proxy(free_port(), more_backends=(free_port(),), down_answer=down_answer) as balancer:
        options = SessionOptions(era_cache=EraCache(), request_timeout=2.0)
        with anyio.fail_after(30):
            raised, seconds = await _initialize_through(balancer.url, options)
    assert isinstance(raised, MCPError)
    assert raised.error.data["error"] == "ConnectTimedOut", "the gateway's answer is waited out, never fast-failed"
    assert words in raised.error.message
    assert seconds >= 1.8
    assert balancer.stats.down_answers >= 3, "it kept trying behind the gateway"
