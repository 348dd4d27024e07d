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
