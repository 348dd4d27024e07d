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


def test_the_readme_section_names_the_example_and_the_per_request_pitfall() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.index("### A raw httpx or aiohttp client")
    body = readme[section : readme.index("\n### ", section + 1)]
    assert "examples/aiohttp_middleware.py" in body
    assert "needs the `aiohttp` extra" in body, "the demo extra does not bring aiohttp"
    assert "replaces" in body
    assert "middlewares=" in body


def test_the_docs_include_the_example_rather_than_a_copy() -> None:
    guide = (ROOT / "docs" / "guides" / "raw-clients.md").read_text()
    assert "```{literalinclude} ../../examples/aiohttp_middleware.py" in guide
