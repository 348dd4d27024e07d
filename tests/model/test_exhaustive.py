"""Exhaustive exploration: every interleaving of the model with up to 3 requests and 2 faults."""

from __future__ import annotations

import functools

import pytest

from mcp_session_recovery.model import TABLE, Era, EraMode, ModelConfig
from tests.conftest import SUMMARY, thorough

from .broken import BROKEN_TABLES, BROKEN_WORLDS
from .explore import Report, explore
from .world import DEFAULT_REQUESTS, Limits


def config(mode: EraMode, unkept_sessions_limit: int = 2) -> ModelConfig:
    # Two sessions lost unused in a row end the round, so two faults can reach those rows.
    # One resumption without progress: a second pause from the same event reaches the cut rows.
    return ModelConfig(
        mode=mode, max_attempts=2, max_replays=1, unkept_sessions_limit=unkept_sessions_limit, max_resumptions=1
    )


# The main run: auto mode against a legacy server that may restart, go down, switch era or drop
# our versions (2 faults), 3 requests, one deadline, close twice. The pinned runs add the GET stream
# (served, or refused with 404: in the main run it would double the states to explore), a server
# that offers no GET stream and answers 404 to every GET, connect() callers, and a server that
# starts forgetting every session it hands out; between them they fire every row of the table.
# "thorough" explores every mode against both server eras with everything enabled.
RUNS: list[tuple[str, EraMode, Era, Limits, int]] = [
    (
        "auto, legacy server, 3 requests, 2 faults",
        EraMode.AUTO,
        Era.LEGACY,
        Limits(connects=0, refusals=0, listen=False),
        2,
    ),
    (
        "legacy mode, 2 requests, GET served or refused",
        EraMode.LEGACY,
        Era.LEGACY,
        Limits(requests=DEFAULT_REQUESTS[:2], abandons=0, connects=0),
        2,
    ),
    (
        "legacy mode, a server without GET stream (404 to every GET), 1 request, 3 GETs refused",
        EraMode.LEGACY,
        Era.LEGACY,
        Limits(requests=DEFAULT_REQUESTS[:1], abandons=0, connects=0, refusals=3, streamless_server=True),
        2,
    ),
    (
        "modern mode, 2 requests, connect",
        EraMode.MODERN,
        Era.MODERN,
        Limits(requests=DEFAULT_REQUESTS[:2], abandons=0),
        2,
    ),
    (
        "legacy mode, a server that forgets every session (no affinity), 1 request, connect",
        EraMode.LEGACY,
        Era.LEGACY,
        Limits(requests=DEFAULT_REQUESTS[:1], affinity_losses=1, refusals=0, listen=False),
        1,  # the first session lost unused ends the round: even the first negotiation's loss
    ),
    (
        "auto mode, legacy server, 2 requests, connect, credentials expire and are renewed",
        EraMode.AUTO,
        Era.LEGACY,
        Limits(requests=DEFAULT_REQUESTS[:2], faults=1, abandons=0, refusals=0, credential_expiries=1),
        2,
    ),
]
RUNS.append(
    (
        "legacy mode, streams closed after a priming event (SEP-1699), 2 requests, 1 fault, 2 pauses",
        EraMode.LEGACY,
        Era.LEGACY,
        Limits(
            requests=(DEFAULT_REQUESTS[1], DEFAULT_REQUESTS[0]),
            faults=1,
            abandons=0,
            connects=0,
            closes=1,
            listen=False,
            pauses=2,
        ),
        2,
    )
)
RUNS.append(
    (
        "modern mode, a stream closed after a priming event, 1 request, 1 pause",
        EraMode.MODERN,
        Era.MODERN,
        Limits(requests=DEFAULT_REQUESTS[1:2], abandons=0, connects=0, listen=False, pauses=1),
        2,
    )
)
if thorough():
    RUNS = [
        *(
            (
                f"{mode.value} mode, {era.value} server, everything",
                mode,
                era,
                Limits(affinity_losses=1, credential_expiries=1),
                2,
            )
            for mode in EraMode
            for era in Era
        ),
        RUNS[3],  # the server that forgets every session
    ]


@functools.cache
def run(index: int) -> Report:
    """Explore run ``index`` once per test session (the coverage test reuses the result)."""
    label, mode, server_era, limits, unkept_sessions_limit = RUNS[index]
    report = explore(config(mode, unkept_sessions_limit), limits, server_era)
    SUMMARY.append(
        f"exhaustive [{label}]: {report.states} states, {report.transitions} transitions, "
        f"{len(report.rows)}/{len(TABLE)} rows, {report.seconds:.1f} s"
    )
    return report


@pytest.mark.parametrize("index", range(len(RUNS)), ids=[run[0] for run in RUNS])
def test_every_reachable_state_keeps_the_invariants(index: int) -> None:
    report = run(index)
    assert report.violation is None, f"{report.violation}\ntrail: {report.trail}"
    assert report.states > 1000  # the world really branches


def test_the_explorations_fire_every_row() -> None:
    covered = set().union(*(run(index).rows for index in range(len(RUNS))))
    missing = sorted({row.name for row in TABLE} - covered)
    SUMMARY.append(f"exhaustive: {len(covered)}/{len(TABLE)} table rows fired across all runs")
    assert not missing


@pytest.mark.parametrize("name", sorted(BROKEN_TABLES))
def test_a_broken_table_is_caught(name: str) -> None:
    table, invariant = BROKEN_TABLES[name]
    report = explore(config(EraMode.AUTO), BROKEN_WORLDS.get(name, Limits(connects=0)), Era.LEGACY, table)
    assert report.violation is not None, f"the checkers missed: {name}"
    assert report.violation.invariant == invariant, str(report.violation)
    SUMMARY.append(
        f"broken variant caught [{name}]: invariant {invariant} after {len(report.trail)} steps "
        f"({report.states} states explored)"
    )
