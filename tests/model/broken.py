"""Deliberately broken variants of the table: the checkers must catch each one."""

from __future__ import annotations

from dataclasses import replace

from mcp_session_recovery.model import (
    TABLE,
    Event,
    ListenRefused,
    NegotiationDisrupted,
    ReplayRequest,
    RequestDisrupted,
    RequestSubmitted,
    Row,
    Signal,
    Snapshot,
    State,
    StreamPaused,
    rules,
)
from mcp_session_recovery.model.rules import Outcome

from .world import DEFAULT_REQUESTS, Limits


def _swap(table: tuple[Row, ...], name: str, **changes: object) -> tuple[Row, ...]:
    """``table`` with the row called ``name`` changed; fails loudly if there is no such row."""
    names = [row.name for row in table]
    assert name in names, f"no row {name}"
    return tuple(replace(row, **changes) if row.name == name else row for row in table)  # type: ignore[arg-type]


def any_generation_loses_binding(snap: Snapshot, event: Event) -> bool:
    """Broken: a lost-session signal counts whatever generation the request was sent under."""
    assert isinstance(event, RequestDisrupted)
    tracked = snap.request(event.request_id)
    return (
        tracked is not None
        and tracked.generation is not None
        and event.signal in (Signal.SESSION_GONE, Signal.UNREACHABLE, Signal.ERA_CHANGED)
    )


def any_generation_refused(snap: Snapshot, event: Event) -> bool:
    """Broken: a refused GET stream counts whatever generation it was opened under."""
    assert isinstance(event, ListenRefused)
    return snap.binding is not None


def forget_session_uncounted(snap: Snapshot, event: Event) -> Outcome:
    """Broken: a session lost unused through its GET's 404 does not count towards SessionNotKept."""
    lost, effects = rules.forget_session(snap, event)
    return replace(lost, unkept_sessions=snap.unkept_sessions), effects


def resend_ignoring_policy(snap: Snapshot, event: Event) -> Outcome:
    """Broken: re-send any lost request at once, whatever the replay policy says."""
    assert isinstance(event, RequestDisrupted)
    assert snap.binding is not None
    tracked = snap.request(event.request_id)
    assert tracked is not None
    again = replace(tracked, generation=snap.binding.generation, replays=tracked.replays + 1)
    effect = ReplayRequest(request_id=tracked.request_id, generation=snap.binding.generation, replay=again.replays)
    return snap.with_request(again), (effect,)


def resumable_without_bound(snap: Snapshot, event: Event) -> bool:
    """Broken: a paused stream of the live session is resumed however often it paused in a row."""
    assert isinstance(event, StreamPaused)
    tracked = snap.request(event.request_id)
    return tracked is not None and snap.binding is not None and tracked.generation == snap.binding.generation


def resend_paused_ignoring_policy(snap: Snapshot, event: Event) -> Outcome:
    """Broken: a paused stream not resumed is re-sent as if the request never ran."""
    assert isinstance(event, StreamPaused)
    return resend_ignoring_policy(snap, RequestDisrupted(request_id=event.request_id, signal=Signal.OUTCOME_UNKNOWN))


def gives_up_at_the_first_unkept_session(snap: Snapshot, event: Event) -> bool:
    """Broken: the first session lost unused ends the round (a restart would fail requests)."""
    if isinstance(event, NegotiationDisrupted):
        return event.signal is Signal.SESSION_GONE and rules.current_negotiation(snap, event)
    assert isinstance(event, RequestDisrupted)
    return event.signal is Signal.SESSION_GONE and not snap.binding_served and rules.loses_binding(snap, event)


def _without_guard(table: tuple[Row, ...], guard: object) -> tuple[Row, ...]:
    rows = tuple(row for row in table if row.guard is not guard)
    assert len(rows) < len(table)
    return rows


def _with_guard(table: tuple[Row, ...], old: object, new: object) -> tuple[Row, ...]:
    return tuple(replace(row, guard=new) if row.guard is old else row for row in table)  # type: ignore[arg-type]


#: name -> (broken table, the invariant it breaks)
BROKEN_TABLES: dict[str, tuple[tuple[Row, ...], int]] = {
    "a second negotiation may start while one is in flight": (
        _swap(TABLE, f"{State.RECOVERING.name}.{RequestSubmitted.__name__}", action=rules.park_and_negotiate),
        1,
    ),
    "a stale-generation 404 invalidates the live binding": (
        _swap(TABLE, "READY.RequestDisrupted[loses_binding]", guard=any_generation_loses_binding),
        3,
    ),
    "a refused GET stream of an older session invalidates the live binding": (
        _swap(TABLE, "READY.ListenRefused[refuses_live_session]", guard=any_generation_refused),
        3,
    ),
    "a refused GET stream of the live session is ignored": (
        _swap(TABLE, "READY.ListenRefused[refuses_live_session]", target=State.READY, action=rules.ignore),
        2,
    ),
    "a server without GET stream has every fresh session ended by its GET": (
        _without_guard(TABLE, rules.server_offers_no_stream),
        8,
    ),
    "a session lost unused through its GET does not count towards SessionNotKept": (
        _swap(TABLE, "READY.ListenRefused[refuses_live_session]", action=forget_session_uncounted),
        8,
    ),
    "sessions lost unused are waited on forever": (_without_guard(TABLE, rules.sessions_not_kept), 8),
    "the first session lost unused ends the round": (
        _with_guard(TABLE, rules.sessions_not_kept, gives_up_at_the_first_unkept_session),
        8,
    ),
    "an unsafe call is replayed after an unknown outcome": (
        _swap(TABLE, "READY.RequestDisrupted[keeps_binding]", action=resend_ignoring_policy),
        5,
    ),
    "a paused stream is resumed for ever": (
        _swap(TABLE, "READY.StreamPaused[resumable]", guard=resumable_without_bound),
        8,
    ),
    "a paused unsafe call that is not resumed is re-sent": (
        _swap(TABLE, "READY.StreamPaused[keeps_binding]", action=resend_paused_ignoring_policy),
        5,
    ),
}


#: name -> the world a broken variant is explored in, where the default one cannot show its fault.
BROKEN_WORLDS: dict[str, Limits] = {
    "a server without GET stream has every fresh session ended by its GET": Limits(
        requests=DEFAULT_REQUESTS[:1], connects=0, refusals=2, streamless_server=True
    ),
    "a session lost unused through its GET does not count towards SessionNotKept": Limits(
        requests=DEFAULT_REQUESTS[:1], connects=0, refusals=1
    ),
    "a paused stream is resumed for ever": Limits(
        requests=DEFAULT_REQUESTS[:1], faults=0, abandons=0, connects=0, listen=False, pauses=2
    ),
    "a paused unsafe call that is not resumed is re-sent": Limits(
        requests=DEFAULT_REQUESTS[:1], faults=0, abandons=0, connects=0, listen=False, pauses=2
    ),
}
