"""Shared test settings: Hypothesis profiles and the exploration summary printed after a run."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

# "ci": deterministic and sized for a two-core machine. "thorough": many more examples and the
# full exhaustive exploration; select it with HYPOTHESIS_PROFILE=thorough.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The bridges keep state in the user's directories (the proxy's host sessions, OAuth tokens): the
# tests, and every process they start, get directories of their own instead.
_USER_DIRS = tempfile.mkdtemp(prefix="mcp-session-recovery-tests-")
atexit.register(shutil.rmtree, _USER_DIRS, ignore_errors=True)
for _name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
    os.environ[_name] = os.path.join(_USER_DIRS, _name.lower())

#: Lines that tests want shown at the end of the run (figures a reader of CI output needs).
SUMMARY: list[str] = []
#: Tallies that tests add to while they run, printed at the end as one line each.
TALLIES: dict[str, Counter[str]] = {}


def thorough() -> bool:
    """Whether the long-running profile is selected."""
    return os.environ.get("HYPOTHESIS_PROFILE", "ci") == "thorough"


def pytest_sessionfinish(session: pytest.Session) -> None:
    # In a worker of pytest-xdist: hand the figures to the controller, which prints them.
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["summary"] = list(SUMMARY)
        output["tallies"] = {name: dict(tally) for name, tally in TALLIES.items()}


def pytest_testnodedown(node: object, error: object) -> None:
    # The controller of pytest-xdist: a worker's figures join the run's (the hook exists only there).
    output = getattr(node, "workeroutput", {})
    SUMMARY.extend(output.get("summary", ()))
    for name, tally in output.get("tallies", {}).items():
        TALLIES.setdefault(name, Counter()).update(tally)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tallies = [
        f"{name}: " + ", ".join(f"{key} {n}" for key, n in sorted(t.items())) for name, t in TALLIES.items() if t
    ]
    if SUMMARY or tallies:
        terminalreporter.section("model checking figures")
        for line in (*SUMMARY, *tallies):
            terminalreporter.write_line(line)
