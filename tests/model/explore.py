"""Exhaustive exploration of the model composed with the simulated world (tests/model/world.py)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from mcp_session_recovery.model import TABLE, Era, ModelConfig, Row

from .world import Action, Limits, Op, Trace, Violation, World, apply, possible_actions, start


@dataclass
class Report:
    """What one exploration saw."""

    states: int = 0
    transitions: int = 0
    rows: set[str] = field(default_factory=set)
    seconds: float = 0.0
    violation: Violation | None = None
    #: The shortest sequence of world actions that leads to the violation.
    trail: list[str] = field(default_factory=list)


def explore(
    config: ModelConfig,
    limits: Limits,
    server_era: Era = Era.LEGACY,
    table: Sequence[Row] = TABLE,
    max_states: int = 2_000_000,
) -> Report:
    """Breadth-first over every reachable world; stop at the first invariant violation."""
    began = time.perf_counter()
    first = start(config, limits, server_era)
    parents: dict[World, tuple[World, Action] | None] = {first: None}
    frontier = deque([first])
    report = Report()
    while frontier:
        world = frontier.popleft()
        for action in possible_actions(world, limits):
            trace = Trace()
            report.transitions += 1
            try:
                successor = apply(world, action, limits, table, trace)
            except Violation as violation:
                report.violation = violation
                report.trail = [*_trail(parents, world), _describe(action)]
                report.states = len(parents)
                report.seconds = time.perf_counter() - began
                return report
            report.rows.update(row.name for row in trace.rows)
            if successor not in parents:
                if len(parents) >= max_states:
                    raise AssertionError(f"more than {max_states} states: the exploration is not bounded")
                parents[successor] = (world, action)
                frontier.append(successor)
    report.states = len(parents)
    report.seconds = time.perf_counter() - began
    return report


def _describe(action: Action) -> str:
    key = action.key
    if isinstance(key, Op):
        what = f"request {key.request_id}" if key.kind == "request" else key.kind
        return f"{action.name}({what}, generation {key.generation}, {key.era.value})"
    return action.name if key is None else f"{action.name}({key})"


def _trail(parents: dict[World, tuple[World, Action] | None], world: World) -> list[str]:
    steps: list[str] = []
    link = parents[world]
    while link is not None:
        previous, action = link
        steps.append(_describe(action))
        link = parents[previous]
    return steps[::-1]
