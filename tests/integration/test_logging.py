"""The library logs like a library, against real servers killed and started again.

An outage is one WARNING when the session is lost and one INFO when it is back (how long it took,
how many attempts); the attempts in between are DEBUG. Unconfigured, nothing reaches stderr: the
package's top logger has a ``NullHandler``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import EraMode, State
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions, TransitionRecord
from mcp_session_recovery.testing import ManagedProcess, ServedEra, ServerProcess

from .processes import REPO_ROOT, ManagedServer, sdk_server_argv
from .test_sdk_transport import sdk_session

pytestmark = pytest.mark.anyio

#: How many failed attempts the outage lasts (the server is started again after the session made them).
ATTEMPTS = 4
#: The test's bound on everything.
DEADLINE = 30.0


def _options(**changes: Any) -> SessionOptions:
    settings: dict[str, Any] = {
        "backoff": Backoff(base=0.05, cap=0.3),
        "max_attempts": 100,
        "request_timeout": DEADLINE,
        "era_cache": EraCache(),
    }
    settings.update(changes)
    return SessionOptions(**settings)


class AttemptWatch:
    """An ``on_event`` hook that tells when the session has failed ``ATTEMPTS`` recovery attempts."""

    def __init__(self) -> None:
        self.failed = 0
        self.enough = anyio.Event()

    def __call__(self, record: TransitionRecord) -> None:
        if record.old_state is State.RECOVERING and record.new_state is State.INVALIDATED:
            self.failed += 1
            if self.failed >= ATTEMPTS:
                self.enough.set()


def _library_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("mcp_session_recovery") and r.levelno == level]


async def _outage(server: ManagedProcess, watch: AttemptWatch, call: Any) -> Any:
    """SIGKILL ``server``, make ``call``, start the server again after ``ATTEMPTS`` failed attempts."""
    await anyio.to_thread.run_sync(server.kill)
    results: list[Any] = []

    async def run() -> None:
        results.append(await call())

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await watch.enough.wait()
            await anyio.to_thread.run_sync(server.start)
    return results[0]


def _check_one_warning_and_one_note(caplog: pytest.LogCaptureFixture, watch: AttemptWatch) -> None:
    warnings = _library_records(caplog, logging.WARNING)
    notes = _library_records(caplog, logging.INFO)
    assert [r.getMessage() for r in warnings] == [warnings[0].getMessage()], "one warning for one outage"
    assert "session lost (server unreachable: " in warnings[0].getMessage()
    assert len(notes) == 1, [r.getMessage() for r in notes]
    back = re.search(r"session back after (\d+\.\d) s and (\d+) attempt\(s\)", notes[0].getMessage())
    assert back is not None, notes[0].getMessage()
    assert int(back.group(2)) == watch.failed + 1, "the failed attempts and the one that succeeded"
    assert float(back.group(1)) > 0
    debug = [r.getMessage() for r in _library_records(caplog, logging.DEBUG)]
    assert sum("failed" in text for text in debug) >= ATTEMPTS, "the attempts in between are DEBUG"
    assert not [r for r in caplog.records if r.levelno > logging.WARNING]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def legacy_server() -> Iterator[ServerProcess]:
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        yield server


async def test_a_session_outage_logs_one_warning_and_one_note_with_time_and_attempts(
    legacy_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mcp_session_recovery")
    watch = AttemptWatch()
    options = _options(mode=EraMode.LEGACY)
    async with (
        httpx.AsyncClient(timeout=10.0) as client,
        Session(HttpxWire(client, legacy_server.url), legacy_server.url, options, on_event=watch) as session,
    ):
        await session.request("tools/call", {"name": "bump", "arguments": {}})
        caplog.clear()
        result = await _outage(
            legacy_server, watch, lambda: session.request("tools/call", {"name": "bump", "arguments": {}})
        )
        assert result["content"][0]["text"] == "1"
    _check_one_warning_and_one_note(caplog, watch)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's client runs on asyncio
async def test_the_sdk_through_an_outage_gets_one_warning_and_one_note(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mcp_session_recovery")
    watch = AttemptWatch()
    with ManagedServer(sdk_server_argv()) as server:
        async with sdk_session(server.url, _options(), on_event=watch) as session:
            await session.call_tool("bump", {})
            caplog.clear()
            result = await _outage(server, watch, lambda: session.call_tool("bump", {}))
            assert result.content[0].text == "1"
    _check_one_warning_and_one_note(caplog, watch)


def test_unconfigured_the_library_prints_nothing() -> None:
    """Python prints a library's warnings to stderr when nothing handles them; a NullHandler does."""
    code = (
        "import logging, mcp_session_recovery.runtime.observe as observe\n"
        "observe.logger.warning('a warning nobody asked to see')\n"
        "assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger('mcp_session_recovery').handlers)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_one_line_that_turns_logging_on_shows_the_warning() -> None:
    code = (
        "import logging\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "import mcp_session_recovery.runtime.observe as observe\n"
        "observe.logger.warning('shown')\n"
        "observe.logger.debug('not shown')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT, env=_env()
    )
    assert done.stderr.splitlines() == ["WARNING:mcp_session_recovery.runtime:shown"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
