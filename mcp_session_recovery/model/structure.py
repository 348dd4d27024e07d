"""Structural facts about a transition table, derived from its rows (guards are not evaluated)."""

from __future__ import annotations

from collections.abc import Sequence

from .events import EVENT_TYPES, Event
from .states import TERMINAL_STATES, State
from .table import TABLE, Row

__all__ = ["events_without_rows", "format_table", "reachable_states", "states_without_exit", "structural_problems"]


def reachable_states(table: Sequence[Row] = TABLE, start: State = State.UNINITIALIZED) -> set[State]:
    """States some sequence of rows leads to from ``start``."""
    seen = {start}
    frontier = [start]
    while frontier:
        state = frontier.pop()
        for row in table:
            if row.source is state and row.target not in seen:
                seen.add(row.target)
                frontier.append(row.target)
    return seen


def states_without_exit(table: Sequence[Row] = TABLE) -> set[State]:
    """Non-terminal states that no row leaves."""
    leaving = {row.source for row in table if row.target is not row.source}
    return {state for state in State if state not in TERMINAL_STATES and state not in leaving}


def events_without_rows(table: Sequence[Row] = TABLE) -> set[type[Event]]:
    """Event types no row accepts."""
    return set(EVENT_TYPES) - {row.event for row in table}


def structural_problems(table: Sequence[Row] = TABLE) -> list[str]:
    """Everything structurally wrong with ``table``; empty when it is sound."""
    problems = [f"{state.name} is unreachable" for state in State if state not in reachable_states(table)]
    problems += [f"{state.name} has no exit" for state in states_without_exit(table)]
    problems += [f"no row accepts {event.__name__}" for event in events_without_rows(table)]
    seen: set[tuple[State, type[Event], object]] = set()
    for row in table:
        key = (row.source, row.event, row.guard)
        if key in seen:
            problems.append(f"{row.name} appears twice; the second can never fire")
        seen.add(key)
        unguarded_before = any(
            other.source is row.source and other.event is row.event and other.guard is None
            for other in table[: table.index(row)]
        )
        if unguarded_before:
            problems.append(f"{row.name} follows an unguarded row for the same event; it can never fire")
    return problems


def format_table(table: Sequence[Row] = TABLE) -> str:
    """The table as aligned text, one row per line, in table order."""
    lines = [
        (
            row.source.name,
            row.event.__name__,
            row.guard.__name__ if row.guard else "",
            row.target.name,
            row.action.__name__,
        )
        for row in table
    ]
    header = ("STATE", "EVENT", "GUARD", "NEXT", "ACTION")
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    )
