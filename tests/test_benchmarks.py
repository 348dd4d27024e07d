"""The benchmark command works: two cheap rows of a quick run print their lines and their JSON.

Structure only. The figures themselves are never asserted: the machine is noisy, and a benchmark
reports ratios from one run, it does not pass or fail a build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: One in-memory row, one against a real server process restarted with SIGKILL.
ROWS = ("cpu-asyncio", "herd-100")
HEADER = ["figure", "target", "measured", "anchor (same run)", "met?"]


def test_a_quick_run_prints_one_line_per_row_with_a_measured_value(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--only", *ROWS, "--json", str(results)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    table = done.stdout.splitlines()
    assert [cell.strip() for cell in table[0].split(" | ")] == HEADER
    for row in ROWS:
        [cells] = [line.split(" | ") for line in table if line.startswith(f"{row}: ")]
        assert len(cells) == len(HEADER), cells
        measured = cells[2].strip()
        assert measured, f"{row} measured nothing"
        assert not measured.startswith(("error", "skipped")), f"{row}: {measured}"
        assert cells[4].strip() in {"yes", "no", "—"}

    document = json.loads(results.read_text(encoding="utf-8"))
    assert document["quick"] is True
    assert [line["row"] for line in document["rows"]] == list(ROWS)
    assert all(line["values"] for line in document["rows"])
