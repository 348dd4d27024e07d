"""``demo`` end to end, as a user runs it: a subprocess that starts and kills real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from .support import ROOT, _env, pids_gone, run_cli

#: Calls each client makes with the default 3 restarts: 3 warm, 2 after each restart, 2 per outage.
CALLS = 3 + 3 * 2 + 2 * 2


def _row(stdout: str, label: str) -> list[str]:
    """The two cells (plain, recovering) of the summary row ``label``."""
    for line in stdout.splitlines():
        if line.startswith(label + "  "):
            cells = re.split(r"\s{2,}", line.strip())
            assert len(cells) == 3, line
            return cells[1:]
    raise AssertionError(f"no summary row {label!r} in:\n{stdout}")


def _pids(stdout: str) -> list[int]:
    line = next(line for line in stdout.splitlines() if line.startswith("processes started (pids, all stopped): "))
    return [int(pid) for pid in line.rpartition(": ")[2].split()]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_the_demo_runs_and_only_the_recovering_client_succeeds_on_every_call(era: str) -> None:
    started = time.monotonic()
    result = run_cli(["demo", "--era", era], timeout=90)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert elapsed < 60
    out = result.stdout
    assert "\x1b[" not in out, "no colour when stdout is not a terminal"
    assert _row(out, "calls made") == [str(CALLS), str(CALLS)]
    plain_ok, recovering_ok = (int(cell) for cell in _row(out, "calls succeeded"))
    assert recovering_ok == CALLS
    assert plain_ok < CALLS, "the plain client failed somewhere: that is the point"
    assert _row(out, "client rebuilt after it broke")[1] == "0"
    assert int(_row(out, "recoveries (RECOVERING -> READY)")[1]) >= 2, "at least the two outages"
    bumps = [int(n) for n in _row(out, "bump runs per server process")[1].split()]
    assert sum(bumps) == CALLS, "every recovering call ran exactly once, on the server that answered it"
    negotiations = _row(out, "discovers per server process" if era == "modern" else "initializes per server process")
    if era == "legacy":
        assert negotiations[1] == "1 1 1 1 1 1", "one initialize per server process, no more"
        assert _row(out, "first call after a restart")[0] == "failed (3 of 3)"
    assert "ms (median of" in _row(out, "first call after a restart")[1]
    assert "the recovering client succeeded on every call" in out
    pids = _pids(out)
    assert len(pids) == 2 * 2 + 2 * (3 + 2) + 2, "2 servers and 2 gateways, servers restarted 5 times, gateways once"
    assert pids_gone(pids) == []


def test_ctrl_c_stops_the_demo_and_every_process_it_started() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_session_recovery", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(None),
        cwd=ROOT,
    )
    seen = []
    try:
        assert process.stdout is not None
        for _ in range(200):  # bounded: the demo prints fewer lines than this before its first restart
            line = process.stdout.readline()
            seen.append(line)
            if "== restart 1/" in line or not line:
                break
        assert any("== restart 1/" in line for line in seen), "".join(seen)
        os.kill(process.pid, signal.SIGINT)
        rest, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 130, errors
    assert "interrupted" in errors
    pids = _pids("".join(seen) + rest)
    assert len(pids) >= 4
    assert pids_gone(pids) == []
