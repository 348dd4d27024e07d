"""The SDK 1.x tests run on both of anyio's backends: the 1.x client is anyio throughout."""

from __future__ import annotations

import importlib.metadata

import pytest

#: On trio, the 1.x client leaves ``httpx_sse``'s event generator to the garbage collector when it
#: stops reading a stream (the SDK's own code, with or without this library): not ours to fail on.
SDK1_LEAKS = (
    "ignore:Async generator 'httpx_sse._api.EventSource.aiter_sse' was garbage collected:ResourceWarning",
    "ignore:Exception ignored in. <async_generator object EventSource.aiter_sse"
    ":pytest.PytestUnraisableExceptionWarning",
)


def pytest_configure(config: pytest.Config) -> None:
    sdk = importlib.metadata.version("mcp")
    if not sdk.startswith("1."):
        raise pytest.UsageError(f"tests_sdk1/ needs the SDK 1.x line (mcp {sdk} is here): run `nox -s sdk1`")
    for line in SDK1_LEAKS:
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend
