"""The classifier against the answers real servers send (DESIGN §2, spec-rules.md §6)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.model import (
    ClassifierOptions,
    Era,
    Exchange,
    HttpAnswer,
    Progress,
    Signal,
    TransportFailure,
    TransportFailureKind,
    classify,
)
from mcp_session_recovery.model.classify import UNTREATED_LOSS, refuses_credentials

LEGACY_CALL = Exchange(era=Era.LEGACY, method="tools/call", carried_session_id=True)
LEGACY_INIT = Exchange(era=Era.LEGACY, method="initialize")
MODERN_CALL = Exchange(era=Era.MODERN, method="tools/call")
PROBE = Exchange(era=Era.MODERN, method="server/discover")


def rpc(code: int, message: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()


CASES = [
    (
        "a legacy session's server redeployed modern-only",
        LEGACY_CALL,
        HttpAnswer(status=400, body=rpc(-32602, "params._meta must carry io.modelcontextprotocol/protocolVersion")),
        Signal.ERA_CHANGED,
    ),
    # Lost legacy sessions, in every style servers use: the status decides, not the body.
    (
        "python sdk 404 -32600",
        LEGACY_CALL,
        HttpAnswer(status=404, body=rpc(-32600, "Session not found")),
        Signal.SESSION_GONE,
    ),
    (
        "typescript/c# 404 -32001",
        LEGACY_CALL,
        HttpAnswer(status=404, body=rpc(-32001, "Session not found")),
        Signal.SESSION_GONE,
    ),
    (
        "java 404 -32603",
        LEGACY_CALL,
        HttpAnswer(status=404, body=rpc(-32603, "Session not found: x")),
        Signal.SESSION_GONE,
    ),
    ("go 404 plain text", LEGACY_CALL, HttpAnswer(status=404, body=b"session not found\n"), Signal.SESSION_GONE),
    (
        "hand-written 404",
        LEGACY_CALL,
        HttpAnswer(status=404, body=b'{"error": "Not Found: invalid session ID"}'),
        Signal.SESSION_GONE,
    ),
    (
        "wild 404 -32601 with id",
        LEGACY_CALL,
        HttpAnswer(status=404, body=rpc(-32601, "Not Found: Invalid session ID")),
        Signal.SESSION_GONE,
    ),
    ("404 binary body", LEGACY_CALL, HttpAnswer(status=404, body=b"\xff\xfe\x00"), Signal.SESSION_GONE),
    # Old Python servers: 400, only when opted in.
    (
        "400 no valid session (default)",
        LEGACY_CALL,
        HttpAnswer(status=400, body=b"Bad Request: No valid session ID provided"),
        Signal.PASS_THROUGH,
    ),
    ("410 (default)", LEGACY_CALL, HttpAnswer(status=410), Signal.PASS_THROUGH),
    # Not a lost session.
    (
        "404 without an id: proxy or wrong url",
        LEGACY_INIT,
        HttpAnswer(status=404, body=b"<html>Not Found</html>"),
        Signal.UNREACHABLE,
    ),
    (
        "modern unknown method",
        MODERN_CALL,
        HttpAnswer(status=404, body=rpc(-32601, "Method not found")),
        Signal.PASS_THROUGH,
    ),
    ("modern plain 404: proxy", MODERN_CALL, HttpAnswer(status=404, body=b"Not Found"), Signal.UNREACHABLE),
    ("401", LEGACY_CALL, HttpAnswer(status=401), Signal.PASS_THROUGH),
    ("403", LEGACY_CALL, HttpAnswer(status=403), Signal.PASS_THROUGH),
    ("429", LEGACY_CALL, HttpAnswer(status=429), Signal.PASS_THROUGH),
    ("500", LEGACY_CALL, HttpAnswer(status=500), Signal.PASS_THROUGH),
    ("200", LEGACY_CALL, HttpAnswer(status=200), Signal.PASS_THROUGH),
    ("header mismatch", MODERN_CALL, HttpAnswer(status=400, body=rpc(-32020, "HeaderMismatch")), Signal.PASS_THROUGH),
    # Gateways.
    ("502", LEGACY_CALL, HttpAnswer(status=502), Signal.UNREACHABLE),
    ("503", MODERN_CALL, HttpAnswer(status=503), Signal.UNREACHABLE),
    ("504", LEGACY_CALL, HttpAnswer(status=504), Signal.OUTCOME_UNKNOWN),
    # Era changes.
    (
        "unsupported version, modern",
        MODERN_CALL,
        HttpAnswer(status=400, body=rpc(-32022, "Unsupported")),
        Signal.ERA_CHANGED,
    ),
    (
        "unsupported version to initialize",
        LEGACY_INIT,
        HttpAnswer(status=400, body=rpc(-32022, "Unsupported")),
        Signal.ERA_CHANGED,
    ),
    (
        "initialize unknown: modern-only",
        LEGACY_INIT,
        HttpAnswer(status=404, body=rpc(-32601, "Method not found")),
        Signal.ERA_CHANGED,
    ),
    (
        "probe to sdk legacy server",
        PROBE,
        HttpAnswer(status=400, body=rpc(-32600, "Bad Request: Missing session ID")),
        Signal.ERA_CHANGED,
    ),
    (
        "probe to ts legacy server",
        PROBE,
        HttpAnswer(status=400, body=rpc(-32000, "Bad Request: Server not initialized")),
        Signal.ERA_CHANGED,
    ),
    (
        "probe answered with an error result",
        PROBE,
        HttpAnswer(status=200, body=rpc(-32601, "Method not found")),
        Signal.ERA_CHANGED,
    ),
    ("probe refused without a modern error", PROBE, HttpAnswer(status=400, body=b"bad"), Signal.ERA_CHANGED),
    (
        "modern request, legacy server",
        MODERN_CALL,
        HttpAnswer(status=400, body=rpc(-32000, "Mcp-Session-Id header is required")),
        Signal.ERA_CHANGED,
    ),
    (
        "legacy binding without id, server now wants one",
        Exchange(era=Era.LEGACY, method="tools/call"),
        HttpAnswer(status=400, body=rpc(-32600, "Bad Request: Missing session ID")),
        Signal.SESSION_GONE,
    ),
]


@pytest.mark.parametrize(("exchange", "answer", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_known_answers(exchange: Exchange, answer: HttpAnswer, expected: Signal) -> None:
    result = classify(exchange, answer)
    assert result.signal is expected, result.reason
    assert result.reason


def test_opt_in_signals() -> None:
    options = ClassifierOptions(session_gone_on_400=True, session_gone_on_410=True)
    old_python = HttpAnswer(status=400, body=b"Bad Request: No valid session ID provided")
    assert classify(LEGACY_CALL, old_python, options).signal is Signal.SESSION_GONE
    assert classify(LEGACY_CALL, HttpAnswer(status=410), options).signal is Signal.SESSION_GONE
    # Without a session id on the request, 410 proves nothing about a session.
    assert classify(LEGACY_INIT, HttpAnswer(status=410), options).signal is Signal.PASS_THROUGH


def test_what_only_an_opt_in_takes_for_a_lost_session_is_passed_through_under_a_reason_naming_it() -> None:
    old_python = HttpAnswer(status=400, body=b"Bad Request: No valid session ID provided")
    for answer in (old_python, HttpAnswer(status=410)):
        passed = classify(LEGACY_CALL, answer)
        assert passed.signal is Signal.PASS_THROUGH
        setting = UNTREATED_LOSS[passed.reason]
        assert classify(LEGACY_CALL, answer, ClassifierOptions(**{setting: True})).signal is Signal.SESSION_GONE
    # A 400 that says nothing of a session, or a 410 to a request without one, names no setting.
    assert classify(LEGACY_CALL, HttpAnswer(status=400, body=b"Bad Request")).reason not in UNTREATED_LOSS
    assert classify(LEGACY_INIT, HttpAnswer(status=410)).reason not in UNTREATED_LOSS


@pytest.mark.parametrize("kind", list(TransportFailureKind))
def test_transport_failures_before_sending_are_unreachable(kind: TransportFailureKind) -> None:
    failure = TransportFailure(kind=kind, progress=Progress.NOT_SENT)
    assert classify(LEGACY_CALL, failure).signal is Signal.UNREACHABLE


@pytest.mark.parametrize("progress", [Progress.SENT, Progress.STREAMING])
def test_failures_after_sending_are_outcome_unknown_unless_the_connection_never_opened(progress: Progress) -> None:
    assert (
        classify(MODERN_CALL, TransportFailure(kind=TransportFailureKind.STREAM_CUT, progress=progress)).signal
        is Signal.OUTCOME_UNKNOWN
    )
    assert (
        classify(MODERN_CALL, TransportFailure(kind=TransportFailureKind.READ_TIMEOUT, progress=progress)).signal
        is Signal.OUTCOME_UNKNOWN
    )
    refused = TransportFailure(kind=TransportFailureKind.CONNECT_REFUSED, progress=progress)
    assert classify(MODERN_CALL, refused).signal is Signal.UNREACHABLE


@given(
    era=st.sampled_from(Era),
    carried=st.booleans(),
    method=st.sampled_from(["tools/call", "initialize", "server/discover"]),
    status=st.integers(0, 999),
    body=st.binary(max_size=300),
)
def test_a_legacy_404_with_an_id_is_always_session_gone_and_modern_never_is(
    era: Era, carried: bool, method: str, status: int, body: bytes
) -> None:
    if era is Era.MODERN:
        carried = False
    exchange = Exchange(era=era, method=method, carried_session_id=carried)
    result = classify(exchange, HttpAnswer(status=status, body=body))
    assert isinstance(result.signal, Signal)
    if era is Era.LEGACY and carried and status == 404:
        assert result.signal is Signal.SESSION_GONE
    if era is Era.MODERN:
        assert result.signal is not Signal.SESSION_GONE  # there is no session to lose


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="never carries a session id"):
        Exchange(era=Era.MODERN, method="x", carried_session_id=True)
    for status in (-1, 1000, True):
        with pytest.raises(ValueError, match="HTTP status"):
            HttpAnswer(status=status)


@pytest.mark.parametrize("status", [0, 42, 99, 100, 199, 600, 999])
def test_a_status_outside_the_known_classes_passes_through_to_the_caller(status: int) -> None:
    # HTTP/1.1 allows any three digits; the classifier has no rule for these, so the caller sees them.
    for exchange in (Exchange(era=Era.LEGACY, method="tools/call", carried_session_id=True),):
        assert classify(exchange, HttpAnswer(status=status, body=b"odd")).signal is Signal.PASS_THROUGH


def test_the_other_bad_inputs_are_refused() -> None:
    assert len(HttpAnswer(status=200, body=b"x" * 200_000).body) == 65536


@pytest.mark.parametrize(("status", "refuses"), [(401, True), (403, True), (400, False), (404, False), (407, False)])
def test_only_401_and_403_refuse_the_clients_credentials(status: int, refuses: bool) -> None:
    assert refuses_credentials(status) is refuses
