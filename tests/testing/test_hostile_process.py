"""The hostile behaviours through ``ServerProcess``: configured over ``/_control/configure`` as JSON,
observed on a real process's sockets, counted in the stats it sends back.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from mcp_session_recovery.testing import (
    AUTHORIZATION_PLACEHOLDER,
    AnswerRule,
    CannedAnswer,
    ResponseStyle,
    ServerProcess,
)

from .helpers import ACCEPT, request_bytes, rpc, split_answer

SECRET = "Bearer process-token"


@pytest.fixture(scope="module")
def process() -> Iterator[ServerProcess]:
    with ServerProcess(response_style=ResponseStyle.JSON) as server:
        yield server


@pytest.fixture
def server(process: ServerProcess) -> Iterator[ServerProcess]:
    yield process
    process.configure(
        answer_status_for_all=None,
        answer_rules=(),
        path_aliases=frozenset(),
        issued_session_id=None,
        echo_secrets=False,
        record_requests=0,
    )
    process.soft_restart()


def handshake(client: httpx.Client, url: str) -> str:
    response = client.post(url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=ACCEPT)
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    headers = {**ACCEPT, "mcp-session-id": session_id}
    assert client.post(url, json=rpc("notifications/initialized", request_id=None), headers=headers).status_code == 202
    return session_id


def bump(client: httpx.Client, url: str, session_id: str, **extra: str) -> httpx.Response:
    headers = {**ACCEPT, "mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25", **extra}
    return client.post(url, json=rpc("tools/call", {"name": "bump", "arguments": {}}), headers=headers)


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``, read until the server closes (bounded in bytes and time)."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        for _ in range(10_000):
            if time.monotonic() > deadline:
                break
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(received)
            received += chunk
    raise AssertionError("the server did not close the connection")


def test_a_counted_503_with_retry_after_then_success(server: ServerProcess) -> None:
    answer = CannedAnswer(503, "text/plain", "busy", (("Retry-After", "2"),))
    behaviour = server.configure(answer_rules=[AnswerRule(answer, frozenset({"tools/call"}), times=1)])
    assert behaviour["answer_rules"][0]["times"] == 1
    with httpx.Client() as client:
        session_id = handshake(client, server.url)
        first = bump(client, server.url, session_id)
        assert (first.status_code, first.headers["retry-after"]) == (503, "2")
        assert bump(client, server.url, session_id).json()["result"]["content"][0]["text"] == "1"
    stats = server.stats()
    assert (stats.canned_answers, stats.tool_executions["bump"]) == (1, 1)
    assert server.request_json("GET", "/_control/behaviour")["answer_rules"][0]["times"] == 0


def test_an_odd_status_and_a_raw_session_id_over_the_wire(server: ServerProcess) -> None:
    server.configure(answer_status_for_all=CannedAnswer(99, "text/plain", "odd", (("x-odd", "yes"),)))
    status_line, lines, body = split_answer(raw_exchange(server.port, request_bytes("GET", "/mcp", {})))
    assert (status_line, b"x-odd: yes" in lines, body) == (b"HTTP/1.1 099 ", True, b"odd")
    server.configure(answer_status_for_all=None, issued_session_id="bad\rid\x00")
    initialize = request_bytes("POST", "/mcp", ACCEPT, b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}')
    assert b"mcp-session-id: bad\rid\x00\r\n" in raw_exchange(server.port, initialize)
    server.configure(issued_session_id="k" * 60 * 1024)
    with httpx.Client() as client:
        session_id = handshake(client, server.url)
        assert len(session_id) == 60 * 1024
        assert bump(client, server.url, session_id).status_code == 200, "sent back, it works"


def test_redirects_to_an_alias_and_to_a_recording_second_origin(server: ServerProcess) -> None:
    with ServerProcess() as other:
        other.configure(record_requests=5, answer_status_for_all=CannedAnswer(404, "text/plain", "nothing here"))
        rules = [
            AnswerRule(CannedAnswer.redirect(308, "/mcp/"), frozenset({"initialize"}), times=1),
            AnswerRule(CannedAnswer.redirect(307, other.base_url + "/x"), frozenset({"tools/call"}), times=1),
        ]
        server.configure(answer_rules=rules, path_aliases=frozenset({"/mcp/"}))
        with httpx.Client(follow_redirects=True) as client:
            session_id = handshake(client, server.url)  # redirected once, served at /mcp/
            assert bump(client, server.url, session_id, authorization=SECRET).status_code == 404
        (seen,) = other.stats().recorded_requests
        assert (seen.method, seen.path, seen.headers.get("mcp-session-id")) == ("POST", "/x", session_id)
        assert "authorization" not in seen.headers
    stats = server.stats()
    assert (stats.initializes, stats.canned_answers, stats.tool_executions) == (1, 2, {})


def test_echoed_secrets_and_placeholders(server: ServerProcess) -> None:
    server.configure(echo_secrets=True)
    with httpx.Client() as client:
        stale = bump(client, server.url, "gone-id", authorization=SECRET)
        assert stale.status_code == 404
        assert "Mcp-Session-Id: gone-id; Authorization: Bearer process-token" in stale.json()["error"]["message"]
        echoing = CannedAnswer(500, "text/plain", f"auth={AUTHORIZATION_PLACEHOLDER}")
        server.configure(echo_secrets=False, answer_status_for_all=echoing)
        assert bump(client, server.url, "x", authorization=SECRET).text == f"auth={SECRET}"


def test_get_stream_refusals_counts_and_initialize_times(server: ServerProcess) -> None:
    with httpx.Client() as client:
        session_id = handshake(client, server.url)
        server.configure(answer_rules=[AnswerRule(CannedAnswer(200, "text/event-stream", ""), frozenset({"GET"}))])
        headers = {"accept": "text/event-stream", "mcp-session-id": session_id}
        empty = client.get(server.url, headers=headers)
        assert (empty.status_code, empty.content) == (200, b"")
        server.configure(answer_rules=[AnswerRule(None, frozenset({"GET"}), times=1)])
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(server.url, headers=headers)  # dropped: no answer at all
        server.configure(answer_rules=[], answer_status_for_all=CannedAnswer(502, "text/plain", "Bad Gateway"))
        assert client.post(server.url, json=rpc("initialize", {}), headers=ACCEPT).status_code == 502
        assert client.delete(server.url, headers=headers).status_code == 502
    stats = server.stats()
    assert (stats.get_requests, stats.delete_requests, stats.get_streams_opened, stats.dropped_requests) == (2, 1, 0, 1)
    assert (stats.initializes, stats.sessions_open) == (1, 1)
    assert len(stats.initialize_times) == 2
    assert stats.initialize_times[0] <= stats.initialize_times[1] <= time.monotonic(), "the same clock (Linux)"


def test_the_command_line_flags_for_aliases_recording_and_echoes() -> None:
    flags = ["--path-alias", "/mcp/", "--path-alias", "/v2", "--record-requests", "2", "--echo-secrets"]
    with ServerProcess(extra_args=flags) as server, httpx.Client() as client:
        behaviour = server.request_json("GET", "/_control/behaviour")
        assert (behaviour["path_aliases"], behaviour["record_requests"], behaviour["echo_secrets"]) == (
            ["/mcp/", "/v2"],
            2,
            True,
        )
        session_id = handshake(client, server.base_url + "/v2")
        assert bump(client, server.base_url + "/mcp/", session_id).status_code == 200
        assert [seen.path for seen in server.stats().recorded_requests] == ["/v2", "/mcp/"]
