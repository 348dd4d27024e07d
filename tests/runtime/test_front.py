"""The front's pure parts: what a client's request is, and the one rule for the runtime's headers."""

from __future__ import annotations

from collections.abc import Mapping

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.adapters.httpx_transport import _HeaderSwap
from mcp_session_recovery.model.messages import RUNTIME_HEADERS, with_runtime_headers
from mcp_session_recovery.runtime.front import Kind, read_client_request


@pytest.mark.parametrize(
    ("http_method", "body", "kind"),
    [
        ("POST", b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', Kind.NEGOTIATE),
        ("POST", b'{"jsonrpc":"2.0","id":1,"method":"server/discover"}', Kind.NEGOTIATE),
        ("POST", b'{"jsonrpc":"2.0","method":"notifications/initialized"}', Kind.INITIALIZED),
        ("POST", b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}', Kind.FORWARD),
        ("POST", b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}', Kind.FORWARD),
        ("POST", b'{"jsonrpc":"2.0","id":"s-1","result":{}}', Kind.ANSWER),
        ("POST", b'{"jsonrpc":"2.0","id":"s-1","error":{"code":1,"message":"no"}}', Kind.ANSWER),
        ("POST", b"[]", Kind.MALFORMED),
        ("POST", b"not json", Kind.MALFORMED),
        ("POST", b"", Kind.MALFORMED),
        ("POST", b'{"jsonrpc":"2.0"}', Kind.MALFORMED),
        ("GET", b"", Kind.LISTEN),
        ("DELETE", b"", Kind.END),
        ("PUT", b"{}", Kind.NOT_ALLOWED),
    ],
)
def test_a_client_request_is_read_once_into_what_it_is(http_method: str, body: bytes, kind: Kind) -> None:
    request = read_client_request(http_method, body)
    assert request.kind is kind
    assert request.body is body
    if kind in (Kind.NEGOTIATE, Kind.INITIALIZED, Kind.FORWARD):
        assert request.message is not None
        assert request.method == request.message["method"]
    else:
        assert request.method is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Last-Event-ID": "event-3"},
        {"last-event-id": "event-3", "accept": "text/event-stream"},
        httpx2.Headers({"LAST-EVENT-ID": "event-3"}),
    ],
)
def test_a_get_with_last_event_id_resumes_a_stream_and_is_no_get_stream(headers: Mapping[str, str]) -> None:
    request = read_client_request("GET", b"", headers)
    assert request.kind is Kind.RESUME
    assert request.last_event_id == "event-3"


@pytest.mark.parametrize("headers", [None, {}, {"accept": "text/event-stream"}, {"last-event-id": ""}])
def test_a_get_without_a_resume_point_is_the_get_stream(headers: Mapping[str, str] | None) -> None:
    request = read_client_request("GET", b"", headers)
    assert request.kind is Kind.LISTEN
    assert request.last_event_id is None


def test_a_post_with_last_event_id_is_read_by_its_body() -> None:
    body = b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}'
    assert read_client_request("POST", body, {"last-event-id": "event-3"}).kind is Kind.FORWARD


def test_runtime_headers_take_their_place_stale_ones_go_and_missing_ones_are_added() -> None:
    client = [
        ("Accept", "application/json"),
        ("Mcp-Session-Id", "virtual"),
        ("Authorization", "Bearer t"),
        ("mcp-session-id", "twice"),
        ("Mcp-Method", "tools/call"),
    ]
    runtime = {"mcp-session-id": "live", "mcp-protocol-version": "2025-11-25"}
    assert with_runtime_headers(client, runtime) == [
        ("Accept", "application/json"),
        ("Mcp-Session-Id", "live"),
        ("Authorization", "Bearer t"),
        ("mcp-protocol-version", "2025-11-25"),
    ]
    assert with_runtime_headers(client, {}) == [("Accept", "application/json"), ("Authorization", "Bearer t")]


_NAMES = st.sampled_from(["accept", "authorization", "x-trace", "Mcp-Session-Id", *sorted(RUNTIME_HEADERS)])
_VALUES = st.sampled_from(["a", "b", "live", "virtual"])


@given(
    client=st.lists(st.tuples(_NAMES, _VALUES), max_size=8),
    runtime=st.dictionaries(st.sampled_from(sorted(RUNTIME_HEADERS)), _VALUES, max_size=4),
)
def test_the_transports_in_place_swap_gives_what_the_one_rule_gives(
    client: list[tuple[str, str]], runtime: dict[str, str]
) -> None:
    request = httpx2.Request("POST", "http://127.0.0.1:1/mcp", headers=client)
    swap = _HeaderSwap(httpx2)
    for _ in range(2):  # the second time from the remembered comparison
        request.headers = httpx2.Headers(client)
        swap.put(request, runtime)
        got = [(name.lower(), value) for name, value in request.headers.multi_items()]
        want = [(name.lower(), value) for name, value in with_runtime_headers(client, runtime)]
        assert got == want
