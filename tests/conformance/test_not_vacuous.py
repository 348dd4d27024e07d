"""The kit fails what it must: the unmodified SDK client, and two adapters broken on purpose."""

from __future__ import annotations

import pytest

from mcp_session_recovery.testing.conformance import Fault, Invariant, check_client

from .clients import broken_reinitializes_per_caller, broken_replays_cut_calls, plain_sdk

pytestmark = pytest.mark.anyio


async def test_the_plain_sdk_client_fails_with_the_bugs_own_symptom() -> None:
    report = await check_client(plain_sdk, faults={Fault.RESTART})
    assert not report.passed
    violations = {violation.invariant: violation for violation in report.violations}
    recovered = violations[Invariant.RECOVERED]
    assert "Session not found" in recovered.detail, recovered  # the call after a restart fails
    assert "the server restarts" in recovered.story
    assert recovered.story.count("\n") <= 3, "shrunk to the restart and a call or two"
    stale = violations[Invariant.NO_REJECTED_SESSION_ID]  # and it keeps sending the dead session id
    assert "already rejected" in stale.detail
    assert report.counters.stale_answers >= 2


async def test_the_plain_sdk_client_dies_in_an_outage() -> None:
    report = await check_client(plain_sdk, faults={Fault.OUTAGE})
    assert Invariant.CLIENT_SURVIVES in report.broken, report.summary()
    died = next(v for v in report.violations if v.invariant is Invariant.CLIENT_SURVIVES)
    assert "ConnectError" in died.detail
    assert "down for" in died.story


async def test_an_adapter_whose_callers_each_reinitialize_is_named() -> None:
    report = await check_client(broken_reinitializes_per_caller, faults={Fault.RESTART, Fault.CONCURRENT})
    assert report.broken == {Invariant.ONE_INITIALIZE_PER_LOST_SESSION}, report.summary()
    (violation,) = report.violations
    assert "concurrent calls" in violation.story
    assert "restarts" in violation.story


async def test_an_adapter_that_replays_a_cut_tool_call_is_named() -> None:
    report = await check_client(broken_replays_cut_calls, faults={Fault.CUT_STREAM})
    assert report.broken == {Invariant.NO_DUPLICATE_EXECUTION}, report.summary()
    (violation,) = report.violations
    assert "a call of bump whose answer is cut" in violation.story
    assert violation.story.count("\n") == 2, "shrunk to the cut call and the final call"


def test_the_report_names_the_invariant_and_never_a_session_id() -> None:
    import anyio

    report = anyio.run(lambda: check_client(plain_sdk, faults={Fault.RESTART}, examples=3))
    text = report.summary()
    assert "RECOVERED" in text
    assert "story:" in text
    assert "mcp-session-id" not in text.lower()
