"""The frameworks on the SDK's 1.x line, as the conformance kit judges them: each passes with this
library (``recovering_client_factory(library="httpx")``, or the ``stdio`` bridge for mcp-use) and
fails alone (tools called directly, no model)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from mcp_session_recovery.testing.conformance import Fault, Invariant, OpenClient, ToolCaller, check_client

from .frameworks import FRAMEWORKS, Framework, Library, framework

pytestmark = pytest.mark.anyio

#: Stories per check: few (each client also has its own scenario tests against real processes).
EXAMPLES = 4


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # langchain-mcp-adapters and mcp-use run on asyncio only


@pytest.fixture
def library() -> Iterator[Library]:
    made = Library()
    yield made
    made.close()


def _opener(client: Framework, library: Library | None) -> OpenClient:
    @asynccontextmanager
    async def open_client(url: str) -> AsyncIterator[ToolCaller]:
        async with client.open(url, library) as caller:
            yield caller

    return open_client


#: The clients the kit can judge: the per-call mode initializes on every call by design, which the
#: kit's "one initialize per lost session" counts against it in the first story of two calls.
WITH_A_SESSION = [client for client in FRAMEWORKS if not client.per_call]


@pytest.mark.parametrize("client", WITH_A_SESSION, ids=str)
async def test_each_framework_with_the_library_passes_every_default_fault(client: Framework, library: Library) -> None:
    report = await check_client(_opener(client, library), examples=EXAMPLES)
    assert report.passed, report.summary()
    assert report.counters.results > 0


async def test_the_per_call_mode_with_the_library_fails_only_the_one_initialize_rule(library: Library) -> None:
    report = await check_client(_opener(framework("langchain-per-call"), library), examples=EXAMPLES)
    assert {violation.invariant for violation in report.violations} == {Invariant.ONE_INITIALIZE_PER_LOST_SESSION}
    assert (report.counters.exceptions, report.counters.hangs) == (0, 0), report.summary()


@pytest.mark.parametrize("client", WITH_A_SESSION, ids=str)
async def test_each_framework_alone_fails_a_restart_with_the_bugs_own_symptom(client: Framework) -> None:
    report = await check_client(_opener(client, None), faults={Fault.RESTART}, examples=3)
    assert not report.passed
    recovered = next((v for v in report.violations if v.invariant is Invariant.RECOVERED), None)
    assert recovered is not None, report.summary()
    assert "Session terminated" in recovered.detail, recovered
    assert "the server restarts" in recovered.story
