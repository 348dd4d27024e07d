"""``stdio URL`` as a real process: the SDK's stdio client, and raw lines, against SIGKILLed servers."""

from __future__ import annotations

import os
import secrets
import signal
import sys
import tempfile
import time
from typing import IO, Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

from mcp_session_recovery.testing import ServedEra, ServerProcess, StaleStyle
from tests.integration.processes import REPO_ROOT

from .bridges import WAIT_SECONDS, BridgeProcess, bridge_server, read_line, send_line

pytestmark = pytest.mark.anyio

#: How long a bridge may take to stop on a signal (about a second; more on a loaded machine).
STOP_SECONDS = 3.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client runs on asyncio


def _text(result: Any) -> str:
    return str(result.content[0].text)


def _wait_in_file(log: IO[str], text: str, after: int) -> None:
    """Until ``log`` (the bridge's stderr) holds ``text`` past offset ``after`` (bounded)."""
    deadline = time.monotonic() + WAIT_SECONDS
    for _ in range(int(WAIT_SECONDS / 0.02)):
        log.seek(after)
        if text in log.read():
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)  # a file has no change notification: poll the condition, bounded
    raise AssertionError(f"the bridge's stderr never said {text!r}")


async def test_the_sdk_stdio_client_across_two_restarts_a_call_while_down_progress_and_elicitation() -> None:
    token = secrets.token_hex(16)
    with (
        bridge_server(env={"BRIDGE_TEST_TOKEN": token}) as server,
        tempfile.TemporaryFile("w+", encoding="utf-8") as log,
    ):
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "BRIDGE_AUTH": f"Bearer {token}"}
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "mcp_session_recovery.cli", "stdio", server.url, "--header-env", "Authorization=BRIDGE_AUTH"],
            env=env,
            cwd=REPO_ROOT,
        )
        questions: list[str] = []

        async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
            questions.append(params.message)
            return types.ElicitResult(action="accept", content={"answer": "green"})

        async with (
            stdio_client(params, errlog=log) as (read, write),
            ClientSession(read, write, elicitation_callback=elicit) as host,
        ):
            await host.initialize()
            assert _text(await host.call_tool("bump", {})) == "1"
            for _ in range(2):
                await anyio.to_thread.run_sync(server.restart)
                assert _text(await host.call_tool("bump", {})) == "1"
                assert server.stats()["initializes"] == 1

            mark = log.tell()
            await anyio.to_thread.run_sync(server.kill)
            results: list[str] = []

            async def call() -> None:
                results.append(_text(await host.call_tool("bump", {})))

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    group.start_soon(call)
                    await anyio.to_thread.run_sync(_wait_in_file, log, "reconnecting", mark)
                    await anyio.to_thread.run_sync(server.start)
            assert results == ["1"]

            steps: list[float] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                steps.append(progress)

            assert _text(await host.call_tool("count_to", {"n": 3}, progress_callback=on_progress)) == "counted 3"
            assert steps == [1, 2, 3]
            assert _text(await host.call_tool("ask", {"question": "Which colour?"})) == "you said green"
            assert questions == ["Which colour?"]
            assert _text(await host.call_tool("credential", {})) == "match"
            assert server.stats()["initializes"] == 1
        # The session given up while the server was down was DELETEd once a new one was live (the
        # library cannot know the server forgot it); stdin closed: the live one was deleted on the way out.
        assert server.stats()["http_requests"].get("DELETE") == 2
        log.seek(0)
        stderr = log.read()
    assert token not in stderr
    assert "reconnecting" in stderr
    assert stderr.rstrip().endswith("closed")


_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


def _call(request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bump", "arguments": {}}}


def test_a_give_up_is_a_json_rpc_error_for_that_request_and_stdin_close_exits_0_with_a_delete() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        bridge = BridgeProcess(["stdio", server.url, "--timeout", "1.5"], stdio=True)
        with bridge:
            send_line(bridge, _INITIALIZE)
            assert read_line(bridge)["result"]["serverInfo"]["name"] == "mcp-session-recovery-testing"
            send_line(bridge, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            send_line(bridge, _call(2))
            assert read_line(bridge) == {
                "jsonrpc": "2.0",
                "id": 2,
                "result": {"content": [{"type": "text", "text": "1"}], "isError": False},
            }

            server.kill()
            send_line(bridge, _call(3))
            failed = read_line(bridge)
            assert failed["id"] == 3
            assert failed["error"]["code"] == -32000
            assert failed["error"]["data"]["error"] == "DeadlineExceeded"

            server.start()
            # The bridge lived on. With a 1.5 s deadline a request may still meet the backoff
            # before the next attempt: a few tries (each its own JSON-RPC error) until one is answered.
            answers = []
            for request_id in range(4, 10):
                send_line(bridge, _call(request_id))
                answers.append(read_line(bridge))
                if "result" in answers[-1]:
                    break
            assert "result" in answers[-1], answers
            assert {answer["error"]["data"]["error"] for answer in answers[:-1]} <= {
                "DeadlineExceeded",
                "RecoveryFailed",
            }
            assert server.stats().initializes == 1

            assert bridge.process is not None
            assert bridge.process.stdin is not None
            started = time.monotonic()
            bridge.process.stdin.close()
            assert bridge.wait() == 0
            assert time.monotonic() - started < 5
            stats = server.stats()
            assert (stats.sessions_deleted, stats.live_sessions) == (1, 0)
            assert bridge.process.stdout is not None
            assert bridge.process.stdout.read() == b""  # nothing but protocol lines on stdout, and no more


def test_sessionless_era_results_and_errors_reach_the_host_under_its_own_ids_once_each() -> None:
    with ServerProcess(eras=[ServedEra.MODERN]) as server:
        bridge = BridgeProcess(["stdio", server.url, "--timeout", "10"], stdio=True)
        with bridge:
            # No initialize: a sessionless host. The runtime rebuilds each message for the era it
            # found (its own wire id), and every answer must come back under the host's id.
            send_line(bridge, {"jsonrpc": "2.0", "id": 9, "method": "tools/list"})
            listed = read_line(bridge)
            assert listed["id"] == 9
            assert "tools" in listed["result"]
            send_line(bridge, {"jsonrpc": "2.0", "id": 10, "method": "no/such/method"})
            unknown = read_line(bridge)
            assert unknown["id"] == 10, unknown
            assert unknown["error"]["code"] == -32601, "the server's own error, not one of ours"
            # Nothing else was written for id 10: the next line answers the next request.
            send_line(bridge, {"jsonrpc": "2.0", "id": 11, "method": "tools/list"})
            assert read_line(bridge)["id"] == 11


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_the_bridge_with_stdin_still_open_after_deleting_the_upstream_session(
    stop_signal: int,
) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        with BridgeProcess(["stdio", server.url], stdio=True) as bridge:
            send_line(bridge, _INITIALIZE)
            assert "result" in read_line(bridge)
            send_line(bridge, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            send_line(bridge, _call(2))
            assert "result" in read_line(bridge)
            assert server.stats().live_sessions == 1
            # The host keeps its end of stdin open (it never closes the pipe) and sends the signal.
            assert bridge.stop(stop_signal, timeout=STOP_SECONDS) == 0
        stats = server.stats()
        assert (stats.sessions_deleted, stats.live_sessions) == (1, 0)


@pytest.mark.parametrize("flagged", [False, True])
def test_a_server_answering_a_lost_session_with_400_needs_the_flag_doctor_names(flagged: bool) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY], stale_style=StaleStyle.LEGACY_400) as server:
        flags = ["--session-gone-on-400"] if flagged else []
        with BridgeProcess(["stdio", server.url, "--timeout", "10", *flags], stdio=True) as bridge:
            send_line(bridge, _INITIALIZE)
            assert "result" in read_line(bridge)
            send_line(bridge, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            server.restart()  # SIGKILL: the new process answers the old session id with a 400
            send_line(bridge, _call(2))
            answer = read_line(bridge)
            assert answer["id"] == 2
            if flagged:
                assert answer["result"]["content"][0]["text"] == "1"
                assert server.stats().initializes == 1
            else:
                assert "error" in answer  # the server's own 400, as a plain client gets it
                line = bridge.wait_for_line("refused the session (HTTP 400)")
                assert "--session-gone-on-400" in line
                assert server.stats().initializes == 0
