"""Hand-written scenarios through the facade, each a story a reader can check against the spec."""

from __future__ import annotations

import pytest

from mcp_session_recovery.model import (
    Abandonment,
    BackoffElapsed,
    CloseRequested,
    ConnectAbandoned,
    ConnectRequested,
    ConnectTimedOut,
    CredentialsRefused,
    CredentialsRejected,
    DeadlineExceeded,
    DeliverBinding,
    DeliverResponse,
    DiscoverSucceeded,
    Engine,
    EraMode,
    FailConnect,
    FailRequest,
    IllegalTransition,
    InitializedDelivered,
    InitializeSucceeded,
    ListenOpened,
    ListenRefused,
    ModelConfig,
    NegotiationDisrupted,
    NegotiationRejected,
    NoCommonProtocolVersion,
    NotifyBindingChanged,
    OutcomeUnknown,
    RecoveryFailed,
    Replayability,
    ReplayForbidden,
    ReplayLimitExceeded,
    ReplayRequest,
    RequestAbandoned,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    RestoreSessionState,
    ResumeStream,
    ScheduleRecovery,
    SendDelete,
    SendDiscover,
    SendInitialize,
    SendInitialized,
    SendRequest,
    SessionClosed,
    SessionId,
    SessionMachine,
    SessionNotKept,
    Signal,
    State,
    StreamPaused,
)

CALL = Replayability.IF_UNPROCESSED
READ = Replayability.ALWAYS


def now(machine: SessionMachine) -> State:
    """The machine's state (a call, so a type checker does not narrow it across events)."""
    return machine.state


def submit(
    machine: SessionMachine, request_id: int, kind: Replayability = CALL, method: str = "tools/call"
) -> tuple[object, ...]:
    return machine.handle(RequestSubmitted(request_id=request_id, method=method, replayability=kind))


def legacy_ready(
    config: ModelConfig | None = None, *, session: str = "s-1", engine: Engine = Engine.COMPILED
) -> SessionMachine:
    """A machine whose first request (id 0) was sent on a fresh legacy session."""
    machine = SessionMachine(config or ModelConfig(mode=EraMode.LEGACY), engine=engine)
    assert submit(machine, 0) == (SendInitialize(generation=1),)
    g = machine.snapshot.generation
    answer = InitializeSucceeded(generation=g, protocol_version="2025-11-25", session_id=SessionId(session))
    assert machine.handle(answer) == (SendInitialized(generation=g),)
    assert now(machine) is State.INITIALIZING
    assert machine.handle(InitializedDelivered(generation=g)) == (SendRequest(request_id=0, generation=g),)
    assert now(machine) is State.READY
    return machine


def test_legacy_handshake_sends_initialized_before_the_first_request() -> None:
    machine = legacy_ready()
    assert machine.snapshot.binding is not None
    assert machine.snapshot.binding.session_id == SessionId("s-1")
    assert machine.handle(ResponseReceived(request_id=0)) == (DeliverResponse(request_id=0),)
    assert machine.snapshot.requests == ()


def test_auto_mode_probes_modern_first_and_falls_back_to_initialize() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.AUTO))
    assert machine.handle(ConnectRequested(waiter_id=0, timeout=1.0)) == (SendDiscover(generation=1),)
    effects = machine.handle(NegotiationDisrupted(generation=1, signal=Signal.ERA_CHANGED))
    assert effects == (SendInitialize(generation=2),)
    assert now(machine) is State.INITIALIZING
    # A second era change within the same attempt is a failed attempt, with backoff.
    effects = machine.handle(NegotiationDisrupted(generation=2, signal=Signal.ERA_CHANGED))
    assert effects == (ScheduleRecovery(attempt=1),)
    assert now(machine) is State.INVALIDATED


def test_session_gone_recovers_once_and_replays_the_request_on_the_new_session() -> None:
    machine = legacy_ready()
    submit(machine, 1, READ, "resources/read")
    effects = machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    assert effects == (ScheduleRecovery(attempt=0),)
    assert now(machine) is State.INVALIDATED
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=2),)
    assert now(machine) is State.RECOVERING
    # Request 1 was in flight on the dead session; its 404 arrives during recovery: it waits.
    assert machine.handle(RequestDisrupted(request_id=1, signal=Signal.SESSION_GONE)) == ()
    machine.handle(InitializeSucceeded(generation=2, protocol_version="2025-11-25", session_id=SessionId("s-2")))
    effects = machine.handle(InitializedDelivered(generation=2))
    restore = effects[0]
    assert isinstance(restore, RestoreSessionState)
    assert restore.generation == 2
    assert restore.previous.generation == 1
    assert restore.previous.session_id == SessionId("s-1")
    assert effects[1:] == (
        ReplayRequest(request_id=0, generation=2, replay=1),
        ReplayRequest(request_id=1, generation=2, replay=1),
    )
    assert now(machine) is State.READY


def test_a_stale_generation_failure_does_not_touch_the_live_binding() -> None:
    machine = legacy_ready()
    submit(machine, 1)
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    machine.handle(BackoffElapsed())
    machine.handle(InitializeSucceeded(generation=2, protocol_version="2025-11-25", session_id=SessionId("s-2")))
    machine.handle(InitializedDelivered(generation=2))
    binding = machine.snapshot.binding
    # Request 1 still reports against generation 1's session: it is re-sent, the binding stays.
    effects = machine.handle(RequestDisrupted(request_id=1, signal=Signal.SESSION_GONE))
    assert effects == (ReplayRequest(request_id=1, generation=2, replay=1),)
    assert now(machine) is State.READY
    assert machine.snapshot.binding == binding


def test_an_unknown_outcome_fails_an_unsafe_call_but_replays_a_read() -> None:
    machine = legacy_ready()
    submit(machine, 1, READ, "resources/read")
    (fail,) = machine.handle(RequestDisrupted(request_id=0, signal=Signal.OUTCOME_UNKNOWN))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, OutcomeUnknown)
    assert fail.error.method == "tools/call"
    effects = machine.handle(RequestDisrupted(request_id=1, signal=Signal.OUTCOME_UNKNOWN))
    assert effects == (ReplayRequest(request_id=1, generation=1, replay=1),)
    assert now(machine) is State.READY


def test_replays_are_bounded() -> None:
    machine = legacy_ready(ModelConfig(mode=EraMode.LEGACY, max_replays=1))
    submit(machine, 1, READ, "resources/read")
    machine.handle(RequestDisrupted(request_id=1, signal=Signal.OUTCOME_UNKNOWN))
    (fail,) = machine.handle(RequestDisrupted(request_id=1, signal=Signal.OUTCOME_UNKNOWN))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, ReplayLimitExceeded)
    assert fail.error.replays == 1


def test_a_lost_initialized_or_cancelled_notification_is_never_resent() -> None:
    machine = legacy_ready()
    submit(machine, 1, Replayability.NEVER, "notifications/cancelled")
    effects = machine.handle(RequestDisrupted(request_id=1, signal=Signal.SESSION_GONE))
    assert isinstance(effects[0], FailRequest)
    assert isinstance(effects[0].error, ReplayForbidden)


def test_recovery_gives_up_after_max_attempts_and_the_next_request_tries_again() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY, max_attempts=2))
    submit(machine, 0)
    assert machine.handle(NegotiationDisrupted(generation=1, signal=Signal.UNREACHABLE)) == (
        ScheduleRecovery(attempt=1),
    )
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=2),)
    (fail,) = machine.handle(NegotiationDisrupted(generation=2, signal=Signal.UNREACHABLE))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, RecoveryFailed)
    assert fail.error.attempts == 2
    assert "did not answer" in fail.error.hint
    assert now(machine) is State.INVALIDATED  # not dead: the Claude Code lesson
    assert submit(machine, 1) == (SendInitialize(generation=3),)
    assert now(machine) is State.RECOVERING


def test_a_session_lost_right_after_each_initialize_names_the_likely_cause() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY, max_attempts=1))
    submit(machine, 0)
    machine.handle(InitializeSucceeded(generation=1, protocol_version="2025-11-25", session_id=SessionId("a")))
    (fail,) = machine.handle(NegotiationDisrupted(generation=1, signal=Signal.SESSION_GONE))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, RecoveryFailed)
    assert "session affinity" in str(fail.error)


def test_binding_changes_are_reported() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.AUTO))
    submit(machine, 0)
    machine.handle(DiscoverSucceeded(generation=1, protocol_version="2026-07-28", server_capabilities={"tools": {}}))
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.UNREACHABLE))
    machine.handle(BackoffElapsed())
    effects = machine.handle(DiscoverSucceeded(generation=2, protocol_version="2026-07-28", server_capabilities={}))
    assert [type(e) for e in effects] == [RestoreSessionState, NotifyBindingChanged, ReplayRequest]


def test_no_common_version_fails_the_session_for_good() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.MODERN))
    submit(machine, 0)
    error = NoCommonProtocolVersion(offered=("2026-07-28",), supported=("2027-01-01",))
    (fail,) = machine.handle(NegotiationRejected(generation=1, error=error))
    assert fail == FailRequest(request_id=0, error=error)
    assert now(machine) is State.FAILED
    assert submit(machine, 1) == (FailRequest(request_id=1, error=error),)
    machine.handle(CloseRequested())
    assert now(machine) is State.CLOSED


def test_refused_credentials_end_the_round_and_the_next_request_negotiates_with_its_own() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    submit(machine, 0)
    machine.handle(ConnectRequested(waiter_id=0, timeout=5.0))
    refusal = CredentialsRejected(401, {"www-authenticate": "Bearer"}, b"")

    effects = machine.handle(CredentialsRefused(generation=1, error=refusal))

    # The waiting request and connect() caller get the server's refusal (for the client's auth
    # flow), and nothing retries it by itself: no timer, no negotiation.
    assert effects == (FailRequest(request_id=0, error=refusal), FailConnect(waiter_id=0, error=refusal))
    assert now(machine) is State.INVALIDATED
    assert not machine.snapshot.recovery_scheduled
    assert not machine.allows(BackoffElapsed())
    # The client's retry (with renewed credentials) negotiates again.
    assert submit(machine, 1) == (SendInitialize(generation=2),)
    assert now(machine) is State.RECOVERING


def test_credentials_refused_in_a_recovery_leave_the_lost_binding_and_delete_a_half_made_session() -> None:
    machine = legacy_ready()
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    machine.handle(BackoffElapsed())
    answer = InitializeSucceeded(generation=2, protocol_version="2025-11-25", session_id=SessionId("s-2"))
    machine.handle(answer)
    pending = machine.snapshot.pending
    assert pending is not None
    refusal = CredentialsRejected(403)

    effects = machine.handle(CredentialsRefused(generation=2, error=refusal))

    assert effects == (SendDelete(binding=pending), FailRequest(request_id=0, error=refusal))
    assert now(machine) is State.INVALIDATED
    assert machine.snapshot.binding is not None, "the lost binding stays, to restore what it held"
    assert not machine.snapshot.recovery_scheduled


def test_close_deletes_a_live_legacy_session_once_and_refuses_later_requests() -> None:
    machine = legacy_ready()
    live = machine.snapshot.live_binding
    effects = machine.handle(CloseRequested())
    assert isinstance(effects[0], FailRequest)
    assert isinstance(effects[0].error, SessionClosed)
    assert live is not None
    assert effects[1:] == (SendDelete(binding=live),)
    assert machine.handle(CloseRequested()) == ()
    (refusal,) = submit(machine, 5)
    assert isinstance(refusal, FailRequest)
    assert isinstance(refusal.error, SessionClosed)


def test_close_sends_no_delete_without_a_live_session() -> None:
    machine = legacy_ready()
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    assert not any(isinstance(e, SendDelete) for e in machine.handle(CloseRequested()))


@pytest.mark.parametrize("engine", list(Engine))
def test_a_session_given_up_while_the_server_was_unreachable_is_deleted(engine: Engine) -> None:
    machine = legacy_ready(engine=engine)
    lost = machine.snapshot.binding
    assert lost is not None
    effects = machine.handle(RequestDisrupted(request_id=0, signal=Signal.UNREACHABLE))
    # The server may still hold session 1: the runtime DELETEs it once a new session is live. The
    # effect carries the binding to delete (the runtime works nothing out again).
    assert effects == (SendDelete(binding=lost), ScheduleRecovery(attempt=0))
    assert effects[0].generation == 1
    # A session the server said is gone is not deleted (its id is never sent again).
    machine = legacy_ready(engine=engine)
    assert machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE)) == (ScheduleRecovery(attempt=0),)


@pytest.mark.parametrize("engine", list(Engine))
def test_a_handshake_that_stops_after_initialize_deletes_the_session_it_opened(engine: Engine) -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY), engine=engine)
    submit(machine, 0)
    machine.handle(InitializeSucceeded(generation=1, protocol_version="2025-11-25", session_id=SessionId("s-1")))
    opened = machine.snapshot.pending
    assert opened is not None
    effects = machine.handle(NegotiationDisrupted(generation=1, signal=Signal.UNREACHABLE))
    assert effects == (SendDelete(binding=opened), ScheduleRecovery(attempt=1))
    # One the server refused as gone is not.
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY), engine=engine)
    submit(machine, 0)
    machine.handle(InitializeSucceeded(generation=1, protocol_version="2025-11-25", session_id=SessionId("s-1")))
    assert machine.handle(NegotiationDisrupted(generation=1, signal=Signal.SESSION_GONE)) == (
        ScheduleRecovery(attempt=1),
    )


def test_a_deadline_fails_a_parked_request_with_the_state_it_waited_in() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    submit(machine, 0)
    (fail,) = machine.handle(RequestAbandoned(request_id=0, reason=Abandonment.DEADLINE))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, DeadlineExceeded)
    assert fail.error.state is State.INITIALIZING


def test_illegal_events_raise_and_change_nothing() -> None:
    machine = legacy_ready()
    before = machine.snapshot
    with pytest.raises(IllegalTransition) as info:
        machine.handle(InitializedDelivered(generation=1))
    assert info.value.state is State.READY
    assert "InitializedDelivered" in str(info.value)
    assert "READY" in str(info.value)
    with pytest.raises(IllegalTransition, match="no guard holds"):
        machine.handle(ResponseReceived(request_id=99))
    assert machine.snapshot == before
    assert now(machine) is State.READY


def test_reports_of_an_older_negotiation_are_refused() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.AUTO))
    machine.handle(ConnectRequested(waiter_id=0, timeout=1.0))
    machine.handle(NegotiationDisrupted(generation=1, signal=Signal.ERA_CHANGED))
    assert not machine.allows(DiscoverSucceeded(generation=1, protocol_version="2026-07-28"))
    with pytest.raises(IllegalTransition):
        machine.handle(DiscoverSucceeded(generation=1, protocol_version="2026-07-28"))


def test_repr_shows_state_generation_and_requests_but_no_session_id() -> None:
    machine = legacy_ready(session="secret-id")
    assert repr(machine) == "<SessionMachine READY generation=1 requests=1>"
    assert "secret-id" not in repr(machine.snapshot)


@pytest.mark.parametrize("engine", list(Engine))
def test_a_refused_get_stream_of_the_live_session_recovers_without_a_request(engine: Engine) -> None:
    machine = legacy_ready(engine=engine)
    # The GET stream of session 1 is answered 404: the session is gone. No request is involved:
    # nothing is parked, failed or deleted, and recovery starts at once.
    assert machine.handle(ListenRefused(generation=1)) == (ScheduleRecovery(attempt=0),)
    assert now(machine) is State.INVALIDATED
    assert machine.snapshot.live_binding is None
    assert machine.snapshot.last_signal is Signal.SESSION_GONE
    assert [r.generation for r in machine.snapshot.requests] == [1], "request 0 still waits for its answer"
    # The request in flight on the dead session reports later: it waits for the new one.
    assert machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE)) == ()
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=2),)
    # A second report about session 1 (the stream reopened before recovery ended) changes nothing.
    before = machine.snapshot
    assert machine.handle(ListenRefused(generation=1)) == ()
    assert machine.snapshot == before


@pytest.mark.parametrize("engine", list(Engine))
def test_a_refused_get_stream_of_an_older_session_leaves_the_live_one(engine: Engine) -> None:
    machine = legacy_ready(engine=engine)
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    machine.handle(BackoffElapsed())
    machine.handle(InitializeSucceeded(generation=2, protocol_version="2025-11-25", session_id=SessionId("s-2")))
    machine.handle(InitializedDelivered(generation=2))
    before = machine.snapshot
    assert machine.handle(ListenRefused(generation=1)) == ()  # invariant 3
    assert machine.snapshot == before
    assert now(machine) is State.READY
    # A report about a session that never existed is refused loudly.
    with pytest.raises(IllegalTransition):
        machine.handle(ListenRefused(generation=3))


def test_a_refused_get_stream_after_close_or_failure_changes_nothing() -> None:
    machine = legacy_ready()
    machine.handle(CloseRequested())
    before = machine.snapshot
    assert machine.handle(ListenRefused(generation=1)) == ()
    assert machine.snapshot == before


def _negotiate_again(machine: SessionMachine) -> int:
    """The scheduled recovery runs and its legacy handshake completes: the new generation."""
    g = machine.snapshot.generation + 1
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=g),)
    machine.handle(InitializeSucceeded(generation=g, protocol_version="2025-11-25", session_id=SessionId(f"s-{g}")))
    machine.handle(InitializedDelivered(generation=g))
    assert now(machine) is State.READY
    return g


@pytest.mark.parametrize("engine", list(Engine))
def test_a_server_without_get_stream_costs_one_session_and_then_keeps_the_next(engine: Engine) -> None:
    machine = legacy_ready(engine=engine)
    machine.handle(ResponseReceived(request_id=0))
    # The first GET of session 1 is answered 404: a lost session, or a server without a stream that
    # says 404 instead of 405. Nobody can tell yet: the session is ended, and the 404 remembered.
    assert machine.handle(ListenRefused(generation=1)) == (ScheduleRecovery(attempt=0),)
    assert machine.snapshot.fresh_stream_refused
    g = _negotiate_again(machine)
    # The first GET of the fresh session 2 is answered 404 too: the server offers no GET stream.
    # The session lives and nothing is scheduled (the listener backs off as after any failure).
    before = machine.snapshot
    assert machine.handle(ListenRefused(generation=g)) == ()
    assert machine.snapshot == before
    assert now(machine) is State.READY
    # A third 404, the listener's next try at the same session: the same again, never a storm.
    assert machine.handle(ListenRefused(generation=g)) == ()
    assert now(machine) is State.READY
    # Requests go out under the live session.
    assert submit(machine, 1) == (SendRequest(request_id=1, generation=g),)


@pytest.mark.parametrize("engine", list(Engine))
def test_a_served_stream_clears_the_memory_so_the_next_fresh_refusal_ends_the_session_again(engine: Engine) -> None:
    machine = legacy_ready(engine=engine)
    machine.handle(ListenRefused(generation=1))
    g = _negotiate_again(machine)
    assert machine.snapshot.fresh_stream_refused
    # The GET of session 2 is served: the server offers a stream after all (the first 404 was a loss).
    assert machine.handle(ListenOpened(generation=g)) == ()
    assert not machine.snapshot.fresh_stream_refused
    assert now(machine) is State.READY
    # A restart: the reopened stream of session 2 is answered 404. Recover.
    assert machine.handle(ListenRefused(generation=g, stream_served=True)) == (ScheduleRecovery(attempt=0),)
    assert not machine.snapshot.fresh_stream_refused, "a stream that was served says nothing about fresh GETs"
    g = _negotiate_again(machine)
    # Another restart before the fresh session's first GET: that 404 ends the session again too.
    assert machine.handle(ListenRefused(generation=g)) == (ScheduleRecovery(attempt=0),)
    assert now(machine) is State.INVALIDATED


@pytest.mark.parametrize("engine", list(Engine))
def test_a_served_stream_of_an_older_session_or_after_the_end_changes_nothing(engine: Engine) -> None:
    machine = legacy_ready(engine=engine)
    machine.handle(ListenRefused(generation=1))
    # The 200 to the GET of session 1 comes late, while it is being replaced: nothing changes.
    before = machine.snapshot
    assert machine.handle(ListenOpened(generation=1)) == ()
    assert machine.snapshot == before
    _negotiate_again(machine)
    before = machine.snapshot
    assert machine.handle(ListenOpened(generation=1)) == ()  # invariant 3: the live session is 2
    assert machine.snapshot == before
    assert machine.snapshot.fresh_stream_refused, "only the live session's stream clears the memory"
    with pytest.raises(IllegalTransition):
        machine.handle(ListenOpened(generation=3))  # a session that never existed
    machine.handle(CloseRequested())
    before = machine.snapshot
    assert machine.handle(ListenOpened(generation=2)) == ()
    assert machine.snapshot == before


def test_a_session_lost_unused_through_its_get_counts_towards_session_not_kept() -> None:
    machine = legacy_ready(ModelConfig(mode=EraMode.LEGACY, max_attempts=60))
    # Session 1 answered nothing when its GET was refused: lost unused, like a request's 404 says.
    machine.handle(ListenRefused(generation=1))
    assert machine.snapshot.unkept_sessions == 1
    submit(machine, 1)  # waits for the next session
    # Sessions 2 and 3 are lost in their handshakes: the third loss in a row ends the round.
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=2),)
    assert _lose_in_handshake(machine, "b") == (ScheduleRecovery(attempt=1),)
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=3),)
    assert _lose_in_handshake(machine, "c") == (FailRequest(request_id=1, error=SessionNotKept(3)),)
    assert now(machine) is State.INVALIDATED


def test_a_session_whose_answer_or_stream_was_served_is_not_counted_when_its_get_is_refused() -> None:
    machine = legacy_ready()
    machine.handle(ListenRefused(generation=1, stream_served=True))
    assert machine.snapshot.unkept_sessions == 0, "its stream was served: the server kept it a while"
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    g = _negotiate_again(machine)
    machine.handle(ResponseReceived(request_id=0))
    machine.handle(ListenRefused(generation=g))
    assert machine.snapshot.unkept_sessions == 0, "it answered a request: the server kept it a while"


@pytest.mark.parametrize("engine", list(Engine))
def test_the_limit_reached_through_a_refused_get_ends_the_round(engine: Engine) -> None:
    machine = legacy_ready(ModelConfig(mode=EraMode.LEGACY, unkept_sessions_limit=2), engine=engine)
    # Session 1 is lost unused through a request's 404; session 2 through its GET's 404.
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    g = _negotiate_again(machine)
    assert machine.snapshot.unkept_sessions == 1
    # Nobody waits in READY (request 0, re-sent, is in flight and stays its sender's): the round
    # ends quietly, nothing is scheduled, and the next request starts a new one.
    assert machine.handle(ListenRefused(generation=g)) == ()
    snap = machine.snapshot
    assert now(machine) is State.INVALIDATED
    assert (snap.recovery_scheduled, snap.unkept_sessions, snap.last_signal) == (False, 0, Signal.SESSION_GONE)
    assert [r.generation for r in snap.requests] == [g]
    assert submit(machine, 1) == (SendInitialize(generation=g + 1),)


def test_the_live_binding_is_the_binding_only_while_ready() -> None:
    machine = legacy_ready()
    snap = machine.snapshot
    assert snap.live_binding is snap.binding is not None
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    assert machine.snapshot.binding is not None, "the lost binding is kept to compare the next one with"
    assert machine.snapshot.live_binding is None


# --- fail fast where waiting cannot help; keep waiting where it can --------------------------------


def _lose_in_handshake(machine: SessionMachine, session: str) -> tuple[object, ...]:
    """The pending ``initialize`` succeeds, and its ``notifications/initialized`` finds the session gone."""
    g = machine.snapshot.generation
    machine.handle(InitializeSucceeded(generation=g, protocol_version="2025-11-25", session_id=SessionId(session)))
    return machine.handle(NegotiationDisrupted(generation=g, signal=Signal.SESSION_GONE))


def test_sessions_lost_in_their_handshake_three_times_end_the_round_with_session_not_kept() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY, max_attempts=60))
    assert machine.handle(ConnectRequested(waiter_id=7, timeout=5.0)) == (SendInitialize(generation=1),)
    submit(machine, 0)
    assert _lose_in_handshake(machine, "a") == (ScheduleRecovery(attempt=1),)
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=2),)
    assert _lose_in_handshake(machine, "b") == (ScheduleRecovery(attempt=2),)
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=3),)
    fail_request, fail_connect = _lose_in_handshake(machine, "c")
    assert fail_request == FailRequest(request_id=0, error=SessionNotKept(3))
    assert fail_connect == FailConnect(waiter_id=7, error=SessionNotKept(3))
    error = fail_connect.error
    assert isinstance(error, RecoveryFailed)  # a kind of RecoveryFailed: existing handlers still catch it
    assert error.attempts == 3
    assert error.last_signal is Signal.SESSION_GONE
    assert "balancer without session affinity, or a server that forgets sessions at once" in str(error)
    assert "try:" in str(error)
    assert now(machine) is State.INVALIDATED
    snap = machine.snapshot
    assert (snap.requests, snap.waiters, snap.recovery_scheduled, snap.unkept_sessions) == ((), (), False, 0)
    # Not dead: the next caller starts a new round (the deployment may have been fixed).
    assert submit(machine, 1) == (SendInitialize(generation=4),)


def test_sessions_lost_before_their_first_answer_three_times_fail_the_request_that_found_out() -> None:
    machine = legacy_ready()
    assert machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))[-1] == ScheduleRecovery(attempt=0)
    for generation in (2, 3):
        assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=generation),)
        machine.handle(InitializeSucceeded(generation=generation, protocol_version="2025-11-25", session_id=None))
        effects = machine.handle(InitializedDelivered(generation=generation))
        assert ReplayRequest(request_id=0, generation=generation, replay=generation - 1) in effects
        if generation == 2:
            machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    # Max replays (2) would fail it anyway; a fresh request shows the rule on its own.
    submit(machine, 1)
    (fail,) = machine.handle(RequestDisrupted(request_id=1, signal=Signal.SESSION_GONE))
    assert fail == FailRequest(request_id=1, error=SessionNotKept(3))
    assert now(machine) is State.INVALIDATED
    assert machine.snapshot.requests == (machine.snapshot.request(0),), "the one still in flight stays its sender's"


def test_a_session_that_answered_something_was_kept_and_its_loss_starts_the_count_again() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    submit(machine, 0)
    _lose_in_handshake(machine, "a")
    machine.handle(BackoffElapsed())
    _lose_in_handshake(machine, "b")
    assert machine.snapshot.unkept_sessions == 2
    machine.handle(BackoffElapsed())
    g = machine.snapshot.generation
    machine.handle(InitializeSucceeded(generation=g, protocol_version="2025-11-25", session_id=SessionId("c")))
    machine.handle(InitializedDelivered(generation=g))
    assert machine.snapshot.unkept_sessions == 2, "a handshake alone proves nothing"
    machine.handle(ResponseReceived(request_id=0))
    assert machine.snapshot.unkept_sessions == 0, "an answer proves the server kept the session"
    submit(machine, 1)
    effects = machine.handle(RequestDisrupted(request_id=1, signal=Signal.SESSION_GONE))
    assert effects[-1] == ScheduleRecovery(attempt=0), "a restart: recover as usual"
    assert machine.snapshot.unkept_sessions == 0


@pytest.mark.parametrize("signal", [Signal.UNREACHABLE, Signal.ERA_CHANGED, Signal.OUTCOME_UNKNOWN])
def test_a_refused_connection_or_a_gateway_never_counts_as_a_session_not_kept(signal: Signal) -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY, max_attempts=8))
    assert machine.handle(ConnectRequested(waiter_id=0, timeout=5.0)) == (SendInitialize(generation=1),)
    for attempt in range(1, 8):
        g = machine.snapshot.generation
        assert machine.handle(NegotiationDisrupted(generation=g, signal=signal)) == (ScheduleRecovery(attempt=attempt),)
        assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=g + 1),)
    (fail,) = machine.handle(NegotiationDisrupted(generation=8, signal=signal))
    assert fail == FailConnect(waiter_id=0, error=RecoveryFailed(8, signal)), "the real count of attempts"


# --- connect() callers are tracked like requests ---------------------------------------------------


def test_connect_callers_get_the_binding_once_it_is_live_and_at_once_when_it_already_is() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    assert machine.handle(ConnectRequested(waiter_id=0, timeout=5.0)) == (SendInitialize(generation=1),)
    assert machine.handle(ConnectRequested(waiter_id=1, timeout=5.0)) == (), "one negotiation serves both"
    machine.handle(InitializeSucceeded(generation=1, protocol_version="2025-11-25", session_id=SessionId("s")))
    assert machine.handle(InitializedDelivered(generation=1)) == (
        DeliverBinding(waiter_id=0),
        DeliverBinding(waiter_id=1),
    )
    assert machine.snapshot.waiters == ()
    assert machine.handle(ConnectRequested(waiter_id=2, timeout=5.0)) == (DeliverBinding(waiter_id=2),)


def test_a_connect_caller_whose_deadline_passes_learns_the_last_cause() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    machine.handle(ConnectRequested(waiter_id=0, timeout=0.5))
    (fail,) = machine.handle(ConnectAbandoned(waiter_id=0, reason=Abandonment.DEADLINE))
    assert isinstance(fail, FailConnect)
    assert isinstance(fail.error, ConnectTimedOut)
    assert fail.error.last_signal is None
    assert "within 0.5 s" in str(fail.error)
    assert "no answer from the server yet" in str(fail.error)
    machine.handle(ConnectRequested(waiter_id=1, timeout=2.0))
    refused = NegotiationDisrupted(
        generation=1, signal=Signal.UNREACHABLE, detail="connect_refused before the request was sent"
    )
    machine.handle(refused)
    (fail,) = machine.handle(ConnectAbandoned(waiter_id=1, reason=Abandonment.DEADLINE))
    assert isinstance(fail, FailConnect)
    assert fail.error == ConnectTimedOut(2.0, Signal.UNREACHABLE, "connect_refused before the request was sent")
    machine.handle(ConnectRequested(waiter_id=2, timeout=2.0))
    assert machine.handle(ConnectAbandoned(waiter_id=2, reason=Abandonment.CANCELLED)) == (), "nobody left to tell"
    assert machine.snapshot.waiters == ()


def test_connect_after_close_or_failure_is_refused_by_the_model() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    machine.handle(ConnectRequested(waiter_id=0, timeout=1.0))
    assert machine.handle(CloseRequested()) == (FailConnect(waiter_id=0, error=SessionClosed()),)
    assert machine.handle(ConnectRequested(waiter_id=1, timeout=1.0)) == (
        FailConnect(waiter_id=1, error=SessionClosed()),
    )
    failed = SessionMachine(ModelConfig(mode=EraMode.LEGACY))
    failed.handle(ConnectRequested(waiter_id=0, timeout=1.0))
    rejection = NoCommonProtocolVersion(("2025-11-25",), ("1999-01-01",))
    assert failed.handle(NegotiationRejected(generation=1, error=rejection)) == (
        FailConnect(waiter_id=0, error=rejection),
    )
    assert failed.handle(ConnectRequested(waiter_id=1, timeout=1.0)) == (FailConnect(waiter_id=1, error=rejection),)


# --- streams paused after an event with an id (SEP-1699) ----------------------------------------


def test_a_paused_stream_is_resumed_after_the_servers_retry_then_answers() -> None:
    machine = legacy_ready()
    effects = machine.handle(StreamPaused(request_id=0, last_event_id="event-1", retry_ms=500))
    assert effects == (ResumeStream(request_id=0, generation=1, last_event_id="event-1", delay=0.5),)
    assert now(machine) is State.READY
    assert machine.handle(ResponseReceived(request_id=0)) == (DeliverResponse(request_id=0),)


def test_a_pause_without_retry_waits_the_default_delay() -> None:
    machine = legacy_ready(ModelConfig(mode=EraMode.LEGACY, resume_delay=1.0))
    (resume,) = machine.handle(StreamPaused(request_id=0, last_event_id="e"))
    assert isinstance(resume, ResumeStream)
    assert resume.delay == 1.0


def test_resumptions_without_progress_are_bounded_then_the_replay_policy_decides() -> None:
    machine = legacy_ready(ModelConfig(mode=EraMode.LEGACY, max_resumptions=2))
    submit(machine, 1, READ, "resources/read")
    for _ in range(2):
        (resume,) = machine.handle(StreamPaused(request_id=0, last_event_id="e-1"))
        assert isinstance(resume, ResumeStream)
    # Progress (a new event id) starts the count again.
    assert isinstance(machine.handle(StreamPaused(request_id=0, last_event_id="e-2"))[0], ResumeStream)
    assert isinstance(machine.handle(StreamPaused(request_id=0, last_event_id="e-2"))[0], ResumeStream)
    # A third pause in a row from the same event: a cut stream. The call ran: not run again.
    (fail,) = machine.handle(StreamPaused(request_id=0, last_event_id="e-2"))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, OutcomeUnknown)
    # A read may run twice: re-sent on the live session, as after any cut.
    for _ in range(2):
        machine.handle(StreamPaused(request_id=1, last_event_id="e-3"))
    effects = machine.handle(StreamPaused(request_id=1, last_event_id="e-3"))
    assert effects == (ReplayRequest(request_id=1, generation=1, replay=1),)
    # The re-sent request's stream is new: it may pause and resume again.
    assert isinstance(machine.handle(StreamPaused(request_id=1, last_event_id="e-3"))[0], ResumeStream)


def test_a_failed_resumption_leaves_the_outcome_unknown_and_the_session_standing() -> None:
    machine = legacy_ready()
    machine.handle(StreamPaused(request_id=0, last_event_id="event-1", retry_ms=0))
    binding = machine.snapshot.binding
    # The resuming GET got 404 (the session, or only its events, are gone): the call ran before
    # its stream paused, so it is not run again; whether the session is gone the next request tells.
    (fail,) = machine.handle(RequestDisrupted(request_id=0, signal=Signal.OUTCOME_UNKNOWN))
    assert isinstance(fail, FailRequest)
    assert isinstance(fail.error, OutcomeUnknown)
    assert now(machine) is State.READY
    assert machine.snapshot.binding == binding


def test_a_pause_under_an_older_session_is_a_cut_and_leaves_the_live_binding() -> None:
    machine = legacy_ready()
    submit(machine, 1, READ, "resources/read")
    machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE))
    machine.handle(BackoffElapsed())
    # Request 1's stream (generation 1) pauses while the session is being replaced: event ids
    # belong to their session, so it waits for the new one as a cut read.
    assert machine.handle(StreamPaused(request_id=1, last_event_id="e-1")) == ()
    machine.handle(InitializeSucceeded(generation=2, protocol_version="2025-11-25", session_id=SessionId("s-2")))
    effects = machine.handle(InitializedDelivered(generation=2))
    assert ReplayRequest(request_id=1, generation=2, replay=1) in effects
    assert now(machine) is State.READY


def test_the_sessionless_era_never_resumes_a_stream() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.MODERN))
    submit(machine, 0, READ, "resources/read")
    machine.handle(DiscoverSucceeded(generation=1, protocol_version="2026-07-28"))
    effects = machine.handle(StreamPaused(request_id=0, last_event_id="e-1", retry_ms=10))
    assert effects == (ReplayRequest(request_id=0, generation=1, replay=1),), "re-issued as a new request"
