"""Totality (h2 style): every event type in every state either follows its table row or raises
IllegalTransition and changes nothing, and the transitions-backed facade agrees with ``step``."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.model import (
    EVENT_TYPES,
    TABLE,
    Abandonment,
    BackoffElapsed,
    CloseRequested,
    ConnectAbandoned,
    ConnectRequested,
    CredentialsRefused,
    DiscoverSucceeded,
    Engine,
    EraMode,
    Event,
    IllegalTransition,
    InitializedDelivered,
    InitializeSucceeded,
    ListenOpened,
    ListenRefused,
    ModelConfig,
    NegotiationDisrupted,
    NegotiationRejected,
    Replayability,
    RequestAbandoned,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    SessionId,
    SessionMachine,
    Signal,
    Snapshot,
    State,
    StreamPaused,
    step,
)

from .world import REFUSAL, REJECTION, Limits, World, apply, possible_actions, start

FAILURES = st.sampled_from([s for s in Signal if s is not Signal.PASS_THROUGH])
IDS = st.integers(0, 3)
GENERATIONS = st.integers(1, 6)

#: One strategy per event type, with small ids so they hit tracked requests and live generations.
EVENTS: dict[type[Event], st.SearchStrategy[Event]] = {
    ConnectRequested: st.builds(ConnectRequested, waiter_id=IDS, timeout=st.just(1.0)),
    ConnectAbandoned: st.builds(ConnectAbandoned, waiter_id=IDS, reason=st.sampled_from(Abandonment)),
    RequestSubmitted: st.builds(
        RequestSubmitted,
        request_id=st.integers(10, 12),
        method=st.just("tools/call"),
        replayability=st.sampled_from(Replayability),
    ),
    ResponseReceived: st.builds(ResponseReceived, request_id=IDS),
    RequestDisrupted: st.builds(RequestDisrupted, request_id=IDS, signal=FAILURES),
    StreamPaused: st.builds(
        StreamPaused,
        request_id=IDS,
        last_event_id=st.sampled_from(["e-1", "e-2"]),
        retry_ms=st.one_of(st.none(), st.integers(0, 2000)),
    ),
    RequestAbandoned: st.builds(RequestAbandoned, request_id=IDS, reason=st.sampled_from(Abandonment)),
    ListenRefused: st.builds(ListenRefused, generation=GENERATIONS, stream_served=st.booleans()),
    ListenOpened: st.builds(ListenOpened, generation=GENERATIONS),
    DiscoverSucceeded: st.builds(DiscoverSucceeded, generation=GENERATIONS, protocol_version=st.just("2026-07-28")),
    InitializeSucceeded: st.builds(
        InitializeSucceeded,
        generation=GENERATIONS,
        protocol_version=st.just("2025-11-25"),
        session_id=st.just(SessionId("t")),
    ),
    InitializedDelivered: st.builds(InitializedDelivered, generation=GENERATIONS),
    NegotiationDisrupted: st.builds(NegotiationDisrupted, generation=GENERATIONS, signal=FAILURES),
    NegotiationRejected: st.builds(NegotiationRejected, generation=GENERATIONS, error=st.just(REJECTION)),
    CredentialsRefused: st.builds(CredentialsRefused, generation=GENERATIONS, error=st.just(REFUSAL)),
    BackoffElapsed: st.just(BackoffElapsed()),
    CloseRequested: st.just(CloseRequested()),
}


def test_every_event_type_has_a_strategy() -> None:
    assert set(EVENTS) == set(EVENT_TYPES)


@functools.cache
def reachable_snapshots() -> dict[State, list[Snapshot]]:
    """Snapshots of every state, gathered by a small exploration of the world."""
    found: dict[State, list[Snapshot]] = {state: [] for state in State}
    # Servers with and without a GET stream (the second shows READY remembering a refused fresh GET).
    for streamless in (False, True):
        limits = Limits(requests=Limits().requests[:2], faults=2, abandons=0, refusals=2, streamless_server=streamless)
        for mode in EraMode:
            _gather(start(ModelConfig(mode=mode, max_attempts=2), limits), limits, found, 35)
    return found


def _gather(world: World, limits: Limits, found: dict[State, list[Snapshot]], per_state: int) -> None:
    """Add up to ``per_state`` snapshots of each state reachable from ``world`` to ``found``."""
    gathered = dict.fromkeys(State, 0)
    frontier, seen = [world], {world}
    while frontier and len(seen) < 4000:
        world = frontier.pop()
        if gathered[world.snap.state] < per_state:
            gathered[world.snap.state] += 1
            found[world.snap.state].append(world.snap)
        for action in possible_actions(world, limits):
            successor = apply(world, action, limits)
            if successor not in seen:
                seen.add(successor)
                frontier.append(successor)


def test_every_state_is_sampled() -> None:
    assert all(reachable_snapshots()[state] for state in State)


def machine_at(snapshot: Snapshot, engine: Engine) -> SessionMachine:
    """A facade placed at ``snapshot`` (tests only: production code starts at UNINITIALIZED)."""
    machine = SessionMachine(snapshot.config, engine=engine)
    machine._snapshot = snapshot
    if machine._reference is not None:
        machine._reference.place(snapshot.state)
    return machine


@pytest.mark.parametrize("engine", list(Engine))
@given(data=st.data(), state=st.sampled_from(State), event_type=st.sampled_from(list(EVENTS)))
def test_every_state_and_event_pair(engine: Engine, data: st.DataObject, state: State, event_type: type[Event]) -> None:
    """Both engines do exactly what the table says: the same row, snapshot and effects as ``step``,
    and the same refusals (so the compiled engine the runtime runs equals the ``transitions`` one)."""
    snapshot = data.draw(st.sampled_from(reachable_snapshots()[state]))
    event = data.draw(EVENTS[event_type])
    machine = machine_at(snapshot, engine)
    if not any(
        row.source is state and row.event is event_type and (row.guard is None or row.guard(snapshot, event))
        for row in TABLE
    ):
        with pytest.raises(IllegalTransition) as refused:
            step(snapshot, event)
        assert refused.value.state is state
        assert not machine.allows(event)
        with pytest.raises(IllegalTransition):
            machine.handle(event)
        assert machine.snapshot is snapshot
        assert machine.state is state
        return
    result = step(snapshot, event)
    row = result.row
    assert row in TABLE
    assert row.source is state
    assert row.event is event_type
    assert row.guard is None or row.guard(snapshot, event)
    assert result.snapshot.state is row.target
    assert machine.allows(event)
    assert machine.handle(event) == result.effects
    assert machine.snapshot == result.snapshot
    assert machine.state is row.target


@pytest.mark.parametrize("engine", list(Engine))
def test_an_action_that_raises_leaves_the_facade_unchanged(engine: Engine) -> None:
    def explode(snapshot: Snapshot, event: Event) -> tuple[Snapshot, tuple[()]]:
        raise RuntimeError("boom")

    table = tuple(replace(row, action=explode) if row.event is ConnectRequested else row for row in TABLE)
    machine = SessionMachine(table=table, engine=engine)
    before = machine.snapshot
    with contextlib.suppress(RuntimeError):
        machine.handle(ConnectRequested(waiter_id=0, timeout=1.0))
    assert machine.state is State.UNINITIALIZED
    assert machine.snapshot is before
