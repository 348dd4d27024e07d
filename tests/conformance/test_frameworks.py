"""The frameworks on the SDK 2.x line, as the kit judges them: each passes with
``recovering_client_factory()`` and fails alone (tools called directly, no model)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from mcp_session_recovery import recovering_client_factory
from mcp_session_recovery.model import EraMode
from mcp_session_recovery.testing.conformance import Fault, Invariant, OpenClient, ToolCaller, check_client
from tests.conftest import thorough
from tests.edges.support import options
from tests.integration.frameworks import FRAMEWORKS, Framework

pytestmark = pytest.mark.anyio

#: Stories per check: few in CI (each framework also has its own scenario tests against real processes).
EXAMPLES = 40 if thorough() else 4
#: pydantic-ai's ``http_client=`` variant is the same client as its transport variant.
CLIENTS = [client for client in FRAMEWORKS if client.name != "pydantic-ai-http-client"]


def _opener(client: Framework, *, recovering: bool) -> OpenClient:
    @asynccontextmanager
    async def open_client(url: str) -> AsyncIterator[ToolCaller]:
        factory = recovering_client_factory(options=options(mode=EraMode.AUTO)) if recovering else None
        async with client.open(url, factory) as caller:
            yield caller

    return open_client


@pytest.mark.parametrize("client", CLIENTS, ids=str)
async def test_each_framework_with_the_library_passes_every_default_fault(client: Framework) -> None:
    report = await check_client(_opener(client, recovering=True), examples=EXAMPLES)
    assert report.passed, report.summary()
    assert report.counters.results > 0


@pytest.mark.parametrize("client", CLIENTS, ids=str)
async def test_each_framework_alone_fails_a_restart_with_the_bugs_own_symptom(client: Framework) -> None:
    report = await check_client(_opener(client, recovering=False), faults={Fault.RESTART}, examples=3)
    assert not report.passed
    recovered = next(v for v in report.violations if v.invariant is Invariant.RECOVERED)
    assert "Session not found" in recovered.detail, recovered
    assert "the server restarts" in recovered.story
