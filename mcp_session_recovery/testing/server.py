"""The in-process test server: ``async with serve(...) as server`` and a real socket on 127.0.0.1.

It runs inside the test's own event loop (asyncio or trio, through anyio), so a test can flip a
fault and observe its effect without any sleeping: ``configure``, ``restart``, ``expire_sessions``
and ``stop_listening`` take effect before they return.

::

    async with serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server:
        ...  # point a client at server.url
        server.restart()                  # every session forgotten, counters reset
        await server.stop_listening()     # connections refused
        await server.start_listening()    # same port again
        assert server.stats.tool_executions["bump"] == 1
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Unpack

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskGroup

from ._app import App
from ._http import Connection
from ._serving import BIND_RETRY_SECONDS, DEFAULT_HOST, accept_all, bind, listening
from .behaviour import Behaviour, BehaviourChanges
from .stats import ServerStats

__all__ = ["TestServer", "serve"]

logger = logging.getLogger("mcp_session_recovery.testing")

#: How long closing waits for connections to finish closing.
CLOSE_WAIT_SECONDS = 5.0
#: How often :meth:`TestServer.wait_until` looks at the counters.
WAIT_INTERVAL = 0.005


class TestServer:
    """A running test server; made by :func:`serve`, valid inside its ``async with`` block."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self, app: App, task_group: TaskGroup, *, host: str, port: int, bind_timeout: float = BIND_RETRY_SECONDS
    ) -> None:
        self._app = app
        self._bind_timeout = bind_timeout
        self._group = task_group
        self._host = host
        self._port = port
        #: While listening: the listener, the accept loop's scope, and its "finished" event.
        self._accepting: tuple[SocketListener, anyio.CancelScope, anyio.Event] | None = None
        self._connections: set[Connection] = set()
        self._lock = anyio.Lock()
        self._errors: list[BaseException] = []

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port; fixed after the first bind, so a restart of listening reuses it."""
        return self._port

    @property
    def path(self) -> str:
        """The MCP endpoint's path."""
        return self._app.path

    @property
    def base_url(self) -> str:
        """``http://host:port`` (control endpoints live under ``/_control/``)."""
        return f"http://{self._host}:{self._port}"

    @property
    def url(self) -> str:
        """The MCP endpoint, e.g. ``http://127.0.0.1:8123/mcp``."""
        return self.base_url + self._app.path

    @property
    def listening(self) -> bool:
        """Whether connections are accepted now."""
        return self._accepting is not None

    @property
    def behaviour(self) -> Behaviour:
        """The current configuration."""
        return self._app.behaviour

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        return self._app.stats()

    @property
    def errors(self) -> tuple[BaseException, ...]:
        """Unexpected exceptions raised while serving (bugs in the server); a test can assert none."""
        return tuple(self._errors)

    async def wait_until(self, condition: Callable[[ServerStats], bool], *, timeout: float = 5.0) -> ServerStats:
        """Wait until the counters satisfy ``condition`` (e.g. a slow tool started); bounded.

        Raises ``TimeoutError`` after ``timeout`` seconds. This is how a test synchronises with
        something the server does on its own schedule, instead of sleeping and hoping.
        """
        with anyio.fail_after(timeout):
            for _ in range(int(timeout / WAIT_INTERVAL) + 2):
                stats = self.stats
                if condition(stats):
                    return stats
                await anyio.sleep(WAIT_INTERVAL)
        raise TimeoutError(f"server stats did not satisfy the condition within {timeout} s")

    def configure(self, **changes: Unpack[BehaviourChanges]) -> Behaviour:
        """Change the behaviour now; the next request sees it. Returns the new behaviour."""
        return self._app.configure(**changes)

    def restart(self, *, drop_connections: bool = False) -> None:
        """Act as a new process: sessions forgotten, counters reset, GET streams cut.

        With ``drop_connections`` every open connection is closed too (requests in flight lose
        their answer), as when the old process was killed.
        """
        self._app.restart()
        if drop_connections:
            for connection in list(self._connections):
                connection.abort()

    def expire_sessions(self) -> int:
        """Forget every session without a restart (an idle timeout); returns how many."""
        return self._app.expire_sessions()

    async def start_listening(self) -> None:
        """Accept connections again, on the same port (retrying briefly while it is taken)."""
        async with self._lock:
            if self._accepting is not None:
                return
            self._listen_on(await bind(self._host, self._port, self._bind_timeout))

    def _listen_on(self, listener: SocketListener) -> None:
        self._port = listener.extra(SocketAttribute.local_port)
        scope, done = anyio.CancelScope(), anyio.Event()
        self._accepting = (listener, scope, done)
        self._group.start_soon(self._accept, listener, scope, done)

    async def stop_listening(self) -> None:
        """Close the listening socket and every open connection; new connects are refused."""
        async with self._lock:
            accepting, self._accepting = self._accepting, None
            if accepting is None:
                return
            listener, scope, done = accepting
            scope.cancel()
            with anyio.move_on_after(CLOSE_WAIT_SECONDS):
                await done.wait()
            await listener.aclose()
            await self._close_connections()

    async def outage(self, seconds: float) -> anyio.Event:
        """Stop listening now and start again after ``seconds``; the event is set when back."""
        await self.stop_listening()
        back = anyio.Event()
        self._group.start_soon(self._come_back, seconds, back)
        return back

    async def aclose(self) -> None:
        """Stop listening, close every connection and stream; used when :func:`serve` exits."""
        await self.stop_listening()
        self._app.close()

    async def _come_back(self, seconds: float, back: anyio.Event) -> None:
        try:
            await anyio.sleep(seconds)
            await self.start_listening()
        except OSError as error:
            logger.error("test server: could not listen again on port %d: %s", self._port, error)
            self._errors.append(error)
        finally:
            back.set()

    async def _accept(self, listener: SocketListener, scope: anyio.CancelScope, done: anyio.Event) -> None:
        try:
            with scope:
                await accept_all(listener, self._start_connection, logger)
        finally:
            done.set()

    def _start_connection(self, stream: SocketStream) -> None:
        self._app.state.connections_accepted += 1
        connection = Connection(stream, self._app.handle, on_error=self._errors.append)
        self._connections.add(connection)
        self._group.start_soon(self._run_connection, connection)

    async def _run_connection(self, connection: Connection) -> None:
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)

    async def _close_connections(self) -> None:
        connections = list(self._connections)
        for connection in connections:
            connection.abort()
        with anyio.move_on_after(CLOSE_WAIT_SECONDS):
            for connection in connections:
                await connection.done.wait()


@asynccontextmanager
async def serve(
    behaviour: Behaviour | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    path: str = "/mcp",
    control: bool = True,
    bind_timeout: float = BIND_RETRY_SECONDS,
) -> AsyncIterator[TestServer]:
    """Run a test server for the duration of the block.

    ``port=0`` picks a free port (read it from ``server.port``); a fixed port that is taken is
    retried for ``bind_timeout`` seconds, then ``OSError``. ``control=False`` turns the
    ``/_control/`` endpoints off (they are for driving a subprocess). Leaving the block closes
    every socket and task promptly, whatever state the server was left in.
    """
    app = App(behaviour if behaviour is not None else Behaviour(), path=path, control=control)

    def start(listener: SocketListener, group: TaskGroup) -> TestServer:
        server = TestServer(app, group, host=host, port=port, bind_timeout=bind_timeout)
        server._listen_on(listener)
        return server

    async with listening(host, port, bind_timeout, start) as server:
        yield server
