"""The bridges' pure pieces: header options (never echoing a value), the Origin check, ``--listen``."""

from __future__ import annotations

import pytest

from mcp_session_recovery.cli.headers import HeaderError, upstream_headers
from mcp_session_recovery.cli.proxy import origin_allowed, parse_listen


def test_headers_from_options_and_the_environment() -> None:
    got = upstream_headers(["X-Team: blue"], ["Authorization=TOKEN"], {"TOKEN": "Bearer s3cret"})
    assert got == {"x-team": "blue", "authorization": "Bearer s3cret"}


@pytest.mark.parametrize(
    ("headers", "envs"),
    [
        (["Authorization Bearer s3cret"], []),
        (["Bad Name: s3cret"], []),
        (["X-Evil: s3cret\r\nHost: elsewhere"], []),
        (["Mcp-Session-Id: s3cret"], []),
        ([], ["Authorization=MISSING"]),
        ([], ["Authorization=EVIL"]),
    ],
)
def test_a_bad_header_option_is_refused_without_showing_its_value(headers: list[str], envs: list[str]) -> None:
    with pytest.raises(HeaderError) as caught:
        upstream_headers(headers, envs, {"EVIL": "s3cret\nHost: elsewhere"})
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("http://localhost:5173", True),
        ("http://127.0.0.1", True),
        ("http://[::1]:3000", True),
        ("https://app.example", True),  # named with --allow-origin below
        ("http://evil.example", False),
        ("http://localhost.evil.example", False),
        ("null", False),
    ],
)
def test_the_origin_check(origin: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, frozenset({"https://app.example"})) is allowed


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8808") == ("127.0.0.1", 8808)
    assert parse_listen(":9000") == ("127.0.0.1", 9000)
    assert parse_listen("9000") == ("127.0.0.1", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("localhost:http")
