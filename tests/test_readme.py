"""The README: short, renders on the package index, and its Python snippets are valid Python."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_newcomer_reads_it_in_two_minutes() -> None:
    assert len(README.splitlines()) <= 200


def test_every_link_and_image_is_absolute_so_it_renders_on_the_package_index() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    assert targets, "the README links its docs"
    relative = [target for target in targets if not target.startswith("https://")]
    assert relative == []
    assert re.search(r"!\[[^\]]+\]\(https://\S+/diagrams/session-overview\.svg\)", README)


def test_no_development_log() -> None:
    assert not re.search(r"\bissue \d+", README, flags=re.IGNORECASE)
    assert "this stop" not in README


def test_every_python_snippet_parses() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    assert len(blocks) >= 4
    for block in blocks:
        # The snippets are bodies of an async function (`async with` at the top level).
        compile(block, "<README>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_the_install_says_virtual_environment_first() -> None:
    venv = README.index("python3 -m venv .venv")
    assert venv < README.index("pip install -e '.[demo]'")
