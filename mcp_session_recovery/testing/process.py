"""The test server as a real OS process that a test can SIGKILL and start again on the same port.

An in-process ``restart()`` cannot show everything a dead process shows: connections reset by
the kernel, a window where connects are refused, a new pid. :class:`ServerProcess` gives a test
the real thing, with the server's counters and faults reachable over ``/_control/``. POSIX only
(it uses SIGKILL and ``select`` on a pipe). Blocking calls, every one with a timeout.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Unpack

from .behaviour import Behaviour, BehaviourChanges, ResponseStyle, ServedEra, StaleStyle, changes_to_json
from .stats import ServerStats

__all__ = ["ServerProcess", "ServerProcessError"]

#: How long to wait for ``READY <port>``, for a killed process to be reaped, and for a control call.
READY_TIMEOUT = 15.0
KILL_TIMEOUT = 5.0
CONTROL_TIMEOUT = 5.0
#: How much of the server's stderr goes into an error message.
STDERR_TAIL = 4000
_POLL_INTERVAL = 0.1


class ServerProcessError(RuntimeError):
    """The server process did not come up, or a control call failed; the message says why."""


class ServerProcess:
    """``python -m mcp_session_recovery.testing`` in a subprocess.

    ::

        with ServerProcess(eras=[ServedEra.LEGACY]) as server:   # started; server.url is ready
            ...
            server.restart()          # SIGKILL, then a new process on the same port
            assert server.stats().initializes == 0
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        path: str = "/mcp",
        eras: Iterable[ServedEra] | None = None,
        stale_style: StaleStyle | None = None,
        response_style: ResponseStyle | None = None,
        slow_seconds: float | None = None,
        forget_sessions_after_initialize: bool = False,
        backend: str = "asyncio",
        extra_args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        defaults = Behaviour()
        behaviour = Behaviour(
            eras=frozenset(eras) if eras is not None else defaults.eras,
            stale_style=stale_style or defaults.stale_style,
            response_style=response_style or defaults.response_style,
            slow_seconds=defaults.slow_seconds if slow_seconds is None else slow_seconds,
            forget_sessions_after_initialize=forget_sessions_after_initialize,
        )
        self._host = host
        self._port = port
        self._path = path
        self._args = [
            *("--host", host, "--path", path, "--backend", backend),
            *("--eras", ",".join(sorted(era.value for era in behaviour.eras))),
            *("--stale-style", behaviour.stale_style.value, "--response", behaviour.response_style.value),
            *("--slow-seconds", repr(behaviour.slow_seconds)),
            *(["--forget-sessions-after-initialize"] if forget_sessions_after_initialize else []),
            *extra_args,
        ]
        self._ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # -- where it is -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (0 until the first start picked one; kept across restarts)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        """The MCP endpoint."""
        return self.base_url + self._path

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise ServerProcessError("the server process is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether a started process is still alive."""
        return self._process is not None and self._process.poll() is None

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the server and wait (bounded) until it listens."""
        if self._process is not None:
            raise ServerProcessError("already started; call kill() or restart()")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - owned by self, closed by kill()
        command = [sys.executable, "-m", "mcp_session_recovery.testing", "--port", str(self._port), *self._args]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=_child_env()
        )
        try:
            self._port = self._await_ready(self._process)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the server (no cleanup, as a crashed container) and reap it."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=KILL_TIMEOUT)
            finally:
                if process.stdout is not None:
                    process.stdout.close()
        self._close_stderr()

    def restart(self) -> None:
        """Kill the process and start a new one on the same port."""
        self.kill()
        self.start()

    def close(self) -> None:
        """Same as :meth:`kill`; safe to call twice."""
        self.kill()

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- control -----------------------------------------------------------------------------

    def stats(self) -> ServerStats:
        """The server's counters (``GET /_control/stats``)."""
        return ServerStats.from_json(self._control("GET", "stats"))

    def configure(self, **changes: Unpack[BehaviourChanges]) -> dict[str, Any]:
        """Switch faults at run time (``POST /_control/configure``); returns the new behaviour as JSON."""
        return self._control("POST", "configure", changes_to_json(changes))

    def soft_restart(self) -> ServerStats:
        """An in-process restart (``POST /_control/restart``): sessions and counters gone, same pid."""
        return ServerStats.from_json(self._control("POST", "restart", {}))

    def _control(self, method: str, action: str, body: object = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self.base_url}/_control/{action}", data=data, method=method)
        request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")
            error.close()
            raise ServerProcessError(f"control {action} failed: {error.code} {detail}") from None
        except (OSError, ValueError) as error:
            raise ServerProcessError(f"control {action} failed: {error}") from error
        if not isinstance(answer, dict):
            raise ServerProcessError(f"control {action} answered {answer!r}")
        return answer

    # -- internals ---------------------------------------------------------------------------

    def _await_ready(self, process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + self._ready_timeout
        received = b""
        for _ in range(int(self._ready_timeout / _POLL_INTERVAL) + 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            readable, _, _ = select.select([fd], [], [], min(remaining, _POLL_INTERVAL))
            if not readable:
                if process.poll() is not None:
                    self._fail(f"exited with status {process.returncode} before it was ready")
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                process.wait(timeout=KILL_TIMEOUT)
                self._fail(f"exited with status {process.returncode} before it was ready")
            received += chunk
            if b"\n" in received:
                line = received.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
                word, _, port = line.partition(" ")
                if word != "READY" or not port.isdigit():
                    self._fail(f"printed {line!r} instead of 'READY <port>'")
                return int(port)
        self._fail(f"was not ready after {self._ready_timeout} s")

    def _fail(self, what: str) -> NoReturn:
        raise ServerProcessError(f"test server process {what}; stderr ends with:\n{self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL))
        return self._stderr.read().decode("utf-8", errors="replace")

    def _close_stderr(self) -> None:
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            stderr.close()


def _child_env() -> dict[str, str]:
    """The environment, with this package importable even when it is not installed."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env
