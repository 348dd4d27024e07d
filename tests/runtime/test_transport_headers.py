"""``RecoveringTransport`` puts the runtime's headers on the client's own request, and only those.

The client's other headers keep their values and their order; a runtime header the runtime does
not send now is dropped, a repeated one is sent once, and one the client lacks is added. Tested
with both httpx and httpx2 requests (no network).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

from mcp_session_recovery.adapters.httpx_transport import _HeaderSwap

URL = "http://127.0.0.1:9/mcp"
LIVE = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
    "mcp-session-id": "live-id",
}


@pytest.fixture(params=["httpx", "httpx2"])
def library(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(str(request.param))


def request_with(library: ModuleType, headers: list[tuple[str, str]]) -> Any:
    return library.Request("POST", URL, headers=headers, content=b"{}")


def pairs(request: Any) -> list[tuple[str, str]]:
    """The request's headers in order, but ``Host``, which the library puts first."""
    return [(key.decode(), value.decode()) for key, value in request.headers.raw if key != b"Host"]


def test_only_the_session_id_differs_it_is_replaced_in_place(library: ModuleType) -> None:
    request = request_with(
        library,
        [
            ("Authorization", "Bearer token"),
            ("accept", LIVE["accept"]),
            ("content-type", "application/json"),
            ("mcp-session-id", "virtual-id"),
            ("mcp-protocol-version", "2025-11-25"),
            ("X-Trace", "1"),
        ],
    )
    before = request.headers
    _HeaderSwap(library).put(request, LIVE)
    assert request.headers is before
    assert pairs(request) == [
        ("Authorization", "Bearer token"),
        ("accept", LIVE["accept"]),
        ("content-type", "application/json"),
        ("mcp-session-id", "live-id"),
        ("mcp-protocol-version", "2025-11-25"),
        ("X-Trace", "1"),
        ("Content-Length", "2"),
    ]


def test_runtime_headers_not_sent_now_are_dropped_and_missing_ones_added(library: ModuleType) -> None:
    request = request_with(
        library,
        [
            ("X-First", "a"),
            ("Mcp-Method", "tools/call"),
            ("mcp-protocol-version", "2026-07-28"),
            ("Mcp-Name", "add"),
            ("X-Last", "z"),
        ],
    )
    _HeaderSwap(library).put(request, LIVE)
    assert pairs(request) == [
        ("X-First", "a"),
        ("mcp-protocol-version", "2025-11-25"),
        ("X-Last", "z"),
        ("Content-Length", "2"),
        ("content-type", "application/json"),
        ("accept", LIVE["accept"]),
        ("mcp-session-id", "live-id"),
    ]


def test_a_repeated_runtime_header_is_sent_once(library: ModuleType) -> None:
    request = request_with(
        library,
        [
            ("content-type", "application/json"),
            ("accept", LIVE["accept"]),
            ("mcp-session-id", "virtual-id"),
            ("mcp-session-id", "another-id"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
    )
    _HeaderSwap(library).put(request, LIVE)
    assert [value for key, value in pairs(request) if key == "mcp-session-id"] == ["live-id"]
    assert request.headers["mcp-session-id"] == "live-id"


def test_a_sessionless_binding_removes_the_session_id(library: ModuleType) -> None:
    modern = {
        "content-type": "application/json",
        "accept": LIVE["accept"],
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
    }
    request = request_with(library, [("mcp-session-id", "virtual-id"), ("mcp-protocol-version", "2025-11-25")])
    _HeaderSwap(library).put(request, modern)
    assert "mcp-session-id" not in request.headers
    assert request.headers["mcp-method"] == "tools/call"
    assert request.headers["mcp-protocol-version"] == "2026-07-28"


def test_the_same_headers_again_get_the_same_swap_with_the_values_of_now(library: ModuleType) -> None:
    swap = _HeaderSwap(library)
    sent = [("accept", LIVE["accept"]), ("content-type", "application/json"), ("mcp-session-id", "virtual-id")]
    sent.append(("mcp-protocol-version", "2025-11-25"))
    first, second, third = (request_with(library, sent) for _ in range(3))
    swap.put(first, LIVE)
    swap.put(second, LIVE)
    recovered = {**LIVE, "mcp-session-id": "new-live-id"}
    swap.put(third, recovered)
    assert [request.headers["mcp-session-id"] for request in (first, second, third)] == [
        "live-id",
        "live-id",
        "new-live-id",
    ]
    assert pairs(second) == pairs(first)


def test_a_client_that_changes_its_headers_is_compared_again(library: ModuleType) -> None:
    swap = _HeaderSwap(library)
    plain = [("content-type", "application/json"), ("accept", LIVE["accept"]), ("mcp-session-id", "virtual-id")]
    plain.append(("mcp-protocol-version", "2025-11-25"))
    swap.put(request_with(library, plain), LIVE)
    repeated = request_with(library, [*plain, ("mcp-session-id", "another-id")])
    swap.put(repeated, LIVE)
    assert [value for key, value in pairs(repeated) if key == "mcp-session-id"] == ["live-id"]
