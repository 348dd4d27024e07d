"""``SessionMachine``: the typed facade that runs the table, with one of two engines built from it.

- :attr:`Engine.TRANSITIONS`: a ``transitions.Machine`` built from the table holds the current
  state and refuses events the table does not accept. This is the only module that imports
  ``transitions``: its dynamic attributes (``to_<state>``, one method per trigger) never leave it,
  and ``auto_transitions=False`` means the table is the only way to change state.
- :attr:`Engine.COMPILED` (the default, what the runtime runs on every call): the same rows indexed
  by (state, event type), as :func:`~.step.step` reads them. It does per event only what the table
  says, at a fraction of the engine's cost; the model tests run both engines side by side and
  require them to agree on every step (state, snapshot, effects, and which events are refused).

Either way the facade keeps the snapshot (the data that goes with the state) and hands back the
effects.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import replace

from transitions import Machine, MachineError

from .effects import Effect
from .errors import IllegalTransition
from .events import Event
from .rules import Outcome
from .snapshot import ModelConfig, Snapshot, initial_snapshot
from .states import State
from .step import index_of, select_in
from .table import TABLE, Row

__all__ = ["Engine", "SessionMachine"]


class Engine(enum.Enum):
    """What executes the table inside a :class:`SessionMachine`."""

    #: The rows indexed by (state, event type); what the runtime runs.
    COMPILED = "compiled"
    #: A ``transitions.Machine`` built from the rows; the reference the compiled engine is checked against.
    TRANSITIONS = "transitions"


class _Holder:
    """The object the engine writes its ``state`` attribute onto. Private: nothing else sees it."""

    state: State


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
        self._table = table
        self._compiled = engine is Engine.COMPILED
        #: The compiled engine: the table's rows by (state, event type), looked up once per event.
        self._index = index_of(table)
        self._outcome: tuple[Row, Outcome] | None = None
        self._holder = _Holder()
        if self._compiled:
            return
        self._engine = Machine(
            model=self._holder,
            states=list(State),
            initial=self._snapshot.state,
            auto_transitions=False,
            ignore_invalid_triggers=False,
            send_event=False,
        )
        for row in table:
            self._engine.add_transition(
                trigger=row.event.__name__,
                source=row.source,
                dest=row.target,
                conditions=[row.guard] if row.guard is not None else [],
                before=[self._runs(row)],
            )

    def _runs(self, row: Row) -> Callable[[Snapshot, Event], None]:
        # Runs the row's action once its guard has held and before the engine changes state, so an
        # action that raises leaves both the engine and the snapshot as they were.
        def run(snapshot: Snapshot, event: Event) -> None:
            self._outcome = (row, row.action(snapshot, event))

        return run

    @property
    def engine(self) -> Engine:
        """Which engine executes the table."""
        return Engine.COMPILED if self._compiled else Engine.TRANSITIONS

    @property
    def state(self) -> State:
        """The current state, as the engine holds it."""
        return self._snapshot.state if self._compiled else self._holder.state

    @property
    def snapshot(self) -> Snapshot:
        """Everything the model knows, as one immutable value."""
        return self._snapshot

    def handle(self, event: Event) -> tuple[Effect, ...]:
        """Apply ``event`` and return the effects to perform, in order.

        Raises :class:`IllegalTransition` (and changes nothing) when the table has no row for the
        event in the current state, or none whose guard holds.
        """
        if self._compiled:
            snapshot = self._snapshot
            row = select_in(self._index, snapshot, event)
            changed, compiled_effects = row.action(snapshot, event)
            self._snapshot = changed if changed.state is row.target else replace(changed, state=row.target)
            return compiled_effects
        state = self.state
        self._outcome = None
        try:
            fired = self._holder.trigger(type(event).__name__, self._snapshot, event)  # type: ignore[attr-defined]
        except (MachineError, AttributeError) as exc:
            raise IllegalTransition(state, event) from exc
        if not fired or self._outcome is None:
            raise IllegalTransition(state, event, "no guard holds")
        row, (changed, effects) = self._outcome
        self._outcome = None
        self._snapshot = replace(changed, state=self.state)
        assert self.state is row.target
        return effects

    def allows(self, event: Event) -> bool:
        """Whether :meth:`handle` would accept ``event`` now (no effects are computed)."""
        if self._compiled:
            try:
                select_in(self._index, self._snapshot, event)
            except IllegalTransition:
                return False
            return True
        state = self.state
        for transition in self._engine.get_transitions(trigger=type(event).__name__, source=state):
            if all(
                _holds(condition.func, self._snapshot, event) == condition.target for condition in transition.conditions
            ):
                return True
        return False

    def __repr__(self) -> str:
        return (
            f"<SessionMachine {self.state.name} generation={self._snapshot.generation} "
            f"requests={len(self._snapshot.requests)}>"
        )


def _holds(predicate: object, snapshot: Snapshot, event: Event) -> bool:
    # Every condition the facade registers is a guard function, never a method name.
    assert callable(predicate)
    return bool(predicate(snapshot, event))
