"""Values that cannot be built invalid, errors that say enough and leak nothing, the policy."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.model import (
    Binding,
    DiscoverSucceeded,
    Era,
    EraMode,
    IllegalTransition,
    InitializeSucceeded,
    MalformedSessionId,
    McpSessionError,
    ModelConfig,
    NegotiationDisrupted,
    NegotiationRejected,
    ProtocolViolation,
    RecoveryFailed,
    Replayability,
    ReplayPolicy,
    RequestDisrupted,
    RequestFailed,
    RequestSubmitted,
    SessionId,
    SessionUnusable,
    Signal,
    Snapshot,
    State,
    TrackedRequest,
)

VISIBLE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80)


@given(VISIBLE)
def test_visible_ascii_session_ids_are_accepted_and_never_shown(value: str) -> None:
    session_id = SessionId(f"secret{value}")
    assert session_id.header_value == f"secret{value}"
    assert repr(session_id) == str(session_id) == "SessionId(<redacted>)"
    binding = Binding(era=Era.LEGACY, protocol_version="2025-11-25", generation=1, session_id=session_id)
    assert "secret" not in repr(binding)
    assert "secret" not in repr(InitializeSucceeded(generation=1, protocol_version="v", session_id=session_id))


@given(st.text(max_size=40), st.integers(0, 40), st.characters(blacklist_categories=(), max_codepoint=0x10FFFF))
def test_any_character_outside_visible_ascii_is_refused(prefix: str, at: int, bad: str) -> None:
    if 0x21 <= ord(bad) <= 0x7E:
        bad = " "
    value = prefix[:at] + bad + prefix[at:]
    with pytest.raises(MalformedSessionId) as info:
        SessionId(value)
    assert isinstance(info.value, ValueError)
    assert info.value.length == len(value)
    if value.strip():
        assert value not in str(info.value)


def test_an_empty_session_id_is_refused() -> None:
    with pytest.raises(MalformedSessionId, match="empty"):
        SessionId("")


def test_events_cannot_be_built_invalid() -> None:
    with pytest.raises(ValueError, match="failure signal"):
        RequestDisrupted(request_id=1, signal=Signal.PASS_THROUGH)
    with pytest.raises(ValueError, match="generations"):
        NegotiationDisrupted(generation=0, signal=Signal.UNREACHABLE)
    with pytest.raises(ValueError, match="request ids"):
        RequestSubmitted(request_id=-1, method="ping", replayability=Replayability.ALWAYS)
    with pytest.raises(ValueError, match="method"):
        RequestSubmitted(request_id=1, method="", replayability=Replayability.ALWAYS)
    with pytest.raises(ValueError, match="SessionId"):
        InitializeSucceeded(generation=1, protocol_version="v", session_id="raw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="protocol version"):
        DiscoverSucceeded(generation=1, protocol_version="")
    with pytest.raises(ValueError, match="SessionUnusable"):
        NegotiationRejected(generation=1, error=RecoveryFailed(1, None))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no session id"):
        Binding(era=Era.MODERN, protocol_version="2026-07-28", generation=1, session_id=SessionId("x"))


def test_configs_cannot_contradict_themselves() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        ModelConfig(mode=EraMode.LEGACY, known_era=Era.MODERN)
    with pytest.raises(ValueError, match="max_attempts"):
        ModelConfig(max_attempts=0)
    assert ModelConfig(known_era=Era.LEGACY).first_era() is Era.LEGACY
    assert ModelConfig().first_era() is Era.MODERN


@pytest.mark.parametrize("abstract", [McpSessionError, RequestFailed, SessionUnusable])
def test_abstract_errors_cannot_be_raised(abstract: type[McpSessionError]) -> None:
    with pytest.raises(TypeError, match="abstract"):
        abstract("x")


def test_errors_carry_structured_fields() -> None:
    error = IllegalTransition(State.READY, RequestDisrupted(request_id=1, signal=Signal.UNREACHABLE), "why")
    assert error.state is State.READY
    assert isinstance(error.event, RequestDisrupted)
    assert error.reason == "why"
    assert RecoveryFailed(3, Signal.UNREACHABLE) == RecoveryFailed(3, Signal.UNREACHABLE)
    assert RecoveryFailed(3, Signal.UNREACHABLE) != RecoveryFailed(2, Signal.UNREACHABLE)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("tools/list", Replayability.ALWAYS),
        ("resources/read", Replayability.ALWAYS),
        ("prompts/get", Replayability.ALWAYS),
        ("ping", Replayability.ALWAYS),
        ("resources/subscribe", Replayability.ALWAYS),
        ("server/discover", Replayability.ALWAYS),
        ("tools/call", Replayability.IF_UNPROCESSED),
        ("sampling/whatever", Replayability.IF_UNPROCESSED),
        ("notifications/initialized", Replayability.NEVER),
        ("notifications/cancelled", Replayability.NEVER),
    ],
)
def test_default_policy(method: str, expected: Replayability) -> None:
    assert ReplayPolicy().replayability(method, tool_name="t") is expected


def test_tool_annotations_count_only_when_trusted() -> None:
    read_only = {"readOnlyHint": True}
    idempotent = {"idempotentHint": True}
    assert (
        ReplayPolicy().replayability("tools/call", tool_name="t", tool_annotations=read_only)
        is Replayability.IF_UNPROCESSED
    )
    trusting = ReplayPolicy(trust_tool_annotations=True)
    assert trusting.replayability("tools/call", tool_name="t", tool_annotations=read_only) is Replayability.ALWAYS
    assert trusting.replayability("tools/call", tool_name="t", tool_annotations=idempotent) is Replayability.ALWAYS
    assert (
        trusting.replayability("tools/call", tool_name="t", tool_annotations={"readOnlyHint": "yes"})
        is Replayability.IF_UNPROCESSED
    )
    allow = ReplayPolicy(replayable_tools=frozenset({"search"}))
    assert allow.replayability("tools/call", tool_name="search") is Replayability.ALWAYS
    assert allow.replayability("tools/call", tool_name="delete") is Replayability.IF_UNPROCESSED


def test_a_snapshot_with_other_requests_keeps_every_other_field() -> None:
    binding = Binding(era=Era.LEGACY, protocol_version="2025-11-25", generation=3, session_id=SessionId("live"))
    snapshot = Snapshot(
        state=State.READY,
        config=ModelConfig(mode=EraMode.LEGACY, max_attempts=3),
        generation=3,
        binding=binding,
        pending=binding,
        era=Era.LEGACY,
        attempt=2,
        era_switched=True,
        recovery_scheduled=True,
        last_signal=Signal.SESSION_GONE,
        failure=ProtocolViolation("a test"),
    )
    tracked = TrackedRequest(request_id=7, method="tools/call", replayability=Replayability.ALWAYS, generation=3)

    added = snapshot.with_request(tracked)
    assert added.requests == (tracked,)
    assert replace(added, requests=()) == snapshot
    removed = added.without_request(7)
    assert removed == snapshot
    assert all(getattr(removed, f.name) is getattr(snapshot, f.name) for f in fields(Snapshot) if f.name != "requests")
