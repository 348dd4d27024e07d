"""``recovering_client_factory()``: the shape the SDK and the frameworks call, and what each argument does."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Literal

import httpx
import httpx2
import pytest
from mcp.shared._httpx_utils import McpHttpClientFactory

import mcp_session_recovery
from mcp_session_recovery import RecoveringTransport, recovering_client_factory
from mcp_session_recovery.adapters import client_factory
from mcp_session_recovery.model import EraMode

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/mcp"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


class _Recorder:
    """A server behind a mock transport: answers ``initialize``, keeps every request it got."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> Any:
        self.requests.append(request)
        message = json.loads(request.content)
        module = httpx2 if isinstance(request, httpx2.Request) else httpx
        if "id" not in message:
            return module.Response(202)  # notifications/initialized
        result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
        body = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        return module.Response(200, json=body, headers={"mcp-session-id": "real-session"})


def test_the_factory_has_the_sdks_factory_shape() -> None:
    factory: McpHttpClientFactory = recovering_client_factory()  # mypy checks the shape
    client = factory()
    assert isinstance(client, httpx2.AsyncClient)
    assert isinstance(client._transport, RecoveringTransport)


def test_the_sdks_default_timeouts_unless_given() -> None:
    factory = recovering_client_factory()
    assert factory().timeout == httpx2.Timeout(30.0, read=300.0)
    given = httpx2.Timeout(5.0, read=60.0)
    assert factory(timeout=given).timeout == given


def test_redirects_are_followed_only_when_asked() -> None:
    factory = recovering_client_factory()
    assert factory().follow_redirects is False
    assert factory(follow_redirects=True).follow_redirects is True  # FastMCP asks


def test_an_unknown_keyword_is_refused_not_dropped() -> None:
    factory: Any = recovering_client_factory()
    with pytest.raises(TypeError, match="verify"):
        factory(verify=False)


def test_each_client_gets_its_own_transport() -> None:
    factory = recovering_client_factory()
    first = factory()
    assert factory.last_transport is first._transport
    second = factory()
    assert second._transport is not first._transport
    assert factory.last_transport is second._transport


def test_httpx_on_request_for_the_sdk_1x_line() -> None:
    factory = recovering_client_factory(library="httpx")
    client = factory(timeout=None)
    assert isinstance(client, httpx.AsyncClient)
    assert not isinstance(client, httpx2.AsyncClient)
    assert client.timeout == httpx.Timeout(30.0, read=300.0)
    assert factory.library is httpx


def test_wrong_library_or_mode_fails_at_once() -> None:
    with pytest.raises(ValueError, match="library"):
        recovering_client_factory(library="requests")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="sideways"):
        recovering_client_factory(mode="sideways")


@pytest.mark.parametrize("library", ["httpx2", "httpx"])
async def test_headers_and_auth_reach_the_server_through_the_transport(library: Literal["httpx2", "httpx"]) -> None:
    module: Any = httpx2 if library == "httpx2" else httpx
    recorder = _Recorder()
    factory: Any = recovering_client_factory(
        library=library,
        mode=EraMode.LEGACY,
        inner=lambda: module.MockTransport(recorder),
    )
    client = factory(headers={"x-tenant": "blue"}, auth=module.BasicAuth("user", "secret"))
    async with client:
        answer = await client.post(URL, json=INITIALIZE, headers=ACCEPT)
        assert answer.status_code == 200
        assert answer.json()["result"]["serverInfo"]["name"] == "s"
    (sent, *_) = recorder.requests
    assert sent.headers["x-tenant"] == "blue"
    assert sent.headers["authorization"].startswith("Basic ")
    assert answer.headers["mcp-session-id"] != "real-session", "the client above holds a virtual id"


async def test_an_inner_transport_is_built_per_client() -> None:
    built: list[Any] = []

    def inner() -> Any:
        built.append(httpx2.MockTransport(_Recorder()))
        return built[-1]

    factory = recovering_client_factory(inner=inner)
    factory()
    factory()
    assert len(built) == 2
    assert built[0] is not built[1]


def test_the_root_exports_the_entry_points_lazily() -> None:
    assert mcp_session_recovery.recovering_client_factory is client_factory.recovering_client_factory
    assert mcp_session_recovery.RecoveringTransport is RecoveringTransport
    from mcp_session_recovery.adapters.mcp_sdk import connect

    assert mcp_session_recovery.connect is connect
    for name in ("recovering_client_factory", "RecoveringTransport", "connect", "RecoveringClientFactory"):
        assert name in mcp_session_recovery.__all__
        assert name in dir(mcp_session_recovery)
    assert all(hasattr(mcp_session_recovery, name) for name in mcp_session_recovery.__all__)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = mcp_session_recovery.no_such_name


def test_importing_the_root_loads_no_http_library_until_a_client_factory_is_made() -> None:
    code = (
        "import sys, mcp_session_recovery as m\n"
        "print('httpx2' in sys.modules, 'mcp' in sys.modules)\n"
        "m.recovering_client_factory()\n"
        "print('httpx2' in sys.modules, 'mcp' in sys.modules)\n"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert printed.stdout.split() == ["False", "False", "True", "False"]
