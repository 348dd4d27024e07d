"""The SDK 1.x tests run on both of anyio's backends: the 1.x client is anyio throughout.

Nothing here may reach a host other than this machine: mcp-use sends telemetry (posthog, scarf)
unless ``MCP_USE_ANONYMIZED_TELEMETRY=false``, which is set before any test imports it (nox sets it
too), and every name lookup of another host fails loudly and is recorded; each test then checks
that none was attempted.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

# mcp-use reads it once, when its config module is imported (a module-level Telemetry()).
os.environ["MCP_USE_ANONYMIZED_TELEMETRY"] = "false"

#: The names a test may look up: this machine's.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
#: Every other name something in this process tried to look up (the guard refused each).
FOREIGN_LOOKUPS: list[str] = []
#: Every connection something in this process opened to an address off this machine.
FOREIGN_CONNECTS: list[str] = []

_real_getaddrinfo = socket.getaddrinfo


def _loopback_only_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    if name is not None and name not in LOOPBACK_NAMES:
        FOREIGN_LOOKUPS.append(str(name))
        raise socket.gaierror(socket.EAI_NONAME, f"tests_sdk1: no lookup of {name!r}, only of this machine")
    return _real_getaddrinfo(host, *args, **kwargs)


def _record_foreign_connects(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    address = args[1]
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        host = address[0]
        if not (host.startswith("127.") or host == "::1"):
            FOREIGN_CONNECTS.append(host)


def pytest_sessionstart(session: pytest.Session) -> None:
    socket.getaddrinfo = _loopback_only_getaddrinfo
    sys.addaudithook(_record_foreign_connects)


@pytest.fixture(autouse=True)
def _nothing_leaves_this_machine() -> Iterator[None]:
    yield
    assert FOREIGN_LOOKUPS == [], f"a name other than this machine's was looked up: {FOREIGN_LOOKUPS}"
    assert FOREIGN_CONNECTS == [], f"a connection left this machine: {FOREIGN_CONNECTS}"


#: On trio, the 1.x client leaves ``httpx_sse``'s event generator to the garbage collector when it
#: stops reading a stream (the SDK's own code, with or without this library): not ours to fail on.
SDK1_LEAKS = (
    "ignore:Async generator 'httpx_sse._api.EventSource.aiter_sse' was garbage collected:ResourceWarning",
    "ignore:Exception ignored in. <async_generator object EventSource.aiter_sse"
    ":pytest.PytestUnraisableExceptionWarning",
)

#: What the frameworks' own code warns about when imported or run: not ours to fail on.
FRAMEWORK_WARNINGS = (
    "ignore:Support for class-based `config` is deprecated:DeprecationWarning",
    "ignore:mcp_use\\.[a-z_.]+ is deprecated:DeprecationWarning",  # mcp-use's __init__ imports its old paths
)


def pytest_configure(config: pytest.Config) -> None:
    sdk = importlib.metadata.version("mcp")
    if not sdk.startswith("1."):
        raise pytest.UsageError(f"tests_sdk1/ needs the SDK 1.x line (mcp {sdk} is here): run `nox -s sdk1`")
    for line in (*SDK1_LEAKS, *FRAMEWORK_WARNINGS):
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend
