"""Auth passes through both adapters whose client negotiates itself (``RecoveringTransport``,
``RecoveringMiddleware``): a refusal of the client's handshake comes back as the server sent it,
the client's next handshake (with credentials) is taken over as usual, and requests to other URLs
(an auth flow's metadata and token requests) go to the server untouched, teaching the session
nothing. Raw JSON-RPC clients, so the bytes themselves are checked; our server runs in-process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import NamedTuple

import aiohttp
import httpx2
import pytest

from mcp_session_recovery.adapters.aiohttp_middleware import RecoveringMiddleware
from mcp_session_recovery.adapters.httpx_transport import RecoveringTransport
from mcp_session_recovery.model import State
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions
from mcp_session_recovery.testing import AnswerRule, Behaviour, CannedAnswer, serve
from tests.edges.clients import ACCEPT, HTTP_TIMEOUT

pytestmark = pytest.mark.anyio

CHALLENGE = 'Bearer error="invalid_token", resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"'
REFUSAL_BODY = '{"error": "invalid_token", "error_description": "no token"}'
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


#: Sends one request through the adapter: (HTTP method, URL, JSON body or None, headers).
Sender = Callable[[str, str, object, dict[str, str]], Awaitable[Answer]]


def _options() -> SessionOptions:
    return SessionOptions(backoff=Backoff(base=0.01, cap=0.05), era_cache=EraCache(), request_timeout=10.0)


@asynccontextmanager
async def _httpx2() -> AsyncIterator[tuple[RecoveringTransport | RecoveringMiddleware, Sender]]:
    transport = RecoveringTransport(httpx2.AsyncHTTPTransport(), options=_options())
    async with httpx2.AsyncClient(transport=transport, timeout=HTTP_TIMEOUT) as http:

        async def send(method: str, url: str, body: object, headers: dict[str, str]) -> Answer:
            content = json.dumps(body).encode() if body is not None else None
            response = await http.request(method, url, content=content, headers={**ACCEPT, **headers})
            return Answer(response.status_code, dict(response.headers), response.content)

        yield transport, send


@asynccontextmanager
async def _aiohttp() -> AsyncIterator[tuple[RecoveringTransport | RecoveringMiddleware, Sender]]:
    recovering = RecoveringMiddleware(options=_options())
    async with aiohttp.ClientSession(middlewares=(recovering,)) as http, recovering:

        async def send(method: str, url: str, body: object, headers: dict[str, str]) -> Answer:
            data = json.dumps(body).encode() if body is not None else None
            all_headers = {**ACCEPT, **headers, **({"content-type": "application/json"} if data else {})}
            async with http.request(method, url, data=data, headers=all_headers) as response:
                return Answer(response.status, dict(response.headers), await response.read())

        yield recovering, send


#: Each adapter on the backends it runs on (aiohttp: asyncio only).
CASES = [
    pytest.param("asyncio", _httpx2, id="httpx2-transport-asyncio"),
    pytest.param("trio", _httpx2, id="httpx2-transport-trio"),
    pytest.param("asyncio", _aiohttp, id="aiohttp-middleware-asyncio"),
]


@pytest.mark.parametrize(("anyio_backend", "opener"), CASES)
async def test_a_refused_handshake_comes_back_as_sent_and_the_next_one_is_taken_over(
    opener: object, anyio_backend: str
) -> None:
    refusal = CannedAnswer(401, "application/json", REFUSAL_BODY, (("www-authenticate", CHALLENGE),))
    behaviour = Behaviour(answer_rules=(AnswerRule(refusal, frozenset({"initialize"}), times=1),), record_requests=20)
    async with serve(behaviour) as server, opener() as (adapter, send):  # type: ignore[operator]
        refused = await send("POST", server.url, INITIALIZE, {})
        # The client's auth flow sees what the server said: status, challenge, body.
        assert refused.status == 401
        assert {k.lower(): v for k, v in refused.headers.items()}["www-authenticate"] == CHALLENGE
        assert refused.body == REFUSAL_BODY.encode()
        session = adapter.session
        assert isinstance(session, Session)
        assert session.state is State.INVALIDATED, "not FAILED: the client renews its credentials"

        accepted = await send("POST", server.url, INITIALIZE, {"authorization": "Bearer renewed"})
        assert accepted.status == 200
        assert json.loads(accepted.body)["id"] == 7
        assert session.snapshot.state is State.READY
        assert server.stats.initializes == 1, "the refused one never made a session"
        posts = [r.headers.get("authorization") for r in server.stats.recorded_requests if r.method == "POST"]
        # The runtime's own handshakes carried the client's credentials of the moment.
        assert posts[:2] == [None, "Bearer renewed"]


@pytest.mark.parametrize(("anyio_backend", "opener"), CASES)
async def test_requests_to_other_urls_pass_untouched_and_teach_the_session_nothing(
    opener: object, anyio_backend: str
) -> None:
    async with serve(Behaviour(record_requests=20)) as server:
        async with opener() as (adapter, send):  # type: ignore[operator]
            metadata_url = server.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
            token_request = await send("POST", metadata_url, None, {"authorization": "Basic Y2xpZW50OnNlY3JldA=="})
            assert adapter.session is None, "an auth flow's request before the handshake starts no session"
            assert token_request.status == 404, "it reached the server, which has no such path"

            assert (await send("POST", server.url, INITIALIZE, {"authorization": "Bearer token"})).status == 200
            other = await send("GET", metadata_url, None, {"authorization": "Basic Y2xpZW50OnNlY3JldA=="})
            assert other.status == 404
            session = adapter.session
            assert isinstance(session, Session)
            assert session.state is State.READY
            assert "mcp-session-id" not in {k.lower() for k in other.headers}
            assert server.stats.requests_by_method.get("initialize") == 1
        # The session's DELETE on close is the runtime's own request: the client's MCP credentials,
        # never those of its request to another URL.
        (delete,) = [r for r in server.stats.recorded_requests if r.method == "DELETE"]
        assert delete.headers.get("authorization") == "Bearer token"
