"""``SessionMachine``: the typed facade that runs the table, with one of two engines built from it.

- :attr:`Engine.COMPILED` (the default, what the runtime runs on every call): the rows indexed by
  (state, event type), as :func:`~.step.step` reads them. It does per event only what the table
  says, at a fraction of the reference engine's cost.
- :attr:`Engine.TRANSITIONS`: the reference, a ``transitions.Machine`` built from the same rows
  (:mod:`.reference_engine`, imported only when this engine is asked for, so the runtime never
  loads ``transitions``). The model tests run both engines side by side and require them to agree
  on every step (state, snapshot, effects, and which events are refused).

Either way the facade keeps the snapshot (the data that goes with the state) and hands back the
effects.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .effects import Effect
from .errors import IllegalTransition
from .events import Event
from .snapshot import ModelConfig, Snapshot, initial_snapshot
from .states import State
from .step import index_of, select_in
from .table import TABLE, Row

if TYPE_CHECKING:
    from .reference_engine import TransitionsEngine

__all__ = ["Engine", "SessionMachine"]


class Engine(enum.Enum):
    """What executes the table inside a :class:`SessionMachine`."""

    #: The rows indexed by (state, event type); what the runtime runs.
    COMPILED = "compiled"
    #: A ``transitions.Machine`` built from the rows; the reference the compiled engine is checked against.
    TRANSITIONS = "transitions"


class SessionMachine:
    """One endpoint's session model, fed events one at a time.

    >>> from mcp_session_recovery.model import ConnectRequested, SessionMachine, State
    >>> machine = SessionMachine()
    >>> machine.handle(ConnectRequested(waiter_id=0, timeout=10.0))
    (SendDiscover(generation=1),)
    >>> machine.state
    <State.INITIALIZING: 'initializing'>
    """

    def __init__(
        self, config: ModelConfig | None = None, *, table: Sequence[Row] = TABLE, engine: Engine = Engine.COMPILED
    ) -> None:
        self._snapshot = initial_snapshot(config)
        #: The compiled engine: the table's rows by (state, event type), looked up once per event.
        self._index = index_of(table)
        #: The reference engine, only when asked for (it is the one place ``transitions`` is loaded).
        self._reference: TransitionsEngine | None = None
        if engine is Engine.TRANSITIONS:
            from .reference_engine import TransitionsEngine

            self._reference = TransitionsEngine(table, self._snapshot.state)

    @property
    def engine(self) -> Engine:
        """Which engine executes the table."""
        return Engine.COMPILED if self._reference is None else Engine.TRANSITIONS

    @property
    def state(self) -> State:
        """The current state, as the engine holds it."""
        return self._snapshot.state if self._reference is None else self._reference.state

    @property
    def snapshot(self) -> Snapshot:
        """Everything the model knows, as one immutable value."""
        return self._snapshot

    def handle(self, event: Event) -> tuple[Effect, ...]:
        """Apply ``event`` and return the effects to perform, in order.

        Raises :class:`IllegalTransition` (and changes nothing) when the table has no row for the
        event in the current state, or none whose guard holds.
        """
        snapshot = self._snapshot
        if self._reference is None:
            row = select_in(self._index, snapshot, event)
            changed, effects = row.action(snapshot, event)
            self._snapshot = changed if changed.state is row.target else replace(changed, state=row.target)
            return effects
        _, (changed, effects) = self._reference.fire(snapshot, event)
        self._snapshot = replace(changed, state=self._reference.state)
        return effects

    def allows(self, event: Event) -> bool:
        """Whether :meth:`handle` would accept ``event`` now (no effects are computed)."""
        if self._reference is not None:
            return self._reference.allows(self._snapshot, event)
        try:
            select_in(self._index, self._snapshot, event)
        except IllegalTransition:
            return False
        return True

    def __repr__(self) -> str:
        return (
            f"<SessionMachine {self.state.name} generation={self._snapshot.generation} "
            f"requests={len(self._snapshot.requests)}>"
        )
