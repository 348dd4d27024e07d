"""The committed diagrams are what the table draws today, and the command line regenerates them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_session_recovery.model import TABLE
from mcp_session_recovery.model.render import DIAGRAMS

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "diagrams"
STALE = "diagrams/ is stale: run `python -m mcp_session_recovery diagrams` and commit the result"


@pytest.mark.parametrize("stem", sorted(DIAGRAMS))
def test_committed_dot_matches_the_table(stem: str) -> None:
    assert (COMMITTED / f"{stem}.dot").read_text(encoding="utf-8") == DIAGRAMS[stem](TABLE).source, STALE


def test_every_state_and_row_is_drawn() -> None:
    source = DIAGRAMS["session"](TABLE).source
    for row in TABLE:
        assert row.source.name in source
        assert row.target.name in source
        if row.guard is not None:
            assert f"[{row.guard.__name__}]" in source


def test_the_command_writes_dot_and_svg_and_prints_the_table(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.fail("graphviz's `dot` is required for the SVG diagrams (apt-get install graphviz)")
    result = subprocess.run(
        [sys.executable, "-m", "mcp_session_recovery", "diagrams", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"{len(TABLE)} rows" in result.stdout
    lines = result.stdout.splitlines()
    for row in TABLE:
        assert any(
            line.split()[:2] == [row.source.name, row.event.__name__] and row.action.__name__ in line for line in lines
        )
    for stem in DIAGRAMS:
        assert (tmp_path / f"{stem}.dot").read_text() == (COMMITTED / f"{stem}.dot").read_text(), STALE
        svg = (tmp_path / f"{stem}.svg").read_text()
        assert svg.startswith("<?xml")
        assert "<svg" in svg
        assert svg == (COMMITTED / f"{stem}.svg").read_text(), STALE
