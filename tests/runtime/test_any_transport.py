"""Wrapping any transport, and bugs that are never taken for network faults (unit tests, no network).

- ``RecoveringTransport`` and ``RecoveringSyncTransport`` tell httpx from httpx2 by the inner
  transport's base class, wherever that class is defined (here: this test module), or take it as
  ``library=``; a clear ``TypeError`` at construction when neither tells.
- An exception that is no network fault (an ``AttributeError`` of a user's transport) reaches the
  caller at once and is never retried: during a negotiation the session ends FAILED with
  ``UnexpectedException`` whose ``__cause__`` is the bug; during a forwarded request the caller
  gets the bug itself.
- httpx's ``ConnectError`` raised from a ``socket.gaierror`` is a name that did not resolve, not a
  refused connection.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncGenerator, Callable
from types import ModuleType
from typing import Any

import anyio
import httpx
import httpx2
import pytest

from mcp_session_recovery.adapters.httpx_sync_transport import RecoveringSyncTransport
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.adapters.httpx_wire import HttpxWire, library_of, transport_failure
from mcp_session_recovery.model import (
    EraMode,
    McpSessionError,
    Progress,
    State,
    TransportFailureKind,
    UnexpectedException,
)
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/mcp"
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "wrapper-test"}},
}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
#: Well under a second: a retried bug would take the backoff's whole round (tens of attempts).
AT_ONCE = 1.0


def options() -> SessionOptions:
    # Many attempts, short backoff, a long deadline: a bug taken for a network fault would be retried
    # for seconds before anything failed, so "at once" tells the two apart.
    return SessionOptions(
        backoff=Backoff(base=0.05, cap=0.2), max_attempts=60, request_timeout=20.0, era_cache=EraCache()
    )


class Broken(httpx2.AsyncBaseTransport):
    """A user's transport with a bug: every request raises ``AttributeError``."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.calls += 1
        raise AttributeError("'NoneType' object has no attribute 'send'")


class BrokenHttpx(httpx.AsyncBaseTransport):
    """The same bug in a transport of httpx."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise AttributeError("'NoneType' object has no attribute 'send'")


class BrokenSync(httpx.BaseTransport):
    """The same bug in a blocking transport of httpx."""

    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise AttributeError("'NoneType' object has no attribute 'send'")


def _legacy_answer(module: ModuleType, request: Any, message: dict[str, Any]) -> Any:
    """What a legacy server answers ``message`` (no network: a canned answer)."""
    if "id" not in message:
        return module.Response(202, request=request)
    if message["method"] == "initialize":
        version = message["params"]["protocolVersion"]
        result = {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": {"name": "canned"}}
        headers = {"content-type": "application/json", "mcp-session-id": "canned-session"}
    else:
        result, headers = {"tools": []}, {"content-type": "application/json"}
    body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
    return module.Response(200, headers=headers, content=body, request=request)


class Scripted(httpx2.AsyncBaseTransport):
    """A user's transport answering as a legacy server would, and raising ``error`` for ``failing``."""

    def __init__(self, failing: str, error: Callable[[], Exception]) -> None:
        self.failing = failing
        self.error = error
        self.methods: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        message = json.loads(await request.aread())
        self.methods.append(message["method"])
        if message["method"] == self.failing:
            raise self.error()
        answer: httpx2.Response = _legacy_answer(httpx2, request, message)
        return answer


class DuckTyped:
    """A transport that subclasses nothing: its library cannot be told, only given."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def __aenter__(self) -> DuckTyped:
        return self

    async def aclose(self) -> None:
        pass

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        message = json.loads(await request.aread())
        self.methods.append(message["method"])
        answer: httpx2.Response = _legacy_answer(httpx2, request, message)
        return answer


# -- telling the library -------------------------------------------------------------------------------


def test_the_library_is_told_by_the_base_class_wherever_the_class_is_defined() -> None:
    assert Broken.__module__ == __name__, "defined here, not in httpx2: the module cannot tell"
    assert library_of(Broken()) is httpx2
    assert library_of(BrokenHttpx()) is httpx
    assert library_of(BrokenSync()) is httpx
    assert library_of(httpx2.AsyncHTTPTransport()) is httpx2
    assert library_of(httpx.HTTPTransport()) is httpx
    assert library_of(httpx2.AsyncClient()) is httpx2
    assert library_of(httpx.Client()) is httpx


def test_a_library_given_is_taken_and_anything_else_is_a_type_error_at_construction() -> None:
    assert library_of(DuckTyped(), httpx2) is httpx2
    with pytest.raises(TypeError, match="cannot tell whether DuckTyped belongs to httpx or httpx2"):
        RecoveringTransport(DuckTyped())
    with pytest.raises(TypeError, match="library=httpx2"):
        RecoveringSyncTransport(DuckTyped())
    with pytest.raises(TypeError, match="library must be the httpx or the httpx2 module"):
        RecoveringTransport(Broken(), library=json)


async def test_a_duck_typed_transport_works_once_its_library_is_given() -> None:
    inner = DuckTyped()
    transport = RecoveringTransport(inner, library=httpx2, options=options())
    async with httpx2.AsyncClient(transport=transport) as http:
        answer = await http.post(URL, json=INITIALIZE, headers=ACCEPT)
        assert answer.status_code == 200
        assert answer.json()["result"]["serverInfo"] == {"name": "canned"}
        listed = await http.post(
            URL, json=TOOLS_LIST, headers={**ACCEPT, "mcp-session-id": answer.headers["mcp-session-id"]}
        )
        assert listed.json() == {"jsonrpc": "2.0", "id": 2, "result": {"tools": []}}
    assert inner.methods == ["initialize", "notifications/initialized", "tools/list"]


# -- bugs are never retried ------------------------------------------------------------------------------


@pytest.mark.parametrize("first", [INITIALIZE, TOOLS_LIST], ids=["initialize", "tools/list"])
async def test_a_bug_in_the_inner_transport_fails_the_first_request_at_once(first: dict[str, Any]) -> None:
    inner = Broken()
    started = time.monotonic()
    async with httpx2.AsyncClient(transport=RecoveringTransport(inner, options=options())) as http:
        answer = await http.post(URL, json=first, headers=ACCEPT)
        elapsed = time.monotonic() - started
        error = answer.json()["error"]
        assert answer.json()["id"] == first["id"], "under the client's own id"
        assert error["data"]["error"] == "UnexpectedException"
        assert "AttributeError" in error["message"]
        assert "'NoneType'" not in error["message"], "the bug's own message may quote a header: its type only"
        again = await http.post(URL, json=first, headers=ACCEPT)
        assert again.json()["error"]["data"]["error"] == "UnexpectedException", "FAILED: no retry later either"
    assert inner.calls == 1, "never retried"
    assert elapsed < AT_ONCE


async def test_a_bug_in_an_httpx_transport_fails_at_once_too() -> None:
    inner = BrokenHttpx()
    started = time.monotonic()
    transport = RecoveringTransport(inner, options=options())
    async with httpx.AsyncClient(transport=transport) as http:  # type: ignore[arg-type]
        answer = await http.post(URL, json=INITIALIZE, headers=ACCEPT)
    assert "AttributeError" in answer.json()["error"]["message"]
    assert inner.calls == 1
    assert time.monotonic() - started < AT_ONCE


async def test_a_bug_fails_the_session_s_waiting_callers_at_once_with_the_bug_as_cause() -> None:
    inner = Broken()
    started = time.monotonic()
    async with httpx2.AsyncClient(transport=inner) as http, Session(HttpxWire(http, URL), URL, options()) as session:
        failures: list[BaseException] = []

        async def call() -> None:
            with pytest.raises(UnexpectedException) as caught:
                await session.request("tools/list")
            failures.append(caught.value)

        async with anyio.create_task_group() as callers:
            for _ in range(3):
                callers.start_soon(call)
        assert session.state is State.FAILED
        with pytest.raises(UnexpectedException):
            await session.connect()
    assert time.monotonic() - started < AT_ONCE
    assert inner.calls == 1, "one negotiation, never retried"
    assert len(failures) == 3
    for failure in failures:
        assert isinstance(failure, McpSessionError)
        assert isinstance(failure.__cause__, AttributeError)
        assert failure.exception_type == "AttributeError"  # type: ignore[attr-defined]
        assert "AttributeError" in str(failure)


async def test_a_bug_in_a_forwarded_request_reaches_its_caller_itself_at_once() -> None:
    inner = Scripted("tools/list", lambda: TypeError("handle() takes 1 positional argument"))
    transport = RecoveringTransport(inner, mode=EraMode.LEGACY, options=options())
    async with httpx2.AsyncClient(transport=transport) as http:
        answer = await http.post(URL, json=INITIALIZE, headers=ACCEPT)
        headers = {**ACCEPT, "mcp-session-id": answer.headers["mcp-session-id"]}
        started = time.monotonic()
        with pytest.raises(TypeError, match="takes 1 positional argument"):
            await http.post(URL, json=TOOLS_LIST, headers=headers)
        assert time.monotonic() - started < AT_ONCE
        assert transport.session is not None
        assert transport.session.state is State.READY, "the session lives on"
    assert inner.methods == ["initialize", "notifications/initialized", "tools/list"], "sent once, never again"


def test_a_bug_in_a_blocking_transport_fails_the_first_request_at_once() -> None:
    inner = BrokenSync()
    started = time.monotonic()
    with httpx.Client(transport=RecoveringSyncTransport(inner, options=options())) as http:
        answer = http.post(URL, json=INITIALIZE, headers=ACCEPT)
    assert "AttributeError" in answer.json()["error"]["message"]
    assert inner.calls == 1
    assert time.monotonic() - started < AT_ONCE


def _mock_server(module: ModuleType, methods: list[str]) -> Any:
    """An ``httpx``/``httpx2`` ``MockTransport`` answering as a legacy server, every answer a response
    made with its content (read already, as a mock's are)."""

    def answer(request: Any) -> Any:
        message = json.loads(request.content)
        methods.append(message["method"])
        if "id" not in message:
            return module.Response(202)
        result: dict[str, Any] = {"tools": []}
        if message["method"] == "initialize":
            result = {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "serverInfo": {"name": "mock", "version": "1"},
            }
        body = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        return module.Response(200, json=body, headers={"mcp-session-id": "mock-session"})

    return module.MockTransport(answer)


def test_a_mock_transport_serves_the_blocking_twin() -> None:
    methods: list[str] = []
    with httpx.Client(transport=RecoveringSyncTransport(_mock_server(httpx, methods), options=options())) as http:
        initialized = http.post(URL, json=INITIALIZE, headers=ACCEPT)
        assert initialized.json()["result"]["serverInfo"]["name"] == "mock"
        headers = {**ACCEPT, "mcp-session-id": initialized.headers["mcp-session-id"]}
        assert http.post(URL, json=TOOLS_LIST, headers=headers).json()["result"] == {"tools": []}
    assert methods == ["initialize", "notifications/initialized", "tools/list"]


async def test_a_mock_transport_serves_the_async_transport() -> None:
    methods: list[str] = []
    async with httpx2.AsyncClient(
        transport=RecoveringTransport(_mock_server(httpx2, methods), options=options())
    ) as http:
        initialized = await http.post(URL, json=INITIALIZE, headers=ACCEPT)
        assert initialized.json()["result"]["serverInfo"]["name"] == "mock"
        headers = {**ACCEPT, "mcp-session-id": initialized.headers["mcp-session-id"]}
        assert (await http.post(URL, json=TOOLS_LIST, headers=headers)).json()["result"] == {"tools": []}
    assert methods == ["initialize", "notifications/initialized", "tools/list"]


async def test_a_network_fault_is_still_retried() -> None:
    """The control: the wire's own exception (a refused connection) is waited out, not failed at once."""
    inner = Scripted("initialize", lambda: httpx2.ConnectError("All connection attempts failed"))
    transport = RecoveringTransport(inner, options=options())
    async with httpx2.AsyncClient(transport=transport) as http:
        with anyio.move_on_after(0.5):
            await http.post(URL, json=INITIALIZE, headers=ACCEPT)
        assert transport.session is not None
        assert transport.session.state is not State.FAILED
    assert inner.methods.count("initialize") > 1, "retried with backoff"


# -- a name that does not resolve --------------------------------------------------------------------------


@pytest.mark.parametrize("module", [httpx, httpx2], ids=lambda m: m.__name__)
def test_a_connect_error_from_the_resolver_is_a_name_that_did_not_resolve(module: ModuleType) -> None:
    resolver = module.ConnectError("Name or service not known")
    resolver.__cause__ = OSError("httpcore's ConnectError")
    resolver.__cause__.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    failure = transport_failure(module, resolver, streaming=False)
    assert failure is not None
    assert (failure.kind, failure.progress) == (TransportFailureKind.NAME_RESOLUTION, Progress.NOT_SENT)
    refused = transport_failure(module, module.ConnectError("All connection attempts failed"), streaming=False)
    assert refused is not None
    assert refused.kind is TransportFailureKind.CONNECT_REFUSED


async def test_an_unresolvable_name_through_a_real_client_is_name_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole chain httpx2 really builds, the resolver faked: no name is looked up for real."""
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host.decode() if isinstance(host, bytes) else str(host))
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    async with httpx2.AsyncClient() as http:
        with pytest.raises(httpx2.ConnectError) as caught:
            await http.post("http://mcp.invalid:8000/mcp", json=TOOLS_LIST)
    failure = transport_failure(httpx2, caught.value, streaming=False)
    assert failure is not None
    assert failure.kind is TransportFailureKind.NAME_RESOLUTION
    assert set(asked) == {"mcp.invalid"}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp runs on asyncio only
async def test_a_bug_in_a_relayed_stream_reaches_the_aiohttp_client_as_itself() -> None:
    from mcp_session_recovery.adapters._aiohttp_content import relayed

    async def relay() -> AsyncGenerator[bytes, None]:
        yield b"event: message\n"
        raise KeyError("a bug in the relay")

    async with anyio.create_task_group() as task_group:
        content = relayed(relay(), task_group)
        with pytest.raises(KeyError, match="a bug in the relay"):
            await content.read()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the SDK's client runs on asyncio
async def test_a_bug_under_the_unmodified_sdk_fails_its_initialize_at_once() -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    inner = Broken()
    started = time.monotonic()
    async with (
        httpx2.AsyncClient(transport=RecoveringTransport(inner, options=options())) as http,
        streamable_http_client(URL, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        with pytest.raises(MCPError, match="raised AttributeError"):
            await session.initialize()
    assert inner.calls == 1, "never retried"
    assert time.monotonic() - started < AT_ONCE
