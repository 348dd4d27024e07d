"""A simulated world around the pure model: a server that restarts, goes down, changes era or forgets
every session it hands out (a balancer without session affinity), that serves or refuses the GET
stream of each legacy session (or offers none and answers 404 to it), that closes a request's
response stream after a priming event (SEP-1699) and may or may not keep its events for a
resumption, callers that submit requests
or wait in ``connect()`` and give up on them, and a checker of DESIGN §3's invariants 1-8.

The checker is written from the invariants, not from the table: it watches only the events fed
to the model and the effects that come back, and keeps its own books. Both the exhaustive explorer
and the Hypothesis state machine drive the model through :func:`apply`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from mcp_session_recovery.model import (
    TABLE,
    Abandonment,
    BackoffElapsed,
    CloseRequested,
    ConnectAbandoned,
    ConnectRequested,
    CredentialsRefused,
    CredentialsRejected,
    DeliverBinding,
    DeliverResponse,
    DiscoverSucceeded,
    Effect,
    Era,
    Event,
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
    Replayability,
    ReplayRequest,
    RequestAbandoned,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    RestoreSessionState,
    ResumeStream,
    Row,
    ScheduleRecovery,
    SendDelete,
    SendDiscover,
    SendInitialize,
    SendInitialized,
    SendRequest,
    SessionClosed,
    SessionId,
    SessionNotKept,
    Signal,
    Snapshot,
    State,
    StreamPaused,
    initial_snapshot,
    step,
)

#: One shared rejection, so FAILED snapshots compare equal however they were reached.
REJECTION = NoCommonProtocolVersion(offered=("2026-07-28", "2025-11-25"), supported=("1999-01-01",))
#: One shared refusal of the credentials (a 401 with its challenge).
REFUSAL = CredentialsRejected(401, {"www-authenticate": "Bearer"}, b"")

#: Methods of the requests callers submit, with their replayability, in submission order.
DEFAULT_REQUESTS: tuple[tuple[str, Replayability], ...] = (
    ("tools/call", Replayability.IF_UNPROCESSED),
    ("resources/read", Replayability.ALWAYS),
    ("tools/call", Replayability.IF_UNPROCESSED),
)


class Violation(AssertionError):
    """An invariant of DESIGN §3 does not hold."""

    def __init__(self, invariant: int, message: str) -> None:
        self.invariant = invariant
        super().__init__(f"invariant {invariant}: {message}")


class Op(NamedTuple):
    """An exchange the model asked for that the world has not answered yet."""

    kind: str  # "discover", "initialize", "initialized", "request", "resume" (a GET with Last-Event-ID)
    generation: int
    era: Era
    request_id: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How much the world may do in one run."""

    requests: tuple[tuple[str, Replayability], ...] = DEFAULT_REQUESTS
    faults: int = 2
    abandons: int = 1
    connects: int = 1
    closes: int = 2
    #: Whether the runtime's GET streams are modelled: their 200 (``ListenOpened``) and 404 reports.
    listen: bool = True
    #: GET streams the server may refuse with 404 (each a report on one generation's session).
    refusals: int = 1
    #: The server offers no GET stream and answers every GET with 404 (not the 405 it should).
    streamless_server: bool = False
    #: How often the server may start forgetting every session it hands out (a fault).
    affinity_losses: int = 0
    #: How often the server may start refusing the client's credentials (a token expires) until
    #: the client renews them (its auth flow).
    credential_expiries: int = 0
    #: How often the server may close a response stream after its priming event (with an id), before
    #: the response: the request was processed, and its answer waits for a resumption (if the server
    #: kept the stream's events and the session; else the resumed stream closes again, or 404).
    pauses: int = 0


class World(NamedTuple):
    """The model's snapshot plus everything the simulated world and the checker remember."""

    snap: Snapshot
    server_era: Era = Era.LEGACY
    server_up: bool = True
    server_compatible: bool = True
    #: Every session is forgotten as soon as it is created (a balancer without session affinity).
    server_forgets: bool = False
    #: The server offers no GET stream and answers 404 to every GET (``Limits.streamless_server``).
    server_streamless: bool = False
    sessions: frozenset[int] = frozenset()
    ops: frozenset[Op] = frozenset()
    submitted: int = 0
    faults: int = 0
    abandons: int = 0
    connects: int = 0
    closes: int = 0
    refusals: int = 0
    closed: bool = False
    #: Generations whose GET stream is open (the runtime opens one for each live legacy session).
    listening: frozenset[int] = frozenset()
    #: Generations whose first GET the server answered 200 (it held the session when the GET
    #: arrived) while the client has not heard of it yet: the report may come late.
    stream_offered: frozenset[int] = frozenset()
    #: Generations whose GET stream the client heard was served (``ListenOpened`` fed).
    streamed: frozenset[int] = frozenset()
    affinity_losses: int = 0
    #: The server refuses the client's credentials (until it renews them); how often they expired.
    credentials_refused: bool = False
    credential_expiries: int = 0
    pauses: int = 0
    kinds: tuple[Replayability, ...] = ()
    # --- the checker's books ---
    resolved: frozenset[int] = frozenset()
    executions: tuple[int, ...] = ()
    last_unknown: frozenset[int] = frozenset()
    replays: tuple[int, ...] = ()
    rejected: frozenset[int] = frozenset()
    initialize_answered: frozenset[int] = frozenset()
    initialized_sent: frozenset[int] = frozenset()
    handshaken: frozenset[int] = frozenset()
    negotiations_this_round: int = 0
    must_back_off: bool = False
    deletes: frozenset[int] = frozenset()
    #: connect() callers not yet resolved.
    waiting: frozenset[int] = frozenset()
    #: Sessions (generations) that answered a request; sessions counted as lost unused; how many
    #: were lost unused in a row since the last answer or since the model last gave up.
    served: frozenset[int] = frozenset()
    counted: frozenset[int] = frozenset()
    unkept_streak: int = 0
    #: The last GET 404 about the live session was to a GET never served, with no stream served
    #: since: the next such 404 may be a server without a GET stream, not a lost session.
    fresh_get_refused: bool = False
    #: Credentials were refused: no negotiation may start until a caller asks for one (no timer).
    refused_until_asked: bool = False
    #: Resumptions asked for each request from the same event id, in a row (request id, event id, count).
    resumed_from: frozenset[tuple[int, str, int]] = frozenset()

    def negotiating(self) -> bool:
        return any(op.kind not in ("request", "resume") for op in self.ops)


def start(config: ModelConfig, limits: Limits, server_era: Era = Era.LEGACY) -> World:
    count = len(limits.requests)
    return World(
        snap=initial_snapshot(config),
        server_era=server_era,
        server_streamless=limits.streamless_server,
        kinds=tuple(kind for _, kind in limits.requests),
        executions=(0,) * count,
        replays=(0,) * count,
    )


# ---------------------------------------------------------------------------------------------
# What can happen next


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the world can do; ``name`` is for reports, ``key`` picks the op or request."""

    name: str
    key: object = None


def possible_actions(world: World, limits: Limits) -> list[Action]:
    """Everything that can happen next, in a stable order."""
    actions: list[Action] = []
    if world.submitted < len(limits.requests):
        actions.append(Action("submit"))
    if world.connects < limits.connects:
        actions.append(Action("connect"))
    for op in sorted(world.ops, key=lambda o: (o.kind, o.generation, o.request_id)):
        actions.append(Action("answer", op))
        if op.kind == "request" and world.faults < limits.faults:
            actions.append(Action("cut_after_processing", op))
            actions.append(Action("reset_before_processing", op))
        if op.kind in ("request", "resume") and world.pauses < limits.pauses:
            # Processed, a priming event sent, then the stream closed: a new one, or a resumed one
            # again (the server kept no events after the one resumed from). The close may reach the
            # client after the session was lost (the server restarted after it processed).
            actions.append(Action("pause", op))
    if world.snap.recovery_scheduled and world.snap.state is State.INVALIDATED:
        actions.append(Action("backoff_elapsed"))
    if world.abandons < limits.abandons:
        for tracked in world.snap.requests:
            actions.append(Action("deadline", tracked.request_id))
        for waiter_id in sorted(world.waiting):
            actions.append(Action("connect_deadline", waiter_id))
    if world.faults < limits.faults:
        actions.append(Action("restart"))
        actions.append(Action("switch_era"))
        if world.server_up:
            actions.append(Action("outage"))
        if world.server_compatible:
            actions.append(Action("drop_our_versions"))
        if world.affinity_losses < limits.affinity_losses and not world.server_forgets:
            actions.append(Action("lose_affinity"))
    if not world.server_up:
        actions.append(Action("server_back"))
    if world.server_forgets:
        actions.append(Action("affinity_back"))
    if world.credential_expiries < limits.credential_expiries and not world.credentials_refused:
        actions.append(Action("expire_credentials"))
    if world.credentials_refused:
        actions.append(Action("renew_credentials"))
    if world.closes < limits.closes:
        actions.append(Action("close"))
    if not limits.listen:
        return actions
    # The 200 the server gave a GET stream reaches the model, possibly after its session was replaced.
    for generation in sorted(world.stream_offered - world.streamed):
        actions.append(Action("get_served", generation))
    if world.refusals < limits.refusals and world.server_up and world.server_era is Era.LEGACY:
        # A GET stream whose session the server no longer holds is answered 404 when it is (re)opened;
        # a server without a stream answers every GET so.
        refused = world.listening if world.server_streamless else world.listening - world.sessions
        for generation in sorted(refused):
            actions.append(Action("get_refused", generation))
    return actions


# ---------------------------------------------------------------------------------------------
# Doing it


@dataclass(slots=True)
class Trace:
    """What one application of an action did (for coverage counting)."""

    rows: list[Row] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def apply(
    world: World, action: Action, limits: Limits, table: Sequence[Row] = TABLE, trace: Trace | None = None
) -> World:
    """Perform ``action``; feed the resulting event(s) to the model; check every invariant."""
    name = action.name
    if name == "submit":
        method, replayability = limits.requests[world.submitted]
        event: Event = RequestSubmitted(request_id=world.submitted, method=method, replayability=replayability)
        return _feed(world._replace(submitted=world.submitted + 1), event, table, trace)
    if name == "connect":
        waiter_id = world.connects
        world = world._replace(connects=world.connects + 1, waiting=world.waiting | {waiter_id})
        return _feed(world, ConnectRequested(waiter_id=waiter_id, timeout=1.0), table, trace)
    if name == "connect_deadline":
        assert isinstance(action.key, int)
        event = ConnectAbandoned(waiter_id=action.key, reason=Abandonment.DEADLINE)
        return _feed(world._replace(abandons=world.abandons + 1), event, table, trace)
    if name == "answer":
        assert isinstance(action.key, Op)
        return _answer(world, action.key, table, trace)
    if name in ("cut_after_processing", "reset_before_processing"):
        op = action.key
        assert isinstance(op, Op)
        world = world._replace(ops=world.ops - {op}, faults=world.faults + 1)
        if name == "cut_after_processing":
            world = _execute(world, op.request_id)
        return _feed(world, RequestDisrupted(request_id=op.request_id, signal=Signal.OUTCOME_UNKNOWN), table, trace)
    if name == "pause":
        op = action.key
        assert isinstance(op, Op)
        world = world._replace(ops=world.ops - {op}, pauses=world.pauses + 1)
        if op.kind == "request":
            world = _execute(world, op.request_id)
        event = StreamPaused(request_id=op.request_id, last_event_id=_event_id(op), retry_ms=500)
        return _feed(world, event, table, trace)
    if name == "backoff_elapsed":
        return _feed(world, BackoffElapsed(), table, trace)
    if name == "deadline":
        assert isinstance(action.key, int)
        world = world._replace(
            abandons=world.abandons + 1, ops=frozenset(o for o in world.ops if o.request_id != action.key)
        )
        return _feed(world, RequestAbandoned(request_id=action.key, reason=Abandonment.DEADLINE), table, trace)
    if name == "restart":
        return world._replace(sessions=frozenset(), faults=world.faults + 1, server_up=True)
    if name == "switch_era":
        other = Era.MODERN if world.server_era is Era.LEGACY else Era.LEGACY
        return world._replace(server_era=other, sessions=frozenset(), faults=world.faults + 1, server_up=True)
    if name == "outage":
        return world._replace(server_up=False, sessions=frozenset(), faults=world.faults + 1)
    if name == "drop_our_versions":
        return world._replace(server_compatible=False, faults=world.faults + 1)
    if name == "server_back":
        return world._replace(server_up=True)
    if name == "lose_affinity":
        return world._replace(
            server_forgets=True,
            sessions=frozenset(),
            faults=world.faults + 1,
            affinity_losses=world.affinity_losses + 1,
        )
    if name == "affinity_back":
        return world._replace(server_forgets=False)
    if name == "expire_credentials":
        return world._replace(credentials_refused=True, credential_expiries=world.credential_expiries + 1)
    if name == "renew_credentials":
        return world._replace(credentials_refused=False)
    if name == "close":
        return _feed(world._replace(closed=True, closes=world.closes + 1), CloseRequested(), table, trace)
    if name == "get_served":
        assert isinstance(action.key, int)
        world = world._replace(streamed=world.streamed | {action.key})
        return _feed(world, ListenOpened(generation=action.key), table, trace)
    if name == "get_refused":
        generation = action.key
        assert isinstance(generation, int)
        # This GET got a 404, not the 200 that was coming.
        world = world._replace(stream_offered=world.stream_offered - {generation}, refusals=world.refusals + 1)
        event = ListenRefused(generation=generation, stream_served=generation in world.streamed)
        world = _feed(world, event, table, trace)
        live = world.snap.live_binding
        if live is None or live.generation != generation:  # else the session lives: its GET is tried again
            world = world._replace(listening=world.listening - {generation})
        return world
    raise AssertionError(f"unknown action {name}")


def _event_id(op: Op) -> str:
    """The id of the priming event of ``op``'s stream (a resumed stream carries no new one)."""
    return f"g{op.generation}-r{op.request_id}"


def _execute(world: World, request_id: int) -> World:
    executions = list(world.executions)
    executions[request_id] += 1
    return world._replace(executions=tuple(executions))


def _answer(world: World, op: Op, table: Sequence[Row], trace: Trace | None) -> World:
    """The server answers ``op`` as it is now."""
    world = world._replace(ops=world.ops - {op})
    event: Event
    if op.kind == "resume":
        # The events were kept: the resumed stream carries the answer (the request ran once, already).
        # Any failure of a resumption (404: the session or its events are gone; refused; another era)
        # leaves the request's outcome unknown: it was processed before its stream paused.
        if world.server_up and op.era is world.server_era and op.generation in world.sessions:
            return _feed(world, ResponseReceived(request_id=op.request_id), table, trace)
        return _feed(world, RequestDisrupted(request_id=op.request_id, signal=Signal.OUTCOME_UNKNOWN), table, trace)
    if not world.server_up:
        signal = Signal.UNREACHABLE
    elif op.era is not world.server_era:
        signal = Signal.ERA_CHANGED
    elif world.credentials_refused:
        if op.kind == "request":  # a 401 to a request is its caller's answer (its auth flow's)
            return _feed(world, ResponseReceived(request_id=op.request_id), table, trace)
        return _feed(world, CredentialsRefused(generation=op.generation, error=REFUSAL), table, trace)
    elif op.kind != "request" and op.kind != "initialized" and not world.server_compatible:
        return _feed(world, NegotiationRejected(generation=op.generation, error=REJECTION), table, trace)
    elif op.era is Era.LEGACY and op.kind in ("initialized", "request") and op.generation not in world.sessions:
        signal = Signal.SESSION_GONE
    else:
        if op.kind == "discover":
            event = DiscoverSucceeded(generation=op.generation, protocol_version="2026-07-28")
        elif op.kind == "initialize":
            kept = frozenset() if world.server_forgets else frozenset({op.generation})
            world = world._replace(
                sessions=world.sessions | kept,
                initialize_answered=world.initialize_answered | {op.generation},
            )
            event = InitializeSucceeded(
                generation=op.generation, protocol_version="2025-11-25", session_id=SessionId(f"s-{op.generation}")
            )
        elif op.kind == "initialized":
            event = InitializedDelivered(generation=op.generation)
        else:
            world = _execute(world, op.request_id)
            event = ResponseReceived(request_id=op.request_id)
        return _feed(world, event, table, trace)
    if op.kind == "request":
        return _feed(world, RequestDisrupted(request_id=op.request_id, signal=signal), table, trace)
    return _feed(world, NegotiationDisrupted(generation=op.generation, signal=signal), table, trace)


def _feed(world: World, event: Event, table: Sequence[Row], trace: Trace | None) -> World:
    before = world.snap
    try:
        result = step(before, event, table)
    except IllegalTransition as exc:
        raise Violation(0, f"the world fed an event the model refused: {exc}") from exc
    if trace is not None:
        trace.rows.append(result.row)
        trace.events.append(event)
    world = world._replace(snap=result.snapshot)
    opened = result.snapshot.live_binding
    if opened is not None and opened != before.live_binding and opened.session_id is not None:
        world = world._replace(listening=world.listening | {opened.generation})
        if opened.generation in world.sessions and not world.server_streamless:
            world = world._replace(stream_offered=world.stream_offered | {opened.generation})
    world = _check_event(world, before, event)
    for effect in result.effects:
        world = _perform(world, event, effect)
    after = result.snapshot
    if before.state is State.READY and after.state is State.INVALIDATED and not after.recovery_scheduled:
        # The model ended the round on the spot, perhaps with nobody waiting to be told: only once
        # waiting cannot help; the next round starts afresh.
        _check_streak_for_giving_up(world, "ended the round")
        world = world._replace(unkept_streak=0)
    if isinstance(event, CredentialsRefused):
        if any(isinstance(e, (ScheduleRecovery, SendDiscover, SendInitialize)) for e in result.effects):
            raise Violation(8, "refused credentials were retried with no caller asking")
        world = world._replace(refused_until_asked=True, negotiations_this_round=0)
    if isinstance(event, NegotiationDisrupted) and not any(
        isinstance(e, (ScheduleRecovery, SendDiscover, SendInitialize)) for e in result.effects
    ):
        # The round of recovery is over (its requests failed); the next request starts a new one.
        world = world._replace(negotiations_this_round=0, unkept_streak=0)
    if any(isinstance(getattr(e, "error", None), SessionNotKept) for e in result.effects):
        world = world._replace(unkept_streak=0)  # the model gave up; the next round starts afresh
    _check_state(world)
    return world


# ---------------------------------------------------------------------------------------------
# The invariants


def _check_event(world: World, before: Snapshot, event: Event) -> World:
    after = world.snap
    if isinstance(event, (RequestSubmitted, ConnectRequested, RequestDisrupted)):
        # A caller asks for a session (a lost request waits for one): it may negotiate, with the
        # credentials it brings.
        world = world._replace(refused_until_asked=False)
    if isinstance(event, RequestDisrupted):
        tracked = before.request(event.request_id)
        if event.signal is Signal.SESSION_GONE and tracked is not None and tracked.generation is not None:
            world = world._replace(rejected=world.rejected | {tracked.generation})
        if (
            before.state is State.READY
            and before.binding is not None
            and tracked is not None
            and tracked.generation is not None
            and tracked.generation < before.binding.generation
            and (after.state is not State.READY or after.binding != before.binding)
        ):
            raise Violation(
                3, f"a failure of generation {tracked.generation} invalidated binding {before.binding.generation}"
            )
        unknown = world.last_unknown - {event.request_id}
        if event.signal is Signal.OUTCOME_UNKNOWN:
            unknown |= {event.request_id}
        world = world._replace(last_unknown=unknown)
    if isinstance(event, StreamPaused):
        tracked = before.request(event.request_id)
        live = before.live_binding
        if (
            live is not None
            and tracked is not None
            and tracked.generation is not None
            and tracked.generation < live.generation
            and (after.state is not State.READY or after.binding != live)
        ):
            raise Violation(3, f"a paused stream of generation {tracked.generation} changed binding {live.generation}")
        # It was processed: only a request that may run twice may be sent again.
        world = world._replace(last_unknown=world.last_unknown | {event.request_id})
    if isinstance(event, ListenRefused):
        world = _check_get_refused(world, before, event)
    if isinstance(event, ListenOpened):
        live = before.live_binding
        if live is not None and event.generation == live.generation:
            world = world._replace(fresh_get_refused=False)
        if after.live_binding != live or after.state is not before.state:
            raise Violation(3, f"a served GET stream of generation {event.generation} changed the session")
    if isinstance(event, NegotiationDisrupted) and event.signal is Signal.SESSION_GONE:
        world = world._replace(rejected=world.rejected | {event.generation})
    world = _count_unkept(world, before, event)
    if isinstance(event, (InitializedDelivered, DiscoverSucceeded)):
        world = world._replace(handshaken=world.handshaken | {event.generation}, negotiations_this_round=0)
    if isinstance(event, BackoffElapsed):
        world = world._replace(must_back_off=False)
    return world


def _check_get_refused(world: World, before: Snapshot, event: ListenRefused) -> World:
    """A 404 to a GET stream says its session is gone (invariant 2: its id is not used again), except
    the second 404 in a row to a GET never served: a client cannot tell a server that offers no GET
    stream (and says 404, not 405) from one that lost the session, and must not end every fresh
    session for it (invariant 8: no storm of negotiations)."""
    after = world.snap
    live = before.live_binding
    if live is None or event.generation != live.generation:
        if live is not None and event.generation < live.generation and after.live_binding != live:
            raise Violation(
                3, f"a refused GET stream of generation {event.generation} invalidated binding {live.generation}"
            )
        return world._replace(rejected=world.rejected | {event.generation})
    no_stream_maybe = not event.stream_served and world.fresh_get_refused
    world = world._replace(fresh_get_refused=not event.stream_served)
    if not no_stream_maybe:
        return world._replace(rejected=world.rejected | {event.generation})
    if event.generation in world.sessions and after.live_binding != live:
        raise Violation(
            8, f"a server without a GET stream ended session {event.generation}: every fresh session would be ended"
        )
    return world


def _count_unkept(world: World, before: Snapshot, event: Event) -> World:
    """Keep the books of sessions lost before any of their requests was answered, in a row."""
    newest = max(world.handshaken, default=0)
    if isinstance(event, ResponseReceived):
        tracked = before.request(event.request_id)
        if tracked is not None and tracked.generation == newest:
            return world._replace(served=world.served | {newest}, unkept_streak=0)
        return world
    lost: int | None = None
    if isinstance(event, NegotiationDisrupted) and event.signal is Signal.SESSION_GONE:
        lost = event.generation
    if isinstance(event, RequestDisrupted) and event.signal is Signal.SESSION_GONE and before.state is State.READY:
        tracked = before.request(event.request_id)
        if tracked is not None and tracked.generation == newest:
            lost = newest
    # The client ended the live session on its GET's 404: lost unused, unless its stream was served.
    if (
        isinstance(event, ListenRefused)
        and event.generation == newest
        and before.live_binding is not None
        and world.snap.live_binding is None
        and event.generation not in world.streamed
    ):
        lost = newest
    if lost is None or lost in world.served or lost in world.counted:
        return world
    return world._replace(counted=world.counted | {lost}, unkept_streak=world.unkept_streak + 1)


def _perform(world: World, event: Event, effect: Effect) -> World:
    if world.closed and not isinstance(effect, (FailRequest, FailConnect, SendDelete)):
        raise Violation(7, f"{effect} emitted after close")
    if isinstance(effect, (SendDiscover, SendInitialize)):
        if world.negotiating():
            raise Violation(1, f"{effect} while another negotiation is in flight")
        if world.unkept_streak >= world.snap.config.unkept_sessions_limit:
            raise Violation(8, f"{effect} after {world.unkept_streak} sessions in a row were lost unused")
        if world.must_back_off:
            raise Violation(8, f"{effect} without backing off after a failed attempt")
        if world.refused_until_asked:
            raise Violation(8, f"{effect} after refused credentials, with no caller asking (a retry loop)")
        rounds = world.negotiations_this_round + 1
        if rounds > 2 * world.snap.config.max_attempts:
            raise Violation(8, f"{rounds} negotiations in one round of recovery")
        kind = "discover" if isinstance(effect, SendDiscover) else "initialize"
        era = Era.MODERN if kind == "discover" else Era.LEGACY
        return world._replace(ops=world.ops | {Op(kind, effect.generation, era)}, negotiations_this_round=rounds)
    if isinstance(effect, SendInitialized):
        g = effect.generation
        if g in world.initialized_sent:
            raise Violation(6, f"notifications/initialized sent twice for generation {g}")
        if g not in world.initialize_answered:
            raise Violation(6, f"notifications/initialized for generation {g} before its initialize result")
        if g in world.rejected:
            raise Violation(2, f"initialized sent with the rejected session of generation {g}")
        return world._replace(
            initialized_sent=world.initialized_sent | {g}, ops=world.ops | {Op("initialized", g, Era.LEGACY)}
        )
    if isinstance(effect, (SendRequest, ReplayRequest)):
        return _send(world, effect)
    if isinstance(effect, ResumeStream):
        return _resume(world, effect)
    if isinstance(effect, (FailRequest, DeliverResponse)):
        _check_given_up(world, effect)
        return _resolve(world, event, effect)
    if isinstance(effect, (FailConnect, DeliverBinding)):
        _check_given_up(world, effect)
        return _resolve_waiter(world, event, effect)
    if isinstance(effect, ScheduleRecovery):
        if effect.attempt >= world.snap.config.max_attempts:
            raise Violation(8, f"recovery attempt {effect.attempt} beyond max_attempts")
        return world._replace(must_back_off=effect.attempt > 0)
    if isinstance(effect, SendDelete):
        if effect.generation in world.deletes:
            raise Violation(7, f"a second DELETE of generation {effect.generation}")
        if effect.generation in world.rejected or effect.generation not in world.handshaken | world.initialize_answered:
            raise Violation(7, f"DELETE of generation {effect.generation}, which is not an open session")
        return world._replace(deletes=world.deletes | {effect.generation})
    if isinstance(effect, (RestoreSessionState, NotifyBindingChanged)):
        return world
    raise Violation(0, f"unexpected effect {effect!r}")


def _send(world: World, effect: SendRequest | ReplayRequest) -> World:
    g, rid = effect.generation, effect.request_id
    if g in world.rejected:
        raise Violation(2, f"request {rid} sent with the rejected session of generation {g}")
    binding = world.snap.binding
    if binding is None or binding.generation != g:
        raise Violation(6, f"request {rid} sent under generation {g}, which is not the live binding")
    if g not in world.handshaken:
        raise Violation(6, f"request {rid} sent before the handshake of generation {g} completed")
    if rid in world.resolved:
        raise Violation(4, f"request {rid} sent after it resolved")
    replays = list(world.replays)
    if isinstance(effect, ReplayRequest):
        tracked = world.snap.request(rid)
        assert tracked is not None
        if rid in world.last_unknown and tracked.replayability is not Replayability.ALWAYS:
            raise Violation(5, f"request {rid} ({tracked.replayability.name}) replayed after an unknown outcome")
        replays[rid] += 1
        if replays[rid] > world.snap.config.max_replays:
            raise Violation(5, f"request {rid} replayed {replays[rid]} times")
    era = binding.era
    # A new stream: resumptions of the old one are counted no more.
    resumed = frozenset(entry for entry in world.resumed_from if entry[0] != rid)
    return world._replace(replays=tuple(replays), ops=world.ops | {Op("request", g, era, rid)}, resumed_from=resumed)


def _resume(world: World, effect: ResumeStream) -> World:
    g, rid = effect.generation, effect.request_id
    if g in world.rejected:
        raise Violation(2, f"request {rid} resumed with the rejected session of generation {g}")
    if rid in world.resolved:
        raise Violation(4, f"request {rid} resumed after it resolved")
    tracked = world.snap.request(rid)
    if tracked is None or tracked.generation != g:
        raise Violation(3, f"request {rid} resumed under generation {g}, not the one it was sent under")
    count = 1 + sum(n for r, e, n in world.resumed_from if r == rid and e == effect.last_event_id)
    if count > world.snap.config.max_resumptions:
        raise Violation(8, f"request {rid} resumed {count} times in a row from the same event")
    resumed = frozenset(entry for entry in world.resumed_from if entry[0] != rid) | {(rid, effect.last_event_id, count)}
    era = world.snap.binding.era if world.snap.binding is not None else Era.LEGACY
    if era is not Era.LEGACY:
        raise Violation(10, f"request {rid} resumed in the sessionless era, which has no resumption")
    return world._replace(resumed_from=resumed, ops=world.ops | {Op("resume", g, era, rid)})


def _check_given_up(world: World, effect: Effect) -> None:
    """``SessionNotKept`` only once waiting cannot help."""
    error = getattr(effect, "error", None)
    if isinstance(error, SessionNotKept):
        _check_streak_for_giving_up(world, f"gave up with {error!r}")


def _check_streak_for_giving_up(world: World, what: str) -> None:
    if world.unkept_streak < world.snap.config.unkept_sessions_limit:
        raise Violation(8, f"{what} after only {world.unkept_streak} sessions lost unused")


def _resolve_waiter(world: World, event: Event, effect: FailConnect | DeliverBinding) -> World:
    waiter_id = effect.waiter_id
    if waiter_id not in world.waiting:
        raise Violation(4, f"connect() caller {waiter_id} resolved twice, or never waited")
    if isinstance(effect, DeliverBinding) and (world.snap.state is not State.READY or world.snap.binding is None):
        raise Violation(4, f"connect() caller {waiter_id} handed a binding in {world.snap.state.name}")
    if (
        isinstance(effect, FailConnect)
        and world.closed
        and isinstance(event, (CloseRequested, ConnectRequested))
        and not isinstance(effect.error, SessionClosed)
    ):
        raise Violation(7, f"connect() caller {waiter_id} failed after close with {effect.error!r}, not SessionClosed")
    return world._replace(waiting=world.waiting - {waiter_id})


def _resolve(world: World, event: Event, effect: FailRequest | DeliverResponse) -> World:
    rid = effect.request_id
    if rid in world.resolved:
        raise Violation(4, f"request {rid} resolved twice")
    if rid >= world.submitted:
        raise Violation(4, f"request {rid} resolved before it was submitted")
    if isinstance(effect, DeliverResponse) and not isinstance(event, ResponseReceived):
        raise Violation(4, f"request {rid} got a response nobody sent")
    if (
        isinstance(effect, FailRequest)
        and world.closed
        and isinstance(event, (CloseRequested, RequestSubmitted))
        and not isinstance(effect.error, SessionClosed)
    ):
        raise Violation(7, f"request {rid} failed after close with {effect.error!r}, not SessionClosed")
    return world._replace(resolved=world.resolved | {rid}, ops=frozenset(o for o in world.ops if o.request_id != rid))


def _check_state(world: World) -> None:
    snap = world.snap
    for rid, count in enumerate(world.executions):
        if count > 1 and world.kinds[rid] is not Replayability.ALWAYS:
            raise Violation(5, f"request {rid} ({world.kinds[rid].name}) executed {count} times by the server")
    tracked_ids = {r.request_id for r in snap.requests}
    if tracked_ids & world.resolved:
        raise Violation(4, f"requests {sorted(tracked_ids & world.resolved)} resolved but still tracked")
    lost = set(range(world.submitted)) - tracked_ids - world.resolved
    if lost:
        raise Violation(4, f"requests {sorted(lost)} neither tracked nor resolved: lost")
    # Nothing can happen by itself any more: anything still waiting would wait forever.
    if not world.ops and not snap.recovery_scheduled and snap.requests:
        raise Violation(4, f"requests {sorted(tracked_ids)} hang in {snap.state.name} with nothing in flight")
    if world.waiting and (snap.state is State.READY or (not world.ops and not snap.recovery_scheduled)):
        raise Violation(4, f"connect() callers {sorted(world.waiting)} left waiting in {snap.state.name}")
    if snap.attempt >= snap.config.max_attempts:
        raise Violation(8, f"attempt counter {snap.attempt} reached max_attempts")
