"""Sphinx configuration: furo, Markdown pages (MyST), the API from the docstrings, and the pages
generated from the code (``_ext/generated.py``). ``.ci/run`` builds it with warnings as errors."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from mcp_session_recovery import __version__  # noqa: E402

project = "mcp-session-recovery"
author = "The mcp-session-recovery authors"
copyright = "2026, the mcp-session-recovery authors"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "generated",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "README.md"]

html_theme = "furo"
html_title = f"mcp-session-recovery {release}"
html_static_path = ["_static"]
html_css_files = ["site.css"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# The docstrings name other objects in plain words; only what autodoc itself emits is checked.
nitpicky = False
suppress_warnings = ["myst.header"]
