"""``proxy URL`` as a real process between the unmodified SDK client and real servers that get SIGKILLed.

The upstream is our test server (``ServerProcess``) or the SDK 2.3.0 server with the bridge
tools; each restart is a SIGKILL and a new process on the same port, and what each new process
counted (its initializes, its deleted sessions) is the evidence.
"""

from __future__ import annotations

import json
import secrets
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.testing import ServedEra, ServerProcess, StaleStyle
from tests.integration.processes import free_port

from .bridges import BridgeProcess, bridge_server, host_session, proxy_process

pytestmark = pytest.mark.anyio

_INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }
)
_LIST = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).encode()
_INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
#: How long the proxy may take to stop on a signal (about a second; more on a loaded machine).
STOP_SECONDS = 3.0
_POST = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client runs on asyncio


def _text(result: Any) -> str:
    return str(result.content[0].text)


async def test_one_host_session_across_two_restarts_and_a_call_made_while_upstream_is_down() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        bridge, url = proxy_process(server.url)
        with bridge:
            session_ids: list[str | None] = []
            async with host_session(url, session_ids) as host:
                assert _text(await host.call_tool("bump", {})) == "1"
                for _ in range(2):
                    await anyio.to_thread.run_sync(server.restart)
                    assert _text(await host.call_tool("bump", {})) == "1"  # the new process ran it once
                    assert server.stats().initializes == 1  # one upstream initialize per restart

                mark = bridge.line_count()
                await anyio.to_thread.run_sync(server.kill)
                results: list[str] = []

                async def call() -> None:
                    results.append(_text(await host.call_tool("bump", {})))

                with anyio.fail_after(30):
                    async with anyio.create_task_group() as group:
                        group.start_soon(call)
                        await anyio.to_thread.run_sync(lambda: bridge.wait_for_line("reconnecting", after=mark))
                        await anyio.to_thread.run_sync(server.start)
                assert results == ["1"]
                assert server.stats().initializes == 1
            # The host's DELETE on leaving ended the upstream session.
            stats = server.stats()
            assert (stats.sessions_deleted, stats.live_sessions) == (1, 0)
            assert bridge.stop() == 0
    ids = {value for value in session_ids if value is not None}
    assert len(ids) == 1  # the host kept one session id throughout
    assert "reconnecting" in bridge.stderr
    assert "connected: legacy" in bridge.stderr


async def test_progress_streams_and_an_elicitation_is_answered_after_a_restart_with_the_credential() -> None:
    token = secrets.token_hex(16)
    with bridge_server(env={"BRIDGE_TEST_TOKEN": token}) as server:
        bridge, url = proxy_process(
            server.url, "--header-env", "Authorization=BRIDGE_AUTH", "--verbose", env={"BRIDGE_AUTH": f"Bearer {token}"}
        )
        with bridge:
            questions: list[str] = []

            async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
                questions.append(params.message)
                return types.ElicitResult(action="accept", content={"answer": "blue"})

            async with host_session(url, elicitation_callback=elicit) as host:
                steps: list[float] = []

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    steps.append(progress)

                result = await host.call_tool("count_to", {"n": 3}, progress_callback=on_progress)
                assert _text(result) == "counted 3"
                assert steps == [1, 2, 3]
                assert _text(await host.call_tool("credential", {})) == "match"

                await anyio.to_thread.run_sync(server.restart)
                assert _text(await host.call_tool("ask", {"question": "Which colour?"})) == "you said blue"
                assert questions == ["Which colour?"]
                assert _text(await host.call_tool("credential", {})) == "match"  # the re-initialize carried it too
                assert server.stats()["initializes"] == 1
            assert bridge.stop() == 0
    assert token not in bridge.stderr
    assert "generation 2" in bridge.stderr


async def test_what_the_runtime_gives_up_on_reaches_that_one_request_as_a_json_rpc_error() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        bridge, url = proxy_process(server.url, "--timeout", "1.5")
        with bridge:
            session_ids: list[str | None] = []
            async with host_session(url, session_ids) as host:
                assert _text(await host.call_tool("bump", {})) == "1"
                await anyio.to_thread.run_sync(server.kill)
                with pytest.raises(MCPError) as caught:
                    await host.call_tool("bump", {})
                assert caught.value.code == -32000
                assert caught.value.data["error"] == "DeadlineExceeded"
                # The host's session lives on: once the upstream is back, the next call works.
                await anyio.to_thread.run_sync(server.start)
                # With a 1.5 s deadline a call may still meet the backoff before the next attempt:
                # a few tries (each its own JSON-RPC error) until one is answered.
                refusals: list[str] = []
                for _ in range(6):
                    try:
                        assert int(_text(await host.call_tool("bump", {}))) >= 1
                        break
                    except MCPError as exc:
                        refusals.append(exc.data["error"])
                assert len(refusals) < 6
                assert set(refusals) <= {"DeadlineExceeded", "RecoveryFailed"}
            assert bridge.stop() == 0
    assert len({value for value in session_ids if value is not None}) == 1


async def test_a_foreign_origin_is_refused_and_the_hosts_delete_ends_the_upstream_session() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        bridge, url = proxy_process(server.url)
        with bridge:
            async with httpx2.AsyncClient(timeout=20) as http:
                refused = await http.post(url, content=_INITIALIZE, headers={**_POST, "origin": "http://evil.example"})
                assert refused.status_code == 403
                assert server.stats().initializes == 0  # nothing reached the upstream

                local = {**_POST, "origin": "http://localhost:5173"}
                accepted = await http.post(url, content=_INITIALIZE, headers=local)
                assert accepted.status_code == 200
                session_id = accepted.headers["mcp-session-id"]
                assert accepted.json()["result"]["serverInfo"]["name"] == "mcp-session-recovery-testing"

                unknown = await http.post(url, content=_INITIALIZE, headers={**_POST, "mcp-session-id": "nope"})
                assert unknown.status_code == 404  # the spec's answer to an unknown session

                ended = await http.delete(url, headers={"mcp-session-id": session_id})
                assert ended.status_code == 200
                stats = server.stats()
                assert (stats.initializes, stats.sessions_deleted, stats.live_sessions) == (1, 1, 0)
                gone = await http.post(url, content=_INITIALIZE, headers={**_POST, "mcp-session-id": session_id})
                assert gone.status_code == 404
            assert bridge.stop() == 0


async def test_sigterm_stops_cleanly_and_deletes_the_upstream_session() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        bridge, url = proxy_process(server.url)
        with bridge:
            async with httpx2.AsyncClient(timeout=20) as http:
                answer = await http.post(url, content=_INITIALIZE, headers=_POST)
                assert answer.status_code == 200
            assert server.stats().live_sessions == 1
            assert bridge.stop(signal.SIGTERM) == 0
        stats = server.stats()
        assert (stats.sessions_deleted, stats.live_sessions) == (1, 0)
    assert "stopping" in bridge.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_ends_the_proxy_while_a_host_holds_its_event_stream_open(stop_signal: int) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        bridge, url = proxy_process(server.url)
        with bridge:
            async with httpx2.AsyncClient(timeout=20) as http:
                answer = await http.post(url, content=_INITIALIZE, headers=_POST)
                headers = {"mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
                await http.post(url, content=_INITIALIZED, headers=_POST | headers)
                async with http.stream("GET", url, headers=headers | {"accept": "text/event-stream"}) as stream:
                    assert stream.status_code == 200
                    # The host keeps its GET stream (and its connection) open, and the proxy is stopped.
                    assert bridge.stop(stop_signal, timeout=STOP_SECONDS) == 0
        stats = server.stats()
        assert (stats.sessions_deleted, stats.live_sessions) == (1, 0)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--listen", "0.0.0.0:{port}"], "--allow-remote"),
        (["--header", "no colon here"], "'Name: value'"),
        (["--header-env", "Authorization=BRIDGE_UNSET_VARIABLE"], "BRIDGE_UNSET_VARIABLE is not set"),
    ],
)
def test_unsafe_or_bad_options_exit_2_with_one_line(flags: list[str], says: str) -> None:
    port = free_port()
    argv = ["proxy", "http://127.0.0.1:9/mcp", *(flag.format(port=port) for flag in flags)]
    with BridgeProcess(argv) as bridge:
        assert bridge.wait() == 2
    assert says in bridge.stderr
    assert len(bridge.stderr.splitlines()) == 1
    assert "no colon here" not in bridge.stderr  # a value is never echoed


async def test_sessionless_era_results_and_errors_reach_the_host_under_its_own_ids() -> None:
    with ServerProcess(eras=[ServedEra.MODERN]) as server:
        bridge, url = proxy_process(server.url, "--timeout", "10")
        with bridge:
            headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
            async with httpx2.AsyncClient(timeout=20) as http:
                listed = await http.post(url, json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, headers=headers)
                unknown = await http.post(
                    url, json={"jsonrpc": "2.0", "id": 10, "method": "no/such/method"}, headers=headers
                )
            assert _only_message(listed)["id"] == 9
            answer = _only_message(unknown)
            assert answer["id"] == 10, answer
            assert answer["error"]["code"] == -32601
            assert unknown.status_code == 404, "the server's own status reaches the host"


def _only_message(response: httpx2.Response) -> dict[str, Any]:
    """The one JSON-RPC message of a JSON or SSE answer."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        datas = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        assert len(datas) == 1, response.text
        document: dict[str, Any] = json.loads(datas[0])
        return document
    found: dict[str, Any] = response.json()
    return found


async def test_the_flag_doctor_names_recovers_a_server_that_answers_a_lost_session_with_400() -> None:
    with ServerProcess(eras=[ServedEra.LEGACY], stale_style=StaleStyle.LEGACY_400) as server:
        bridge, url = proxy_process(server.url, "--session-gone-on-400")
        with bridge:
            async with host_session(url) as session:
                server.restart()  # SIGKILL: the new process answers the old session id with a 400
                result = await session.call_tool("bump", {})
                assert result.content[0].text == "1"  # type: ignore[union-attr]
            assert server.stats().initializes == 1


def _proxy_on(port: int, upstream: str, *flags: str) -> BridgeProcess:
    bridge = BridgeProcess(["proxy", upstream, "--listen", f"127.0.0.1:{port}", *flags]).start()
    bridge.wait_for_line(f"http://127.0.0.1:{port}/mcp")
    return bridge


async def test_a_host_keeps_its_session_across_a_sigkill_and_restart_of_the_proxy(tmp_path: Path) -> None:
    store = str(tmp_path / "sessions.sqlite3")
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        first = _proxy_on(port, server.url, "--session-store", store)
        async with host_session(url) as session:
            assert (await session.call_tool("bump", {})).content[0].text == "1"  # type: ignore[union-attr]
            assert first.process is not None
            first.process.kill()  # SIGKILL: no goodbye, the upstream session stays behind
            first.wait()
            with _proxy_on(port, server.url, "--session-store", store) as second:
                # The host's next call, under the session id the killed proxy gave it, is answered.
                assert (await session.call_tool("bump", {})).content[0].text == "2"  # type: ignore[union-attr]
                assert (await session.call_tool("bump", {})).content[0].text == "3"  # type: ignore[union-attr]
                assert "restored a host session" in second.stderr
        stats = server.stats()
        assert stats.initializes == 2, "one for the host's initialize, one for the restored session"
        assert stats.tool_executions["bump"] == 3


async def test_without_the_store_a_restarted_proxy_answers_an_unknown_session_404(tmp_path: Path) -> None:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        with _proxy_on(port, server.url, "--no-session-store") as first:
            async with httpx2.AsyncClient(timeout=20) as http:
                answer = await http.post(url, content=_INITIALIZE, headers=_POST)
                session_id = answer.headers["mcp-session-id"]
                assert first.stop(signal.SIGTERM) == 0
                with _proxy_on(port, server.url, "--no-session-store"):
                    unknown = await http.post(url, content=_LIST, headers=_POST | {"mcp-session-id": session_id})
                    assert unknown.status_code == 404


async def test_a_corrupt_store_is_one_warning_and_the_proxy_serves_on(tmp_path: Path) -> None:
    store = tmp_path / "sessions.sqlite3"
    store.write_bytes(b"not a database at all" * 64)
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        port = free_port()
        with _proxy_on(port, server.url, "--session-store", str(store)) as bridge:
            line = bridge.wait_for_line("warning:")
            assert "session store" in line
            assert "will not survive a restart" in line
            async with host_session(f"http://127.0.0.1:{port}/mcp") as session:
                assert (await session.call_tool("bump", {})).content[0].text == "1"  # type: ignore[union-attr]
            assert "Traceback" not in bridge.stderr
