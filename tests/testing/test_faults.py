"""The faults: restart, unreachable windows, a non-sticky balancer, cut answers, a gateway."""

from __future__ import annotations

import anyio
import h11
import httpx
import pytest

from mcp_session_recovery.testing import Behaviour, CannedAnswer, ResponseStyle, ServerStats, serve

from .helpers import RawHttp, body_of, call_tool, header, open_session, rpc, session_headers, tool_text

pytestmark = pytest.mark.anyio


async def test_restart_forgets_sessions_and_resets_counters() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        before = server.stats
        server.restart()
        assert server.stats == ServerStats(restarts=1, process_id=before.process_id)
        stale = await call_tool(client, server.url, session_id, "bump")
        assert stale.status_code == 404
        fresh = await open_session(client, server.url)
        assert fresh != session_id
        assert tool_text(await call_tool(client, server.url, fresh, "bump")) == "1"  # a new process's counter
        stats = server.stats
        assert (stats.stale_answers, stats.initializes, stats.tool_executions["bump"]) == (1, 1, 1)


async def test_restart_cuts_get_streams_and_optionally_every_connection() -> None:
    async with serve(Behaviour(slow_seconds=30)) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        async with RawHttp.connect(server.port) as stream, RawHttp.connect(server.port) as slow:
            headers = {**session_headers(session_id), "accept": "text/event-stream"}
            assert (await stream.send_request("GET", "/mcp", headers)).status_code == 200
            body = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}'
            await slow.send("POST", "/mcp", session_headers(session_id), body)
            await server.wait_until(lambda stats: stats.tool_executions.get("slow") == 1)
            with anyio.fail_after(5):
                server.restart()
                assert await stream.next_data() is None  # no terminating chunk: the "process" died
                server.restart(drop_connections=True)
                assert isinstance(await slow.next_event(), h11.ConnectionClosed)  # the in-flight call lost
        assert server.stats.restarts == 2


async def test_stop_listening_refuses_connections_and_start_reuses_the_port() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        port = server.port
        async with RawHttp.connect(port) as idle:
            await server.stop_listening()
            assert not server.listening
            with anyio.fail_after(5):
                assert isinstance(await idle.next_event(), h11.ConnectionClosed)  # open connections closed
            with pytest.raises(OSError, match="connection attempts failed"):
                await anyio.connect_tcp("127.0.0.1", port)
            with pytest.raises(httpx.ConnectError):
                await client.post(server.url, json=rpc("ping"), headers=session_headers(session_id))
        await server.start_listening()
        assert (server.listening, server.port) == (True, port)
        ping = await client.post(server.url, json=rpc("ping"), headers=session_headers(session_id))
        assert ping.status_code == 200  # the sessions survive: only the network was down
        await server.stop_listening()
        await server.stop_listening()  # idempotent
        await server.start_listening()
        await server.start_listening()
        assert (await client.post(server.url, json=rpc("ping"), headers=session_headers(session_id))).status_code == 200


async def test_outage_comes_back_by_itself() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        back = await server.outage(0.2)
        with pytest.raises(OSError, match="connection attempts failed"):
            await anyio.connect_tcp("127.0.0.1", server.port)
        with anyio.fail_after(5):
            await back.wait()
        response = await client.post(server.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}))
        assert response.status_code == 200


async def test_forget_sessions_after_initialize_is_a_balancer_without_affinity() -> None:
    async with serve(Behaviour(forget_sessions_after_initialize=True)) as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}))
        assert response.status_code == 200
        session_id = response.headers["mcp-session-id"]
        notified = await client.post(
            server.url, json=rpc("notifications/initialized", request_id=None), headers=session_headers(session_id)
        )
        assert notified.status_code == 404
        stats = server.stats
        assert (stats.sessions_created, stats.live_sessions, stats.stale_answers) == (1, 0, 1)
        assert stats.initialized_notifications == 0
        server.configure(forget_sessions_after_initialize=False)
        assert (await open_session(client, server.url)) != session_id


@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_cut_tool_response_runs_the_tool_then_loses_the_answer(style: ResponseStyle) -> None:
    async with serve(Behaviour(response_style=style)) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        server.configure(cut_tool_responses=1)
        async with RawHttp.connect(server.port) as raw:
            body = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"bump","arguments":{}}}'
            response = await raw.send_request("POST", "/mcp", session_headers(session_id), body)
            assert response.status_code == 200
            if style is ResponseStyle.SSE:
                assert header(response, "content-type") == "text/event-stream"
                # a comment, then the first half of the event (its blank line never comes)
                data = await raw.next_data()
                assert data is not None
                assert data.startswith(b": cut\n\nevent: message\ndata: {")
                assert not data.endswith(b"\n\n")
            else:
                assert header(response, "content-type") == "application/json"
                assert header(response, "content-length") is not None
            assert await raw.next_data() is None  # the connection broke before the end of the answer
        assert server.stats.tool_executions["bump"] == 1
        assert server.behaviour.cut_tool_responses == 0
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "2"  # ran once, not cut again
        server.configure(cut_tool_responses=1)
        with pytest.raises(httpx.RemoteProtocolError):
            await call_tool(client, server.url, session_id, "peek")
        assert server.stats.tool_executions == {"bump": 2, "peek": 1}
        assert server.errors == ()


async def test_slow_tool_default_and_argument() -> None:
    async with serve(Behaviour(slow_seconds=0)) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        assert tool_text(await call_tool(client, server.url, session_id, "slow")) == "done"
        with anyio.move_on_after(0.1) as scope:
            await call_tool(client, server.url, session_id, "slow", {"seconds": 10})
        assert scope.cancelled_caught
        assert server.stats.tool_executions["slow"] == 2
        too_long = await call_tool(client, server.url, session_id, "slow", {"seconds": 1e9})
        assert body_of(too_long)["error"]["code"] == -32602


async def test_gateway_answer_for_everything_while_set() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        server.configure(answer_status_for_all=(502, "text/plain", "Bad Gateway"))
        assert isinstance(server.behaviour.answer_status_for_all, CannedAnswer)
        for response in (
            await call_tool(client, server.url, session_id, "bump"),
            await client.post(server.url, json=rpc("initialize", {})),
            await client.get(server.base_url + "/anything"),
        ):
            assert (response.status_code, response.headers["content-type"], response.text) == (
                502,
                "text/plain",
                "Bad Gateway",
            )
        assert server.stats.tool_executions == {}
        # only the handshake before the fault was counted
        assert server.stats.requests_by_method == {"initialize": 1, "notifications/initialized": 1}
        server.configure(answer_status_for_all=None)
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"


async def test_expire_sessions_keeps_the_counters() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        assert server.expire_sessions() == 1
        assert (await call_tool(client, server.url, session_id, "bump")).status_code == 404
        fresh = await open_session(client, server.url)
        assert tool_text(await call_tool(client, server.url, fresh, "bump")) == "2"
        assert server.stats.restarts == 0


async def test_leaving_serve_closes_streams_and_in_flight_requests_promptly() -> None:
    with anyio.fail_after(5):
        async with httpx.AsyncClient() as client:
            async with serve(Behaviour(slow_seconds=60)) as server:
                session_id = await open_session(client, server.url)
                stream = await anyio.connect_tcp("127.0.0.1", server.port)
                slow = await anyio.connect_tcp("127.0.0.1", server.port)
                raw_stream, raw_slow = RawHttp(stream, "x"), RawHttp(slow, "x")
                get_headers = {**session_headers(session_id), "accept": "text/event-stream"}
                assert (await raw_stream.send_request("GET", "/mcp", get_headers)).status_code == 200
                body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}'
                await raw_slow.send("POST", "/mcp", session_headers(session_id), body)
                await server.wait_until(lambda stats: stats.tool_executions.get("slow") == 1)
            async with stream, slow:
                assert await raw_stream.next_data() is None
                assert isinstance(await raw_slow.next_event(), h11.ConnectionClosed)
