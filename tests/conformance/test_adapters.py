"""Every way through this library upholds the recovery invariants, as the kit judges them."""

from __future__ import annotations

import pytest

from mcp_session_recovery.model import ClassifierOptions, EraMode
from mcp_session_recovery.testing import StaleStyle
from mcp_session_recovery.testing.conformance import DEFAULT_FAULTS, Fault, check_client
from tests.conftest import thorough
from tests.edges.support import options

from .clients import opener

pytestmark = pytest.mark.anyio

#: Stories per check: few in CI (each adapter is also covered by its own scenario tests).
EXAMPLES = 40 if thorough() else 5

ADAPTER_NAMES = (
    "session-httpx",
    "session-aiohttp",
    "connect",
    "sdk-httpx2",
    "raw-httpx2",
    "raw-httpx",
    "sync-httpx",
    "raw-aiohttp-middleware",
)


@pytest.mark.parametrize("name", ADAPTER_NAMES)
async def test_each_adapter_passes_every_default_fault(name: str) -> None:
    report = await check_client(opener(name), examples=EXAMPLES)
    assert report.passed, report.summary()
    assert report.counters.calls > report.counters.stories, "every story made calls"
    assert report.counters.results > 0


async def test_connect_in_auto_mode_follows_era_switches_both_ways() -> None:
    auto = options(mode=EraMode.AUTO)
    report = await check_client(
        opener("connect", auto), era="dual", faults=DEFAULT_FAULTS | {Fault.ERA_SWITCH}, examples=EXAMPLES + 3
    )
    assert report.passed, report.summary()
    assert report.counters.era_switches > 0


async def test_the_sessionless_era_over_the_sdk_transport() -> None:
    report = await check_client(opener("sdk-httpx2", options(mode=EraMode.AUTO)), era="modern", examples=EXAMPLES)
    assert report.passed, report.summary()
    assert report.counters.initializes == 0, "no handshake in the sessionless era"


async def test_a_400_stale_answer_is_recovered_when_opted_in() -> None:
    opted_in = options(classifier=ClassifierOptions(session_gone_on_400=True))
    report = await check_client(
        opener("session-httpx", opted_in),
        faults={Fault.RESTART, Fault.EXPIRE},
        stale_styles={StaleStyle.LEGACY_400},
        examples=EXAMPLES,
    )
    assert report.passed, report.summary()
    assert report.counters.stale_answers > 0
