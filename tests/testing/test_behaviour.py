"""The configuration values: validation, JSON both ways, and the stats snapshot's JSON."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_session_recovery.testing import (
    Behaviour,
    CannedAnswer,
    ResponseStyle,
    ServedEra,
    ServerStats,
    StaleStyle,
)
from mcp_session_recovery.testing.behaviour import changes_from_json, changes_to_json


def test_defaults() -> None:
    behaviour = Behaviour()
    assert behaviour.eras == frozenset({ServedEra.LEGACY})
    assert (behaviour.stale_style, behaviour.response_style) == (StaleStyle.SDK_PYTHON, ResponseStyle.SSE)
    assert (behaviour.cut_tool_responses, behaviour.answer_status_for_all) == (0, None)


@pytest.mark.parametrize(
    "changes",
    [
        {"eras": frozenset()},
        {"eras": frozenset({"legacy"})},
        {"stale_style": "plain_text"},
        {"cut_tool_responses": -1},
        {"cut_tool_responses": True},
        {"slow_seconds": -1.0},
        {"slow_seconds": float("nan")},
        {"slow_seconds": 1e9},
        {"forget_sessions_after_initialize": 1},
        {"answer_status_for_all": (1000, "text/plain", "x")},  # 000..999 are HTTP/1.1 syntax
        {"answer_status_for_all": (-1, "text/plain", "x")},
        {"answer_status_for_all": (502, "text/plain")},
        {"answer_status_for_all": (502, "text/plain", 3)},
        {"endless_sse_event": 1},
        {"mismatched_response_id": "yes"},
        {"oversized_json_bytes": -1},
        {"oversized_json_bytes": True},
        {"oversized_json_bytes": 1.5},
        {"oversized_json_bytes": 1 << 40},
    ],
)
def test_invalid_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Behaviour(**changes)


def test_replace_validates_and_refuses_unknown_fields() -> None:
    behaviour = Behaviour().replace(eras=[ServedEra.MODERN], answer_status_for_all=(502, "text/plain", b"down"))
    assert behaviour.eras == frozenset({ServedEra.MODERN})
    assert behaviour.answer_status_for_all == CannedAnswer(502, "text/plain", b"down")
    with pytest.raises(ValueError, match="unknown"):
        Behaviour().replace(colour="red")  # type: ignore[call-arg]


def test_json_round_trip() -> None:
    behaviour = Behaviour(
        eras=frozenset(ServedEra),
        stale_style=StaleStyle.LEGACY_400,
        response_style=ResponseStyle.JSON,
        forget_sessions_after_initialize=True,
        cut_tool_responses=2,
        slow_seconds=0.5,
        answer_status_for_all=CannedAnswer(404, "text/plain", "gone"),
        endless_sse_event=True,
        oversized_json_bytes=1 << 24,
        mismatched_response_id=True,
    )
    data = behaviour.to_json()
    assert (data["endless_sse_event"], data["oversized_json_bytes"], data["mismatched_response_id"]) == (
        True,
        1 << 24,
        True,
    )
    assert data["eras"] == ["legacy", "modern"]
    assert data["answer_status_for_all"] == [404, "text/plain", "gone"]
    assert Behaviour().replace(**changes_from_json(data)) == behaviour
    assert changes_to_json({"stale_style": StaleStyle.PLAIN_TEXT, "eras": {ServedEra.MODERN}}) == {
        "stale_style": "plain_text",
        "eras": ["modern"],
    }


def test_changes_from_json_accepts_loose_forms_and_names_bad_fields() -> None:
    changes = changes_from_json({"eras": "legacy, MODERN", "stale_style": "SDK_TYPESCRIPT", "slow_seconds": 2})
    assert changes == {
        "eras": frozenset(ServedEra),
        "stale_style": StaleStyle.SDK_TYPESCRIPT,
        "slow_seconds": 2.0,
    }
    canned = changes_from_json({"answer_status_for_all": {"status": 503, "content_type": "text/html", "body": "x"}})
    assert canned == {"answer_status_for_all": CannedAnswer(503, "text/html", "x")}
    bads: list[dict[str, object]] = [
        {"eras": 3},
        {"response_style": "xml"},
        {"cut_tool_responses": "1"},
        {"slow_seconds": True},
        {"endless_sse_event": 1},
        {"mismatched_response_id": None},
        {"oversized_json_bytes": "10"},
    ]
    for bad in bads:
        field = next(iter(bad))
        with pytest.raises(ValueError, match=field):
            changes_from_json(bad)
    with pytest.raises(ValueError, match="unknown"):
        changes_from_json({"colour": "red"})
    with pytest.raises(ValueError, match="object"):
        changes_from_json([1])


def test_stats_json_round_trip() -> None:
    stats = ServerStats(
        initializes=2,
        tool_executions={"bump": 3},
        requests_by_method={"ping": 1},
        restarts=1,
        mismatched_answers=4,
        endless_events_bytes_sent=5,
        oversized_answers_ended=6,
    )
    data = stats.to_json()
    assert data["tool_executions"] == {"bump": 3}
    assert ServerStats.from_json({**data, "from_a_newer_server": 1}) == stats
