"""The official-suite runner's judging and table, without Node: checks.json and suite output as written."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import types

from tests.official_suite.client import arguments_for, elicitation_defaults, innermost
from tests.official_suite.modes import YARDSTICKS
from tests.official_suite.results import (
    CheckNote,
    Outcome,
    judge,
    new_warnings,
    outcome_from_json,
    outcome_to_json,
    pending_reason,
    regressions,
    render_table,
    scenarios_from_listing,
)

LISTING = """Client scenarios (test against a client):
  - initialize [2025-06-18,2025-11-25]
  - auth/metadata-default [2025-11-25]
  - auth/resource-mismatch [draft]
"""

PASSED_OUTPUT = "Test Results:\nPassed: 1/1, 0 failed, 0 warnings\n\n✅ OVERALL: PASSED\n"


def check(id_: str, status: str, description: str = "what was checked") -> dict[str, Any]:
    return {"id": id_, "name": id_, "description": description, "status": status, "timestamp": "t"}


def test_the_listing_gives_names_and_spec_versions_in_order() -> None:
    assert scenarios_from_listing(LISTING) == [
        ("initialize", ("2025-06-18", "2025-11-25")),
        ("auth/metadata-default", ("2025-11-25",)),
        ("auth/resource-mismatch", ("draft",)),
    ]


def test_info_and_success_checks_pass() -> None:
    outcome = judge("initialize", "plain", [check("a", "SUCCESS"), check("b", "INFO")], PASSED_OUTPUT)
    assert outcome.passed
    assert outcome.reason == ""


def test_a_failure_check_fails_and_is_the_reason() -> None:
    checks = [
        check("ok", "SUCCESS"),
        check("client-sse-retry-timing", "FAILURE", "Client MUST respect the retry field"),
    ]
    outcome = judge("sse-retry", "transport", checks, PASSED_OUTPUT)
    assert not outcome.passed
    assert outcome.failures == (CheckNote("client-sse-retry-timing", "Client MUST respect the retry field"),)
    assert outcome.reason == "client-sse-retry-timing: Client MUST respect the retry field"


def test_a_warning_alone_passes_but_is_kept() -> None:
    outcome = judge("auth/x", "plain", [check("ok", "SUCCESS"), check("w", "WARNING", "SHOULD")], PASSED_OUTPUT)
    assert outcome.passed
    assert outcome.warnings == (CheckNote("w", "SHOULD"),)


def test_an_exit_the_suite_holds_against_the_client_fails_with_the_clients_words() -> None:
    output = "\nClient exited with code 1\n...\n⚠️  CLIENT EXITED WITH ERROR (code 1) - Test may be incomplete\n"
    stderr = "official-suite client: failed: tools/call ask: MCPError: Connection closed\n"
    outcome = judge("tools_call", "connect", [check("ok", "SUCCESS")], output, stderr)
    assert not outcome.passed
    assert outcome.client_exit == 1
    assert outcome.reason == "client exited 1: tools/call ask: MCPError: Connection closed"


def test_an_exit_the_scenario_allows_passes() -> None:
    # allowClientError: the suite prints the exit code but holds nothing against it.
    outcome = judge("auth/scope-retry-limit", "plain", [check("ok", "SUCCESS")], "\nClient exited with code 1\n")
    assert outcome.passed
    assert outcome.client_exit == 1


def test_a_traceback_names_its_last_line() -> None:
    stderr = "official-suite client: failed:\nTraceback (most recent call last):\n  File x\nTimeoutError\n"
    outcome = judge("initialize", "proxy", [], "Client timed out after 30000ms", stderr)
    assert not outcome.passed
    assert outcome.timed_out
    assert outcome.client_errors == ("TimeoutError",)
    assert outcome.failures == (CheckNote("no-checks", "the suite wrote no checks"),)


def cell(scenario: str, mode: str, passed: bool, warnings: tuple[str, ...] = ()) -> Outcome:
    failures = () if passed else (CheckNote("some-check", "went wrong"),)
    return Outcome(scenario, mode, passed, failures, tuple(CheckNote(w, "SHOULD") for w in warnings))


def test_regressions_are_failures_where_plain_passes_only() -> None:
    outcomes = [
        cell("a", "plain", True),
        cell("a", "transport", False),
        cell("a", "proxy", True),
        cell("b", "plain", False),
        cell("b", "transport", False),
    ]
    assert [(o.scenario, o.mode) for o in regressions(outcomes)] == [("a", "transport")]


def test_each_mode_is_held_to_its_own_yardstick_the_1x_column_to_plain_sdk1() -> None:
    outcomes = [
        cell("a", "plain", True),
        cell("a", "plain-sdk1", False),
        cell("a", "sdk1", False),  # the 1.x client cannot do "a": no regression of ours
        cell("b", "plain", False),
        cell("b", "plain-sdk1", True),
        cell("b", "sdk1", False),
        cell("b", "transport", False),
    ]
    judged = regressions(outcomes, yardsticks=YARDSTICKS)
    assert [(o.scenario, o.mode) for o in judged] == [("b", "sdk1")]


def test_the_1x_column_earns_new_warnings_against_plain_sdk1_only() -> None:
    outcomes = [
        cell("a", "plain", True, ("w1",)),
        cell("a", "plain-sdk1", True, ("w2",)),
        cell("a", "sdk1", True, ("w1", "w2")),
    ]
    assert [(o.mode, w.id) for o, w in new_warnings(outcomes, yardsticks=YARDSTICKS)] == [("sdk1", "w1")]


def test_new_warnings_are_those_plain_did_not_earn() -> None:
    outcomes = [cell("a", "plain", True, ("w1",)), cell("a", "proxy", True, ("w1", "w2"))]
    assert [(o.mode, w.id) for o, w in new_warnings(outcomes)] == [("proxy", "w2")]


def test_the_table_has_a_row_per_scenario_a_count_per_mode_and_the_reasons() -> None:
    outcomes = [cell("a", "plain", True, ("w",)), cell("a", "connect", False), cell("b", "plain", True)]
    table = render_table(outcomes, ["a", "b"], ["plain", "connect"])
    lines = table.splitlines()
    assert lines[0] == "| scenario | plain | connect |"
    assert lines[2] == "| a | pass (1w) | FAIL |"
    assert lines[3] == "| b | pass | - |"
    assert lines[4] == "| **passed (of 2)** | 2 | 0 |"
    assert lines[-1] == "- a / connect: some-check: went wrong"


def test_an_outcome_survives_json() -> None:
    outcome = judge("s", "m", [check("f", "FAILURE"), check("w", "WARNING")], "", "", seconds=1.5, gaps=("g",))
    assert outcome_from_json(outcome_to_json(outcome)) == outcome


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"properties": {"a": {"type": "number"}, "b": {"type": "integer"}}}, {"a": 1, "b": 1}),
        ({"properties": {"flag": {"type": "boolean"}, "name": {"type": "string"}}}, {"flag": True, "name": "test"}),
        ({"properties": {"n": {"type": "number", "default": 7}}}, {"n": 7}),
        ({"type": "object"}, {}),
    ],
)
def test_tool_arguments_come_from_the_schema(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert arguments_for(schema) == expected


def test_elicitation_is_answered_with_the_schema_defaults() -> None:
    params = types.ElicitRequestFormParams(
        message="m",
        requested_schema={
            "type": "object",
            "properties": {"name": {"type": "string", "default": "Ada"}, "age": {"type": "integer"}},
        },
    )
    result = elicitation_defaults(params)
    assert result.action == "accept"
    assert result.content == {"name": "Ada"}


def test_a_client_error_is_named_by_the_first_error_inside_its_groups() -> None:
    nested = ExceptionGroup("outer", [ExceptionGroup("inner", [ValueError("the server refused\n our credentials")])])
    assert innermost(nested) == "ValueError: the server refused our credentials"
    assert innermost(KeyError("k")) == "KeyError: 'k'"


def test_a_pending_cell_is_matched_by_its_scenario_pattern_and_mode() -> None:
    pending = {("auth/*", "stdio"): "issue 21"}
    stdio = Outcome(scenario="auth/metadata-default", mode="stdio", passed=False)
    assert pending_reason(stdio, pending) == "issue 21"
    assert pending_reason(Outcome(scenario="auth/metadata-default", mode="proxy", passed=False), pending) is None
    assert pending_reason(Outcome(scenario="sse-retry", mode="stdio", passed=False), pending) is None
