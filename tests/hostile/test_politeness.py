"""Polite to a struggling server: Retry-After is honoured, abandoned sessions are deleted, a refused
GET stream is not reopened in a loop, and an outage costs at most 5 ``initialize`` a second.

These run with the library's default backoff (the behaviour under test); the server's own clock
(``ServerStats.initialize_times``) says when each ``initialize`` arrived.
"""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import DeadlineExceeded, EraMode
from mcp_session_recovery.runtime import EraCache, RelistenSchedule, Session, SessionOptions
from mcp_session_recovery.testing import AnswerRule, Behaviour, CannedAnswer, serve
from tests.edges.clients import Adapter, cases

pytestmark = pytest.mark.anyio

#: The library's defaults, but a private era cache and the handshake era (the test server's).
DEFAULTS = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache(), request_timeout=20.0)


def busy(status: int, retry_after: str | None) -> CannedAnswer:
    headers = (("retry-after", retry_after),) if retry_after is not None else ()
    return CannedAnswer(status, "text/plain", "busy, come back later", headers)


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_a_503_with_retry_after_is_waited_out_and_the_session_given_up_is_deleted(
    anyio_backend: str, adapter: Adapter
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, DEFAULTS) as client:
        server.configure(answer_rules=(AnswerRule(busy(503, "1"), frozenset({"tools/call"}), times=1),))
        assert await client.call("bump", {}) == "1", "re-sent once the server had time (it never ran it)"
        stats = await server.wait_until(lambda stats: stats.sessions_open == 1)
        first, second = stats.initialize_times[-2:]
        assert second - first >= 0.9, f"the next initialize came {second - first:.3f} s later, not after Retry-After"
        assert stats.initializes == 2, "one new session"
        assert stats.sessions_deleted == 1, "the one given up was deleted"


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_busy_answer_without_retry_after_is_recovered_with_the_usual_backoff(
    anyio_backend: str, status: int
) -> None:
    async with serve(Behaviour()) as server:
        url = server.url
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, DEFAULTS) as session:
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            server.configure(answer_rules=(AnswerRule(busy(status, None), frozenset({"initialize"}), times=2),))
            server.expire_sessions()
            result = await session.request("tools/call", {"name": "peek", "arguments": {}})
        assert result["content"][0]["text"] == "0"
        assert len(server.stats.initialize_times) == 4, "the first, two busy answers, the one that worked"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_connection_dropped_at_the_delete_on_close_does_not_fail_the_close(anyio_backend: str) -> None:
    async with serve(Behaviour(answer_rules=(AnswerRule(None, frozenset({"DELETE"})),))) as server:
        url = server.url
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, DEFAULTS) as session:
            await session.request("tools/call", {"name": "peek", "arguments": {}})
        assert server.stats.dropped_requests == 1, "the DELETE was sent once, and its loss swallowed"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_429_with_retry_after_during_recovery_delays_the_next_attempt(anyio_backend: str) -> None:
    async with serve(Behaviour()) as server:
        url = server.url
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, DEFAULTS) as session:
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            server.configure(answer_rules=(AnswerRule(busy(429, "1"), frozenset({"initialize"}), times=1),))
            server.expire_sessions()
            await session.request("tools/call", {"name": "peek", "arguments": {}})
        times = server.stats.initialize_times
        assert len(times) == 3, times  # the first, the one answered 429, the one after Retry-After
        assert times[2] - times[1] >= 0.9


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_retry_after_longer_than_the_deadline_ends_in_deadline_exceeded_without_hammering(
    anyio_backend: str,
) -> None:
    async with serve(Behaviour()) as server:
        url = server.url
        settings = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache(), request_timeout=1.5)
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, settings) as session:
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            server.configure(answer_rules=(AnswerRule(busy(503, "30"), frozenset({"tools/call"})),))
            with pytest.raises(DeadlineExceeded):
                await session.request("tools/call", {"name": "peek", "arguments": {}})
        assert len(server.stats.initialize_times) == 1, "no initialize while the server asked for 30 s"


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_gateway_window_costs_at_most_5_initialize_a_second_and_one_when_back(anyio_backend: str) -> None:
    async with serve(Behaviour()) as server:
        url = server.url
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, DEFAULTS) as session:
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            server.configure(answer_status_for_all=CannedAnswer(502, "text/plain", "Bad Gateway"))
            server.expire_sessions()  # the backend restarted behind the gateway
            window = 2.0
            async with anyio.create_task_group() as group:
                group.start_soon(session.request, "tools/call", {"name": "peek", "arguments": {}})
                await server.wait_until(lambda stats: len(stats.initialize_times) >= 2)
                opened = server.stats.initialize_times[-1]
                await anyio.sleep(window)  # the outage itself: the client must wait it out politely
                during = [t for t in server.stats.initialize_times if opened <= t <= opened + window]
                server.configure(answer_status_for_all=None)
            stats = server.stats
        assert len(during) <= 5 * window + 1, f"{len(during)} initialize in a {window} s window"
        assert stats.initializes == 2, "one initialize answered once the backend was back"


@pytest.mark.parametrize("refusal", ["404", "500", "empty-200"])
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_refused_get_stream_backs_off_stops_and_reopens_after_the_next_negotiation(
    anyio_backend: str, refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    schedule = RelistenSchedule(base=0.02)  # the default schedule's shape, at a test's pace
    answers = {
        "404": CannedAnswer(404, "text/plain", "Not Found"),
        "500": CannedAnswer(500, "text/plain", "oops"),
        "empty-200": CannedAnswer(200, "text/event-stream", ""),
    }
    refused = AnswerRule(answers[refusal], frozenset({"GET"}))
    async with serve(Behaviour(answer_rules=(refused,))) as server:
        url = server.url
        settings = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache(), listen=True, relisten=schedule)
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, settings) as session:
            await session.connect()
            # A first 404 says the session is gone (one re-initialize, no ping with the dead id); the
            # fresh session's first GET answered 404 too shows the server has no stream: failures.
            limit = schedule.max_failures + (1 if refusal == "404" else 0)
            stats = await server.wait_until(lambda stats: stats.get_requests >= limit, timeout=10)
            with anyio.fail_after(10):
                while "the GET stream failed" not in caplog.text:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.3)  # ten times the next delay the schedule would have waited
            assert server.stats.get_requests == stats.get_requests == limit, "it kept reopening"
            assert server.stats.initializes == (2 if refusal == "404" else 1), "no storm of sessions"
            assert any(r.levelno == logging.WARNING for r in caplog.records if "GET stream failed" in r.message)
            # A new session (the old one expired): the stream is tried again.
            server.configure(answer_rules=())
            server.expire_sessions()
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            await server.wait_until(lambda stats: stats.get_streams_opened >= 1)
