"""The server as a real process: READY line, SIGKILL, a new process on the same port, control."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mcp_session_recovery.testing import ServedEra, ServerProcess, ServerProcessError, StaleStyle

from .helpers import ACCEPT, rpc


def handshake(client: httpx.Client, url: str) -> str:
    response = client.post(url, json=rpc("initialize", {"protocolVersion": "2025-11-25"}), headers=ACCEPT)
    assert response.status_code == 200
    session_id = response.headers["mcp-session-id"]
    notified = client.post(
        url, json=rpc("notifications/initialized", request_id=None), headers={**ACCEPT, "mcp-session-id": session_id}
    )
    assert notified.status_code == 202
    return session_id


def bump(client: httpx.Client, url: str, session_id: str) -> httpx.Response:
    params = {"name": "bump", "arguments": {}}
    return client.post(url, json=rpc("tools/call", params), headers={**ACCEPT, "mcp-session-id": session_id})


def test_sigkill_and_restart_on_the_same_port() -> None:
    with ServerProcess() as server, httpx.Client() as client:
        port, first_pid = server.port, server.pid
        assert port > 0
        assert server.url == f"http://127.0.0.1:{port}/mcp"
        session_id = handshake(client, server.url)
        assert bump(client, server.url, session_id).status_code == 200
        stats = server.stats()
        assert (stats.initializes, stats.tool_executions["bump"], stats.process_id) == (1, 1, first_pid)

        server.kill()
        assert not server.running
        with pytest.raises(httpx.ConnectError):
            client.post(server.url, json=rpc("ping"), headers={"mcp-session-id": session_id})

        server.start()  # same port, new process
        assert server.port == port
        assert server.pid != first_pid
        stale = bump(client, server.url, session_id)
        assert stale.status_code == 404
        assert stale.json()["error"]["message"] == "Session not found"
        stats = server.stats()
        assert (stats.process_id, stats.initializes, stats.stale_answers, stats.tool_executions) == (
            server.pid,
            0,
            1,
            {},
        )
        server.restart()
        assert server.port == port
        assert server.stats().stale_answers == 0


def test_configure_and_soft_restart_over_control() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY, ServedEra.MODERN], stale_style=StaleStyle.PLAIN_TEXT) as server:
        with httpx.Client() as client:
            session_id = handshake(client, server.url)
            behaviour = server.configure(cut_tool_responses=1, stale_style=StaleStyle.ERROR_STRING)
            assert (behaviour["cut_tool_responses"], behaviour["eras"]) == (1, ["legacy", "modern"])
            with pytest.raises(httpx.RemoteProtocolError):
                bump(client, server.url, session_id)
            assert server.stats().tool_executions == {"bump": 1}
            pid = server.pid
            after = server.soft_restart()
            assert (after.restarts, after.process_id, after.initializes) == (1, pid, 0)
            stale = bump(client, server.url, session_id)
            assert (stale.status_code, stale.text) == (404, '{"error": "Not Found: invalid session ID"}')
        with pytest.raises(ServerProcessError, match="400"):
            server._control("POST", "configure", {"stale_style": "nope"})


def test_a_server_that_cannot_start_reports_its_stderr() -> None:
    with pytest.raises(ServerProcessError, match="exited with status 2") as caught:
        ServerProcess(extra_args=["--cut-tool-responses", "-5"]).start()
    assert "cut_tool_responses" in str(caught.value)
    with ServerProcess() as server:
        taken = ServerProcess(server.port, extra_args=["--bind-timeout", "0.1"])
        with pytest.raises(ServerProcessError, match="cannot listen"):
            taken.start()
        assert not taken.running


def test_the_command_line_prints_only_the_ready_line() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_session_recovery.testing", "--port", "0", "--response", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        word, port = line.split()
        assert word == "READY"
        assert int(port) > 0
        with httpx.Client() as client:
            answer = client.post(f"http://127.0.0.1:{port}/mcp", json=rpc("initialize", {}))
            assert answer.headers["content-type"] == "application/json"
    finally:
        process.kill()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def test_the_ledger_keeps_every_bump_token_across_a_sigkill(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    with ServerProcess(extra_args=("--ledger", str(ledger))) as server, httpx.Client() as client:
        for token in ("first", "second"):
            session_id = handshake(client, server.url)
            params = {"name": "bump", "arguments": {"token": token}}
            answer = client.post(
                server.url, json=rpc("tools/call", params), headers={**ACCEPT, "mcp-session-id": session_id}
            )
            assert answer.status_code == 200
            server.restart()  # SIGKILL: the process's memory is gone, the ledger is not
        assert bump(client, server.url, handshake(client, server.url)).status_code == 200  # no token: no line
        bad = {"name": "bump", "arguments": {"token": "a\nb"}}
        refused = client.post(
            server.url, json=rpc("tools/call", bad), headers={**ACCEPT, "mcp-session-id": handshake(client, server.url)}
        )
        assert "must be a printable string" in refused.text
    assert ledger.read_text(encoding="utf-8").splitlines() == ["first", "second"]
