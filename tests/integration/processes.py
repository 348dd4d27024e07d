"""Servers as real OS processes on 127.0.0.1, for the integration tests.

The integration tier (DESIGN §7) restarts servers *for real*: SIGKILL, a window where connects are
refused or a gateway answers instead, a new process with empty memory on the same port. Every
process here follows one small contract, so one class drives them all:

- it takes ``--port N`` (0 picks a free port) and listens on 127.0.0.1;
- once it accepts connections it prints exactly one line to stdout, ``READY <port>``, and flushes;
  it writes nothing else to stdout (nobody reads the pipe afterwards, so it must not fill);
- ``GET /_stats`` answers a JSON object with what that process counted since it started.

Blocking calls, each bounded by a timeout; POSIX only (SIGKILL, ``select`` on a pipe).
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

__all__ = [
    "REPO_ROOT",
    "SDK_SERVER",
    "ManagedServer",
    "ManagedServerError",
    "free_port",
    "proxy_argv",
    "sdk_server_argv",
    "testing_server_argv",
]

#: The repository root (the child processes import the package from here even if not installed).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The SDK 2.3.0 server script.
SDK_SERVER = Path(__file__).resolve().parent / "servers" / "sdk_server.py"

#: Bounds: waiting for a killed process to be reaped, one ``/_stats`` call, a port to be free again.
KILL_TIMEOUT = 5.0
STATS_TIMEOUT = 5.0
PORT_FREE_TIMEOUT = 10.0
PORT_POLL_INTERVAL = 0.05
READY_POLL_INTERVAL = 0.1
#: How much of a process's stderr goes into an error message.
STDERR_TAIL = 4000
#: What a child says on stderr when its port is still taken.
_PORT_BUSY_WORDS = ("Address already in use", "EADDRINUSE", "Errno 98")


class ManagedServerError(RuntimeError):
    """A server process did not come up, died, or did not answer; the message ends with its stderr."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sdk_server_argv(*flags: str) -> Callable[[int], list[str]]:
    """The SDK 2.3.0 server (``--json-response``, ``--stateless`` are its flags)."""
    return lambda port: [sys.executable, str(SDK_SERVER), "--port", str(port), *flags]


def proxy_argv(backend_port: int, *, down_answer: str = "bad_gateway") -> Callable[[int], list[str]]:
    """The reverse proxy (``bad_gateway`` or ``not_found`` while the backend is down)."""
    return lambda port: [
        *(sys.executable, "-m", "mcp_session_recovery.testing.proxy", "--port", str(port)),
        *("--backend-port", str(backend_port), "--down-answer", down_answer),
    ]


def testing_server_argv(*flags: str) -> Callable[[int], list[str]]:
    """Our own fault-injecting server, ``python -m mcp_session_recovery.testing``."""
    return lambda port: [sys.executable, "-m", "mcp_session_recovery.testing", "--port", str(port), *flags]


class ManagedServer:
    """One server process that a test starts, SIGKILLs and starts again on the same port.

    ::

        with ManagedServer(sdk_server_argv()) as server:   # started; server.url is ready
            ...
            server.restart()                               # SIGKILL, a new process, same port
            assert server.stats()["initializes"] == 0
    """

    __test__ = False  # not a test class

    def __init__(
        self,
        argv: Callable[[int], list[str]],
        *,
        port: int = 0,
        ready_timeout: float = 20.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        path: str = "/mcp",
    ) -> None:
        """``argv(port)`` is the command; ``env`` adds to (not replaces) this process's environment."""
        self._argv = argv
        self._port = port
        self._ready_timeout = ready_timeout
        self._env = _child_env(env)
        self._cwd = cwd if cwd is not None else REPO_ROOT
        self._path = path
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        #: The stderr of the last process that ended, kept for error messages after a kill.
        self._last_stderr = ""

    # -- where it is ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port (0 until the first start picked one; kept across restarts)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """The MCP endpoint, ``http://127.0.0.1:<port>/mcp``."""
        return self.base_url + self._path

    @property
    def pid(self) -> int:
        """The running process's id."""
        if self._process is None:
            raise ManagedServerError("the server process is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether a started process is still alive."""
        return self._process is not None and self._process.poll() is None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Spawn the process and wait (bounded) for its ``READY <port>`` line.

        On a fixed port (a restart) it first waits, bounded, until the port can be bound, and
        spawns again if the child still lost the race for it.
        """
        if self._process is not None:
            raise ManagedServerError("already started; call kill() or restart()")
        deadline = time.monotonic() + PORT_FREE_TIMEOUT
        if self._port:
            _wait_port_free(self._port, deadline)
        for _ in range(int(PORT_FREE_TIMEOUT / PORT_POLL_INTERVAL) + 1):
            try:
                self._spawn()
                return
            except ManagedServerError:
                busy = any(word in self._last_stderr for word in _PORT_BUSY_WORDS)
                if not (self._port and busy and time.monotonic() < deadline):
                    raise
            time.sleep(PORT_POLL_INTERVAL)
        raise ManagedServerError(f"port {self._port} stayed busy")

    def kill(self) -> None:
        """SIGKILL the process (no cleanup, as a crashed container) and reap it, bounded."""
        process, self._process = self._process, None
        if process is not None:
            try:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
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

    def __enter__(self) -> ManagedServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- asking it -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``GET /_stats``: what the process counted since it started."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/_stats", timeout=STATS_TIMEOUT) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")
            error.close()
            self._fail(f"answered /_stats with {error.code} {detail!r}")
        except (OSError, ValueError) as error:
            self._fail(f"did not answer /_stats: {error}")
        if not isinstance(answer, dict):
            self._fail(f"answered /_stats with {answer!r}")
        return answer

    def stderr_tail(self) -> str:
        """The end of the running (or last) process's stderr."""
        if self._stderr is None:
            return self._last_stderr
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL))
        return self._stderr.read().decode("utf-8", errors="replace")

    # -- internals -----------------------------------------------------------------------------

    def _spawn(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - owned by self, closed by kill()
        self._process = subprocess.Popen(
            self._argv(self._port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._env,
            cwd=self._cwd,
        )
        try:
            port = self._await_ready(self._process)
        except BaseException:
            self.kill()
            raise
        if self._port and port != self._port:
            self.kill()
            raise ManagedServerError(f"asked for port {self._port}, the process listens on {port}")
        self._port = port

    def _await_ready(self, process: subprocess.Popen[bytes]) -> int:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + self._ready_timeout
        received = b""
        for _ in range(int(self._ready_timeout / READY_POLL_INTERVAL) + 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            readable, _, _ = select.select([fd], [], [], min(remaining, READY_POLL_INTERVAL))
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
        self._last_stderr = self.stderr_tail()
        command = " ".join(self._argv(self._port))
        raise ManagedServerError(f"{command!r} {what}; stderr ends with:\n{self._last_stderr}")

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._last_stderr = self.stderr_tail()
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            stderr.close()


def _wait_port_free(port: int, deadline: float) -> None:
    """Wait until ``127.0.0.1:port`` can be bound (with SO_REUSEADDR, as the servers bind it)."""
    for _ in range(int(PORT_FREE_TIMEOUT / PORT_POLL_INTERVAL) + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    raise ManagedServerError(f"port {port} is not free: {error}") from error
            else:
                return
        time.sleep(PORT_POLL_INTERVAL)
    raise ManagedServerError(f"port {port} stayed busy")


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """This environment plus ``extra``, with the package importable even when it is not installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env
