"""The conformance tests: the kit against our own adapters, the plain SDK and broken adapters.

Every check serves its own in-process test server, so nothing here starts a process; the
fixture comes from the kit's pytest plugin (imported, as ``pytest_plugins`` is for top-level
conftest files only).
"""

from __future__ import annotations

import pytest

from mcp_session_recovery.testing.conformance.plugin import conformance

__all__ = ["anyio_backend", "conformance"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp and the SDK's client run on asyncio; the runtime's trio runs are elsewhere
