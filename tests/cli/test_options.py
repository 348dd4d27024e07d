"""The bridges' pure pieces: header options (never echoing a value), the Origin check, ``--listen``, the
classifier flags."""

from __future__ import annotations

import dataclasses

import pytest

from mcp_session_recovery.cli import build_parser
from mcp_session_recovery.cli.arguments import classifier_flag, session_options
from mcp_session_recovery.cli.headers import HeaderError, upstream_headers
from mcp_session_recovery.cli.proxy import origin_allowed, parse_listen
from mcp_session_recovery.model import ClassifierOptions


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


@pytest.mark.parametrize("command", ["proxy", "stdio"])
@pytest.mark.parametrize("setting", [field.name for field in dataclasses.fields(ClassifierOptions)])
def test_every_classifier_setting_doctor_can_name_is_a_flag_of_the_bridges(command: str, setting: str) -> None:
    argv = [command, "http://127.0.0.1:9/mcp", classifier_flag(setting)]
    parser, _ = build_parser(argv)
    options = session_options(parser.parse_args(argv))
    assert getattr(options.classifier, setting) is True
    others = [field.name for field in dataclasses.fields(ClassifierOptions) if field.name != setting]
    assert not any(getattr(options.classifier, other) for other in others)
