"""The soak's short run (about half a minute on two cores): nothing lost, nothing run twice, no call
past its deadline, across real SIGKILL restarts, through every client kind.

The figures are the servers' (the test server's ledger of ``bump`` tokens, the execution counts
of the SDK server) and the calls' own outcomes; see ``benchmarks/soak``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The short plan's restarts; it must keep at least this many.
MIN_RESTARTS = 8


def test_the_short_soak_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    results = tmp_path / "soak.json"
    command = [sys.executable, "-m", "benchmarks.soak", "--short", "--json", str(results)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    found = json.loads(results.read_text(encoding="utf-8"))
    assert found["errors"] == []
    assert found["lost"] == 0, found["lost_by_kind"]
    assert found["run_twice"] == 0
    assert found["past_deadline"] == 0
    assert found["wrong_answers"] == 0
    assert found["restarts"] >= MIN_RESTARTS
    assert found["calls"] >= 600
    assert set(found["by_client"]) == {"transport", "connect", "session"}
    assert all(count > 0 for count in found["by_client"].values())
    # The ledger saw the test server's bumps, and every answered bump is in it.
    assert found["ledger_tokens"] > 0
    assert found["ledger_missing"] == 0
    assert found["initializes_per_restart_max"] >= 1
    assert "lost" in done.stdout
    assert "run twice" in done.stdout
