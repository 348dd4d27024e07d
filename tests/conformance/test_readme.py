"""The README's "Check your own transport or client" example runs as written, in a pytest of its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_session_recovery.testing.conformance import Fault
from mcp_session_recovery.testing.conformance.plugin import Conformance

from .clients import plain_sdk

ROOT = Path(__file__).resolve().parents[2]
SECTION = "### Check your own transport or client"


def _example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]  # the next section ends it
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "one Python example in the section"
    return str(blocks[0])


def test_the_section_is_the_last_way_to_use_it_and_links_its_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme[readme.index(SECTION) + len(SECTION) :]
    end = after.index("\n## ")  # the end of "Use it"
    assert "\n### " not in after[:end]
    assert "/guides/conformance.html" in after[:end]


def test_the_readme_example_passes_in_pytest(tmp_path: Path) -> None:
    code = _example()
    assert "conformance.check_client(" in code
    (tmp_path / "test_recovery.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_recovery.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_the_fixture_fails_a_test_with_the_report(conformance: Conformance) -> None:
    with pytest.raises(AssertionError) as failed:
        conformance.check_client(plain_sdk, faults={Fault.RESTART}, examples=2)
    assert "RECOVERED" in str(failed.value)
    assert "Session not found" in str(failed.value)
