"""The integration servers work as separate processes on 127.0.0.1, SIGKILL and restart included.

These are smoke tests of the test infrastructure itself (the recovery tests build on them): the
official SDK 2.3.0 server answers both eras and forgets its sessions when killed, and the reverse
proxy process answers for a killed backend and forwards again once a new one listens.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - what is checked is asyncio's own accept (the SDK server runs on it)
import json
import socket
import sys
from typing import Any

import httpx
import pytest

from mcp_session_recovery.testing import ServerProcess

from .processes import ManagedServer, ManagedServerError, proxy_argv, sdk_server_argv
from .servers.sdk_server import bind

#: Every HTTP call here is bounded.
TIMEOUT = httpx.Timeout(10.0)
ACCEPT = {"accept": "application/json, text/event-stream"}
LEGACY = "2025-11-25"
MODERN = "2026-07-28"
#: The SDK 2.3.0 server's answer to an unknown session id, byte for byte.
SESSION_NOT_FOUND = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}'


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        message["id"] = request_id
    return message


def message_of(response: httpx.Response) -> Any:
    """The JSON-RPC message of a JSON answer or of an SSE answer carrying one message event."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(item) for item in data if item]
        assert len(messages) == 1, response.text
        return messages[0]
    return response.json()


def initialize(client: httpx.Client, url: str) -> httpx.Response:
    params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "smoke", "version": "0"}}
    return client.post(url, json=rpc("initialize", params), headers=ACCEPT)


def open_session(client: httpx.Client, url: str) -> str:
    """The legacy handshake; returns the session id."""
    response = initialize(client, url)
    assert response.status_code == 200, response.text
    assert message_of(response)["result"]["protocolVersion"] == LEGACY
    session_id = response.headers["mcp-session-id"]
    notified = client.post(url, json=rpc("notifications/initialized", request_id=None), headers=in_session(session_id))
    assert notified.status_code == 202, notified.text
    return session_id


def in_session(session_id: str) -> dict[str, str]:
    return {**ACCEPT, "mcp-session-id": session_id, "mcp-protocol-version": LEGACY}


def call(client: httpx.Client, url: str, headers: dict[str, str], name: str, **arguments: Any) -> httpx.Response:
    return client.post(
        url, json=rpc("tools/call", {"name": name, "arguments": arguments}, request_id=2), headers=headers
    )


def text_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    result = message_of(response)["result"]
    assert result["isError"] is False, result
    text: str = result["content"][0]["text"]
    return text


def modern(method: str, params: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    """A 2026-07-28 request: ``_meta`` in the body, the version and method in headers."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    headers = {**ACCEPT, "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return {"json": rpc(method, {**(params or {}), "_meta": meta}, request_id=7), "headers": headers}


def test_sdk_server_session_dies_with_its_process() -> None:
    with ManagedServer(sdk_server_argv()) as server, httpx.Client(timeout=TIMEOUT) as client:
        first_pid, port = server.pid, server.port
        assert server.url == f"http://127.0.0.1:{port}/mcp"
        session_id = open_session(client, server.url)
        listed = client.post(server.url, json=rpc("tools/list", request_id=3), headers=in_session(session_id))
        tools = {tool["name"]: tool.get("annotations", {}) for tool in message_of(listed)["result"]["tools"]}
        read_only = {"readOnlyHint": True}
        plain = {"bump": {}, "add": read_only, "peek": read_only, "slow": {}, "blob": read_only}
        asking = ("elicit_name", "sample_text", "client_roots", "log_lines", "survey")  # they ask or tell the client
        assert tools == {**plain, **{name: {} for name in asking}}
        bumped = call(client, server.url, in_session(session_id), "bump")
        assert bumped.headers["content-type"].startswith("text/event-stream")  # stateful default: SSE answers
        assert text_of(bumped) == "1"
        stats = server.stats()
        assert (stats["initializes"], stats["tool_executions"], stats["pid"]) == (1, {"bump": 1}, first_pid)
        assert stats["requests_by_method"] == {
            "initialize": 1,
            "notifications/initialized": 1,
            "tools/list": 1,
            "tools/call": 1,
        }

        server.restart()  # SIGKILL, a new process on the same port
        assert (server.port, server.pid != first_pid) == (port, True)
        stale = call(client, server.url, in_session(session_id), "bump")
        assert stale.status_code == 404
        assert stale.headers["content-type"] == "application/json"
        assert "mcp-session-id" not in stale.headers
        assert stale.content == SESSION_NOT_FOUND
        stats = server.stats()
        assert (stats["initializes"], stats["tool_executions"], stats["pid"]) == (0, {}, server.pid)
        assert stats["requests_by_method"] == {"tools/call": 1}

        # the same process also answers the modern era (routed by the MCP-Protocol-Version header)
        discover = client.post(server.url, **modern("server/discover"))
        assert discover.status_code == 200, discover.text
        assert MODERN in message_of(discover)["result"]["supportedVersions"]
        assert (
            text_of(
                client.post(server.url, **modern("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}, "add"))
            )
            == "5"
        )
        # and a fresh legacy session works on the new process
        assert text_of(call(client, server.url, in_session(open_session(client, server.url)), "bump")) == "1"
        assert server.stats()["tool_executions"] == {"add": 1, "bump": 1}
    assert not server.running


@pytest.mark.parametrize("nodelay", [True, False])
def test_sdk_server_connections_have_tcp_nodelay_unless_told_not_to(nodelay: bool) -> None:
    """The listening socket decides whether asyncio sets TCP_NODELAY on what it accepts (as uvicorn's
    server does for the SDK); without it every kept-alive answer waits out a delayed ACK."""
    listening = bind(0, nodelay=nodelay)
    seen: list[int] = []

    async def main() -> None:
        accepted = asyncio.Event()

        def on_connection(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()
            accepted.set()

        async with await asyncio.start_server(on_connection, sock=listening):
            async with asyncio.timeout(10):
                _, writer = await asyncio.open_connection("127.0.0.1", listening.getsockname()[1])
                await accepted.wait()
                writer.close()

    asyncio.run(main())
    assert seen == [1 if nodelay else 0]


def test_sdk_server_json_and_stateless_flags() -> None:
    with ManagedServer(sdk_server_argv("--json-response", "--stateless")) as server:
        with httpx.Client(timeout=TIMEOUT) as client:
            response = initialize(client, server.url)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            assert "mcp-session-id" not in response.headers
            assert text_of(call(client, server.url, {**ACCEPT, "mcp-protocol-version": LEGACY}, "peek")) == "0"
        assert server.stats()["initializes"] == 1


def test_proxy_process_answers_for_a_killed_backend() -> None:
    with (
        ServerProcess() as backend,
        ManagedServer(proxy_argv(backend.port)) as proxy,
        httpx.Client(timeout=TIMEOUT) as client,
    ):
        session_id = open_session(client, proxy.url)
        assert text_of(call(client, proxy.url, in_session(session_id), "bump")) == "1"
        assert backend.stats().initializes == 1

        backend.kill()
        down = call(client, proxy.url, in_session(session_id), "bump")
        assert (down.status_code, down.headers["content-type"], down.text) == (
            502,
            "text/plain; charset=utf-8",
            "Bad Gateway",
        )
        assert proxy.stats() == {"forwarded": 3, "down_answers": 1, "cut_answers": 0}

        backend.start()  # a new process on the same port: the old session is gone, the proxy forwards again
        stale = call(client, proxy.url, in_session(session_id), "bump")
        assert (stale.status_code, stale.json()["error"]["message"]) == (404, "Session not found")
        assert text_of(call(client, proxy.url, in_session(open_session(client, proxy.url)), "bump")) == "1"
        assert proxy.stats() == {"forwarded": 7, "down_answers": 1, "cut_answers": 0}
        assert (backend.stats().initializes, backend.stats().stale_answers) == (1, 1)


def test_not_found_proxy_in_front_of_the_sdk_server() -> None:
    """The two 404s a client must tell apart: the gateway's plain text and the SDK's stale session."""
    with (
        ManagedServer(sdk_server_argv()) as backend,
        ManagedServer(proxy_argv(backend.port, down_answer="not_found")) as proxy,
        httpx.Client(timeout=TIMEOUT) as client,
    ):
        session_id = open_session(client, proxy.url)
        backend.kill()
        down = call(client, proxy.url, in_session(session_id), "bump")
        assert (down.status_code, down.headers["content-type"], down.text) == (
            404,
            "text/plain; charset=utf-8",
            "404 page not found",
        )
        backend.start()
        stale = call(client, proxy.url, in_session(session_id), "bump")
        assert (stale.status_code, stale.content) == (404, SESSION_NOT_FOUND)
        assert backend.stats()["tool_executions"] == {}
        assert proxy.stats()["down_answers"] == 1


def test_a_process_that_never_says_ready_is_reported_with_its_stderr() -> None:
    def argv(port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]

    with pytest.raises(ManagedServerError, match=r"(?s)status 3.*boom"):
        ManagedServer(argv, ready_timeout=10).start()
