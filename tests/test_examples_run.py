"""The examples in examples/ and the docstrings run and say what the README says."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

from mcp_session_recovery.model import machine

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_drive_the_model_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "drive_the_model.py")], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "recovered: <SessionMachine READY generation=2 requests=0>"


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(machine)
    assert tried > 0
    assert failures == 0


def test_survive_a_restart_example_runs_on_both_backends() -> None:
    for backend in ("asyncio", "trio"):
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "survive_a_restart.py"), backend],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        lines = result.stdout.splitlines()
        assert lines[0] == "before restart: 1"
        assert lines[1] == "after restart: 1", "the call after the restart ran once, on the new process"
        assert "READY->INVALIDATED INVALIDATED->RECOVERING RECOVERING->READY" in lines[2]
        assert lines[3] == "initializes seen by the new server process: 1"


def _run(name: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.splitlines()


def test_the_sdk_over_recovering_transport_example_runs() -> None:
    assert _run("sdk_over_recovering_transport.py") == [
        "before restart: 1",
        "after restart: 1",
        "initializes on the new server: 1",
    ]


def test_the_connect_example_follows_both_era_changes() -> None:
    tools = "  terms changed; tools: add, blob, bump, peek, slow"
    assert _run("connect_follows_an_era_change.py") == [
        "legacy era: bump -> 1",
        "modern era: bump -> 1",
        tools,
        "legacy era: bump -> 1",
        tools,
    ]


def test_the_framework_recipes_example_survives_a_restart_in_each() -> None:
    lines = _run("frameworks.py")
    names = ["fastmcp", "pydantic-ai", "openai-agents", "sdk ClientSession", "sdk mcp.Client"]
    assert [line.partition(":")[0] for line in lines] == names
    for line in lines:
        assert line.endswith("after restart 1, initializes 1"), line
