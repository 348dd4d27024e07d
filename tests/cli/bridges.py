"""The ``proxy`` and ``stdio`` commands as real processes, and the servers and hosts the tests pair them with.

A bridge's stderr is read by a thread into a list of lines as they come (so the pipe never fills
and a test can wait for a status line, or assert that a secret never appeared); waiting is on a
condition with a deadline, never a timer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any, Self

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.integration.processes import REPO_ROOT, ManagedServer, free_port

__all__ = ["BRIDGE_SERVER", "BridgeProcess", "bridge_server", "host_session", "proxy_process", "read_line", "send_line"]

#: The SDK server with progress, elicitation and credential tools.
BRIDGE_SERVER = Path(__file__).resolve().parent / "servers" / "bridge_server.py"
#: How long a bridge may take to start, to show a status line, or to stop.
WAIT_SECONDS = 20.0


def bridge_server(env: dict[str, str] | None = None) -> ManagedServer:
    """The SDK 2.3.0 server with ``count_to``, ``ask`` and ``credential`` (not started)."""
    return ManagedServer(lambda port: [sys.executable, str(BRIDGE_SERVER), "--port", str(port)], env=env)


class BridgeProcess:
    """``python -m mcp_session_recovery.cli ARGS`` with its stderr collected line by line."""

    def __init__(self, args: Sequence[str], *, env: dict[str, str] | None = None, stdio: bool = False) -> None:
        self._args = list(args)
        self._env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
        self._stdio = stdio
        self.process: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._reader: threading.Thread | None = None

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "mcp_session_recovery.cli", *self._args]

    def start(self) -> Self:
        pipe = subprocess.PIPE if self._stdio else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.argv, stdin=pipe, stdout=pipe, stderr=subprocess.PIPE, cwd=REPO_ROOT, env=self._env
        )
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self._reader.start()
        return self

    def _read(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with self._changed:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def line_count(self) -> int:
        with self._changed:
            return len(self._lines)

    def wait_for_line(self, text: str, *, after: int = 0, timeout: float = WAIT_SECONDS) -> str:
        """The first stderr line from index ``after`` on that contains ``text``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines[after:]:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.process is not None and self.process.poll() is not None):
                    raise AssertionError(f"no stderr line with {text!r} in {timeout} s:\n" + "\n".join(self._lines))
                self._changed.wait(min(left, 0.5))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = WAIT_SECONDS) -> int:
        """Send ``sig`` and wait for the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = WAIT_SECONDS) -> int:
        assert self.process is not None
        status = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return status

    def __enter__(self) -> Self:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr) if self.process else ():
            if stream is not None:
                stream.close()


def proxy_process(upstream: str, *flags: str, env: dict[str, str] | None = None) -> tuple[BridgeProcess, str]:
    """A started ``proxy`` on a free loopback port, and its endpoint URL."""
    port = free_port()
    bridge = BridgeProcess(["proxy", upstream, "--listen", f"127.0.0.1:{port}", *flags], env=env).start()
    bridge.wait_for_line(f"http://127.0.0.1:{port}/mcp")
    return bridge, f"http://127.0.0.1:{port}/mcp"


@asynccontextmanager
async def host_session(
    url: str, session_ids: list[str | None] | None = None, **kwargs: Any
) -> AsyncIterator[ClientSession]:
    """The unmodified SDK client (no library) at ``url``; ``session_ids`` gets each request's session id."""

    async def record(request: httpx2.Request) -> None:
        if session_ids is not None:
            session_ids.append(request.headers.get("mcp-session-id"))

    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300), event_hooks={"request": [record]})
    async with (
        http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, **kwargs) as session,
    ):
        await session.initialize()
        yield session


def send_line(bridge: BridgeProcess, message: dict[str, Any]) -> None:
    """Write one message to a ``stdio`` bridge's stdin."""
    assert bridge.process is not None
    assert bridge.process.stdin is not None
    bridge.process.stdin.write(json.dumps(message).encode() + b"\n")
    bridge.process.stdin.flush()


def read_line(bridge: BridgeProcess) -> dict[str, Any]:
    """The next message a ``stdio`` bridge wrote to stdout."""
    assert bridge.process is not None
    assert bridge.process.stdout is not None
    line = bridge.process.stdout.readline()
    assert line.endswith(b"\n"), f"the bridge wrote no line; stderr:\n{bridge.stderr}"
    document: dict[str, Any] = json.loads(line)
    return document
