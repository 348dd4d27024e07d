"""What the test server and the reverse proxy share: binding, the accept loop, running, the command line."""

from __future__ import annotations

import argparse
import errno
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, TypeVar

import anyio
from anyio.abc import SocketListener, SocketStream, TaskGroup

__all__ = ["BIND_RETRY_SECONDS", "DEFAULT_HOST", "accept_all", "bind", "command_line", "listening", "run_until_killed"]

#: Where a server listens unless told otherwise: loopback only, these are test tools.
DEFAULT_HOST = "127.0.0.1"
#: How long a bind to a fixed port keeps retrying while the port is still taken (a restart).
BIND_RETRY_SECONDS = 5.0
BIND_RETRY_INTERVAL = 0.05
#: Bound of an accept loop.
MAX_ACCEPTS = 10_000_000


class _Server(Protocol):
    @property
    def port(self) -> int: ...

    async def aclose(self) -> None: ...


_S = TypeVar("_S", bound=_Server)


async def bind(host: str, port: int, timeout: float) -> SocketListener:
    """A listener on ``host:port`` (SO_REUSEADDR); retries while a fixed port is still in use."""
    deadline = anyio.current_time() + timeout
    for _ in range(int(timeout / BIND_RETRY_INTERVAL) + 1):
        try:
            multi = await anyio.create_tcp_listener(local_host=host, local_port=port)
        except OSError as error:
            if error.errno != errno.EADDRINUSE or port == 0 or anyio.current_time() >= deadline:
                raise
            await anyio.sleep(BIND_RETRY_INTERVAL)
            continue
        listener, *extra = multi.listeners
        for other in extra:  # a host name resolving to several addresses: keep the first only
            await other.aclose()
        assert isinstance(listener, SocketListener)
        return listener
    raise OSError(errno.EADDRINUSE, f"port {port} on {host} stayed in use for {timeout} s")


async def accept_all(listener: SocketListener, serve: Callable[[SocketStream], None], logger: logging.Logger) -> None:
    """Hand every accepted connection to ``serve`` until ``listener`` is closed."""
    for _ in range(MAX_ACCEPTS):
        try:
            stream = await listener.accept()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        except OSError as error:  # out of file descriptors and the like: keep serving
            logger.warning("accept failed: %s", error)
            await anyio.sleep(BIND_RETRY_INTERVAL)
            continue
        serve(stream)


@asynccontextmanager
async def listening(
    host: str, port: int, bind_timeout: float, start: Callable[[SocketListener, TaskGroup], _S]
) -> AsyncIterator[_S]:
    """Bind, ``start(listener, task_group)`` a server, and close it (and its tasks) on the way out.

    The bind comes before the task group exists, so a taken port raises a plain ``OSError``, and
    whatever the block raises comes back as itself, not in a group (connection tasks never raise,
    so a lone exception is the block's).
    """
    listener = await bind(host, port, bind_timeout)
    try:
        async with anyio.create_task_group() as group:
            server = start(listener, group)
            try:
                yield server
            finally:
                with anyio.CancelScope(shield=True):
                    await server.aclose()
                group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()  # already closed, unless starting failed


def command_line(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with the options every server command has (where to listen, backend, logging)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument(
        "--bind-timeout",
        type=float,
        default=BIND_RETRY_SECONDS,
        help="how long to retry a fixed port that is taken (default 5)",
    )
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="anyio backend")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    return parser


def run_until_killed(args: argparse.Namespace, server: Callable[[], AbstractAsyncContextManager[_Server]]) -> int:
    """Run ``server()``, print ``READY <port>`` once it listens, and wait; the exit status.

    Logs go to stderr; stdout carries the READY line only. The status is 2 for a port that stays taken.
    """
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")

    async def run() -> None:
        async with server() as running:
            print(f"READY {running.port}", flush=True)
            await anyio.sleep_forever()

    try:
        anyio.run(run, backend=args.backend)
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr, flush=True)
        return 2
    return 0
