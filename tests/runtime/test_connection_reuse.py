"""What the client above is given: the connection back when it reads an answer to its end; a chosen session id.

A server that ends its SSE answer right after the response (the SDK's servers do) has written the
stream's end by the time the client above asks for more: reading it lets the connection go back to
the pool. Closing the response with its end unread would cost a new connection per request, as the
``proxy`` bridge paid before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx2
import pytest

from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import EraCache, SessionOptions
from mcp_session_recovery.testing import Behaviour, ResponseStyle, ServedEra, serve

pytestmark = pytest.mark.anyio

CALLS = 10
LEGACY = "2025-11-25"


def _message(request_id: int, method: str, params: Mapping[str, object] | None = None) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params or {})}).encode()


@pytest.mark.parametrize("read_to_end", [True, False])
async def test_an_sse_answer_read_to_its_end_keeps_the_connection(read_to_end: bool) -> None:
    behaviour = Behaviour(eras=frozenset({ServedEra.LEGACY}), response_style=ResponseStyle.SSE)
    options = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache())
    async with (
        serve(behaviour) as server,
        httpx2.AsyncClient(transport=RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options)) as client,
    ):
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}
        answer = await client.post(server.url, content=_message(0, "initialize", params), headers=headers)
        headers |= {"mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": LEGACY}
        before = server.stats.connections_accepted
        for request_id in range(1, CALLS + 1):
            body = _message(request_id, "tools/list")
            async with client.stream("POST", server.url, content=body, headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data:") and json.loads(line[5:])["id"] == request_id and not read_to_end:
                        break  # as the SDK does: the rest of the stream is left unread
        opened = server.stats.connections_accepted - before
    if read_to_end:
        assert opened <= 1, f"{opened} connections for {CALLS} answers read to their end"
    else:
        # The other side of the same coin: what the client above leaves unread ends the connection.
        assert opened == CALLS


async def test_the_session_id_the_client_is_given_can_be_chosen() -> None:
    # A proxy restarting gives the id its host holds: the host's later requests then find it.
    given = "recovering-the-id-the-host-holds"
    options = SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache())
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=options, virtual_session_id=given)
    behaviour = Behaviour(eras=frozenset({ServedEra.LEGACY}), response_style=ResponseStyle.JSON)
    async with serve(behaviour) as server, httpx2.AsyncClient(transport=transport) as client:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}
        answer = await client.post(server.url, content=_message(0, "initialize", params), headers=headers)
        assert answer.headers["mcp-session-id"] == given
        headers |= {"mcp-session-id": given, "mcp-protocol-version": LEGACY}
        listed = await client.post(server.url, content=_message(1, "tools/list"), headers=headers)
        assert listed.json()["id"] == 1
        assert server.stats.initializes == 1
