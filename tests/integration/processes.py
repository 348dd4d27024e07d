"""Servers as real OS processes on 127.0.0.1, for the integration tests.

The integration tier (DESIGN §7) restarts servers *for real*: SIGKILL, a window where connects are
refused or a gateway answers instead, a new process with empty memory on the same port. Every
process here follows the contract of :class:`~mcp_session_recovery.testing.ManagedProcess`
(``--port N``, then one ``READY <port>`` line on stdout), so one class drives them all, and one
more rule:

- ``GET /_stats`` answers a JSON object with what that process counted since it started.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mcp_session_recovery.testing import ManagedProcess, ServerProcessError

__all__ = [
    "REPO_ROOT",
    "SDK_SERVER",
    "ManagedServer",
    "ManagedServerError",
    "free_port",
    "oauth_server_argv",
    "proxy_argv",
    "sdk_server_argv",
    "testing_server_argv",
]

#: The repository root (the child processes run from here).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The SDK 2.3.0 server script.
SDK_SERVER = Path(__file__).resolve().parent / "servers" / "sdk_server.py"

#: What :class:`ManagedServer` raises: a process did not come up, died, or did not answer.
ManagedServerError = ServerProcessError


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sdk_server_argv(*flags: str) -> Callable[[int], list[str]]:
    """The SDK 2.3.0 server (``--json-response``, ``--stateless`` are its flags)."""
    return lambda port: [sys.executable, str(SDK_SERVER), "--port", str(port), *flags]


def oauth_server_argv(state: Path, *flags: str) -> Callable[[int], list[str]]:
    """The SDK 2.3.0 server behind the SDK's OAuth, its clients and tokens kept in ``state``
    (``--token-seconds N`` is its flag)."""
    module = "tests.integration.servers.oauth_server"
    return lambda port: [sys.executable, "-m", module, "--port", str(port), "--state", str(state), *flags]


def proxy_argv(backend_port: int, *, down_answer: str = "bad_gateway") -> Callable[[int], list[str]]:
    """The reverse proxy (``bad_gateway`` or ``not_found`` while the backend is down)."""
    return lambda port: [
        *(sys.executable, "-m", "mcp_session_recovery.testing.proxy", "--port", str(port)),
        *("--backend-port", str(backend_port), "--down-answer", down_answer),
    ]


def testing_server_argv(*flags: str) -> Callable[[int], list[str]]:
    """Our own fault-injecting server, ``python -m mcp_session_recovery.testing``."""
    return lambda port: [sys.executable, "-m", "mcp_session_recovery.testing", "--port", str(port), *flags]


class ManagedServer(ManagedProcess):
    """A :class:`ManagedProcess` run from the repository root, with its ``/_stats`` counters.

    ::

        with ManagedServer(sdk_server_argv()) as server:   # started; server.url is ready
            ...
            server.restart()                               # SIGKILL, a new process, same port
            assert server.stats()["initializes"] == 0
    """

    __test__ = False  # not a test class

    def __init__(
        self,
        argv: Callable[[int], Sequence[str]],
        *,
        port: int = 0,
        ready_timeout: float = 20.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        path: str = "/mcp",
    ) -> None:
        """``argv(port)`` is the command; ``env`` adds to (not replaces) this process's environment."""
        cwd = REPO_ROOT if cwd is None else cwd
        super().__init__(argv, port=port, ready_timeout=ready_timeout, env=env, cwd=cwd, path=path)

    def stats(self) -> dict[str, Any]:
        """``GET /_stats``: what the process counted since it started."""
        return self.request_json("GET", "/_stats")
