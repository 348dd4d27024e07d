"""The handshake era as the test server speaks it: sessions, exact stale answers, GET streams."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest

from mcp_session_recovery.testing import Behaviour, ResponseStyle, StaleStyle, serve

from .helpers import ACCEPT, RawHttp, body_of, call_tool, header, open_session, rpc, session_headers, tool_text

pytestmark = pytest.mark.anyio


async def test_initialize_echoes_a_known_version_and_creates_a_session() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc("initialize", {"protocolVersion": "2025-03-26"}))
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        session_id = response.headers["mcp-session-id"]
        assert len(session_id) == 32
        assert int(session_id, 16) >= 0  # hex
        assert body_of(response) == {
            "jsonrpc": "2.0",
            "id": 1,
            "result": {
                "protocolVersion": "2025-03-26",
                "capabilities": {
                    "tools": {"listChanged": True},
                    "resources": {"subscribe": True},
                    "logging": {},
                    "prompts": {},
                },
                "serverInfo": {"name": "mcp-session-recovery-testing", "version": "1"},
            },
        }
        stats = server.stats
        assert (stats.initializes, stats.sessions_created, stats.live_sessions) == (1, 1, 1)
        assert stats.initialized_notifications == 0


async def test_initialize_with_an_unknown_version_gets_the_latest() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc("initialize", {"protocolVersion": "2024-01-01"}))
        assert body_of(response)["result"]["protocolVersion"] == "2025-11-25"


async def test_handshake_then_tools_resources_and_prompts() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        assert server.stats.initialized_notifications == 1
        headers = session_headers(session_id)

        listed = body_of(await client.post(server.url, json=rpc("tools/list"), headers=headers))["result"]["tools"]
        assert [tool["name"] for tool in listed] == ["bump", "add", "peek", "slow", "blob"]
        annotations = {tool["name"]: tool.get("annotations") for tool in listed}
        assert annotations == {
            "bump": None,
            "add": {"readOnlyHint": True},
            "peek": {"readOnlyHint": True},
            "slow": None,
            "blob": {"readOnlyHint": True},
        }

        assert tool_text(await call_tool(client, server.url, session_id, "add", {"a": 2, "b": 3})) == "5"
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "2"
        assert tool_text(await call_tool(client, server.url, session_id, "peek")) == "2"
        assert tool_text(await call_tool(client, server.url, session_id, "slow", {"seconds": 0})) == "done"

        read = await client.post(server.url, json=rpc("resources/read", {"uri": "test://counter"}), headers=headers)
        assert body_of(read)["result"]["contents"][0]["text"] == "2"
        resources = await client.post(server.url, json=rpc("resources/list"), headers=headers)
        assert body_of(resources)["result"]["resources"][0]["uri"] == "test://counter"
        prompts = await client.post(server.url, json=rpc("prompts/list"), headers=headers)
        assert body_of(prompts)["result"] == {"prompts": []}
        for method, params in [
            ("ping", None),
            ("logging/setLevel", {"level": "debug"}),
            ("resources/subscribe", {"uri": "test://counter"}),
            ("resources/unsubscribe", {"uri": "test://counter"}),
        ]:
            answer = await client.post(server.url, json=rpc(method, params), headers=headers)
            assert body_of(answer) == {"jsonrpc": "2.0", "id": 1, "result": {}}, method

        stats = server.stats
        assert dict(stats.tool_executions) == {"add": 1, "bump": 2, "peek": 1, "slow": 1}
        assert stats.requests_by_method["tools/call"] == 5
        assert stats.requests_before_initialized == 0
        assert server.errors == ()


async def test_tool_and_method_errors_are_json_rpc_errors_inside_the_session() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        unknown_tool = await call_tool(client, server.url, session_id, "nope")
        assert unknown_tool.status_code == 200
        assert body_of(unknown_tool)["error"]["code"] == -32602
        bad_args = await call_tool(client, server.url, session_id, "add", {"a": "x", "b": 1})
        assert body_of(bad_args)["error"]["code"] == -32602
        unknown = await client.post(server.url, json=rpc("server/discover"), headers=session_headers(session_id))
        assert body_of(unknown)["error"]["code"] == -32601
        again = await client.post(server.url, json=rpc("initialize", {}), headers=session_headers(session_id))
        assert again.status_code == 400
        assert server.stats.tool_executions == {}


async def test_requests_before_initialized_are_served_and_counted() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}))
        session_id = response.headers["mcp-session-id"]
        early = await call_tool(client, server.url, session_id, "peek")
        assert tool_text(early) == "0"
        assert server.stats.requests_before_initialized == 1


async def test_a_request_without_session_id_gets_400_with_a_throwaway_id() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc("tools/list"), headers=ACCEPT)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        assert response.content == (
            b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Missing session ID"}}'
        )
        throwaway = response.headers["mcp-session-id"]
        assert server.stats.live_sessions == 0
        adopted = await client.post(server.url, json=rpc("tools/list"), headers=session_headers(throwaway))
        assert adopted.status_code == 404  # the throwaway id names no session
        get = await client.get(server.url, headers={"accept": "text/event-stream"})
        assert get.status_code == 400
        assert "mcp-session-id" in get.headers


STALE_BYTES = {
    StaleStyle.SDK_PYTHON: (
        404,
        "application/json",
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}',
    ),
    StaleStyle.SDK_TYPESCRIPT: (
        404,
        "application/json; charset=utf-8",
        b'{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}',
    ),
    StaleStyle.PLAIN_TEXT: (404, "text/plain; charset=utf-8", b"session not found\n"),
    StaleStyle.ERROR_STRING: (404, "application/json", b'{"error": "Not Found: invalid session ID"}'),
    StaleStyle.LEGACY_400: (400, "text/plain", b"Bad Request: No valid session ID provided"),
}


@pytest.mark.parametrize("style", list(StaleStyle))
async def test_every_stale_style_sends_its_exact_bytes_to_every_request_kind(style: StaleStyle) -> None:
    status, content_type, body = STALE_BYTES[style]
    async with serve(Behaviour(stale_style=style)) as server, httpx.AsyncClient() as client:
        stale = session_headers("0123456789abcdef0123456789abcdef")
        answers = [
            await client.post(server.url, json=rpc("tools/call", {"name": "bump"}), headers=stale),
            await client.post(server.url, json=rpc("notifications/initialized", request_id=None), headers=stale),
            await client.post(server.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=stale),
            await client.get(server.url, headers={**stale, "accept": "text/event-stream"}),
            await client.delete(server.url, headers=stale),
        ]
        for answer in answers:
            assert answer.status_code == status
            assert answer.headers["content-type"] == content_type
            assert answer.headers["content-length"] == str(len(body))
            assert answer.content == body
            assert "mcp-session-id" not in answer.headers
        stats = server.stats
        assert stats.stale_answers == 5
        assert (stats.initializes, stats.tool_executions, stats.live_sessions) == (0, {}, 0)


async def test_delete_ends_the_session() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        deleted = await client.delete(server.url, headers=session_headers(session_id))
        assert deleted.status_code == 200
        assert deleted.content == b""
        assert (server.stats.sessions_deleted, server.stats.live_sessions) == (1, 0)
        after = await call_tool(client, server.url, session_id, "peek")
        assert after.status_code == 404


@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_response_styles(style: ResponseStyle) -> None:
    async with serve(Behaviour(response_style=style)) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        response = await call_tool(client, server.url, session_id, "add", {"a": 1.5, "b": 2})
        expected = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"3.5"}],"isError":false}}'
        if style is ResponseStyle.JSON:
            assert response.headers["content-type"] == "application/json"
            assert response.headers["content-length"] == str(len(expected))
            assert response.content == expected
        else:
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["transfer-encoding"] == "chunked"
            assert "content-length" not in response.headers
            assert response.content == b"event: message\ndata: " + expected + b"\n\n"
        assert response.headers["mcp-session-id"] == session_id


async def test_get_stream_carries_resource_updates_for_subscribed_sessions_only() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        watcher = await open_session(client, server.url)
        other = await open_session(client, server.url)
        idle = await open_session(client, server.url)
        async with RawHttp.connect(server.port) as raw, RawHttp.connect(server.port) as idle_raw:
            headers = {**session_headers(watcher), "accept": "text/event-stream"}
            response = await raw.send_request("GET", "/mcp", headers)
            assert response.status_code == 200
            assert header(response, "content-type") == "text/event-stream"
            idle_response = await idle_raw.send_request(
                "GET", "/mcp", {**session_headers(idle), "accept": "text/event-stream"}
            )
            assert idle_response.status_code == 200
            assert server.stats.get_streams_opened == 2
            subscribe = rpc("resources/subscribe", {"uri": "test://counter"})
            assert (await client.post(server.url, json=subscribe, headers=session_headers(watcher))).status_code == 200
            assert tool_text(await call_tool(client, server.url, other, "bump")) == "1"
            with anyio.fail_after(5):
                event = await raw.next_data()
            assert event is not None
            assert event.startswith(b"event: message\ndata: ")
            assert event.endswith(b"\n\n")
            assert json.loads(event.removeprefix(b"event: message\ndata: ")) == {
                "jsonrpc": "2.0",
                "method": "notifications/resources/updated",
                "params": {"uri": "test://counter"},
            }
            # the unsubscribed session's stream got nothing: deleting it ends the stream at once
            assert (await client.delete(server.url, headers=session_headers(idle))).status_code == 200
            with anyio.fail_after(5):
                assert await idle_raw.next_data() == b""
        assert server.errors == ()


async def test_get_stream_ends_cleanly_on_delete() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        headers = {**session_headers(session_id), "accept": "text/event-stream"}
        async with RawHttp.connect(server.port) as raw:
            assert (await raw.send_request("GET", "/mcp", headers)).status_code == 200
            assert (await client.delete(server.url, headers=session_headers(session_id))).status_code == 200
            with anyio.fail_after(5):
                assert await raw.next_data() == b""  # the terminating chunk: a clean end


async def test_get_needs_event_stream_accept_and_other_verbs_are_405() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        plain = await client.get(server.url, headers={"mcp-session-id": session_id, "accept": "application/json"})
        assert plain.status_code == 406
        put = await client.put(server.url, headers=session_headers(session_id), content=b"{}")
        assert put.status_code == 405
        elsewhere = await client.post(server.base_url + "/other", json=rpc("ping"))
        assert elsewhere.status_code == 404


async def test_bad_bodies_get_json_rpc_errors() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        for headers in (ACCEPT, session_headers(session_id)):
            garbage = await client.post(server.url, content=b"{not json", headers=headers)
            assert garbage.status_code == 400
            assert garbage.json()["error"]["code"] == -32700
            for invalid in ([1, 2], {"jsonrpc": "1.0", "method": "ping", "id": 1}, {"jsonrpc": "2.0", "id": 1}):
                answer = await client.post(server.url, json=invalid, headers=headers)
                assert answer.status_code == 400
                assert answer.json()["error"]["code"] == -32600
        assert server.errors == ()
