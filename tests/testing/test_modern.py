"""The sessionless era, era routing, and what each kind of server says to the other era."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mcp_session_recovery.testing import Behaviour, ResponseStyle, ServedEra, serve

from .helpers import ACCEPT, body_of, modern_headers, modern_params, open_session, rpc, session_headers, tool_text

pytestmark = pytest.mark.anyio

MODERN = Behaviour(eras=frozenset({ServedEra.MODERN}))
DUAL = Behaviour(eras=frozenset({ServedEra.LEGACY, ServedEra.MODERN}))


async def discover(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.post(
        url, json=rpc("server/discover", modern_params()), headers=modern_headers("server/discover")
    )


async def test_discover() -> None:
    async with serve(MODERN) as server, httpx.AsyncClient() as client:
        response = await discover(client, server.url)
        assert response.status_code == 200
        assert body_of(response)["result"] == {
            "supportedVersions": ["2026-07-28"],
            "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
            "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "mcp-session-recovery-testing", "version": "1"}},
        }
        assert "mcp-session-id" not in response.headers
        assert server.stats.discovers == 1
        assert server.stats.sessions_created == 0


async def test_tools_without_a_session_and_ignoring_any_session_id() -> None:
    behaviour = Behaviour(eras=frozenset({ServedEra.MODERN}), response_style=ResponseStyle.JSON)
    async with serve(behaviour) as server, httpx.AsyncClient() as client:
        params = modern_params({"name": "bump", "arguments": {}})
        headers = {**modern_headers("tools/call", "bump"), "mcp-session-id": "stale-and-ignored"}
        first = await client.post(server.url, json=rpc("tools/call", params), headers=headers)
        assert first.headers["content-type"] == "application/json"
        assert tool_text(first) == "1"
        read_params = modern_params({"uri": "test://counter"})
        read = await client.post(
            server.url,
            json=rpc("resources/read", read_params),
            headers=modern_headers("resources/read", "test://counter"),
        )
        assert body_of(read)["result"]["contents"][0]["text"] == "1"
        listed = await client.post(
            server.url, json=rpc("tools/list", modern_params()), headers=modern_headers("tools/list")
        )
        assert len(body_of(listed)["result"]["tools"]) == 5
        unknown_tool = await client.post(
            server.url,
            json=rpc("tools/call", modern_params({"name": "nope"})),
            headers=modern_headers("tools/call", "nope"),
        )
        assert unknown_tool.status_code == 200
        assert body_of(unknown_tool)["error"]["code"] == -32602
        assert server.stats.tool_executions == {"bump": 1}
        assert server.stats.stale_answers == 0


async def test_missing_meta_keys_are_named() -> None:
    async with serve(MODERN) as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc("tools/list", {}), headers=modern_headers("tools/list"))
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == -32602
        assert "io.modelcontextprotocol/protocolVersion" in error["message"]
        assert "io.modelcontextprotocol/clientCapabilities" in error["message"]
        only_version = {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}
        partial = await client.post(
            server.url, json=rpc("tools/list", only_version), headers=modern_headers("tools/list")
        )
        assert partial.json()["error"]["data"] == {"missing": ["io.modelcontextprotocol/clientCapabilities"]}


@pytest.mark.parametrize(
    ("method", "params", "headers", "bad_header"),
    [
        ("tools/list", {}, {"mcp-method": "tools/list"}, "mcp-protocol-version"),
        ("tools/list", {}, {"mcp-protocol-version": "2026-07-28"}, "mcp-method"),
        ("tools/list", {}, {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}, "mcp-method"),
        (
            "tools/call",
            {"name": "add"},
            {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "bump"},
            "mcp-name",
        ),
        ("tools/call", {"name": "add"}, {"mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call"}, "mcp-name"),
        (
            "resources/read",
            {"uri": "test://counter"},
            {"mcp-protocol-version": "2026-07-28", "mcp-method": "resources/read", "mcp-name": "test://other"},
            "mcp-name",
        ),
        ("prompts/get", {"name": "p"}, {"mcp-protocol-version": "2026-07-28", "mcp-method": "prompts/get"}, "mcp-name"),
    ],
)
async def test_header_mismatch(method: str, params: dict[str, Any], headers: dict[str, str], bad_header: str) -> None:
    async with serve(MODERN) as server, httpx.AsyncClient() as client:
        response = await client.post(server.url, json=rpc(method, modern_params(params)), headers={**ACCEPT, **headers})
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["message"]) == (-32020, "header mismatch")
        assert error["data"]["header"] == bad_header
        assert server.stats.tool_executions == {}


async def test_unsupported_version_and_initialize_get_32022() -> None:
    async with serve(MODERN) as server, httpx.AsyncClient() as client:
        old = await client.post(
            server.url,
            json=rpc("tools/list", modern_params(version="2025-11-25")),
            headers=modern_headers("tools/list", version="2025-11-25"),
        )
        assert old.status_code == 400
        assert old.json()["error"] == {
            "code": -32022,
            "message": "Unsupported protocol version",
            "data": {"supported": ["2026-07-28"], "requested": "2025-11-25"},
        }
        initialize = await client.post(
            server.url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=ACCEPT
        )
        assert initialize.status_code == 400
        assert initialize.json()["error"]["code"] == -32022
        assert initialize.json()["error"]["data"]["supported"] == ["2026-07-28"]
        assert "mcp-session-id" not in initialize.headers


async def test_unknown_and_legacy_only_methods_are_404_32601_and_get_delete_are_405() -> None:
    async with serve(MODERN) as server, httpx.AsyncClient() as client:
        for method in ("nope/nothing", "ping", "resources/subscribe"):
            response = await client.post(server.url, json=rpc(method, modern_params()), headers=modern_headers(method))
            assert response.status_code == 404, method
            assert response.json()["error"]["code"] == -32601
        for verb in ("GET", "DELETE"):
            response = await client.request(verb, server.url, headers=modern_headers("x"))
            assert response.status_code == 405
            assert response.headers["allow"] == "POST"
        notification = await client.post(
            server.url,
            json=rpc("notifications/cancelled", modern_params(), request_id=None),
            headers=modern_headers("notifications/cancelled"),
        )
        assert notification.status_code == 202


async def test_a_legacy_only_server_answers_a_modern_probe_with_missing_session_id() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        response = await discover(client, server.url)
        assert response.status_code == 400
        assert response.content == (
            b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Missing session ID"}}'
        )
        assert "mcp-session-id" in response.headers
        assert (server.stats.discovers, server.stats.live_sessions) == (0, 0)


async def test_a_dual_server_routes_by_the_version_header() -> None:
    async with serve(DUAL) as server, httpx.AsyncClient() as client:
        assert (await discover(client, server.url)).status_code == 200
        session_id = await open_session(client, server.url)  # no version header: legacy
        legacy = await client.post(server.url, json=rpc("ping"), headers=session_headers(session_id))
        assert body_of(legacy)["result"] == {}
        modern_ping = await client.post(server.url, json=rpc("ping", modern_params()), headers=modern_headers("ping"))
        assert modern_ping.status_code == 404
        # a stale id under the modern header is ignored; under a legacy header it is stale
        stale = {"mcp-session-id": "feedfacefeedfacefeedfacefeedface"}
        assert (
            await client.post(
                server.url,
                json=rpc("server/discover", modern_params()),
                headers={**modern_headers("server/discover"), **stale},
            )
        ).status_code == 200
        assert (
            await client.post(server.url, json=rpc("tools/list"), headers={**session_headers("x"), **stale})
        ).status_code == 404
        stats = server.stats
        assert (stats.discovers, stats.initializes, stats.stale_answers) == (2, 1, 1)


async def test_era_switch_at_run_time() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        server.configure(eras={ServedEra.MODERN})
        after = await client.post(server.url, json=rpc("tools/list"), headers=session_headers(session_id))
        assert after.status_code == 400  # the legacy request now meets a modern-only server: no _meta
        assert (await discover(client, server.url)).status_code == 200
        server.configure(eras={ServedEra.LEGACY})
        assert (await discover(client, server.url)).status_code == 400
        # the session survived the round trip (same process)
        ping = await client.post(server.url, json=rpc("ping"), headers=session_headers(session_id))
        assert ping.status_code == 200
