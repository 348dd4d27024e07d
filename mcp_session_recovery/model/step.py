"""The pure semantics of the table: ``step(snapshot, event) -> Step``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .effects import Effect
from .errors import IllegalTransition
from .events import Event
from .snapshot import Snapshot
from .states import State
from .table import TABLE, Row

__all__ = ["RowIndex", "Step", "index_of", "select_in", "select_row", "step"]


@dataclass(frozen=True, slots=True)
class Step:
    """What one event did: the row that fired, the new snapshot, and the effects to perform."""

    row: Row
    snapshot: Snapshot
    effects: tuple[Effect, ...]


#: A table's rows grouped by (state, event type), in table order: what the compiled engine reads.
RowIndex = dict[tuple[State, type[Event]], tuple[Row, ...]]
_indexes: dict[int, tuple[Sequence[Row], RowIndex]] = {}


def index_of(table: Sequence[Row]) -> RowIndex:
    """Rows grouped by (state, event type), in table order; built once per table."""
    cached = _indexes.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    index: RowIndex = {}
    for row in table:
        index[(row.source, row.event)] = (*index.get((row.source, row.event), ()), row)
    _indexes[id(table)] = (table, index)
    return index


def select_in(index: RowIndex, snapshot: Snapshot, event: Event) -> Row:
    """:func:`select_row` over a table's :func:`index_of` (what an engine that holds it calls)."""
    candidates = index.get((snapshot.state, type(event)))
    if candidates is None:
        raise IllegalTransition(snapshot.state, event)
    for row in candidates:
        if row.guard is None or row.guard(snapshot, event):
            return row
    guards = ", ".join(row.guard.__name__ for row in candidates if row.guard is not None)
    raise IllegalTransition(snapshot.state, event, f"no guard holds ({guards})")


def select_row(snapshot: Snapshot, event: Event, table: Sequence[Row] = TABLE) -> Row:
    """The first row for the snapshot's state and the event's type whose guard holds.

    Raises :class:`IllegalTransition` when there is none.
    """
    return select_in(index_of(table), snapshot, event)


def step(snapshot: Snapshot, event: Event, table: Sequence[Row] = TABLE) -> Step:
    """Apply ``event`` to ``snapshot``. Pure: the input snapshot is never changed.

    ``table`` exists so tests can run deliberately broken tables; everything else uses the one
    table.
    """
    row = select_row(snapshot, event, table)
    changed, effects = row.action(snapshot, event)
    snapshot = changed if changed.state is row.target else replace(changed, state=row.target)
    return Step(row=row, snapshot=snapshot, effects=effects)
