"""The second environment: the MCP SDK's 1.x line (``mcp<2``), which cannot share one with mcp 2.x.

    nox -s sdk1            # build (or reuse) .nox/sdk1, type-check and run tests_sdk1/
    nox -s sdk1 -- -k idle # arguments after ``--`` go to pytest

The environment is reused from one run to the next (``pip`` then only checks what is installed), so
after the first build a run costs the tests alone. ``python -m tests.official_suite`` runs its
``plain-sdk1`` and ``sdk1`` columns with this environment's interpreter (``.nox/sdk1/bin/python``).
"""

from __future__ import annotations

import sys

import nox

nox.options.sessions = ["sdk1"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

#: The 1.x line under test; its idle reaper (``session_idle_timeout``) came in 1.30.
SDK1 = "mcp>=1.30,<2"
#: The frameworks that require ``mcp<2``, tested in tests_sdk1/test_frameworks.py (pinned: a new
#: release is a change to test, not one to meet in CI).
FRAMEWORKS = ("langchain-mcp-adapters==0.3.2", "mcp-use==1.7.1")
#: What the 1.x tests need besides the SDK and the frameworks: the library with httpx, its test
#: server and conformance kit (``.[httpx,conformance]``), and the test tools (the ``dev`` floors).
TEST_TOOLS = ("pytest>=8.3", "pytest-xdist>=3.6", "trio>=0.27", "mypy>=1.13")


@nox.session(venv_backend="virtualenv")
def sdk1(session: nox.Session) -> None:
    """The SDK 1.x client over RecoveringTransport on httpx, against real server processes."""
    session.install("-e", ".[httpx,conformance]", SDK1, *FRAMEWORKS, *TEST_TOOLS)
    session.run("python", "-c", "import mcp, importlib.metadata as m; assert m.version('mcp') < '2', m.version('mcp')")
    # Typed against the 1.x SDK: the main mypy run (mcp 2.x installed) leaves tests_sdk1/ out. The
    # library's own modules are checked there; here, what they say about the 2.x SDK (the root names
    # ``connect`` for type checkers) is not an error of the 1.x tests.
    session.run("mypy", "--follow-imports=silent", "tests_sdk1")
    # mcp-use sends telemetry unless told not to (the tests' conftest says so too, and fails any
    # lookup of a name other than this machine's).
    session.env["MCP_USE_ANONYMIZED_TELEMETRY"] = "false"
    # mcp-use meets this library through the ``stdio`` bridge, whose ``cli`` extra needs the SDK
    # 2.x: it runs on the interpreter that runs nox (the main environment, ``.[dev]``).
    session.env["SDK1_BRIDGE_PYTHON"] = sys.executable
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "tests_sdk1", *session.posargs)
