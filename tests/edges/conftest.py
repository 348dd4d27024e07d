"""The edge tests: every adapter, on the anyio backends it supports, against our server and the SDK's.

The SDK 2.3.0 server runs as a real process on 127.0.0.1 (one per answer style for the whole
run, killed by pid at the end); our fault-injecting server runs in-process, where a fault is
switched synchronously and its counters read without a round trip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.processes import ManagedServer, sdk_server_argv


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def sdk_sse_server() -> Iterator[ManagedServer]:
    """The SDK server with its defaults (stateful, SSE answers)."""
    with ManagedServer(sdk_server_argv()) as server:
        yield server


@pytest.fixture(scope="session")
def sdk_json_server() -> Iterator[ManagedServer]:
    """The SDK server answering ``application/json`` (``json_response=True``)."""
    with ManagedServer(sdk_server_argv("--json-response")) as server:
        yield server
