"""The runtime against the real fault-injecting test server, over real sockets on 127.0.0.1.

Each test is a production failure made small: a restart under load, a load balancer without session
affinity, an outage, a cut answer stream, every stale-session answer style, an era change, state to
restore. The server's counters say what really ran; nothing here waits on a sleep to synchronise.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import (
    ClassifierOptions,
    CredentialsRefused,
    CredentialsRejected,
    DeadlineExceeded,
    Era,
    EraMode,
    ListenOpened,
    ListenRefused,
    OutcomeUnknown,
    ProtocolViolation,
    RecoveryFailed,
    ReplayPolicy,
    RequestSubmitted,
    SessionClosed,
    SessionNotKept,
    Signal,
    State,
)
from mcp_session_recovery.runtime import (
    Backoff,
    EraCache,
    RelistenSchedule,
    Session,
    SessionOptions,
    TransitionRecord,
)
from mcp_session_recovery.testing import (
    AnswerRule,
    Behaviour,
    CannedAnswer,
    ServedEra,
    StaleStyle,
    TestServer,
    serve,
)

pytestmark = pytest.mark.anyio

LEGACY = frozenset({ServedEra.LEGACY})
MODERN = frozenset({ServedEra.MODERN})


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {
        "mode": EraMode.AUTO,
        "backoff": Backoff(base=0.05, cap=0.5),
        "request_timeout": 10.0,
        "era_cache": EraCache(),
    }
    settings.update(changes)
    return SessionOptions(**settings)


@asynccontextmanager
async def _session(server: TestServer, options: SessionOptions, **hooks: Any) -> AsyncIterator[Session]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with (
        httpx.AsyncClient(limits=limits, timeout=10.0) as client,
        Session(HttpxWire(client, server.url), server.url, options, **hooks) as session,
    ):
        yield session


async def _bump(session: Session, **kwargs: Any) -> Any:
    return await session.request("tools/call", {"name": "bump", "arguments": {}}, **kwargs)


def _text(result: Mapping[str, Any]) -> str:
    return str(result["content"][0]["text"])


async def test_100_concurrent_requests_across_a_restart_need_one_initialize() -> None:
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, _options(mode=EraMode.LEGACY)) as session:
        await _bump(session)
        server.restart()
        results: list[Any] = []

        async def one() -> None:
            results.append(await _bump(session))

        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(one)
        assert len(results) == 100
        stats = server.stats
        assert stats.initializes == 1, "one re-initialize served all 100 waiting requests"
        assert stats.tool_executions["bump"] == 100, "each request ran exactly once on the new process"
        assert sorted(int(_text(r)) for r in results) == list(range(1, 101))
        assert session.state is State.READY


async def test_a_balancer_without_affinity_fails_each_request_fast_with_the_likely_cause() -> None:
    behaviour = Behaviour(eras=LEGACY, forget_sessions_after_initialize=True)
    options = _options(mode=EraMode.LEGACY, max_attempts=60)  # the round would last about 20 s
    async with serve(behaviour) as server, _session(server, options) as session:
        errors: list[BaseException] = []
        started = anyio.current_time()

        async def one() -> None:
            with anyio.fail_after(5):  # every request ends within its deadline
                try:
                    await _bump(session, timeout=10)
                except SessionNotKept as exc:
                    errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
        assert anyio.current_time() - started < 5, "waiting cannot help: no use spending the round"
        assert len(errors) == 5
        assert all(isinstance(e, RecoveryFailed) and e.last_signal is Signal.SESSION_GONE for e in errors)
        assert all("balancer without session affinity" in str(e) for e in errors), errors[0]
        assert server.stats.initializes == 3, "three sessions lost in their handshake served all five"
        assert server.stats.tool_executions.get("bump", 0) == 0


async def test_sessions_lost_before_their_first_answer_end_in_session_not_kept() -> None:
    # Each handshake reaches the server that opened the session, each request another server.
    gone = CannedAnswer(
        404, "application/json", '{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}'
    )
    behaviour = Behaviour(eras=LEGACY, answer_rules=(AnswerRule(gone, frozenset({"tools/call"})),))
    async with serve(behaviour) as server, _session(server, _options(mode=EraMode.LEGACY)) as session:
        started = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(SessionNotKept) as caught:
            await _bump(session)
        assert anyio.current_time() - started < 5
        assert caught.value.losses == 3
        assert server.stats.initializes == 3
        server.configure(answer_rules=())
        assert _text(await _bump(session)) == "1", "not dead: the next call starts a new round"


async def test_requests_issued_during_a_2s_outage_complete_when_the_server_returns() -> None:
    # A seeded jitter: 30 attempts of up to 0.5 s outlast the outage, and the attempt after the server
    # is back succeeds within 0.5 s.
    backoff = Backoff(base=0.1, cap=0.5, rng=random.Random(7))
    options = _options(mode=EraMode.LEGACY, max_attempts=30, backoff=backoff)
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, options) as session:
        await _bump(session)
        back = await server.outage(2.0)
        server.restart()  # the process that comes back is a new one
        started = anyio.current_time()
        results: list[Any] = []

        async def one() -> None:
            results.append(await _bump(session, timeout=8))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
        assert back.is_set(), "the calls completed only once the server was back"
        assert len(results) == 3
        assert anyio.current_time() - started < 8
        assert server.stats.tool_executions["bump"] == 3
        assert server.stats.initializes == 1


async def test_a_cut_answer_to_an_unsafe_call_is_not_replayed() -> None:
    behaviour = Behaviour(eras=LEGACY, cut_tool_responses=1)
    async with serve(behaviour) as server, _session(server, _options(mode=EraMode.LEGACY)) as session:
        with pytest.raises(OutcomeUnknown) as caught:
            await _bump(session)
        assert caught.value.method == "tools/call"
        assert server.stats.tool_executions["bump"] == 1, "it ran once and was not run again"
        assert _text(await _bump(session)) == "2", "the session goes on"


async def test_a_cut_answer_is_replayed_when_the_policy_allows() -> None:
    options = _options(mode=EraMode.LEGACY, policy=ReplayPolicy(trust_tool_annotations=True))
    async with serve(Behaviour(eras=LEGACY, cut_tool_responses=1)) as server, _session(server, options) as session:
        params = {"name": "add", "arguments": {"a": 2, "b": 3}}
        result = await session.request("tools/call", params, tool_annotations={"readOnlyHint": True})
        assert _text(result) == "5"
        assert server.stats.tool_executions["add"] == 2, "cut once, replayed once"


async def test_annotations_learned_from_tools_list_feed_the_replay_policy() -> None:
    options = _options(mode=EraMode.LEGACY, policy=ReplayPolicy(trust_tool_annotations=True))
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, options) as session:
        await session.request("tools/list")
        server.configure(cut_tool_responses=1)
        assert _text(await session.request("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})) == "5"
        assert server.stats.tool_executions["add"] == 2, "add is read-only by its annotations: replayed"
        server.configure(cut_tool_responses=1)
        with pytest.raises(OutcomeUnknown):
            await _bump(session)  # bump has no annotations: not replayed
        assert server.stats.tool_executions["bump"] == 1


async def test_an_allow_listed_tool_is_replayed_after_a_cut() -> None:
    options = _options(mode=EraMode.LEGACY, policy=ReplayPolicy(replayable_tools=frozenset({"bump"})))
    async with serve(Behaviour(eras=LEGACY, cut_tool_responses=1)) as server, _session(server, options) as session:
        assert _text(await _bump(session)) == "2", "the first run's effect stays; the replay is the second"


@pytest.mark.parametrize(
    "style", [StaleStyle.SDK_PYTHON, StaleStyle.SDK_TYPESCRIPT, StaleStyle.PLAIN_TEXT, StaleStyle.ERROR_STRING]
)
async def test_every_404_style_of_a_lost_session_is_recovered(style: StaleStyle) -> None:
    behaviour = Behaviour(eras=LEGACY, stale_style=style)
    async with serve(behaviour) as server, _session(server, _options(mode=EraMode.LEGACY)) as session:
        await _bump(session)
        server.restart()
        assert _text(await _bump(session)) == "1"
        assert server.stats.initializes == 1
        assert server.stats.stale_answers == 1


async def test_the_older_400_style_is_recovered_when_opted_in() -> None:
    options = _options(mode=EraMode.LEGACY, classifier=ClassifierOptions(session_gone_on_400=True))
    async with (
        serve(Behaviour(eras=LEGACY, stale_style=StaleStyle.LEGACY_400)) as server,
        _session(server, options) as session,
    ):
        await _bump(session)
        server.restart()
        assert _text(await _bump(session)) == "1"


async def test_auto_mode_probes_modern_falls_back_to_legacy_and_follows_an_era_change() -> None:
    records: list[TransitionRecord] = []
    async with (
        serve(Behaviour(eras=LEGACY)) as server,
        _session(server, _options(), on_event=records.append) as session,
    ):
        await _bump(session)
        binding = session.binding
        assert binding is not None
        assert binding.era is Era.LEGACY, "the modern probe failed, so it fell back"
        server.configure(eras=MODERN)
        server.restart()
        assert _text(await _bump(session)) == "1"
        binding = session.binding
        assert binding is not None
        assert binding.era is Era.MODERN
        assert any(r.binding_change is not None for r in records), "hosts are told the terms changed"
        server.configure(eras=LEGACY)
        server.restart()
        assert _text(await _bump(session)) == "1"
        binding = session.binding
        assert binding is not None
        assert binding.era is Era.LEGACY


async def test_the_era_an_origin_spoke_is_tried_first_next_time() -> None:
    cache = EraCache()
    async with serve(Behaviour(eras=LEGACY)) as server:
        async with _session(server, _options(era_cache=cache)) as session:
            await session.connect()
        probes = server.stats.requests_by_method.get("server/discover", 0)
        async with _session(server, _options(era_cache=cache)) as session:
            await session.connect()
        assert server.stats.requests_by_method.get("server/discover", 0) == probes, "no second probe"


async def test_first_era_sets_what_auto_mode_tries_first_on_an_unknown_origin() -> None:
    async with serve(Behaviour(eras=LEGACY)) as server:
        async with _session(server, _options(first_era=Era.LEGACY)) as session:
            binding = await session.connect()
        assert binding.era is Era.LEGACY
        assert server.stats.requests_by_method.get("server/discover", 0) == 0, "no probe"
        async with _session(server, _options(first_era=Era.MODERN)) as session:
            await session.connect()
        assert server.stats.requests_by_method.get("server/discover", 0) == 1, "probed, then fell back"


async def test_a_modern_server_survives_an_outage_without_a_handshake() -> None:
    options = _options(max_attempts=12)
    async with serve(Behaviour(eras=MODERN)) as server, _session(server, options) as session:
        await _bump(session)
        back = await server.outage(0.5)
        assert _text(await _bump(session)) == "2"
        assert back.is_set()
        assert server.stats.initializes == 0


async def test_subscriptions_and_log_level_are_restored_after_a_restart() -> None:
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, _options(mode=EraMode.LEGACY)) as session:
        await session.request("logging/setLevel", {"level": "debug"})
        await session.request("resources/subscribe", {"uri": "test://counter"})
        await session.request("resources/subscribe", {"uri": "test://other"})
        await session.request("resources/unsubscribe", {"uri": "test://other"})
        server.restart()
        await _bump(session)
        stats = await server.wait_until(lambda s: s.requests_by_method.get("resources/subscribe", 0) >= 1)
        assert stats.requests_by_method.get("logging/setLevel") == 1
        assert stats.requests_by_method.get("resources/subscribe") == 1, "only the live subscription"
        assert stats.requests_before_initialized == 0


async def test_the_get_stream_is_reopened_after_recovery() -> None:
    updated = anyio.Event()

    def on_message(message: Mapping[str, Any]) -> None:
        if message.get("method") == "notifications/resources/updated":
            updated.set()

    options = _options(mode=EraMode.LEGACY, listen=True)
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, options, on_message=on_message) as session:
        await session.request("resources/subscribe", {"uri": "test://counter"})
        await server.wait_until(lambda s: s.get_streams_opened == 1)
        server.restart()
        await _bump(session)
        await server.wait_until(lambda s: s.get_streams_opened == 1 and s.live_sessions == 1)
        await server.wait_until(lambda s: s.requests_by_method.get("resources/subscribe", 0) == 1)
        await _bump(session)
        with anyio.fail_after(5):
            await updated.wait()


async def test_a_get_stream_refused_with_404_tells_the_model_and_makes_up_no_request() -> None:
    records: list[TransitionRecord] = []
    options = _options(mode=EraMode.LEGACY, listen=True)
    async with (
        serve(Behaviour(eras=LEGACY)) as server,
        _session(server, options, on_event=records.append) as session,
    ):
        await session.connect()
        await server.wait_until(lambda s: s.get_streams_opened == 1)
        server.restart()  # the session is forgotten and its stream cut: the reopened GET gets 404
        # Nothing but the stream found out; the session is negotiated again and its stream reopened.
        stats = await server.wait_until(lambda s: s.get_streams_opened == 1 and s.live_sessions == 1)
        assert stats.initializes == 1
        binding = session.binding
    refused = [record for record in records if isinstance(record.event, ListenRefused)]
    assert [(r.old_state, r.new_state, r.event) for r in refused[:1]] == [
        (State.READY, State.INVALIDATED, ListenRefused(generation=1, stream_served=True))
    ]
    assert ListenOpened(generation=1) in [record.event for record in records], "the 200 was reported too"
    assert not any(isinstance(record.event, RequestSubmitted) for record in records), "no made-up ping"
    assert binding is not None
    assert binding.generation == 2


#: Every GET answered 404, as a server without a GET stream answers when it does not say 405.
GET_REFUSED = AnswerRule(CannedAnswer(404, "text/plain", "Not Found"), frozenset({"GET"}))


def _refusals_of(generation: int, enough: int, records: list[TransitionRecord]) -> tuple[Any, anyio.Event]:
    """An ``on_event`` hook keeping ``records``, and an event set once the GET of session
    ``generation`` was refused ``enough`` times (the listener then waits for a new session)."""
    done = anyio.Event()

    def on_event(record: TransitionRecord) -> None:
        records.append(record)
        refused = [r for r in records if isinstance(r.event, ListenRefused) and r.event.generation == generation]
        if len(refused) >= enough:
            done.set()

    return on_event, done


async def test_a_server_whose_get_always_answers_404_costs_one_negotiation_then_the_session_lives() -> None:
    schedule = RelistenSchedule(base=0.01, cap=0.05)
    options = _options(mode=EraMode.LEGACY, listen=True, relisten=schedule)
    records: list[TransitionRecord] = []
    # The first session's GET is refused (a lost session, as far as anyone can tell), then the second
    # session's every GET until the listener leaves the stream closed.
    on_event, given_up = _refusals_of(2, schedule.max_failures, records)
    async with (
        serve(Behaviour(eras=LEGACY, answer_rules=(GET_REFUSED,))) as server,
        _session(server, options, on_event=on_event) as session,
    ):
        await session.connect()
        with anyio.fail_after(10):
            await given_up.wait()
        assert _text(await _bump(session)) == "1"
        assert _text(await _bump(session)) == "2"
        stats = server.stats
        binding = session.binding
        assert session.state is State.READY
    assert stats.initializes == 2, "one extra negotiation, then no recovery loop"
    assert stats.get_requests == 1 + schedule.max_failures, "the second session's GET backed off, then left"
    assert binding is not None
    assert binding.generation == 2
    refused = [(r.old_state, r.new_state, r.event) for r in records if isinstance(r.event, ListenRefused)]
    assert refused[0] == (State.READY, State.INVALIDATED, ListenRefused(generation=1))
    assert refused[1:] == [(State.READY, State.READY, ListenRefused(generation=2))] * schedule.max_failures
    assert sum(r.new_state is State.INVALIDATED for r in records) == 1


async def test_a_404_to_a_served_stream_is_recovered_even_after_fresh_gets_were_refused() -> None:
    schedule = RelistenSchedule(base=0.01, cap=0.05)
    options = _options(mode=EraMode.LEGACY, listen=True, relisten=schedule)
    records: list[TransitionRecord] = []
    on_event, given_up = _refusals_of(2, schedule.max_failures, records)
    async with (
        serve(Behaviour(eras=LEGACY, answer_rules=(GET_REFUSED,))) as server,
        _session(server, options, on_event=on_event) as session,
    ):
        await session.connect()
        with anyio.fail_after(10):
            await given_up.wait()  # the model took the server for one without a GET stream
        # The server is redeployed with a stream: the next session's GET is served.
        server.configure(answer_rules=())
        server.restart()
        assert _text(await _bump(session)) == "1"
        await server.wait_until(lambda s: s.get_streams_opened == 1)
        # Restarted again: the served stream is cut, and its reopening answered 404. That is a lost
        # session (the stream was served), whatever the fresh GETs before it said: recover.
        server.restart()
        stats = await server.wait_until(lambda s: s.initializes == 1 and s.get_streams_opened == 1)
        assert stats.requests_by_method.get("tools/call", 0) == 0, "no request found out: the GET did"
        assert _text(await _bump(session)) == "1"
        binding = session.binding
    assert binding is not None
    assert binding.generation == 4
    events = [r.event for r in records]
    assert ListenOpened(generation=3) in events
    lost = [r for r in records if r.event == ListenRefused(generation=3, stream_served=True)]
    assert [(r.old_state, r.new_state) for r in lost] == [(State.READY, State.INVALIDATED)]


async def test_close_deletes_the_session_and_later_calls_raise_session_closed() -> None:
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, _options(mode=EraMode.LEGACY)) as session:
        await _bump(session)
        await session.aclose()
        assert server.stats.sessions_deleted == 1
        with pytest.raises(SessionClosed):
            await _bump(session)
        with pytest.raises(SessionClosed):
            await session.connect()
        assert "CLOSED" in repr(session)


async def test_a_deadline_passing_while_the_server_is_down_raises_deadline_exceeded() -> None:
    options = _options(mode=EraMode.LEGACY, max_attempts=50, backoff=Backoff(base=0.05, cap=0.1))
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, options) as session:
        await _bump(session)
        await server.stop_listening()
        with anyio.fail_after(5), pytest.raises(DeadlineExceeded) as caught:
            await _bump(session, timeout=0.5)
        assert caught.value.state in (State.INVALIDATED, State.RECOVERING)
        assert session.snapshot.requests == ()
        await server.start_listening()
        assert _text(await _bump(session)) == "2", "the session recovers once the server is back"


async def test_credentials_rejected_mid_recovery_fail_the_waiting_calls_and_each_later_call_tries_once() -> None:
    invalidated = anyio.Event()
    refusals: list[TransitionRecord] = []

    def on_event(record: TransitionRecord) -> None:
        if record.new_state is State.INVALIDATED:
            invalidated.set()
        if isinstance(record.event, CredentialsRefused):
            refusals.append(record)

    options = _options(mode=EraMode.LEGACY, max_attempts=50, backoff=Backoff(base=0.05, cap=0.1))
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, options, on_event=on_event) as session:
        await _bump(session)
        await server.stop_listening()
        server.configure(answer_status_for_all=CannedAnswer(401, "text/plain", "token expired"))
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await _bump(session)
            except CredentialsRejected as exc:
                errors.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await invalidated.wait()  # the call is waiting for recovery; now the server answers 401
                await server.start_listening()
        assert [getattr(e, "status", None) for e in errors] == [401]
        assert session.state is State.INVALIDATED, "credentials are renewable: the session is not FAILED"
        assert len(refusals) == 1
        with pytest.raises(CredentialsRejected) as refused:
            await _bump(session)
        assert refused.value.body == b"token expired", "the server's own answer is kept for the caller"
        # One negotiation per call, none by a timer: refused credentials are never a retry loop.
        assert len(refusals) == 2
        server.configure(answer_status_for_all=None)
        assert _text(await _bump(session)) == "2", "once the credentials are accepted, the next call recovers"


async def test_a_proxy_answering_404_forever_ends_in_recovery_failed_and_bounded_attempts() -> None:
    options = _options(mode=EraMode.LEGACY, max_attempts=3, backoff=Backoff(base=0.01, cap=0.02))
    async with serve(Behaviour(eras=LEGACY)) as server, _session(server, options) as session:
        await _bump(session)
        server.configure(answer_status_for_all=CannedAnswer(404, "text/plain", "Not Found"))
        with anyio.fail_after(5), pytest.raises(RecoveryFailed) as caught:
            await _bump(session)
        assert caught.value.attempts == 3
        server.configure(answer_status_for_all=None)
        server.restart()
        assert _text(await _bump(session)) == "1", "never dead: the next call starts a new round"


async def test_a_non_json_answer_to_initialize_is_a_protocol_violation() -> None:
    options = _options(mode=EraMode.LEGACY)
    behaviour = Behaviour(eras=LEGACY, answer_status_for_all=CannedAnswer(200, "text/html", "<html>hi</html>"))
    async with serve(behaviour) as server, _session(server, options) as session:
        with anyio.fail_after(5), pytest.raises(ProtocolViolation):
            await _bump(session)


async def test_session_ids_never_reach_logs_records_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    records: list[TransitionRecord] = []
    caplog.set_level(logging.DEBUG, logger="mcp_session_recovery")
    behaviour = Behaviour(eras=LEGACY, cut_tool_responses=1)
    async with serve(behaviour) as server, _session(server, _options(), on_event=records.append) as session:
        with pytest.raises(OutcomeUnknown) as caught:
            await _bump(session)
        server.restart()
        await _bump(session)
        texts = [*caplog.messages, *(r.describe() for r in records), *(repr(r) for r in records)]
        texts += [repr(session), str(caught.value), repr(session.binding)]
        assert len(records) >= 6
        ids = re.compile(r"[0-9a-f]{32}")  # the test server's session ids are uuid4 hex
        assert [t for t in texts if ids.search(t)] == []
        assert "<redacted>" in repr(session.binding)
