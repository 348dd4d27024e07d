"""The guards and actions that the transition table names.

A guard is a pure predicate over (snapshot, event) that picks one of several rows for the same
state and event. An action is a pure function that rewrites the snapshot's data (never its
``state``: the table's row sets that) and returns the effects to perform, in order.
Only :mod:`.table` refers to these functions; read the table first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .binding import Binding
from .effects import (
    DeliverBinding,
    DeliverResponse,
    Effect,
    FailConnect,
    FailRequest,
    NotifyBindingChanged,
    ReplayRequest,
    RestoreSessionState,
    ResumeStream,
    ScheduleRecovery,
    SendDelete,
    SendDiscover,
    SendInitialize,
    SendInitialized,
    SendRequest,
)
from .errors import (
    ConnectTimedOut,
    DeadlineExceeded,
    McpSessionError,
    OutcomeUnknown,
    RecoveryFailed,
    ReplayForbidden,
    ReplayLimitExceeded,
    RequestCancelled,
    SessionClosed,
    SessionNotKept,
    what_happened,
)
from .events import (
    Abandonment,
    ConnectAbandoned,
    ConnectRequested,
    CredentialsRefused,
    DiscoverSucceeded,
    Event,
    InitializeSucceeded,
    ListenOpened,
    ListenRefused,
    NegotiationDisrupted,
    NegotiationRejected,
    RequestAbandoned,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    StreamPaused,
)
from .snapshot import ConnectWaiter, Snapshot, TrackedRequest
from .states import Era, EraMode, Replayability, Signal

__all__ = ["Action", "Guard", "Outcome"]

Outcome = tuple[Snapshot, tuple[Effect, ...]]
Guard = Callable[[Snapshot, Event], bool]
Action = Callable[[Snapshot, Event], Outcome]

#: Signals that mean the binding the request was sent under no longer serves.
_BINDING_LOST = frozenset({Signal.SESSION_GONE, Signal.UNREACHABLE, Signal.ERA_CHANGED})


# ---------------------------------------------------------------------------------------------
# Guards


def _disruption(event: Event) -> RequestDisrupted:
    """``event`` as the disruption it is: a paused stream that is not resumed is a cut stream (the
    request was sent and its answer lost: ``OUTCOME_UNKNOWN``)."""
    if isinstance(event, StreamPaused):
        return RequestDisrupted(request_id=event.request_id, signal=Signal.OUTCOME_UNKNOWN)
    assert isinstance(event, RequestDisrupted)
    return event


def _disrupted_request(snap: Snapshot, event: Event) -> TrackedRequest | None:
    tracked = snap.request(_disruption(event).request_id)
    return tracked if tracked is not None and tracked.generation is not None else None


def in_flight(snap: Snapshot, event: Event) -> bool:
    """The event concerns a request that was sent and is not yet answered."""
    assert isinstance(event, (ResponseReceived, RequestDisrupted, StreamPaused))
    tracked = snap.request(event.request_id)
    return tracked is not None and tracked.generation is not None


def tracked(snap: Snapshot, event: Event) -> bool:
    """The event concerns a request the model still tracks."""
    assert isinstance(event, RequestAbandoned)
    return snap.request(event.request_id) is not None


def waiting(snap: Snapshot, event: Event) -> bool:
    """The event concerns a ``connect()`` caller the model still tracks."""
    assert isinstance(event, ConnectAbandoned)
    return snap.waiter(event.waiter_id) is not None


def sessions_not_kept(snap: Snapshot, event: Event) -> bool:
    """One more new session is lost before any of its requests was answered, and that makes
    ``unkept_sessions_limit`` in a row: the server keeps no session, and waiting cannot help.

    A session counts when the server says it is gone (SESSION_GONE) during its handshake, or under
    the live binding before the binding answered anything (to a request, or with a 404 to its GET
    stream: see :func:`_lost_unused`). A refused connection or a gateway's answer (UNREACHABLE)
    never counts: waiting does help there.
    """
    if _signal(event) is not Signal.SESSION_GONE or snap.unkept_sessions + 1 < snap.config.unkept_sessions_limit:
        return False
    if isinstance(event, NegotiationDisrupted):
        return current_negotiation(snap, event)
    if isinstance(event, ListenRefused):
        return refuses_live_session(snap, event) and _lost_unused(snap, event)
    return not snap.binding_served and loses_binding(snap, event)


def loses_binding(snap: Snapshot, event: Event) -> bool:
    """A request sent under the *live* binding says that binding no longer serves.

    A request sent under an older generation says nothing about the live binding (invariant 3).
    """
    request = _disrupted_request(snap, event)
    return (
        request is not None
        and snap.binding is not None
        and request.generation == snap.binding.generation
        and _disruption(event).signal in _BINDING_LOST
    )


def keeps_binding(snap: Snapshot, event: Event) -> bool:
    """A sent request failed in a way that leaves the live binding standing.

    Either it was sent under an older generation, or its answer was lost (OUTCOME_UNKNOWN).
    """
    return _disrupted_request(snap, event) is not None and not loses_binding(snap, event)


def _of_binding(snap: Snapshot, generation: int) -> bool:
    """A GET stream report about ``generation`` concerns the binding the snapshot holds."""
    return snap.binding is not None and generation == snap.binding.generation


def _of_older_binding(snap: Snapshot, generation: int) -> bool:
    """A GET stream report about ``generation`` concerns a binding already replaced (invariant 3)."""
    return snap.binding is not None and generation < snap.binding.generation


def refuses_live_session(snap: Snapshot, event: Event) -> bool:
    """The refused GET stream carried the live binding's session id."""
    assert isinstance(event, ListenRefused)
    return _of_binding(snap, event.generation)


def refuses_older_session(snap: Snapshot, event: Event) -> bool:
    """The refused GET stream carried the id of a session already replaced (invariant 3)."""
    assert isinstance(event, ListenRefused)
    return _of_older_binding(snap, event.generation)


def server_offers_no_stream(snap: Snapshot, event: Event) -> bool:
    """The live session's GET, never served, is answered 404, and so was the previous fresh
    session's GET (no stream served since): the server offers no GET stream (it should say 405),
    and the session is not gone.

    The first such 404 cannot be told from a session lost at once, so it ends that session; only the
    second in a row shows the server's habit. Without this, every fresh session would be ended by its
    own GET: a negotiation storm.
    """
    assert isinstance(event, ListenRefused)
    return refuses_live_session(snap, event) and not event.stream_served and snap.fresh_stream_refused


def opens_live_stream(snap: Snapshot, event: Event) -> bool:
    """The GET stream of the live session was served."""
    assert isinstance(event, ListenOpened)
    return _of_binding(snap, event.generation)


def opens_older_stream(snap: Snapshot, event: Event) -> bool:
    """The GET stream of a session already replaced was served (it says nothing of the live one)."""
    assert isinstance(event, ListenOpened)
    return _of_older_binding(snap, event.generation)


def resumable(snap: Snapshot, event: Event) -> bool:
    """A request's stream paused (it ended after an event with an id, before the response) under the
    live legacy session, and the request may wait to resume it: with progress since the last pause
    (a new event id), or fewer than ``max_resumptions`` resumptions in a row without.

    The sessionless era has no resumption (a broken stream loses the request), and a pause under an
    older session cannot be resumed under the live one (event ids belong to their session).
    """
    assert isinstance(event, StreamPaused)
    request = _disrupted_request(snap, event)
    binding = snap.binding
    return (
        request is not None
        and binding is not None
        and binding.era is Era.LEGACY
        and request.generation == binding.generation
        and _resumptions(request, event) <= snap.config.max_resumptions
    )


def _resumptions(request: TrackedRequest, event: StreamPaused) -> int:
    """Which resumption in a row without progress resuming ``request`` after ``event`` would be."""
    return 1 if event.last_event_id != request.last_event_id else request.resumptions + 1


def recovery_scheduled(snap: Snapshot, event: Event) -> bool:
    """A backoff timer is running: recovery will start by itself."""
    return snap.recovery_scheduled


def recovery_idle(snap: Snapshot, event: Event) -> bool:
    """Nothing will start recovery unless this event does."""
    return not snap.recovery_scheduled


def requeues_while_idle(snap: Snapshot, event: Event) -> bool:
    """A lost request will wait for a binding, and nothing is scheduled to provide one."""
    request = _disrupted_request(snap, event)
    return (
        request is not None
        and not snap.recovery_scheduled
        and _resend_error(snap, request, _disruption(event).signal) is None
    )


def current_negotiation(snap: Snapshot, event: Event) -> bool:
    """The event reports on the latest negotiation (only one is ever in flight)."""
    return getattr(event, "generation", None) == snap.generation and snap.generation > 0


def modern_answer(snap: Snapshot, event: Event) -> bool:
    """A ``server/discover`` answer to the modern negotiation in flight."""
    return current_negotiation(snap, event) and snap.era is Era.MODERN and snap.pending is None


def legacy_answer(snap: Snapshot, event: Event) -> bool:
    """An ``initialize`` result to the legacy negotiation in flight."""
    return current_negotiation(snap, event) and snap.era is Era.LEGACY and snap.pending is None


def handshake_pending(snap: Snapshot, event: Event) -> bool:
    """``notifications/initialized`` of the legacy negotiation in flight was delivered."""
    return current_negotiation(snap, event) and snap.pending is not None


def may_switch_era(snap: Snapshot, event: Event) -> bool:
    """In AUTO mode, the other era gets one try per attempt before the attempt counts as failed."""
    assert isinstance(event, NegotiationDisrupted)
    return (
        current_negotiation(snap, event)
        and event.signal is Signal.ERA_CHANGED
        and snap.config.mode is EraMode.AUTO
        and not snap.era_switched
    )


# ---------------------------------------------------------------------------------------------
# Helpers shared by actions


def _negotiation(snap: Snapshot) -> Outcome:
    """Start the next negotiation in the era ``snap.era``, under a new generation."""
    generation = snap.generation + 1
    effect: Effect = (
        SendDiscover(generation=generation) if snap.era is Era.MODERN else SendInitialize(generation=generation)
    )
    return replace(snap, generation=generation, pending=None, recovery_scheduled=False), (effect,)


def _resend_error(snap: Snapshot, request: TrackedRequest, signal: Signal) -> McpSessionError | None:
    """Why ``request``, lost with ``signal``, may not be sent again; ``None`` if it may."""
    if request.replayability is Replayability.NEVER:
        return ReplayForbidden(request.request_id, request.method, signal)
    if signal is Signal.OUTCOME_UNKNOWN and request.replayability is not Replayability.ALWAYS:
        return OutcomeUnknown(request.request_id, request.method)
    if request.replays >= snap.config.max_replays:
        return ReplayLimitExceeded(request.request_id, request.method, request.replays, signal)
    return None


def _requeue_or_fail(snap: Snapshot, event: Event, *, send_now: bool) -> Outcome:
    """Send a lost request again (now, or once a binding exists), or fail it if policy says no."""
    event = _disruption(event)
    request = snap.request(event.request_id)
    assert request is not None
    error = _resend_error(snap, request, event.signal)
    if error is not None:
        return snap.without_request(request.request_id), (FailRequest(request_id=request.request_id, error=error),)
    replays = request.replays + 1
    if send_now:
        assert snap.binding is not None
        generation: int | None = snap.binding.generation
        effects: tuple[Effect, ...] = (
            ReplayRequest(request_id=request.request_id, generation=snap.binding.generation, replay=replays),
        )
    else:
        generation, effects = None, ()
    requeued = replace(
        request, generation=generation, replays=replays, last_signal=event.signal, resumptions=0, last_event_id=None
    )
    return snap.with_request(requeued), effects


def _fail_all(snap: Snapshot, error: McpSessionError) -> Outcome:
    effects: tuple[Effect, ...] = tuple(FailRequest(request_id=r.request_id, error=error) for r in snap.requests)
    effects += tuple(FailConnect(waiter_id=w.waiter_id, error=error) for w in snap.waiters)
    return replace(snap, requests=(), waiters=()), effects


def _enter_ready(snap: Snapshot, binding: Binding) -> Outcome:
    """Make ``binding`` live: restore what the lost one held, then send every parked request."""
    previous = snap.binding
    effects: list[Effect] = []
    if previous is not None:
        effects.append(RestoreSessionState(generation=binding.generation, previous=previous))
        if not previous.same_terms(binding):
            effects.append(NotifyBindingChanged(previous=previous, current=binding))
    requests = []
    for request in snap.requests:
        if request.generation is None:
            if request.replays:
                effects.append(
                    ReplayRequest(request_id=request.request_id, generation=binding.generation, replay=request.replays)
                )
            else:
                effects.append(SendRequest(request_id=request.request_id, generation=binding.generation))
            request = replace(request, generation=binding.generation)
        requests.append(request)
    effects.extend(DeliverBinding(waiter_id=waiter.waiter_id) for waiter in snap.waiters)
    ready = replace(
        snap,
        binding=binding,
        pending=None,
        era=binding.era,
        attempt=0,
        era_switched=False,
        recovery_scheduled=False,
        requests=tuple(requests),
        waiters=(),
        binding_served=False,
    )
    return ready, tuple(effects)


def _fail_waiting(snap: Snapshot, error: McpSessionError) -> Outcome:
    """The round is over: parked requests and ``connect()`` callers get ``error``; requests in
    flight stay with their senders."""
    effects: tuple[Effect, ...] = tuple(FailRequest(request_id=r.request_id, error=error) for r in snap.parked())
    effects += tuple(FailConnect(waiter_id=w.waiter_id, error=error) for w in snap.waiters)
    return replace(snap, requests=snap.in_flight(), waiters=()), effects


def _lost_unused(snap: Snapshot, event: ListenRefused) -> bool:
    """The session whose GET was refused is lost before it served anything: no request of it was
    answered and its GET stream was never opened (either proves the server kept it for a while)."""
    return not snap.binding_served and not event.stream_served


def _disrupted_by(snap: Snapshot, event: Event) -> Snapshot:
    """``snap`` remembering what disrupted it last (the signal, and what was seen in words)."""
    return replace(snap, last_signal=_signal(event), last_cause=getattr(event, "detail", ""))


def _connect_cause(snap: Snapshot) -> str:
    """What kept a ``connect()`` caller waiting, in words: the classifier's, else the signal's."""
    if snap.last_signal is None:
        return "no answer from the server yet (it accepted the connection, or the connection is still being made)"
    return snap.last_cause or what_happened(snap.last_signal)


def _wait(snap: Snapshot, event: Event) -> Snapshot:
    assert isinstance(event, ConnectRequested)
    return replace(snap, waiters=(*snap.waiters, ConnectWaiter(waiter_id=event.waiter_id, timeout=event.timeout)))


def _track(event: Event, generation: int | None) -> TrackedRequest:
    assert isinstance(event, RequestSubmitted)
    return TrackedRequest(
        request_id=event.request_id,
        method=event.method,
        replayability=event.replayability,
        generation=generation,
    )


# ---------------------------------------------------------------------------------------------
# Actions


def ignore(snap: Snapshot, event: Event) -> Outcome:
    """Nothing to do: the event changes nothing (a repeat, or a late report after the end)."""
    return snap, ()


def negotiate(snap: Snapshot, event: Event) -> Outcome:
    """Start negotiating (probe or ``initialize``) under a new generation."""
    return _negotiation(snap)


def wait_for_binding(snap: Snapshot, event: Event) -> Outcome:
    """Keep a ``connect()`` caller until a binding is live (or the round fails)."""
    return _wait(snap, event), ()


def wait_and_negotiate(snap: Snapshot, event: Event) -> Outcome:
    """Keep a ``connect()`` caller and start the negotiation it needs."""
    return _negotiation(_wait(snap, event))


def hand_binding(snap: Snapshot, event: Event) -> Outcome:
    """A binding is live: the ``connect()`` caller gets it at once."""
    assert isinstance(event, ConnectRequested)
    return snap, (DeliverBinding(waiter_id=event.waiter_id),)


def refuse_connect_closed(snap: Snapshot, event: Event) -> Outcome:
    """``connect()`` after close fails with ``SessionClosed``."""
    assert isinstance(event, ConnectRequested)
    return snap, (FailConnect(waiter_id=event.waiter_id, error=SessionClosed()),)


def refuse_connect_failed(snap: Snapshot, event: Event) -> Outcome:
    """``connect()`` to a FAILED session fails with the reason it failed."""
    assert isinstance(event, ConnectRequested)
    assert snap.failure is not None
    return snap, (FailConnect(waiter_id=event.waiter_id, error=snap.failure),)


def abandon_connect(snap: Snapshot, event: Event) -> Outcome:
    """Forget a ``connect()`` caller that leaves; one whose deadline passed learns the last cause."""
    assert isinstance(event, ConnectAbandoned)
    waiter = snap.waiter(event.waiter_id)
    assert waiter is not None
    left = replace(snap, waiters=tuple(w for w in snap.waiters if w is not waiter))
    if event.reason is Abandonment.CANCELLED:
        return left, ()  # nobody is there to tell
    error = ConnectTimedOut(waiter.timeout, snap.last_signal, _connect_cause(snap))
    return left, (FailConnect(waiter_id=waiter.waiter_id, error=error),)


def park(snap: Snapshot, event: Event) -> Outcome:
    """Keep a new request until a binding is live."""
    return snap.with_request(_track(event, None)), ()


def park_and_negotiate(snap: Snapshot, event: Event) -> Outcome:
    """Keep a new request and start the negotiation it needs."""
    return _negotiation(snap.with_request(_track(event, None)))


def send(snap: Snapshot, event: Event) -> Outcome:
    """Send a new request under the live binding."""
    assert isinstance(event, RequestSubmitted)
    assert snap.binding is not None
    generation = snap.binding.generation
    return snap.with_request(_track(event, generation)), (
        SendRequest(request_id=event.request_id, generation=generation),
    )


def refuse_closed(snap: Snapshot, event: Event) -> Outcome:
    """A request after close fails with ``SessionClosed`` and is never sent."""
    assert isinstance(event, RequestSubmitted)
    return snap, (FailRequest(request_id=event.request_id, error=SessionClosed()),)


def refuse_failed(snap: Snapshot, event: Event) -> Outcome:
    """A request to a FAILED session fails with the reason it failed."""
    assert isinstance(event, RequestSubmitted)
    assert snap.failure is not None
    return snap, (FailRequest(request_id=event.request_id, error=snap.failure),)


def deliver(snap: Snapshot, event: Event) -> Outcome:
    """Hand an answer to its caller and forget the request.

    The first answer under the binding proves the server kept its session: the count of sessions
    lost unused starts again.
    """
    assert isinstance(event, ResponseReceived)
    answered = snap.without_request(event.request_id)
    if not snap.binding_served and snap.binding is not None:
        request = snap.request(event.request_id)
        if request is not None and request.generation == snap.binding.generation:
            answered = replace(answered, binding_served=True, unkept_sessions=0)
    return answered, (DeliverResponse(request_id=event.request_id),)


def abandon(snap: Snapshot, event: Event) -> Outcome:
    """Fail a request whose deadline passed or whose caller left, and forget it."""
    assert isinstance(event, RequestAbandoned)
    request = snap.request(event.request_id)
    assert request is not None
    error: McpSessionError = (
        DeadlineExceeded(request.request_id, request.method, snap.state)
        if event.reason is Abandonment.DEADLINE
        else RequestCancelled(request.request_id, request.method)
    )
    return snap.without_request(request.request_id), (FailRequest(request_id=request.request_id, error=error),)


def resume(snap: Snapshot, event: Event) -> Outcome:
    """The request waits for its paused stream: resume it after the server's ``retry`` delay (or the
    default), under the session it was sent under."""
    assert isinstance(event, StreamPaused)
    request = snap.request(event.request_id)
    assert request is not None
    assert request.generation is not None
    resuming = replace(request, resumptions=_resumptions(request, event), last_event_id=event.last_event_id)
    delay = event.retry_ms / 1000 if event.retry_ms is not None else snap.config.resume_delay
    effect = ResumeStream(
        request_id=request.request_id, generation=request.generation, last_event_id=event.last_event_id, delay=delay
    )
    return snap.with_request(resuming), (effect,)


def resend_or_fail(snap: Snapshot, event: Event) -> Outcome:
    """The live binding stands: send the lost request again now, if policy allows."""
    return _requeue_or_fail(snap, event, send_now=True)


def requeue_or_fail(snap: Snapshot, event: Event) -> Outcome:
    """No live binding: park the lost request for the next one, if policy allows."""
    return _requeue_or_fail(_disrupted_by(snap, event), event, send_now=False)


def requeue_and_negotiate(snap: Snapshot, event: Event) -> Outcome:
    """Park the lost request and start the negotiation that will carry it."""
    return _negotiation(requeue_or_fail(snap, event)[0])


def invalidate(snap: Snapshot, event: Event) -> Outcome:
    """The live binding is lost: park the request that found out, and recover at once."""
    assert isinstance(event, RequestDisrupted)
    era = Era.MODERN if event.signal is Signal.ERA_CHANGED and snap.config.mode is EraMode.AUTO else snap.era
    lost, effects = requeue_or_fail(replace(snap, era=era), event)
    if event.signal is Signal.UNREACHABLE:  # the server may still hold the session we give up
        effects = (*effects, *_delete(snap.binding))
    # A session lost before it answered anything counts towards SessionNotKept; one that served
    # was kept (its first answer reset the count), and other signals say nothing about keeping.
    unkept = snap.unkept_sessions + (event.signal is Signal.SESSION_GONE and not snap.binding_served)
    recovering = replace(lost, recovery_scheduled=True, attempt=0, unkept_sessions=unkept)
    return recovering, (*effects, ScheduleRecovery(attempt=0))


def forget_session(snap: Snapshot, event: Event) -> Outcome:
    """The server says the live session is gone (404 to its GET stream): recover at once.

    Nothing is parked (no request found out) and nothing is deleted (the server said it is gone).
    A session lost before it served anything counts towards ``SessionNotKept``, as a request's
    404 counts in :func:`invalidate`. A 404 to a GET never served is remembered: the next fresh
    session's GET answered 404 too shows a server without a GET stream (:func:`server_offers_no_stream`).
    """
    assert isinstance(event, ListenRefused)
    lost = replace(
        snap,
        last_signal=Signal.SESSION_GONE,
        recovery_scheduled=True,
        attempt=0,
        unkept_sessions=snap.unkept_sessions + _lost_unused(snap, event),
        fresh_stream_refused=not event.stream_served,
    )
    return lost, (ScheduleRecovery(attempt=0),)


def keep_session(snap: Snapshot, event: Event) -> Outcome:
    """The server offers no GET stream: the live session stays, and nothing is scheduled (the
    listener backs off as after any failed opening, then waits for the next negotiation)."""
    return snap, ()


def note_stream_served(snap: Snapshot, event: Event) -> Outcome:
    """The server opened the live session's GET stream: it offers one, so the next 404 to a fresh
    session's GET says that session is gone again."""
    return (replace(snap, fresh_stream_refused=False) if snap.fresh_stream_refused else snap), ()


def hold_pending(snap: Snapshot, event: Event) -> Outcome:
    """``initialize`` succeeded: keep its binding and send ``notifications/initialized``."""
    assert isinstance(event, InitializeSucceeded)
    pending = Binding(
        era=Era.LEGACY,
        protocol_version=event.protocol_version,
        generation=event.generation,
        session_id=event.session_id,
        server_capabilities=event.server_capabilities,
        server_info=event.server_info,
    )
    return replace(snap, pending=pending), (SendInitialized(generation=event.generation),)


def bind_modern(snap: Snapshot, event: Event) -> Outcome:
    """``server/discover`` succeeded: the sessionless binding is live."""
    assert isinstance(event, DiscoverSucceeded)
    binding = Binding(
        era=Era.MODERN,
        protocol_version=event.protocol_version,
        generation=event.generation,
        server_capabilities=event.server_capabilities,
        server_info=event.server_info,
    )
    return _enter_ready(snap, binding)


def bind_pending(snap: Snapshot, event: Event) -> Outcome:
    """The legacy handshake is complete: its binding is live."""
    assert snap.pending is not None
    return _enter_ready(snap, snap.pending)


def switch_era(snap: Snapshot, event: Event) -> Outcome:
    """The server speaks the other era: negotiate in that one instead, once per attempt."""
    other = Era.LEGACY if snap.era is Era.MODERN else Era.MODERN
    return _negotiation(replace(_disrupted_by(snap, event), era=other, era_switched=True))


def count_failure(snap: Snapshot, event: Event) -> Outcome:
    """A negotiation attempt failed: back off and try again, or give the waiting requests up."""
    signal = _signal(event)
    attempt = snap.attempt + 1
    era = Era.MODERN if signal is Signal.ERA_CHANGED and snap.config.mode is EraMode.AUTO else snap.era
    failed = replace(_disrupted_by(snap, event), pending=None, era=era, era_switched=False)
    # A handshake that stopped after initialize left a session on the server that nobody will use.
    abandoned = _delete(snap.pending) if signal is not Signal.SESSION_GONE else ()
    if signal is Signal.SESSION_GONE:  # lost during its handshake: before anything could use it
        failed = replace(failed, unkept_sessions=snap.unkept_sessions + 1)
    if attempt < snap.config.max_attempts:
        scheduled = replace(failed, attempt=attempt, recovery_scheduled=True)
        return scheduled, (*abandoned, ScheduleRecovery(attempt=attempt))
    # The round is over: waiting requests get a typed error, and the next request starts afresh.
    waiting = replace(failed, attempt=0, recovery_scheduled=False, unkept_sessions=0)
    over, effects = _fail_waiting(waiting, RecoveryFailed(attempt, signal))
    return over, (*abandoned, *effects)


def give_up_unkept(snap: Snapshot, event: Event) -> Outcome:
    """The server keeps no session it hands out: end the round now with ``SessionNotKept`` for the
    request that found out (if a request did, not the GET stream), every parked request and every
    ``connect()`` caller (nothing was processed: the server said the session is gone). The next
    request starts a new round."""
    losses = snap.unkept_sessions + 1
    error = SessionNotKept(losses)
    over = replace(
        _disrupted_by(snap, event),
        pending=None,
        attempt=0,
        era_switched=False,
        recovery_scheduled=False,
        unkept_sessions=0,
    )
    found: tuple[Effect, ...] = ()
    if isinstance(event, ListenRefused):
        over = replace(over, fresh_stream_refused=not event.stream_served)
    if isinstance(event, RequestDisrupted):
        over = over.without_request(event.request_id)
        found = (FailRequest(request_id=event.request_id, error=error),)
    over, effects = _fail_waiting(over, error)
    return over, (*found, *effects)


def refuse_credentials(snap: Snapshot, event: Event) -> Outcome:
    """The server refused the credentials: end the round without a timer (waiting cannot renew them).

    Parked requests and ``connect()`` callers get the refusal (the server's own answer, for a client
    whose auth flow renews them); the next request or ``connect()`` negotiates again, with the
    credentials it brings. A handshake refused after ``initialize`` leaves a session to DELETE.
    """
    assert isinstance(event, CredentialsRefused)
    over = replace(
        snap,
        pending=None,
        attempt=0,
        era_switched=False,
        recovery_scheduled=False,
        last_cause=str(event.error),
    )
    over, effects = _fail_waiting(over, event.error)
    return over, (*_delete(snap.pending), *effects)


def fail_session(snap: Snapshot, event: Event) -> Outcome:
    """No retry can fix this: every request fails with the reason, now and later."""
    assert isinstance(event, NegotiationRejected)
    failed = replace(snap, pending=None, failure=event.error, recovery_scheduled=False)
    return _fail_all(failed, event.error)


def close(snap: Snapshot, event: Event) -> Outcome:
    """Fail every request with ``SessionClosed``; DELETE the legacy session if one is live."""
    live = snap.live_binding or snap.pending
    closed, effects = _fail_all(snap, SessionClosed())
    effects = (*effects, *_delete(live))
    return replace(closed, binding=None, pending=None, recovery_scheduled=False), effects


def _delete(binding: Binding | None) -> tuple[Effect, ...]:
    """A DELETE of ``binding``'s legacy session, if it has one."""
    if binding is None or binding.session_id is None:
        return ()
    return (SendDelete(binding=binding),)


def _signal(event: Event) -> Signal | None:
    if isinstance(event, ListenRefused):  # a 404 to the GET says what a 404 to a request says
        return Signal.SESSION_GONE
    if isinstance(event, StreamPaused):  # a pause not resumed is a cut stream
        return Signal.OUTCOME_UNKNOWN
    return getattr(event, "signal", None)
