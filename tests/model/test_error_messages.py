"""Every error's message speaks the caller's terms: the caller's method (and its own JSON-RPC id
where the runtime knows it), what happened, and what to try; the library's insides (its request
numbers, the session's states, the classifier's signals) stay in attributes."""

from __future__ import annotations

import re

import pytest

from mcp_session_recovery.model import errors
from mcp_session_recovery.model.errors import (
    AnswerTooLarge,
    AuthFlowFailed,
    ConnectTimedOut,
    CredentialsRejected,
    DeadlineExceeded,
    IllegalTransition,
    InitializeRejected,
    MalformedSessionId,
    McpSessionError,
    MismatchedResponse,
    NoCommonProtocolVersion,
    OutcomeUnknown,
    ProtocolViolation,
    RecoveryFailed,
    RedirectRefused,
    RemoteError,
    ReplayForbidden,
    ReplayLimitExceeded,
    RequestCancelled,
    RequestFailed,
    SessionClosed,
    SessionNotKept,
    UnexpectedAnswer,
    UnexpectedException,
)
from mcp_session_recovery.model.states import Signal, State
from mcp_session_recovery.runtime.redaction import REDACTED, Redactor

#: One of every error a caller can meet, built as the model and the runtime build them (request 0:
#: the library's first request number, which must never show).
CALLERS_ERRORS: list[McpSessionError] = [
    MalformedSessionId(3, 1),
    SessionClosed(),
    RecoveryFailed(60, Signal.UNREACHABLE),
    RecoveryFailed(3, Signal.SESSION_GONE),
    RemoteError(-32602, "Invalid params"),
    UnexpectedAnswer(500, "Internal Server Error"),
    AnswerTooLarge(200, "max_json_body", 1024),
    MismatchedResponse(200),
    RedirectRefused(302),
    OutcomeUnknown(0, "tools/call"),
    ReplayForbidden(0, "notifications/cancelled", Signal.SESSION_GONE),
    ReplayLimitExceeded(0, "tools/list", 2, Signal.OUTCOME_UNKNOWN),
    RequestCancelled(0, "tools/call"),
    NoCommonProtocolVersion(("2025-11-25",), ("1999-01-01",)),
    InitializeRejected(-32600, "Invalid request"),
    CredentialsRejected(401),
    AuthFlowFailed("OAuthTokenError"),
    ProtocolViolation("the initialize answer holds no JSON-RPC result"),
    SessionNotKept(3),
    ConnectTimedOut(1.5, Signal.UNREACHABLE, "server unreachable: connection refused"),
    ConnectTimedOut(1.5, None, ""),
    UnexpectedException("AttributeError"),
    *(DeadlineExceeded(0, "tools/call", state) for state in State),
]

#: The library's words for its insides.
INSIDES = re.compile(
    r"\brequest \d|" + "|".join(s.name for s in State) + "|" + "|".join(s.name for s in Signal) + r"|\bsignal\b"
)


def test_every_error_a_caller_can_meet_is_covered() -> None:
    concrete = {
        cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type) and issubclass(cls, McpSessionError)
    }
    abstract = {McpSessionError, RequestFailed, errors.SessionUnusable}
    # IllegalTransition is the model's report of a bug in its own caller (the runtime, an adapter):
    # its reader wrote that caller, and the state and the event are exactly what they need.
    assert concrete - abstract - {IllegalTransition} == {type(e) for e in CALLERS_ERRORS}


@pytest.mark.parametrize("error", CALLERS_ERRORS, ids=lambda e: f"{type(e).__name__}")
def test_no_message_speaks_of_the_librarys_insides(error: McpSessionError) -> None:
    text = str(error)
    assert not INSIDES.search(text), text
    assert text == text.strip()
    assert text


@pytest.mark.parametrize("error", [e for e in CALLERS_ERRORS if isinstance(e, RequestFailed)], ids=repr)
def test_a_request_error_names_the_callers_method_and_given_its_id_names_it(error: RequestFailed) -> None:
    assert str(error).startswith(f"{error.method}: ")
    assert error.request_id == 0, "the library's number is kept as an attribute"
    named = error.in_context(client_id=7)
    assert str(named).startswith(f"{error.method} (id 7): ")
    assert named.client_id == 7
    assert named.request_id == 0
    assert str(error.in_context(client_id="abc")).startswith(f'{error.method} (id "abc"): ')
    assert error.client_id is None, "in_context copies; the model's error is a value and stays as it was"


def test_a_deadline_says_how_long_what_happened_and_what_to_try() -> None:
    error = DeadlineExceeded(0, "tools/call", State.RECOVERING).in_context(
        client_id=12, timeout=5.0, cause="server unreachable: connection refused"
    )
    assert str(error) == (
        "tools/call (id 12): no answer within 5 s while the session was being (re)established "
        "(server unreachable: connection refused); the library keeps trying to reach the server: "
        "check that it is running and reachable, or allow a longer timeout"
    )
    assert (error.state, error.timeout, error.request_id) == (State.RECOVERING, 5.0, 0)
    slow = DeadlineExceeded(0, "tools/call", State.READY).in_context(timeout=0.25, cause="an old outage")
    assert str(slow) == (
        "tools/call: no answer within 0.25 s; the server may still be working on it: allow a longer timeout"
    ), "a live session's deadline is the server's slowness, whatever failed before"


def test_a_recovery_that_gave_up_names_the_cause_the_likely_reason_and_what_to_try() -> None:
    error = RecoveryFailed(3, Signal.SESSION_GONE).in_context(
        method="tools/call", client_id=4, cause="session expired on the server (HTTP 404)"
    )
    text = str(error)
    assert text.startswith("tools/call (id 4): the session could not be recovered: 3 attempt(s) failed")
    assert "(last: session expired on the server (HTTP 404))" in text
    assert "load balancer without session affinity" in text, "the likely cause"
    assert "give the load balancer session affinity" in text, "what to try"
    assert (error.attempts, error.last_signal) == (3, Signal.SESSION_GONE)
    unreachable = str(RecoveryFailed(60, Signal.UNREACHABLE))
    assert "the server was unreachable" in unreachable
    assert "check that the server is running" in unreachable


def test_the_other_request_errors_say_what_happened_and_what_to_try() -> None:
    lost = str(OutcomeUnknown(0, "tools/call").in_context(cause="answer lost after sending: the connection was reset"))
    assert "may or may not" in lost
    assert "the connection was reset" in lost
    assert "ReplayPolicy" in lost
    assert "never sent again" in str(ReplayForbidden(0, "notifications/cancelled", Signal.SESSION_GONE))
    kept = str(ReplayLimitExceeded(0, "tools/list", 2, Signal.SESSION_GONE))
    assert "the session could not be kept" in kept
    assert "after 2 re-send(s)" in kept
    closed = SessionClosed().in_context(method="ping", client_id=3)
    assert str(closed) == "ping (id 3): the session is closed; open a new one to send more"


def test_context_an_error_has_no_use_for_changes_nothing() -> None:
    remote = RemoteError(-32602, "Invalid params")
    assert remote.in_context(method="tools/call", client_id=1, timeout=3.0, cause="x") is remote
    cancelled = RequestCancelled(0, "ping")
    assert cancelled.in_context(timeout=3.0) is cancelled
    assert cancelled.in_context(client_id=None) is cancelled


def test_context_and_redaction_compose() -> None:
    secret = "s3cr3t-session-id"
    redactor = Redactor()
    redactor.add_session_id(secret)
    error = DeadlineExceeded(0, "tools/call", State.INVALIDATED).in_context(cause=f"the server said {secret}")
    clean = redactor.error(error)
    assert secret not in str(clean)
    assert REDACTED in str(clean)
    assert secret not in clean.cause
    assert clean.state is State.INVALIDATED


def test_a_failed_auth_flow_is_a_refusal_of_credentials_that_names_the_flows_exception() -> None:
    error = AuthFlowFailed("OAuthRegistrationError")
    assert isinstance(error, CredentialsRejected), "the model's refusal: no timer retries it, the next request does"
    assert (error.status, dict(error.headers), error.body) == (401, {}, b"")
    assert error.flow_error == "OAuthRegistrationError"
    assert str(error).startswith("the client's auth flow failed (OAuthRegistrationError) while negotiating")
    assert error == AuthFlowFailed("OAuthRegistrationError")
    assert error != AuthFlowFailed("OAuthTokenError")
