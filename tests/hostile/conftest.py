"""The hostile-input suite runs every adapter on the anyio backends it supports (as tests/edges)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
