"""The reference engine: a ``transitions.Machine`` built from the table.

This is the only module that imports ``transitions``, and :class:`~.machine.SessionMachine` imports
this module only when it is asked for :attr:`~.machine.Engine.TRANSITIONS` (the tests run it in
lockstep with the compiled engine), so neither the runtime nor the adapters ever load ``transitions``.
Its dynamic attributes (``to_<state>``, one method per trigger) never leave this module, and
``auto_transitions=False`` means the table is the only way to change state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from transitions import Machine, MachineError

from .errors import IllegalTransition
from .events import Event
from .rules import Outcome
from .snapshot import Snapshot
from .states import State
from .table import Row

__all__ = ["TransitionsEngine"]


class _Holder:
    """The object the engine writes its ``state`` attribute onto. Private: nothing else sees it."""

    state: State


class TransitionsEngine:
    """The rows of ``table`` as a ``transitions.Machine``: it holds the state and picks the row."""

    def __init__(self, table: Sequence[Row], initial: State) -> None:
        self._holder = _Holder()
        self._outcome: tuple[Row, Outcome] | None = None
        self._machine = Machine(
            model=self._holder,
            states=list(State),
            initial=initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
            send_event=False,
        )
        for row in table:
            self._machine.add_transition(
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
    def state(self) -> State:
        """The state the engine holds."""
        return self._holder.state

    def place(self, state: State) -> None:
        """Put the engine in ``state`` (tests only: a session starts UNINITIALIZED)."""
        self._machine.set_state(state, model=self._holder)

    def fire(self, snapshot: Snapshot, event: Event) -> tuple[Row, Outcome]:
        """Fire ``event`` at ``snapshot``: the row that fired and its action's outcome.

        Raises :class:`IllegalTransition` (and changes nothing) when no row accepts the event.
        """
        state = self.state
        self._outcome = None
        try:
            fired = self._holder.trigger(type(event).__name__, snapshot, event)  # type: ignore[attr-defined]
        except (MachineError, AttributeError) as exc:
            raise IllegalTransition(state, event) from exc
        outcome, self._outcome = self._outcome, None
        if not fired or outcome is None:
            raise IllegalTransition(state, event, "no guard holds")
        assert self.state is outcome[0].target
        return outcome

    def allows(self, snapshot: Snapshot, event: Event) -> bool:
        """Whether :meth:`fire` would accept ``event`` now (no action runs)."""
        for transition in self._machine.get_transitions(trigger=type(event).__name__, source=self.state):
            if all(_holds(condition.func, snapshot, event) == condition.target for condition in transition.conditions):
                return True
        return False


def _holds(predicate: object, snapshot: Snapshot, event: Event) -> bool:
    # Every condition the engine registers is a guard function, never a method name.
    assert callable(predicate)
    return bool(predicate(snapshot, event))
