"""The committed diagrams are what the table draws today, and the command line regenerates them.

None of these needs graphviz's ``dot``: the committed SVGs are checked against their DOT through
the hash each SVG records; the command's SVG branch runs against a stand-in ``dot`` on ``PATH``
and its no-``dot`` branch with a ``PATH`` that has none. ``test_the_command_on_this_machine``
asserts whichever branch this machine takes: where the real ``dot`` exists (CI installs it) it
re-renders and compares the SVGs byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_session_recovery.cli.diagrams import dot_hash_of
from mcp_session_recovery.model import TABLE
from mcp_session_recovery.model.render import DIAGRAMS

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "diagrams"
STALE = "diagrams/ is stale: run `python -m mcp_session_recovery diagrams` (with graphviz installed) and commit"
#: A stand-in for graphviz's ``dot``: reads DOT on stdin, writes a tiny SVG (what ``dot -Tsvg`` does).
FAKE_DOT = """#!{python}
import sys
sys.stdin.read()
sys.stdout.write('<?xml version="1.0"?>\\n<svg xmlns="http://www.w3.org/2000/svg"><!-- stand-in --></svg>\\n')
"""


def _run(out: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "mcp_session_recovery", "diagrams", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _assert_table_printed(stdout: str) -> None:
    assert f"{len(TABLE)} rows" in stdout
    lines = stdout.splitlines()
    for row in TABLE:
        assert any(
            line.split()[:2] == [row.source.name, row.event.__name__] and row.action.__name__ in line for line in lines
        )


def _assert_dot_files(out: Path) -> None:
    for stem in DIAGRAMS:
        assert (out / f"{stem}.dot").read_text() == (COMMITTED / f"{stem}.dot").read_text(), STALE


@pytest.mark.parametrize("stem", sorted(DIAGRAMS))
def test_committed_dot_matches_the_table(stem: str) -> None:
    assert (COMMITTED / f"{stem}.dot").read_text(encoding="utf-8") == DIAGRAMS[stem](TABLE).source, STALE


@pytest.mark.parametrize("stem", sorted(DIAGRAMS))
def test_committed_svg_was_drawn_from_the_committed_dot(stem: str) -> None:
    svg = (COMMITTED / f"{stem}.svg").read_text(encoding="utf-8")
    dot = (COMMITTED / f"{stem}.dot").read_text(encoding="utf-8")
    assert svg.startswith("<?xml")
    assert "<svg" in svg
    assert dot_hash_of(svg) == hashlib.sha256(dot.encode("utf-8")).hexdigest(), STALE


def test_every_state_and_row_is_drawn() -> None:
    source = DIAGRAMS["session"](TABLE).source
    for row in TABLE:
        assert row.source.name in source
        assert row.target.name in source
        if row.guard is not None:
            assert f"[{row.guard.__name__}]" in source


def test_without_dot_it_writes_the_dot_files_and_exits_1_saying_so(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = _run(tmp_path / "out", str(empty))
    assert result.returncode == 1
    assert "SVG diagrams were NOT written" in result.stderr
    assert "install graphviz" in result.stderr
    _assert_table_printed(result.stdout)
    _assert_dot_files(tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.svg"))


def test_with_dot_it_writes_stamped_svgs_and_exits_0(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text(FAKE_DOT.format(python=sys.executable))
    fake.chmod(0o755)
    result = _run(tmp_path / "out", str(bin_dir))
    assert result.returncode == 0, result.stderr
    _assert_table_printed(result.stdout)
    _assert_dot_files(tmp_path / "out")
    for stem in DIAGRAMS:
        svg = (tmp_path / "out" / f"{stem}.svg").read_text()
        assert "<!-- stand-in -->" in svg, "the SVG is what dot printed"
        dot = (tmp_path / "out" / f"{stem}.dot").read_text()
        assert dot_hash_of(svg) == hashlib.sha256(dot.encode("utf-8")).hexdigest()


def test_the_command_on_this_machine(tmp_path: Path) -> None:
    """With the real ``dot`` (CI): the SVGs equal the committed ones; without: exit 1, DOT only."""
    result = _run(tmp_path, os.environ.get("PATH", ""))
    _assert_table_printed(result.stdout)
    _assert_dot_files(tmp_path)
    if shutil.which("dot") is None:
        assert result.returncode == 1
        assert "SVG diagrams were NOT written" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    for stem in DIAGRAMS:
        assert (tmp_path / f"{stem}.svg").read_text() == (COMMITTED / f"{stem}.svg").read_text(), STALE
