"""Structural checks of the table, and that the model imports no I/O library."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from mcp_session_recovery.model import EVENT_TYPES, TABLE, TERMINAL_STATES, BackoffElapsed, State, structural_problems
from mcp_session_recovery.model.structure import reachable_states, states_without_exit


def test_the_table_is_sound() -> None:
    assert structural_problems(TABLE) == []


def test_every_state_is_reachable_and_every_live_state_has_an_exit() -> None:
    assert reachable_states(TABLE) == set(State)
    assert states_without_exit(TABLE) == set()
    leaving = {row.source for row in TABLE if row.target is not row.source}
    assert leaving >= set(State) - {State.CLOSED}


def test_recovering_can_reach_ready_and_invalidated() -> None:
    targets = {row.target for row in TABLE if row.source is State.RECOVERING}
    assert {State.READY, State.INVALIDATED} <= targets


def test_every_event_type_has_a_row() -> None:
    assert {row.event for row in TABLE} == set(EVENT_TYPES)


def test_terminal_states_are_left_only_by_closing() -> None:
    for row in TABLE:
        if row.source in TERMINAL_STATES and row.target is not row.source:
            assert row.target is State.CLOSED


def test_the_checks_find_broken_tables() -> None:
    without_backoff = tuple(row for row in TABLE if row.event is not BackoffElapsed)
    assert "no row accepts BackoffElapsed" in structural_problems(without_backoff)
    to_failed = [row for row in TABLE if row.target is State.FAILED]
    no_failed = tuple(row for row in TABLE if row not in to_failed and row.source is not State.FAILED)
    assert "FAILED is unreachable" in structural_problems(no_failed)
    stuck = tuple(row for row in TABLE if not (row.source is State.RECOVERING and row.target is not State.RECOVERING))
    assert "RECOVERING has no exit" in structural_problems(stuck)
    doubled = (*TABLE, TABLE[0])
    assert any("appears twice" in problem for problem in structural_problems(doubled))
    loses = next(row for row in TABLE if row.name == "READY.RequestDisrupted[loses_binding]")
    shadowed = (replace(loses, guard=None), *TABLE)
    assert "READY.RequestDisrupted[loses_binding] follows an unguarded row for the same event; it can never fire" in (
        structural_problems(shadowed)
    )


def test_importing_the_model_loads_no_io_library() -> None:
    code = (
        "import sys, mcp_session_recovery.model, mcp_session_recovery;"
        "print(','.join(sorted(m for m in ('anyio', 'httpx', 'httpx2', 'aiohttp', 'asyncio', 'trio', 'graphviz')"
        " if m in sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_the_runtime_and_the_adapters_never_load_transitions() -> None:
    """``transitions`` is the reference engine of the tests: only building that engine loads it."""
    code = (
        "import sys, mcp_session_recovery, mcp_session_recovery.runtime, mcp_session_recovery.cli\n"
        "import mcp_session_recovery.adapters.httpx_transport, mcp_session_recovery.adapters.httpx_sync_transport\n"
        "import mcp_session_recovery.adapters.aiohttp_middleware, mcp_session_recovery.adapters.mcp_sdk\n"
        "from mcp_session_recovery.model import ConnectRequested, Engine, SessionMachine\n"
        "from mcp_session_recovery.runtime import Session\n"
        "Session(object(), 'http://127.0.0.1:9/mcp')  # builds the model the runtime runs\n"
        "SessionMachine().handle(ConnectRequested(waiter_id=0, timeout=1.0))\n"
        "print('transitions' in sys.modules)\n"
        "SessionMachine(engine=Engine.TRANSITIONS)\n"
        "print('transitions' in sys.modules)\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["False", "True"], "not loaded by the runtime and adapters; loaded by the reference engine"
