"""The sync twin: a blocking ``httpx.Client`` keeps its MCP session across a SIGKILL restart."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from mcp_session_recovery.adapters.httpx_sync_transport import RecoveringSyncTransport
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions
from mcp_session_recovery.testing import ResponseStyle, ServedEra, ServerProcess

ACCEPT = {"accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "sync"}},
}
OPTIONS = SessionOptions(backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, era_cache=EraCache())


def _message(response: httpx.Response) -> Any:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def _tool_call(
    client: httpx.Client, url: str, session_id: str, request_id: int, name: str = "bump", **arguments: Any
) -> Any:
    """The answer (a JSON-RPC message) to a ``tools/call`` of ``name``, under the caller's own id."""
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    response = client.post(url, json=body, headers={**ACCEPT, "mcp-session-id": session_id})
    message = _message(response)
    assert message["id"] == request_id, "the answer carries the caller's own id"
    return message


def _call(client: httpx.Client, url: str, session_id: str, request_id: int) -> str:
    message = _tool_call(client, url, session_id, request_id)
    return str(message["result"]["content"][0]["text"])


def test_a_blocking_client_keeps_its_session_across_a_restart() -> None:
    for style in (ResponseStyle.SSE, ResponseStyle.JSON):
        with ServerProcess(eras=frozenset({ServedEra.LEGACY}), response_style=style) as server:
            transport = RecoveringSyncTransport(httpx.HTTPTransport(), options=OPTIONS)
            with httpx.Client(transport=transport, timeout=20) as client:
                response = client.post(server.url, json=INITIALIZE, headers=ACCEPT)
                assert response.status_code == 200
                session_id = response.headers["mcp-session-id"]
                assert session_id.startswith("recovering-"), "the client sees a virtual id it may keep forever"
                notified = client.post(
                    server.url,
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                    headers={**ACCEPT, "mcp-session-id": session_id},
                )
                assert notified.status_code == 202
                assert _call(client, server.url, session_id, 2) == "1"
                server.restart()
                assert [_call(client, server.url, session_id, n) for n in (3, 4)] == ["1", "2"]
                assert server.stats().initializes == 1


def test_threads_sharing_a_blocking_client_do_not_wait_for_each_other() -> None:
    """One thread's call waiting on a slow tool holds up neither the others' calls nor the session:
    each thread does its own request's I/O, and runs the runtime while it waits."""
    with ServerProcess(eras=frozenset({ServedEra.LEGACY}), response_style=ResponseStyle.JSON) as server:
        transport = RecoveringSyncTransport(httpx.HTTPTransport(), options=OPTIONS)
        with httpx.Client(transport=transport, timeout=20) as client:
            session_id = client.post(server.url, json=INITIALIZE, headers=ACCEPT).headers["mcp-session-id"]
            answers: list[Any] = []
            waiting = threading.Thread(
                target=lambda: answers.append(_tool_call(client, server.url, session_id, 2, "slow", seconds=5))
            )
            waiting.start()
            for _ in range(200):  # until the server runs the slow tool (at most 10 s)
                if server.stats().tool_executions.get("slow"):
                    break
                waiting.join(0.05)
            assert server.stats().tool_executions.get("slow") == 1
            assert [_call(client, server.url, session_id, n) for n in range(3, 8)] == ["1", "2", "3", "4", "5"]
            assert waiting.is_alive(), "five calls went through while the slow one was still running"
            assert not answers
            waiting.join(20)
            assert answers[0]["result"]["content"][0]["text"] == "done"


def test_a_call_whose_own_thread_waits_on_a_silent_server_ends_at_its_deadline() -> None:
    """The caller's thread does its request's I/O and no cancellation can reach it there: the I/O
    is given the call's deadline as its timeouts, so a server that never answers holds it no longer
    than the deadline, not the client's own 60 s read timeout; and the caller gets what the async
    transport gives, DeadlineExceeded."""
    deadline = 1.0
    options = SessionOptions(backoff=Backoff(base=0.05, cap=0.5), request_timeout=deadline, era_cache=EraCache())
    with ServerProcess(eras=frozenset({ServedEra.LEGACY}), response_style=ResponseStyle.JSON) as server:
        transport = RecoveringSyncTransport(httpx.HTTPTransport(), options=options)
        with httpx.Client(transport=transport, timeout=60) as client:
            session_id = client.post(server.url, json=INITIALIZE, headers=ACCEPT).headers["mcp-session-id"]
            started = time.monotonic()
            answer = _tool_call(client, server.url, session_id, 2, "slow", seconds=120)
            waited = time.monotonic() - started
    assert answer["error"]["data"]["error"] == "DeadlineExceeded", answer
    assert deadline * 0.9 <= waited < deadline + 5, waited
