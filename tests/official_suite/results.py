"""Judging one suite run (its ``checks.json`` and what the suite printed), and the scenario x mode table.

Pure: no processes, no Node; ``test_results.py`` checks it without the suite installed.

A scenario passes in a mode when no check is ``FAILURE``, the client did not time out, and the
client exited 0 (or the scenario allows it an error: the suite then says nothing about the exit).
A ``WARNING`` (a SHOULD the client did not meet) does not fail the scenario, unlike the suite's own
``OVERALL`` line, which counts warnings as failures: the SDK itself earns some, and the question
this table answers is "no worse than the SDK". Warnings are kept per cell, and a warning a mode
earns that ``plain`` did not is listed as such.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CheckNote",
    "Outcome",
    "judge",
    "new_warnings",
    "outcome_from_json",
    "outcome_to_json",
    "pending_reason",
    "regressions",
    "render_table",
    "scenarios_from_listing",
]

#: How long a note may be in the table (the JSON keeps it whole).
NOTE_LIMIT = 300
_EXIT = re.compile(r"Client exited with code (-?\d+)")
_LISTED = re.compile(r"^\s*-\s+(\S+)\s+\[([^\]]*)\]\s*$")


@dataclass(frozen=True)
class CheckNote:
    """One check the suite reported, by its id and its description."""

    id: str
    description: str


@dataclass(frozen=True)
class Outcome:
    """One scenario in one mode."""

    scenario: str
    mode: str
    passed: bool
    failures: tuple[CheckNote, ...] = ()
    warnings: tuple[CheckNote, ...] = ()
    client_exit: int = 0
    timed_out: bool = False
    #: Why the client said it failed (its ``failed:`` lines), when it did.
    client_errors: tuple[str, ...] = ()
    seconds: float = 0.0
    #: What the client logic could not hand this mode (it ran without).
    gaps: tuple[str, ...] = field(default=())

    @property
    def reason(self) -> str:
        """The first reason the cell failed, one line ("" when it passed)."""
        if self.passed:
            return ""
        if self.failures:
            first = self.failures[0]
            said = f" (client: {self.client_errors[0]})" if self.client_errors else ""
            return _short(f"{first.id}: {first.description}{said}")
        if self.timed_out:
            return "the client timed out"
        if self.client_errors:
            return _short(f"client exited {self.client_exit}: {self.client_errors[0]}")
        return f"client exited {self.client_exit}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"


def scenarios_from_listing(listing: str) -> list[tuple[str, tuple[str, ...]]]:
    """``list --client`` output → (scenario, spec versions) in the suite's order."""
    found: list[tuple[str, tuple[str, ...]]] = []
    for line in listing.splitlines():
        match = _LISTED.match(line)
        if match:
            found.append((match.group(1), tuple(v.strip() for v in match.group(2).split(",") if v.strip())))
    return found


def _client_errors(client_stderr: str) -> tuple[str, ...]:
    marker = "official-suite client: failed:"
    errors: list[str] = []
    lines = client_stderr.splitlines()
    for index, line in enumerate(lines):
        if marker not in line:
            continue
        rest = line.split(marker, 1)[1].strip()
        if rest:
            errors.append(rest)
        else:  # a traceback follows: its last line names the error
            tail = [text for text in lines[index + 1 :] if text.strip() and not text.startswith(" ")]
            errors.append(tail[-1].strip() if tail else "an exception (no message)")
    return tuple(errors)


def judge(
    scenario: str,
    mode: str,
    checks: Sequence[Mapping[str, Any]],
    suite_output: str,
    client_stderr: str = "",
    *,
    seconds: float = 0.0,
    gaps: Iterable[str] = (),
) -> Outcome:
    """The verdict on one run from its checks, the suite's own output and the client's stderr."""
    failures = tuple(
        CheckNote(str(c.get("id")), str(c.get("description", ""))) for c in checks if c.get("status") == "FAILURE"
    )
    warnings = tuple(
        CheckNote(str(c.get("id")), str(c.get("description", ""))) for c in checks if c.get("status") == "WARNING"
    )
    timed_out = "Client timed out after" in suite_output or "CLIENT TIMED OUT" in suite_output
    exit_match = _EXIT.search(suite_output)
    client_exit = int(exit_match.group(1)) if exit_match else 0
    # The suite names an exit it holds against the client; a scenario that expects the client to
    # give up (allowClientError) gets no such line.
    error_held = client_exit != 0 and "CLIENT EXITED WITH ERROR" in suite_output
    passed = not failures and not timed_out and not error_held and bool(checks)
    return Outcome(
        scenario=scenario,
        mode=mode,
        passed=passed,
        failures=failures if checks else (CheckNote("no-checks", "the suite wrote no checks"),),
        warnings=warnings,
        client_exit=client_exit,
        timed_out=timed_out,
        client_errors=_client_errors(client_stderr),
        seconds=seconds,
        gaps=tuple(gaps),
    )


def regressions(
    outcomes: Iterable[Outcome], baseline: str = "plain", yardsticks: Mapping[str, str] | None = None
) -> list[Outcome]:
    """Every cell that fails a scenario its yardstick passes: ``yardsticks`` maps a mode to the mode
    it is held to (a mode it does not name is not judged); without it, every mode but ``baseline``
    is held to ``baseline``."""
    cells = list(outcomes)
    held_to = _held_to(cells, baseline, yardsticks)
    passed = {(o.mode, o.scenario) for o in cells if o.passed}
    return [
        o
        for o in cells
        if (yardstick := held_to.get(o.mode)) is not None and (yardstick, o.scenario) in passed and not o.passed
    ]


def _held_to(cells: Sequence[Outcome], baseline: str, yardsticks: Mapping[str, str] | None) -> dict[str, str]:
    if yardsticks is not None:
        return dict(yardsticks)
    return {o.mode: baseline for o in cells if o.mode != baseline}


def pending_reason(outcome: Outcome, pending: Mapping[tuple[str, str], str]) -> str | None:
    """Why ``outcome``'s cell is known to fail, when ``pending`` (scenario pattern, mode) -> reason
    lists it (``fnmatch`` patterns: ``auth/*``)."""
    for (pattern, mode), reason in pending.items():
        if mode == outcome.mode and fnmatch.fnmatchcase(outcome.scenario, pattern):
            return reason
    return None


def new_warnings(
    outcomes: Iterable[Outcome], baseline: str = "plain", yardsticks: Mapping[str, str] | None = None
) -> list[tuple[Outcome, CheckNote]]:
    """Warnings a mode earned on a scenario where its yardstick (as in :func:`regressions`) did not."""
    cells = list(outcomes)
    held_to = _held_to(cells, baseline, yardsticks)
    warned = {(o.mode, o.scenario): {w.id for w in o.warnings} for o in cells}
    found: list[tuple[Outcome, CheckNote]] = []
    for outcome in cells:
        yardstick = held_to.get(outcome.mode)
        seen = warned.get((yardstick, outcome.scenario)) if yardstick is not None else None
        if seen is None:
            continue
        found.extend((outcome, w) for w in outcome.warnings if w.id not in seen)
    return found


def _cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return "-"
    mark = "pass" if outcome.passed else "FAIL"
    return f"{mark} ({len(outcome.warnings)}w)" if outcome.warnings else mark


def render_table(outcomes: Iterable[Outcome], scenarios: Sequence[str], modes: Sequence[str]) -> str:
    """A Markdown table scenario x mode, a count per mode, then each failing cell's reason."""
    cells = {(o.scenario, o.mode): o for o in outcomes}
    lines = ["| scenario | " + " | ".join(modes) + " |", "| --- |" + " --- |" * len(modes)]
    for scenario in scenarios:
        lines.append(f"| {scenario} | " + " | ".join(_cell(cells.get((scenario, mode))) for mode in modes) + " |")
    counts = [sum(1 for s in scenarios if (o := cells.get((s, m))) is not None and o.passed) for m in modes]
    lines.append(f"| **passed (of {len(scenarios)})** | " + " | ".join(str(c) for c in counts) + " |")
    reasons = [
        f"- {o.scenario} / {o.mode}: {o.reason}"
        for s in scenarios
        for m in modes
        if (o := cells.get((s, m))) and not o.passed
    ]
    if reasons:
        lines += ["", "Failures (first failing check, or why the client failed):", *reasons]
    return "\n".join(lines)


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "scenario": outcome.scenario,
        "mode": outcome.mode,
        "passed": outcome.passed,
        "reason": outcome.reason,
        "failures": [{"id": n.id, "description": n.description} for n in outcome.failures],
        "warnings": [{"id": n.id, "description": n.description} for n in outcome.warnings],
        "client_exit": outcome.client_exit,
        "timed_out": outcome.timed_out,
        "client_errors": list(outcome.client_errors),
        "seconds": round(outcome.seconds, 2),
        "gaps": list(outcome.gaps),
    }


def outcome_from_json(data: Mapping[str, Any]) -> Outcome:
    return Outcome(
        scenario=data["scenario"],
        mode=data["mode"],
        passed=data["passed"],
        failures=tuple(CheckNote(n["id"], n["description"]) for n in data["failures"]),
        warnings=tuple(CheckNote(n["id"], n["description"]) for n in data["warnings"]),
        client_exit=data["client_exit"],
        timed_out=data["timed_out"],
        client_errors=tuple(data["client_errors"]),
        seconds=data["seconds"],
        gaps=tuple(data["gaps"]),
    )
