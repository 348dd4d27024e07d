"""The README's aiohttp middleware example runs and says what the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_aiohttp_middleware_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "aiohttp_middleware.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.splitlines() == [
        "before restart: 1",
        "after restart: 1",
        "initializes on the new server: 1",
    ]


def test_the_readme_section_sits_before_performance_and_names_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.index("## aiohttp middleware")
    assert section < readme.index("## Performance")
    body = readme[section : readme.index("## Performance")]
    assert "examples/aiohttp_middleware.py" in body
    assert "replaces" in body
    assert "middlewares=" in body
