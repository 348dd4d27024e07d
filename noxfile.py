"""The second environment: the MCP SDK's 1.x line (``mcp<2``), which cannot share one with mcp 2.x.

    nox -s sdk1            # build (or reuse) .nox/sdk1, type-check and run tests_sdk1/
    nox -s sdk1 -- -k idle # arguments after ``--`` go to pytest

The environment is reused from one run to the next (``pip`` then only checks what is installed), so
after the first build a run costs the tests alone. ``python -m tests.official_suite`` runs its
``plain-sdk1`` and ``sdk1`` columns with this environment's interpreter (``.nox/sdk1/bin/python``).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["sdk1"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

#: The 1.x line under test; its idle reaper (``session_idle_timeout``) came in 1.30.
SDK1 = "mcp>=1.30,<2"
#: What the 1.x tests need besides the SDK: the library with httpx and its test server, and the
#: test tools (the same floors as the ``dev`` extra; no Hypothesis: nothing there uses it).
TEST_TOOLS = ("pytest>=8.3", "trio>=0.27", "mypy>=1.13")


@nox.session(venv_backend="virtualenv")
def sdk1(session: nox.Session) -> None:
    """The SDK 1.x client over RecoveringTransport on httpx, against real server processes."""
    session.install("-e", ".[httpx,testing]", SDK1, *TEST_TOOLS)
    session.run("python", "-c", "import mcp, importlib.metadata as m; assert m.version('mcp') < '2', m.version('mcp')")
    # Typed against the 1.x SDK: the main mypy run (mcp 2.x installed) leaves tests_sdk1/ out. The
    # library's own modules are checked there; here, what they say about the 2.x SDK (the root names
    # ``connect`` for type checkers) is not an error of the 1.x tests.
    session.run("mypy", "--follow-imports=silent", "tests_sdk1")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests_sdk1", *session.posargs)
