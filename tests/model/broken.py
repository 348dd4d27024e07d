"""Deliberately broken variants of the table: the checkers must catch each one."""

from __future__ import annotations

from dataclasses import replace

from mcp_session_recovery.model import (
    TABLE,
    Event,
    ListenRefused,
    ReplayRequest,
    RequestDisrupted,
    RequestSubmitted,
    Row,
    Signal,
    Snapshot,
    State,
    rules,
)
from mcp_session_recovery.model.rules import Outcome


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


def resend_ignoring_policy(snap: Snapshot, event: Event) -> Outcome:
    """Broken: re-send any lost request at once, whatever the replay policy says."""
    assert isinstance(event, RequestDisrupted)
    assert snap.binding is not None
    tracked = snap.request(event.request_id)
    assert tracked is not None
    again = replace(tracked, generation=snap.binding.generation, replays=tracked.replays + 1)
    effect = ReplayRequest(request_id=tracked.request_id, generation=snap.binding.generation, replay=again.replays)
    return snap.with_request(again), (effect,)


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
    "an unsafe call is replayed after an unknown outcome": (
        _swap(TABLE, "READY.RequestDisrupted[keeps_binding]", action=resend_ignoring_policy),
        5,
    ),
}
