"""Every in-process test of the test server runs on asyncio and on trio."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend a ``@pytest.mark.anyio`` test runs on."""
    backend: str = request.param
    return backend
