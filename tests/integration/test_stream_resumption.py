"""The unmodified SDK over ``RecoveringTransport``, and ``connect()``, resume a stream the server
paused after a priming event (SEP-1699): the call succeeds once, the tool ran once, and the SDK never
sees the break. The server's own clock times the resumption against its ``retry``."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import EraMode, StreamPaused
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions, TransitionRecord
from mcp_session_recovery.runtime.answers import LIBRARY_ERROR_CODE
from mcp_session_recovery.testing import Behaviour, ServedEra, TestServer, serve

from .test_sdk_transport import sdk_session

pytestmark = pytest.mark.anyio

#: How much earlier than ``retry`` a resumption may arrive (clock granularity), and how much later
#: (the official conformance suite allows 200 ms; a shared CI machine gets more).
EARLY, LATE = 0.05, 1.0
RETRY_MS = 400


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {
        "backoff": Backoff(base=0.05, cap=0.5),
        "request_timeout": 10.0,
        "era_cache": EraCache(),
        "mode": EraMode.LEGACY,
    }
    settings.update(changes)
    return SessionOptions(**settings)


def _behaviour() -> Behaviour:
    return Behaviour(eras=frozenset({ServedEra.LEGACY}), record_requests=50, pause_retry_ms=RETRY_MS)


def _check_resumed(server: TestServer) -> None:
    stats = server.stats
    assert stats.tool_executions["bump"] == 2, "each call ran once: resumed, never replayed"
    assert (stats.streams_paused, stats.streams_resumed) == (1, 1)
    waited = stats.resume_times[0] - stats.pause_times[0]
    assert RETRY_MS / 1000 - EARLY <= waited <= RETRY_MS / 1000 + LATE, f"resumed after {waited:.3f} s"
    gets = [r.headers for r in stats.recorded_requests if r.method == "GET" and "last-event-id" in r.headers]
    assert [get["last-event-id"] for get in gets] == ["event-1"]
    assert "mcp-session-id" in gets[0]
    assert stats.initializes == 1, "a pause is no disruption: no new session"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's client runs on asyncio
async def test_the_sdk_over_the_transport_never_sees_the_paused_stream() -> None:
    records: list[TransitionRecord] = []
    async with serve(_behaviour()) as server, sdk_session(server.url, _options(), on_event=records.append) as session:
        assert str((await session.call_tool("bump", {})).content[0].text) == "1"  # type: ignore[union-attr]
        server.configure(pause_tool_responses=1)
        result = await session.call_tool("bump", {})
        assert str(result.content[0].text) == "2"  # type: ignore[union-attr]
        _check_resumed(server)
    paused = [record.event for record in records if isinstance(record.event, StreamPaused)]
    assert paused == [StreamPaused(request_id=paused[0].request_id, last_event_id="event-1", retry_ms=RETRY_MS)], (
        "the transport resumed it (the SDK would have resumed by itself, unseen by the model)"
    )


async def test_connect_resumes_a_paused_stream() -> None:
    async with serve(_behaviour()) as server, connect(server.url, mode="legacy", options=_options()) as client:
        assert str((await client.call_tool("bump", {})).content[0].text) == "1"  # type: ignore[union-attr]
        server.configure(pause_tool_responses=1)
        result = await client.call_tool("bump", {})
        assert str(result.content[0].text) == "2"  # type: ignore[union-attr]
        _check_resumed(server)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's client runs on asyncio
async def test_the_sdk_gets_the_replay_policys_answer_when_the_session_went_with_a_restart() -> None:
    behaviour = Behaviour(eras=frozenset({ServedEra.LEGACY}), pause_tool_responses=1, pause_retry_ms=1500)
    async with serve(behaviour) as server, sdk_session(server.url, _options()) as session:
        failures: list[MCPError] = []

        async def bump() -> None:
            try:
                await session.call_tool("bump", {})
            except MCPError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(bump)
            await server.wait_until(lambda stats: stats.streams_paused == 1)
            server.restart()  # the resumption finds neither the session nor its events
        [failure] = failures
        assert failure.error.code == LIBRARY_ERROR_CODE
        assert "may or may not" in failure.error.message, "it ran before its stream paused: not run again"
        assert server.stats.tool_executions.get("bump", 0) == 0
        assert str((await session.call_tool("bump", {})).content[0].text) == "1", "the client goes on"  # type: ignore[union-attr]
