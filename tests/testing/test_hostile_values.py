"""The hostile behaviours' values: validation, the JSON form both ways, and the stats that go with them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mcp_session_recovery.testing import (
    AnswerRule,
    Behaviour,
    CannedAnswer,
    RecordedRequest,
    ServerStats,
)
from mcp_session_recovery.testing._app import App
from mcp_session_recovery.testing._wire import HttpRequest
from mcp_session_recovery.testing.behaviour import changes_from_json, changes_to_json
from mcp_session_recovery.testing.stats import MAX_INITIALIZE_TIMES

from .helpers import rpc

pytestmark = pytest.mark.anyio

RETRY = CannedAnswer(503, "text/plain", "busy", (("Retry-After", "2"),))


def test_every_hostile_field_round_trips_through_json() -> None:
    behaviour = Behaviour(
        answer_status_for_all=CannedAnswer(99, "", b"\x1f\x8b not gzip \xff", (("content-encoding", "gzip"),)),
        answer_rules=(
            AnswerRule(RETRY, frozenset({"tools/call"}), times=1),
            AnswerRule(CannedAnswer.redirect(308, "http://127.0.0.1:1/elsewhere"), frozenset({"POST"})),
            AnswerRule(CannedAnswer(200, "text/event-stream", ""), frozenset({"GET"}), times=0),
            AnswerRule(None, frozenset({"DELETE"}), times=3),
        ),
        path_aliases=frozenset({"/mcp/", "/moved"}),
        issued_session_id="a\rb\nc\x00d" + "x" * 60_000,
        echo_secrets=True,
        record_requests=50,
    )
    data = json.loads(json.dumps(behaviour.to_json()))  # what travels over /_control/configure
    assert data["answer_status_for_all"]["body_base64"]  # bytes that are not UTF-8 keep their bytes
    assert data["answer_rules"][0] == {
        "answer": [503, "text/plain", "busy", [["Retry-After", "2"]]],
        "methods": ["tools/call"],
        "times": 1,
    }
    assert data["path_aliases"] == ["/mcp/", "/moved"]
    assert Behaviour().replace(**changes_from_json(data)) == behaviour
    assert changes_to_json({"answer_rules": [AnswerRule(RETRY, frozenset({"tools/call"}), 1)]}) == {
        "answer_rules": [data["answer_rules"][0]]
    }


def test_loose_json_forms() -> None:
    changes = changes_from_json(
        {
            "answer_rules": [
                {
                    "answer": {"status": 0, "content_type": "text/plain", "body": "x", "headers": {"x-a": "1"}},
                    "methods": "tools/call, initialize",
                }
            ],
            "path_aliases": "/a, /b",
        }
    )
    assert changes["answer_rules"] == (
        AnswerRule(CannedAnswer(0, "text/plain", "x", (("x-a", "1"),)), frozenset({"tools/call", "initialize"})),
    )
    assert changes["path_aliases"] == frozenset({"/a", "/b"})


@pytest.mark.parametrize(
    "changes",
    [
        {"answer_status_for_all": (1000, "text/plain", "x")},
        {"answer_status_for_all": (503, "text/plain", "x", (("bad name", "1"),))},
        {"answer_status_for_all": (503, "text/plain", "x", (("content-length", "1"),))},
        {"answer_status_for_all": (503, "text/plain", "x", (("x-a", "\u20ac"),))},  # not one byte a character
        {"answer_status_for_all": (503, "text/plain", "x", (("x-a", "v", "w"),))},
        {"answer_status_for_all": (503, "text/\nplain", "x")},
        {"answer_rules": (RETRY,)},  # an answer is not a rule
        {"answer_rules": AnswerRule(RETRY)},  # one rule, not a sequence of them
        {"answer_rules": tuple(AnswerRule(RETRY) for _ in range(33))},
        {"path_aliases": frozenset({"mcp"})},
        {"path_aliases": frozenset({"/_control/x"})},
        {"issued_session_id": "\u20ac"},
        {"issued_session_id": "x" * (256 * 1024 + 1)},
        {"issued_session_id": 3},
        {"echo_secrets": 1},
        {"record_requests": -1},
        {"record_requests": 1001},
        {"record_requests": True},
    ],
)
def test_invalid_hostile_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Behaviour(**changes)


@pytest.mark.parametrize(
    "arguments",
    [
        {"times": -1},
        {"times": True},
        {"methods": frozenset({""})},
        {"methods": frozenset({" tools/call"})},
        {"methods": 3},
    ],
)
def test_invalid_rules_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="answer_rules"):
        AnswerRule(RETRY, **arguments)


def test_redirect_helper_and_bad_json() -> None:
    assert CannedAnswer.redirect(303, "/moved") == CannedAnswer(
        303, "text/plain; charset=utf-8", "", (("location", "/moved"),)
    )
    with pytest.raises(ValueError, match="redirect"):
        CannedAnswer.redirect(200, "/moved")
    for bad in (
        {"answer_rules": {"answer": [503, "text/plain", "x"]}},
        {"answer_rules": [{"methods": ["GET"]}]},
        {"answer_rules": [{"answer": [503, "text/plain", "x"], "colour": 1}]},
        {"answer_rules": [{"answer": [503, "text/plain", "x"], "times": "1"}]},
        {"answer_rules": [{"answer": {"status": 503, "content_type": "", "body_base64": "!!"}}]},
        {"path_aliases": 3},
        {"issued_session_id": 3},
        {"record_requests": "5"},
        {"echo_secrets": "yes"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            changes_from_json(bad)


def test_stats_with_the_new_fields_round_trip() -> None:
    stats = ServerStats(
        sessions_created=3,
        sessions_deleted=1,
        get_requests=4,
        delete_requests=1,
        canned_answers=2,
        initialize_times=(1.5, 2.25),
        recorded_requests=(RecordedRequest("POST", "/mcp", {"authorization": "Bearer t"}),),
    )
    assert stats.sessions_open == 2
    data = json.loads(json.dumps(stats.to_json()))
    assert data["recorded_requests"] == [{"method": "POST", "path": "/mcp", "headers": {"authorization": "Bearer t"}}]
    again = ServerStats.from_json(data)
    assert again.recorded_requests == stats.recorded_requests
    assert (again.initialize_times, again.get_requests, again.canned_answers) == ((1.5, 2.25), 4, 2)


def _post(body: dict[str, Any], headers: dict[str, str] | None = None) -> HttpRequest:
    return HttpRequest("POST", "/mcp", headers or {}, json.dumps(body).encode())


async def test_initialize_times_and_recorded_requests_are_bounded() -> None:
    app = App(Behaviour(record_requests=5, answer_status_for_all=CannedAnswer(502, "text/plain", "down")))
    count = MAX_INITIALIZE_TIMES + 5
    for index in range(count):
        reply = await app.handle(_post(rpc("initialize", {}), {"x-index": str(index)}))
        assert getattr(reply, "status", None) == 502
    stats = app.stats()
    assert len(stats.initialize_times) == MAX_INITIALIZE_TIMES, "the most recent ones only"
    assert list(stats.initialize_times) == sorted(stats.initialize_times)
    assert [request.headers["x-index"] for request in stats.recorded_requests] == [
        str(index) for index in range(count - 5, count)
    ]
    assert stats.canned_answers == count
    assert stats.initializes == 0, "the gateway answered: no session was made"
    app.configure(record_requests=2)
    await app.handle(_post(rpc("ping")))
    assert len(app.stats().recorded_requests) == 2
