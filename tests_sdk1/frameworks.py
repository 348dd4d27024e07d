"""The clients Python users run on the SDK's 1.x line, each opened as its users open it: alone, or with
this library's one line.

- langchain-mcp-adapters' ``MultiServerMCPClient``, in its persistent-session mode (``client.session(name)``
  and the LangChain tools ``load_mcp_tools(session)`` makes) and in its default per-call mode
  (``client.get_tools()``: every tool call opens, initializes and closes a session of its own);
  with the library, ``"httpx_client_factory": recovering_client_factory(library="httpx")`` in the
  connection;
- mcp-use's ``MCPSession``: its HTTP connector builds its own httpx client (no public seam), so with
  the library it talks to the ``stdio`` bridge (``python -m mcp_session_recovery stdio URL``), run
  from the main environment (the bridge's ``cli`` extra needs the SDK 2.x) as its child process;
- the SDK 1.x ``ClientSession`` through ``recovering_client_factory(library="httpx")``.

Each is given one surface the tests drive, ``call_tool(name, arguments) -> str`` (also what the
conformance kit calls): the text of the tool's answer, or the client's own exception.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - see in_a_task_of_its_own
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
import httpx
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_use.client import MCPClient  # type: ignore[import-untyped]
from mcp_use.client.connectors import StdioConnector  # type: ignore[import-untyped]
from mcp_use.client.session import MCPSession  # type: ignore[import-untyped]

from mcp_session_recovery import RecoveringClientFactory, recovering_client_factory
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions, TransitionRecord
from mcp_session_recovery.testing import ManagedProcess
from tests.integration.downtime import LossWatch
from tests.integration.processes import REPO_ROOT

__all__ = [
    "BRIDGE_PYTHON_VARIABLE",
    "FRAMEWORKS",
    "Caller",
    "Framework",
    "Library",
    "bridge_python",
    "call_while_down",
    "framework",
    "in_a_task_of_its_own",
    "mcp_use_client",
    "stdio_bridge_config",
    "text_of",
]

T = TypeVar("T")

#: The interpreter of the main environment (nox sets it to its own): the ``stdio`` bridge runs there.
BRIDGE_PYTHON_VARIABLE = "SDK1_BRIDGE_PYTHON"
#: Every wait for a client to notice its server is gone ends within this.
NOTICE_DEADLINE = 20.0
#: What the ``stdio`` bridge's status line says on stderr when its upstream session is lost.
RECONNECTING = re.compile("reconnecting")


def bridge_python() -> str:
    """The main environment's interpreter, where ``mcp_session_recovery``'s ``cli`` extra is installed."""
    python = os.environ.get(BRIDGE_PYTHON_VARIABLE)
    if not python:
        raise RuntimeError(f"{BRIDGE_PYTHON_VARIABLE} is not set: run these tests with `nox -s sdk1`")
    return python


def stdio_bridge_config(url: str) -> dict[str, Any]:
    """mcp-use's server entry for the ``stdio`` bridge to ``url`` (the recipe: ``mcp-session-recovery
    stdio URL`` as the command; here the main environment's interpreter runs this worktree's copy)."""
    return {
        "command": bridge_python(),
        "args": ["-m", "mcp_session_recovery", "stdio", url],
        "env": {"PYTHONPATH": str(REPO_ROOT)},
    }


class Caller(Protocol):
    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str: ...


def text_of(result: Any) -> str:
    """The text of a tool result, in the shapes these clients return."""
    if isinstance(result, str):
        return result
    if isinstance(result, list):  # LangChain's content blocks
        return str(result[0]["text"])
    return str(result.content[0].text)


class Library:
    """What "with the library" hands a client: the factory (with its loss watch), and the file the
    ``stdio`` bridge's stderr goes to (mcp-use). ``noticed()`` returns once either reports that the
    server is gone since ``arm()``."""

    def __init__(self, *, options: SessionOptions | None = None) -> None:
        self.watch = LossWatch()
        on_event: Callable[[TransitionRecord], None] = self.watch
        self.factory: RecoveringClientFactory[httpx.AsyncClient] = recovering_client_factory(
            library="httpx", options=options or fast_options(), on_event=on_event
        )
        handle, name = tempfile.mkstemp(prefix="sdk1-bridge-", suffix=".log")
        os.close(handle)
        self.bridge_log = Path(name)
        self._reconnects_seen = 0

    def _reconnects(self) -> int:
        return len(RECONNECTING.findall(self.bridge_log.read_text(encoding="utf-8", errors="replace")))

    def arm(self) -> None:
        self.watch.noticed = anyio.Event()
        self._reconnects_seen = self._reconnects()

    async def noticed(self) -> None:
        with anyio.fail_after(NOTICE_DEADLINE):
            for _ in range(int(NOTICE_DEADLINE / 0.02)):
                if self.watch.noticed.is_set() or self._reconnects() > self._reconnects_seen:
                    return
                await anyio.sleep(0.02)  # polling the client's own report, not standing in for it

    def close(self) -> None:
        self.bridge_log.unlink(missing_ok=True)


def fast_options() -> SessionOptions:
    return SessionOptions(
        backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20.0, era_cache=EraCache()
    )


async def call_while_down(server: ManagedProcess, library: Library, call: Callable[[], Any]) -> Any:
    """SIGKILL ``server``, start ``call``, start the server again once the client noticed; the result."""
    library.arm()
    await anyio.to_thread.run_sync(server.kill)
    results: list[Any] = []

    async def run() -> None:
        results.append(await call())

    with anyio.fail_after(NOTICE_DEADLINE * 2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await library.noticed()
            await anyio.to_thread.run_sync(server.start)
    return results[0]


class _Texts:
    """``call_tool`` returning the answer's text, over any client whose ``call`` gives a result."""

    def __init__(self, call: Callable[[str, dict[str, Any]], Any]) -> None:
        self._call = call

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        return text_of(await self._call(name, arguments))


class _LangChainTools:
    """The LangChain tools an agent would call, by their MCP names (no model)."""

    def __init__(self, tools: list[BaseTool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        return text_of(await self._tools[name].ainvoke(arguments))


def _connection(url: str, library: Library | None, read_timeout: float | None) -> Any:
    connection: dict[str, Any] = {"transport": "streamable_http", "url": url}
    if read_timeout is not None:
        connection["sse_read_timeout"] = read_timeout
    if library is not None:
        connection["httpx_client_factory"] = library.factory
    return connection


@asynccontextmanager
async def _langchain_session(url: str, library: Library | None, read_timeout: float | None) -> AsyncIterator[Caller]:
    client = MultiServerMCPClient({"server": _connection(url, library, read_timeout)})
    async with client.session("server") as session:
        yield _LangChainTools(await load_mcp_tools(session))


@asynccontextmanager
async def _langchain_per_call(url: str, library: Library | None, read_timeout: float | None) -> AsyncIterator[Caller]:
    client = MultiServerMCPClient({"server": _connection(url, library, read_timeout)})
    yield _LangChainTools(await client.get_tools())


@asynccontextmanager
async def in_a_task_of_its_own(open_session: Callable[[], AbstractAsyncContextManager[T]]) -> AsyncIterator[T]:
    """Hold what ``open_session()`` opens in a task of its own, for as long as the block runs.

    mcp-use 1.7.1 enters the SDK's ``ClientSession`` (and so its task group's cancel scope) in the
    task that connects, and never leaves it: any cancel scope around it (``anyio.fail_after``, a task
    group, the conformance kit's deadlines) then fails on exit with "Attempted to exit a cancel scope
    that isn't the current task's current cancel scope". Opened in a task that does nothing else,
    the scope it leaves behind ends with that task.
    """
    opened: list[T] = []
    ready = anyio.Event()
    done = anyio.Event()

    async def hold() -> None:
        try:
            async with open_session() as session:
                opened.append(session)
                ready.set()
                await done.wait()
        finally:
            ready.set()  # also when opening failed: the caller then finds nothing opened

    # A bare asyncio task: an anyio task runs its coroutine inside a cancel scope of its own, which
    # the scope mcp-use leaves behind would break on the way out. mcp-use runs on asyncio only.
    task = asyncio.get_running_loop().create_task(hold())
    try:
        await ready.wait()
        if not opened:
            await task  # raises what opening raised
        yield opened[0]
    finally:
        done.set()
        with anyio.CancelScope(shield=True):
            await task


@asynccontextmanager
async def _mcp_use_client(url: str, read_timeout: float | None) -> AsyncIterator[MCPSession]:
    entry: dict[str, Any] = {"url": url}
    if read_timeout is not None:
        entry["sse_read_timeout"] = read_timeout
    client = MCPClient.from_dict({"mcpServers": {"server": entry}})
    session = await client.create_session("server")
    assert session is not None
    try:
        yield session
    finally:
        await client.close_all_sessions()


def mcp_use_client(url: str, read_timeout: float | None = None) -> AbstractAsyncContextManager[MCPSession]:
    """mcp-use alone, as its README opens it (``MCPClient.from_dict``, ``create_session``), in a task of its own."""
    return in_a_task_of_its_own(lambda: _mcp_use_client(url, read_timeout))


@asynccontextmanager
async def _mcp_use_bridged(url: str, log: Path) -> AsyncIterator[MCPSession]:
    # The connector ``MCPClient`` builds from the bridge's entry, with its stderr (the bridge's
    # status line) in a file the test reads to know when the bridge noticed a dead server.
    config = stdio_bridge_config(url)
    with log.open("a", encoding="utf-8") as errlog:
        connector = StdioConnector(config["command"], config["args"], config["env"], errlog=errlog)
        async with MCPSession(connector) as session:
            await session.initialize()
            yield session


@asynccontextmanager
async def _mcp_use(url: str, library: Library | None, read_timeout: float | None) -> AsyncIterator[Caller]:
    if library is None:
        async with mcp_use_client(url, read_timeout) as session:
            yield _Texts(session.call_tool)
        return
    async with in_a_task_of_its_own(lambda: _mcp_use_bridged(url, library.bridge_log)) as session:
        yield _Texts(session.call_tool)


@asynccontextmanager
async def _sdk1_session(url: str, library: Library | None, read_timeout: float | None) -> AsyncIterator[Caller]:
    timeout = httpx.Timeout(30, read=read_timeout or 300)
    http = library.factory(timeout=timeout) if library is not None else httpx.AsyncClient(timeout=timeout)
    async with (
        http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield _Texts(session.call_tool)


Opener = Callable[[str, "Library | None", "float | None"], AbstractAsyncContextManager[Caller]]


@dataclass(frozen=True)
class Framework:
    """A client, how its users open it, and the recipe's line."""

    name: str
    distribution: str
    open_with: Opener
    recipe: str
    #: Opens a session per call (a restart costs it nothing, alone or not).
    per_call: bool = False

    def open(
        self, url: str, library: Library | None, *, read_timeout: float | None = None
    ) -> AbstractAsyncContextManager[Caller]:
        """``library=None``: the client alone. ``read_timeout``: the client's read timeout, where it has one."""
        return self.open_with(url, library, read_timeout)

    @property
    def version(self) -> str:
        return version(self.distribution)

    def __str__(self) -> str:
        return self.name


FRAMEWORKS = (
    Framework(
        "langchain-session",
        "langchain-mcp-adapters",
        _langchain_session,
        '{"transport": "streamable_http", "url": url, '
        '"httpx_client_factory": recovering_client_factory(library="httpx")}; client.session(name)',
    ),
    Framework(
        "langchain-per-call",
        "langchain-mcp-adapters",
        _langchain_per_call,
        '{"transport": "streamable_http", "url": url, '
        '"httpx_client_factory": recovering_client_factory(library="httpx")}; client.get_tools()',
        per_call=True,
    ),
    Framework(
        "mcp-use",
        "mcp-use",
        _mcp_use,
        '{"mcpServers": {name: {"command": "mcp-session-recovery", "args": ["stdio", url]}}}',
    ),
    Framework(
        "sdk1-client-session",
        "mcp",
        _sdk1_session,
        'async with recovering_client_factory(library="httpx")() as http: '
        "streamable_http_client(url, http_client=http)",
    ),
)


def framework(name: str) -> Framework:
    """The framework called ``name``."""
    return next(f for f in FRAMEWORKS if f.name == name)
