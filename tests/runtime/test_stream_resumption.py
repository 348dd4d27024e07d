"""Streams paused after a priming event (SEP-1699) are resumed with ``Last-Event-ID``, not replayed.

The test server answers a ``tools/call`` with a stream that carries only a priming event (an ``id``
and a ``retry`` delay) and ends; the answer waits in the session for a GET that resumes from that
event. The server's own clock says when the stream ended and when the resuming GET arrived.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import (
    DeadlineExceeded,
    EraMode,
    OutcomeUnknown,
    ReplayPolicy,
    ResponseReceived,
    StreamPaused,
)
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions, TransitionRecord
from mcp_session_recovery.testing import Behaviour, ServedEra, TestServer, serve

pytestmark = pytest.mark.anyio

LEGACY = frozenset({ServedEra.LEGACY})
#: How much earlier than the server's ``retry`` a resumption may arrive (clock granularity), and
#: how much later (the official conformance suite allows 200 ms; a shared CI machine gets more).
EARLY, LATE = 0.05, 1.0


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {
        "mode": EraMode.LEGACY,
        "backoff": Backoff(base=0.05, cap=0.5),
        "request_timeout": 10.0,
        "era_cache": EraCache(),
    }
    settings.update(changes)
    return SessionOptions(**settings)


@asynccontextmanager
async def _session(server: TestServer, options: SessionOptions, **hooks: Any) -> AsyncIterator[Session]:
    async with (
        httpx.AsyncClient(timeout=10.0) as client,
        Session(HttpxWire(client, server.url), server.url, options, **hooks) as session,
    ):
        yield session


def _text(result: Mapping[str, Any]) -> str:
    return str(result["content"][0]["text"])


def _resuming_gets(server: TestServer) -> list[Mapping[str, str]]:
    return [r.headers for r in server.stats.recorded_requests if r.method == "GET" and "last-event-id" in r.headers]


@pytest.mark.parametrize("retry_ms", [300, 0])
async def test_a_paused_stream_is_resumed_after_the_servers_retry(retry_ms: int) -> None:
    records: list[TransitionRecord] = []
    behaviour = Behaviour(eras=LEGACY, pause_tool_responses=1, pause_retry_ms=retry_ms, record_requests=50)
    async with serve(behaviour) as server, _session(server, _options(), on_event=records.append) as session:
        result = await session.request("tools/call", {"name": "bump", "arguments": {}})
        assert _text(result) == "1"
        stats = server.stats
        assert stats.tool_executions["bump"] == 1, "run once: resumed, not replayed"
        assert (stats.streams_paused, stats.streams_resumed) == (1, 1)
        waited = stats.resume_times[0] - stats.pause_times[0]
        assert retry_ms / 1000 - EARLY <= waited <= retry_ms / 1000 + LATE, f"resumed after {waited:.3f} s"
        [get] = _resuming_gets(server)
        assert get["last-event-id"] == "event-1"
        assert "mcp-session-id" in get, "the resumption carries the live session's headers"
        assert get["mcp-protocol-version"] == "2025-11-25"
        events = [record.event for record in records]
        assert StreamPaused(request_id=0, last_event_id="event-1", retry_ms=retry_ms) in events
        assert isinstance(events[-1], ResponseReceived)
        assert stats.initializes == 1, "no recovery: a pause is no disruption"
        assert _text(await session.request("tools/call", {"name": "bump", "arguments": {}})) == "2"


async def test_a_resumption_that_finds_the_session_gone_falls_to_the_replay_policy() -> None:
    # A long retry leaves time to restart the server between the pause and the resumption.
    behaviour = Behaviour(eras=LEGACY, pause_tool_responses=1, pause_retry_ms=1500, record_requests=50)
    options = _options(policy=ReplayPolicy(trust_tool_annotations=True))
    async with serve(behaviour) as server, _session(server, options) as session:
        async with anyio.create_task_group() as group:
            caught: list[BaseException] = []

            async def bump() -> None:
                try:
                    await session.request("tools/call", {"name": "bump", "arguments": {}})
                except OutcomeUnknown as exc:
                    caught.append(exc)

            group.start_soon(bump)
            await server.wait_until(lambda stats: stats.streams_paused == 1)
            server.restart()
        assert len(caught) == 1, "it ran before its stream paused: an unsafe call is not run again"
        assert "resume" in str(caught[0]), str(caught[0])
        assert server.stats.tool_executions.get("bump", 0) == 0, "the restarted server never ran it"
        await session.request("tools/list")  # a new session (the first one went with the restart)
        # A read-only call paused, then its session lost: replayed in a new session.
        server.configure(pause_tool_responses=1, pause_retry_ms=1500)
        async with anyio.create_task_group() as group:
            results: list[Any] = []

            async def add() -> None:
                params = {"name": "add", "arguments": {"a": 2, "b": 3}}
                results.append(await session.request("tools/call", params, tool_annotations={"readOnlyHint": True}))

            group.start_soon(add)
            await server.wait_until(lambda stats: stats.streams_paused == 1)
            server.restart()
        assert _text(results[0]) == "5"
        assert server.stats.tool_executions["add"] == 1, "replayed once in the new session"
        assert server.stats.initializes == 1, "the newest server process saw one new session"


async def test_a_resumption_past_the_calls_deadline_fails_it_with_the_deadline() -> None:
    behaviour = Behaviour(eras=LEGACY, pause_tool_responses=1, pause_retry_ms=30_000)
    async with serve(behaviour) as server, _session(server, _options()) as session:
        started = anyio.current_time()
        with pytest.raises(DeadlineExceeded):
            await session.request("tools/call", {"name": "bump", "arguments": {}}, timeout=0.5)
        assert anyio.current_time() - started < 5, "the call's deadline bounds the server's retry"
        assert server.stats.streams_resumed == 0
