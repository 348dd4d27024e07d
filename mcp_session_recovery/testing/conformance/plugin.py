"""The pytest plugin: a ``conformance`` fixture that makes the common check one line.

Opt in with ``pytest_plugins = ["mcp_session_recovery.testing.conformance.plugin"]`` in a test
module or the top-level ``conftest.py`` (or ``-p mcp_session_recovery.testing.conformance.plugin``).
It is deliberately not an auto-loaded ``pytest11`` entry point: that would import the kit (and
need its extra) in every pytest run of every project that installs the library. The fixture's
checks run their own event loop, so they fit plain (synchronous) tests and need no async plugin::

    def test_my_client_recovers(conformance):
        conformance.check_client(open_my_client)     # fails the test with the shortest failing story

From an async test, ``await check_client(...)`` and ``assert report.passed, report`` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .report import ConformanceReport
    from .story import OpenClient
    from .wire_check import MakeWire

__all__ = ["THOROUGH_EXAMPLES", "Conformance", "conformance", "pytest_addoption"]

#: Examples per check with ``--conformance-thorough`` (the default is the kit's, sized for CI).
THOROUGH_EXAMPLES = 60


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "mcp-session-recovery conformance kit")
    group.addoption(
        "--conformance-thorough",
        action="store_true",
        default=False,
        help=f"run {THOROUGH_EXAMPLES} stories per client check (and shrink longer) instead of the CI default",
    )
    group.addoption(
        "--conformance-backend",
        default="asyncio",
        choices=("asyncio", "trio"),
        help="the event loop the conformance fixture's checks run on (default: asyncio)",
    )


class Conformance:
    """The fixture's value: blocking checks that fail the test with the report when an invariant breaks."""

    def __init__(self, *, thorough: bool = False, backend: str = "asyncio") -> None:
        self.thorough = thorough
        self.backend = backend

    def check_client(self, open_client: OpenClient, **options: Any) -> ConformanceReport:
        """Run :func:`~.client_check.check_client` (same options) in a fresh event loop; raise if it failed."""
        import anyio

        from .client_check import check_client

        if self.thorough:
            options.setdefault("examples", THOROUGH_EXAMPLES)
            options.setdefault("shrink_runs", 200)
            options.setdefault("max_steps", 6)
            options.setdefault("time_limit", 900.0)

        async def run() -> ConformanceReport:
            return await check_client(open_client, **options)

        return _verdict(anyio.run(run, backend=self.backend))

    def check_wire(self, make_wire: MakeWire, **options: Any) -> ConformanceReport:
        """Run :func:`~.wire_check.check_wire` in a fresh event loop; raise if it failed."""
        import anyio

        from .wire_check import check_wire

        async def run() -> ConformanceReport:
            return await check_wire(make_wire, **options)

        return _verdict(anyio.run(run, backend=self.backend))


def _verdict(report: ConformanceReport) -> ConformanceReport:
    if not report.passed:
        raise AssertionError(report.summary())
    return report


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Conformance:
    """Blocking conformance checks: ``conformance.check_client(open_client)``, ``conformance.check_wire(make_wire)``."""
    thorough = bool(request.config.getoption("--conformance-thorough", default=False))
    backend = str(request.config.getoption("--conformance-backend", default="asyncio"))
    return Conformance(thorough=thorough, backend=backend)
