"""``doctor`` against the test server in every stale style, the SDK 2.3.0 server, a sessionless
server, and nothing at all."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from mcp_session_recovery.cli import main
from mcp_session_recovery.testing import ServedEra, ServerProcess, StaleStyle
from tests.integration.processes import ManagedServer, free_port, sdk_server_argv

from .support import run_cli

#: A name that never resolves (RFC 2606); the tests fake the resolver all the same: no real lookup.
UNRESOLVABLE = "mcp.invalid"


@pytest.fixture
def unresolvable(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The resolver fails for :data:`UNRESOLVABLE` as a real one would, and refuses to look up any
    other name but 127.0.0.1; the names it was asked for."""
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name == "127.0.0.1":
            return real(host, *args, **kwargs)
        asked.append(name)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


SECRET = "Bearer doctor-test-credential-0123456789"


def _doctor_json(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["doctor", url, "--json", *args]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    assert "doctor-unknown" not in out, "the made-up session id is redacted"
    document: dict[str, Any] = json.loads(out)
    return document


@pytest.fixture(scope="module")
def test_server() -> Iterator[ServerProcess]:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        yield server


@pytest.mark.parametrize(
    ("style", "status", "excerpt"),
    [
        (StaleStyle.SDK_PYTHON, 404, '"code":-32600'),
        (StaleStyle.SDK_TYPESCRIPT, 404, '"code":-32001'),
        (StaleStyle.PLAIN_TEXT, 404, "session not found"),
        (StaleStyle.ERROR_STRING, 404, "invalid session ID"),
        (StaleStyle.LEGACY_400, 400, "No valid session ID"),
    ],
)
def test_every_stale_style_of_the_test_server(
    test_server: ServerProcess, capsys: pytest.CaptureFixture[str], style: StaleStyle, status: int, excerpt: str
) -> None:
    test_server.configure(stale_style=style)
    before = test_server.stats()
    found = _doctor_json(test_server.url, capsys, "--header", f"Authorization: {SECRET}")
    assert found["eras"] == ["legacy"]
    assert found["versions"]["legacy"] == ["2025-11-25", "2025-06-18", "2025-03-26"]
    assert found["session_ids"] is True
    stale = found["stale_session"]
    assert stale["status"] == status
    assert stale["spec_404"] is (status == 404)
    assert excerpt in stale["body_excerpt"]
    if status == 404:
        assert stale["signal"] == "SESSION_GONE"
        assert stale["setting"] is None
        assert stale["flag"] is None
        assert "spec's 404" in found["verdict"]
    else:
        assert stale["setting"] == "ClassifierOptions(session_gone_on_400=True)"
        assert stale["flag"] == "--session-gone-on-400"  # the same, for proxy and stdio
        assert "session_gone_on_400=True" in found["verdict"]
        assert "--session-gone-on-400" in found["verdict"]
        assert "cannot recover" in found["verdict"]
    assert found["stale_initialize"] == {"status": status, "refused": True}
    assert found["get_stream"] is True
    assert found["delete"] is True
    after = test_server.stats()
    created = after.sessions_created - before.sessions_created
    assert created == found["sessions_created"] == 3
    assert after.sessions_deleted - before.sessions_deleted == created, "every session it opened was deleted"
    assert after.live_sessions == 0
    assert after.tool_executions == before.tool_executions, "harmless: no tool ran"


def test_a_sessionless_server(capsys: pytest.CaptureFixture[str]) -> None:
    with ServerProcess(eras=[ServedEra.MODERN]) as server:
        found = _doctor_json(server.url, capsys)
    assert found["eras"] == ["modern"]
    assert found["versions"] == {"modern": ["2026-07-28"]}
    assert found["session_ids"] is False
    assert found["stale_session"] is None
    assert "sessionless" in found["verdict"]


def test_the_sdk_server_as_a_table() -> None:
    with ManagedServer(sdk_server_argv()) as server:
        result = run_cli(
            ["doctor", server.url, "--header-env", "Authorization=DOCTOR_TOKEN"], env={"DOCTOR_TOKEN": SECRET}
        )
        stats = server.stats()
        json_result = run_cli(["doctor", server.url, "--json"])
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    rows = {line.strip().split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "modern, legacy" in rows["eras"]
    assert "404" in rows["answer to an unknown session id"]
    assert "Session not found" in rows["answer to an unknown session id"]
    assert "recovered by default" in rows["what a client can do"]
    assert "refused" in rows["initialize carrying a stale id"]
    assert "opens" in rows["GET stream"]
    assert result.stdout.rstrip().splitlines()[-1].startswith("verdict: ")
    assert stats["http_requests"]["DELETE"] >= stats["initializes"], "every session it opened got a DELETE"
    found = json.loads(json_result.stdout)
    assert found["eras"] == ["modern", "legacy"]
    assert found["stale_session"]["status"] == 404
    assert found["stale_session"]["spec_404"] is True
    assert found["stale_initialize"]["refused"] is True


def test_nothing_listening_is_one_line_and_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = run_cli(["doctor", url])
    assert result.returncode == 1
    assert result.stdout == ""
    reason = "the connection was refused (is the server running on that port?)"
    assert result.stderr.splitlines() == [f"mcp-session-recovery doctor: cannot reach {url}: {reason}"]


def test_a_name_that_does_not_resolve_is_said_so(unresolvable: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://{UNRESOLVABLE}:8000/mcp"
    assert main(["doctor", url]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"mcp-session-recovery doctor: cannot reach {url}: the name did not resolve (check the host name in the URL)"
    ]
    assert unresolvable == [UNRESOLVABLE], "the faked resolver was asked, once, and nothing else was"


def test_an_unset_header_env_variable_is_a_bad_argument() -> None:
    result = run_cli(["doctor", "http://127.0.0.1:9/mcp", "--header-env", "Authorization=NO_SUCH_VARIABLE_HERE"])
    assert result.returncode == 2
    assert "NO_SUCH_VARIABLE_HERE is not set" in result.stderr
