"""The reverse proxy for tests: it forwards, streams SSE live, and answers for a backend that is down."""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio
import httpx
import pytest

from mcp_session_recovery.testing import serve
from mcp_session_recovery.testing.proxy import DownAnswer, ProxyStats, build_parser, reverse_proxy
from tests.integration.processes import ManagedServer, proxy_argv

from .helpers import ACCEPT, RawHttp, body_of, call_tool, header, open_session, rpc, session_headers, tool_text

pytestmark = pytest.mark.anyio

#: Bound on every wait in this file.
TIMEOUT = 5.0


async def eventually(condition: Callable[[], bool], *, timeout: float = TIMEOUT) -> None:
    """Wait, bounded, until ``condition()`` holds (it changes on the proxy's own schedule)."""
    with anyio.fail_after(timeout):
        for _ in range(int(timeout / 0.005) + 2):
            if condition():
                return
            await anyio.sleep(0.005)
    raise TimeoutError("condition never held")


async def test_forwards_a_session_and_a_tool_call() -> None:
    async with serve() as server, reverse_proxy(server.port) as proxy, httpx.AsyncClient() as client:
        assert proxy.url == f"http://127.0.0.1:{proxy.port}/mcp"
        assert proxy.port != server.port
        initialize = await client.post(
            proxy.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=ACCEPT
        )
        assert initialize.status_code == 200
        assert initialize.headers["content-type"] == "text/event-stream"
        assert body_of(initialize)["result"]["protocolVersion"] == "2025-11-25"
        session_id = initialize.headers["mcp-session-id"]
        notified = await client.post(
            proxy.url, json=rpc("notifications/initialized", request_id=None), headers=session_headers(session_id)
        )
        assert notified.status_code == 202
        assert tool_text(await call_tool(client, proxy.url, session_id, "add", {"a": 2, "b": 3})) == "5"
        assert tool_text(await call_tool(client, proxy.url, session_id, "bump")) == "1"
        # the same keep-alive connection carried all four requests, each on its own backend connection
        assert proxy.stats == ProxyStats(forwarded=4, down_answers=0, cut_answers=0)
        stats = server.stats
        assert (stats.initializes, stats.tool_executions["bump"], stats.tool_executions["add"]) == (1, 1, 1)
        # a status and body that are not 200 come back as they are
        stale = await call_tool(client, proxy.url, "not-a-session", "bump")
        assert stale.status_code == 404
        assert stale.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}}
    assert server.errors == ()


async def test_sse_flows_through_live() -> None:
    async with serve() as server, reverse_proxy(server.port) as proxy, httpx.AsyncClient() as client:
        watcher = await open_session(client, proxy.url)
        subscribe = rpc("resources/subscribe", {"uri": "test://counter"})
        assert (await client.post(proxy.url, json=subscribe, headers=session_headers(watcher))).status_code == 200
        idle = proxy.open_connections  # the httpx pool's keep-alive connection
        async with RawHttp.connect(proxy.port) as raw:
            response = await raw.send_request(
                "GET", "/mcp", {**session_headers(watcher), "accept": "text/event-stream"}
            )
            assert response.status_code == 200
            assert header(response, "content-type") == "text/event-stream"
            assert header(response, "mcp-session-id") == watcher
            # The GET stream never ends, so a proxy that buffered answers would deliver nothing.
            assert tool_text(await call_tool(client, proxy.url, watcher, "bump")) == "1"
            with anyio.fail_after(TIMEOUT):
                event = await raw.next_data()
            assert event is not None
            assert json.loads(event.removeprefix(b"event: message\ndata: ")) == {
                "jsonrpc": "2.0",
                "method": "notifications/resources/updated",
                "params": {"uri": "test://counter"},
            }
            assert tool_text(await call_tool(client, proxy.url, watcher, "bump")) == "2"
            with anyio.fail_after(TIMEOUT):
                assert await raw.next_data() == event  # the same notification again, still live
        # the client left: the proxy drops the exchange and its backend connection, without waiting
        # for the backend to write again
        await eventually(lambda: proxy.open_connections == idle)
    assert server.errors == ()


@pytest.mark.parametrize(
    ("down_answer", "status", "text"),
    [(DownAnswer.BAD_GATEWAY, 502, "Bad Gateway"), (DownAnswer.NOT_FOUND, 404, "404 page not found")],
)
async def test_answers_for_a_backend_that_is_down_then_forwards_again(
    down_answer: DownAnswer, status: int, text: str
) -> None:
    async with (
        serve() as server,
        reverse_proxy(server.port, down_answer=down_answer) as proxy,
        httpx.AsyncClient() as client,
    ):
        session_id = await open_session(client, proxy.url)
        assert tool_text(await call_tool(client, proxy.url, session_id, "bump")) == "1"
        await server.stop_listening()
        for _ in range(2):  # the same keep-alive connection, answered twice without a backend
            down = await call_tool(client, proxy.url, session_id, "bump")
            assert (down.status_code, down.text) == (status, text)
            assert down.headers["content-type"].startswith("text/plain")
            assert "mcp-session-id" not in down.headers
        assert proxy.stats.down_answers == 2
        await server.start_listening()
        assert tool_text(await call_tool(client, proxy.url, session_id, "bump")) == "2"  # the session survived
        assert proxy.stats == ProxyStats(forwarded=4, down_answers=2, cut_answers=0)
        assert server.stats.tool_executions["bump"] == 2
        proxy.down_answer = DownAnswer.BAD_GATEWAY  # switchable while running
        await server.stop_listening()
        assert (await client.get(proxy.url, headers=ACCEPT)).status_code == 502


async def test_a_backend_that_dies_mid_answer_cuts_the_client_connection() -> None:
    async with serve() as server, reverse_proxy(server.port) as proxy, httpx.AsyncClient() as client:
        session_id = await open_session(client, proxy.url)
        # an answer whose headers have gone out: the client sees its stream broken, not ended
        async with RawHttp.connect(proxy.port) as raw:
            headers = {**session_headers(session_id), "accept": "text/event-stream"}
            assert (await raw.send_request("GET", "/mcp", headers)).status_code == 200
            server.restart(drop_connections=True)
            with anyio.fail_after(TIMEOUT):
                assert await raw.next_data() is None
        # a request in flight with nothing answered yet: the connection closes without an answer
        session_id = await open_session(client, proxy.url)
        failures: list[BaseException] = []

        async def call_slow() -> None:
            try:
                await call_tool(client, proxy.url, session_id, "slow", {"seconds": 10})
            except httpx.RemoteProtocolError as error:
                failures.append(error)

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as group:
                group.start_soon(call_slow)
                await server.wait_until(lambda stats: stats.tool_executions.get("slow") == 1)
                server.restart(drop_connections=True)
        assert len(failures) == 1
        assert proxy.stats.cut_answers == 2
        # the proxy itself is fine
        assert (await open_session(client, proxy.url)) != session_id


async def test_stats_path_is_answered_by_the_proxy() -> None:
    async with serve() as server, reverse_proxy(server.port, stats_path="/_stats") as proxy:
        async with httpx.AsyncClient() as client:
            await server.stop_listening()  # the proxy answers it even with no backend
            answer = await client.get(proxy.base_url + "/_stats")
        assert answer.status_code == 200
        assert answer.json() == {"forwarded": 0, "down_answers": 0, "cut_answers": 0}


async def test_a_taken_fixed_port_is_an_os_error() -> None:
    async with serve() as server:
        with pytest.raises(OSError, match="in use"):
            async with reverse_proxy(server.port, port=server.port, bind_timeout=0.1):
                pass


def test_cli_needs_a_backend_port() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--port", "0"])
    args = build_parser().parse_args(["--backend-port", "1", "--down-answer", "not_found"])
    assert (args.port, args.backend_port, DownAnswer(args.down_answer)) == (0, 1, DownAnswer.NOT_FOUND)


async def test_the_cli_runs_as_its_own_process() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        proxy = ManagedServer(proxy_argv(server.port, down_answer="not_found"), ready_timeout=15)
        await anyio.to_thread.run_sync(proxy.start)
        try:
            assert proxy.port > 0
            session_id = await open_session(client, proxy.url)
            assert tool_text(await call_tool(client, proxy.url, session_id, "bump")) == "1"
            await server.stop_listening()
            down = await call_tool(client, proxy.url, session_id, "bump")
            assert (down.status_code, down.text) == (404, "404 page not found")
            stats = await anyio.to_thread.run_sync(proxy.stats)
            assert stats == {"forwarded": 3, "down_answers": 1, "cut_answers": 0}
        finally:
            await anyio.to_thread.run_sync(proxy.kill)
        assert not proxy.running


async def test_with_more_backends_it_balances_round_robin_without_session_affinity() -> None:
    async with (
        serve() as one,
        serve() as two,
        reverse_proxy(one.port, more_backends=(two.port,)) as balancer,
        httpx.AsyncClient() as client,
    ):
        initialize = await client.post(
            balancer.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=ACCEPT
        )
        assert initialize.status_code == 200
        session_id = initialize.headers["mcp-session-id"]
        # The next request goes to the other backend, which never saw that session.
        lost = await call_tool(client, balancer.url, session_id, "bump")
        assert lost.status_code == 404
        again = await client.post(
            balancer.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=ACCEPT
        )
        assert again.status_code == 200
        assert (one.stats.initializes, two.stats.initializes) == (2, 0), "request after request, in turn"
        assert sum(two.stats.requests_by_method.values()) == 1
        assert balancer.stats.forwarded == 3
    assert build_parser().parse_args(["--backend-port", "1", "--more-backend-port", "2"]).more_backend_port == [2]
