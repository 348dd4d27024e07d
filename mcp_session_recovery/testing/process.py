"""Servers as real OS processes that a test can SIGKILL and start again on the same port.

An in-process ``restart()`` cannot show everything a dead process shows: connections reset by
the kernel, a window where connects are refused, a new pid. :class:`ManagedProcess` gives a test
the real thing for any server, yours included, that follows one small contract:

- its command line is ``argv(port)``; it listens on that port, and ``0`` picks a free one;
- once it accepts connections it prints exactly one line to stdout, ``READY <port>``, and flushes;
  it writes nothing else to stdout (nobody reads the pipe afterwards, so it must not fill);
- it logs to stderr (the end of it is quoted in every error).

::

    argv = lambda port: ["my-mcp-server", "--port", str(port)]
    with ManagedProcess(argv) as server:   # started; server.url is ready
        ...
        server.restart()                   # SIGKILL, then a new process on the same port

:class:`ServerProcess` is this package's own test server run that way, with its counters and
faults reachable over ``/_control/``. POSIX only (it uses SIGKILL and ``select`` on a pipe).
Blocking calls, every one with a timeout.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn, Self, Unpack

from .behaviour import Behaviour, BehaviourChanges, ResponseStyle, ServedEra, StaleStyle, changes_to_json
from .stats import ServerStats

__all__ = ["ManagedProcess", "ServerProcess", "ServerProcessError"]

#: How long to wait for ``READY <port>``, for a killed process to be reaped, for an HTTP call,
#: and for a fixed port to be free again before a restart.
READY_TIMEOUT = 15.0
KILL_TIMEOUT = 5.0
REQUEST_TIMEOUT = 5.0
PORT_FREE_TIMEOUT = 10.0
PORT_POLL_INTERVAL = 0.05
READY_POLL_INTERVAL = 0.1
#: How much of the server's stderr goes into an error message.
STDERR_TAIL = 4000
#: What a child says on stderr when its port is still taken.
_PORT_BUSY_WORDS = ("Address already in use", "EADDRINUSE", "Errno 98")


class ServerProcessError(RuntimeError):
    """A server process did not come up, died, or did not answer; the message ends with its stderr."""


class ManagedProcess:
    """One server process that a test starts, SIGKILLs and starts again on the same port."""

    def __init__(
        self,
        argv: Callable[[int], Sequence[str]],
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        path: str = "/mcp",
        ready_timeout: float = READY_TIMEOUT,
        port_free_timeout: float = PORT_FREE_TIMEOUT,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> None:
        """``argv(port)`` is the command; ``env`` adds to (not replaces) this process's environment.

        A start on a fixed port (a restart) first waits up to ``port_free_timeout`` seconds until
        the port can be bound, and spawns again while the child says its port is taken; ``0``
        turns that off, for a server that retries its bind itself.
        """
        self._argv = argv
        self._port = port
        self._host = host
        self._path = path
        self._ready_timeout = ready_timeout
        self._port_free_timeout = port_free_timeout
        self._env = _child_env(env)
        self._cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        #: The stderr of the last process that ended, kept for error messages after a kill.
        self._last_stderr = ""

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
        """Spawn the server and wait (bounded) for its ``READY <port>`` line."""
        if self._process is not None:
            raise ServerProcessError("already started; call kill() or restart()")
        deadline = time.monotonic() + self._port_free_timeout
        if self._port and self._port_free_timeout > 0:
            self._wait_port_free(deadline)
        for _ in range(int(self._port_free_timeout / PORT_POLL_INTERVAL) + 1):
            try:
                self._spawn()
                return
            except ServerProcessError:
                busy = any(word in self._last_stderr for word in _PORT_BUSY_WORDS)
                if not (self._port and busy and time.monotonic() < deadline):
                    raise
            time.sleep(PORT_POLL_INTERVAL)
        raise ServerProcessError(f"port {self._port} stayed busy")

    def kill(self) -> None:
        """SIGKILL the server (no cleanup, as a crashed container) and reap it, bounded."""
        process, self._process = self._process, None
        if process is not None:
            try:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=KILL_TIMEOUT)
            finally:
                if process.stdout is not None:
                    process.stdout.close()
        stderr, self._stderr = self._stderr, None
        if stderr is not None:
            self._last_stderr = _tail(stderr)
            stderr.close()

    def restart(self) -> None:
        """Kill the process and start a new one on the same port."""
        self.kill()
        self.start()

    def close(self) -> None:
        """Same as :meth:`kill`; safe to call twice."""
        self.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- asking it ---------------------------------------------------------------------------

    def stderr_tail(self) -> str:
        """The end of the running (or last) process's stderr."""
        return self._last_stderr if self._stderr is None else _tail(self._stderr)

    def request_json(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        """Send ``body`` (if any) as JSON to ``path`` on the server; its answer, a JSON object."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")
            error.close()
            self._fail(f"answered {method} {path} with {error.code} {detail!r}")
        except (OSError, ValueError) as error:
            self._fail(f"did not answer {method} {path}: {error}")
        if not isinstance(answer, dict):
            self._fail(f"answered {method} {path} with {answer!r}")
        return answer

    # -- internals ---------------------------------------------------------------------------

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
            raise ServerProcessError(f"asked for port {self._port}, the process listens on {port}")
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

    def _wait_port_free(self, deadline: float) -> None:
        """Wait until the port can be bound (with SO_REUSEADDR, as servers bind it)."""
        for _ in range(int(self._port_free_timeout / PORT_POLL_INTERVAL) + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self._host, self._port))
                except OSError as error:
                    if error.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                        raise ServerProcessError(f"port {self._port} is not free: {error}") from error
                else:
                    return
            time.sleep(PORT_POLL_INTERVAL)
        raise ServerProcessError(f"port {self._port} stayed busy")

    def _fail(self, what: str) -> NoReturn:
        self._last_stderr = self.stderr_tail()
        command = " ".join(self._argv(self._port))
        raise ServerProcessError(f"{command!r} {what}; stderr ends with:\n{self._last_stderr}")


class ServerProcess(ManagedProcess):
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
        args = [
            *("--host", host, "--path", path, "--backend", backend),
            *("--eras", ",".join(sorted(era.value for era in behaviour.eras))),
            *("--stale-style", behaviour.stale_style.value, "--response", behaviour.response_style.value),
            *("--slow-seconds", repr(behaviour.slow_seconds)),
            *(["--forget-sessions-after-initialize"] if forget_sessions_after_initialize else []),
            *extra_args,
        ]
        super().__init__(
            lambda port: [sys.executable, "-m", "mcp_session_recovery.testing", "--port", str(port), *args],
            port=port,
            host=host,
            path=path,
            ready_timeout=ready_timeout,
            port_free_timeout=0,  # the server retries a taken port itself (--bind-timeout)
        )

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
        return self.request_json(method, f"/_control/{action}", body)


def _tail(file: IO[bytes]) -> str:
    file.flush()
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - STDERR_TAIL))
    return file.read().decode("utf-8", errors="replace")


def _child_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """This environment plus ``extra``, with this package importable even when it is not installed."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env
