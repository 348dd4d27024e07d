"""Redirects: a session id, a protocol version or a credential never goes to another origin.

The rule (runtime/redirects.py): a 307 or 308 to the endpoint's own origin is followed with the
same method, body and headers; nothing else is, whatever the HTTP client's own setting. What is not
followed is ``RedirectRefused`` for that one caller. A second server records every request it
receives: it must receive none.
"""

from __future__ import annotations

import aiohttp
import httpx
import pytest

from mcp_session_recovery.adapters.aiohttp_middleware import McpAiohttpError
from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import InitializeRejected, McpSessionError, RedirectRefused
from mcp_session_recovery.runtime import Session
from mcp_session_recovery.testing import AnswerRule, Behaviour, CannedAnswer, serve
from tests.edges.clients import Adapter, Refusal, cases
from tests.edges.support import options

pytestmark = pytest.mark.anyio

CODES = pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
RECORDER = Behaviour(record_requests=20)
TOKEN = "Bearer redirect-secret-0123456789"


def redirect_once(code: int, location: str, method: str = "tools/call") -> AnswerRule:
    return AnswerRule(CannedAnswer.redirect(code, location), frozenset({method}), times=1)


@CODES
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_a_redirect_to_another_origin_is_refused_and_nothing_goes_there(
    anyio_backend: str, adapter: Adapter, code: int
) -> None:
    async with (
        serve(RECORDER) as elsewhere,
        serve(Behaviour()) as server,
        adapter.open(server.url, options()) as client,
    ):
        server.configure(answer_rules=(redirect_once(code, elsewhere.url),))
        refusal = await client.call("bump", {})
        assert isinstance(refusal, Refusal), refusal
        refusal.expect(RedirectRefused, str(code))
        assert elsewhere.stats.recorded_requests == (), "a request went to the other origin"
        assert await client.call("bump", {}) == "1", "the tool never ran; the session stays usable"


@CODES
@pytest.mark.parametrize(
    ("anyio_backend", "adapter"), cases(names=("session-httpx", "session-aiohttp", "connect", "raw-aiohttp-middleware"))
)
async def test_a_redirected_initialize_is_a_typed_failure_and_nothing_goes_elsewhere(
    anyio_backend: str, adapter: Adapter, code: int
) -> None:
    async with serve(RECORDER) as elsewhere, serve(Behaviour()) as server:
        server.configure(answer_rules=(redirect_once(code, elsewhere.url, "initialize"),))
        try:
            async with adapter.open(server.url, options()) as client:
                outcome: object = await client.call("bump", {})
        except McpSessionError as error:  # connect() and the middleware's handshake negotiate on entry
            outcome = Refusal(typed=error.error if isinstance(error, McpAiohttpError) else error)
        assert isinstance(outcome, Refusal), outcome
        outcome.expect(InitializeRejected, f"HTTP {code}")
        assert elsewhere.stats.recorded_requests == ()


@pytest.mark.parametrize("code", [307, 308])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=("session-httpx", "session-aiohttp", "connect")))
async def test_a_307_or_308_to_the_same_origin_is_followed(anyio_backend: str, adapter: Adapter, code: int) -> None:
    behaviour = Behaviour(path_aliases=frozenset({"/moved/mcp"}))
    async with serve(behaviour) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(redirect_once(code, "/moved/mcp"),))
        assert await client.call("bump", {}) == "1"
        assert server.stats.tool_executions["bump"] == 1


@pytest.mark.parametrize("code", [307, 308])
@pytest.mark.parametrize(
    ("anyio_backend", "adapter"),
    cases(names=("sdk-httpx2", "raw-httpx2", "raw-httpx", "sync-httpx", "raw-aiohttp-middleware")),
)
async def test_the_transports_follow_a_same_origin_307_or_308_below_the_client(
    anyio_backend: str, adapter: Adapter, code: int
) -> None:
    behaviour = Behaviour(path_aliases=frozenset({"/moved/mcp"}))
    async with serve(behaviour) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(redirect_once(code, "/moved/mcp"),))
        assert await client.call("bump", {}) == "1"


@CODES
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_an_httpx_client_that_follows_redirects_itself_still_sends_nothing_elsewhere(
    anyio_backend: str, code: int
) -> None:
    async with serve(RECORDER) as elsewhere, serve(Behaviour()) as server:
        url = server.url
        async with (
            httpx.AsyncClient(follow_redirects=True, headers={"authorization": TOKEN}) as http,
            Session(HttpxWire(http, url), url, options()) as session,
        ):
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            server.configure(answer_rules=(redirect_once(code, elsewhere.url),))
            with pytest.raises(RedirectRefused):
                await session.request("tools/call", {"name": "bump", "arguments": {}})
        assert elsewhere.stats.recorded_requests == ()


@CODES
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_aiohttp_session_that_follows_redirects_by_default_still_sends_nothing_elsewhere(
    anyio_backend: str, code: int
) -> None:
    async with serve(RECORDER) as elsewhere, serve(Behaviour()) as server:
        url = server.url
        async with (
            aiohttp.ClientSession(headers={"authorization": TOKEN}) as http,
            Session(AiohttpWire(http, url), url, options()) as session,
        ):
            await session.request("tools/call", {"name": "peek", "arguments": {}})
            server.configure(answer_rules=(redirect_once(code, elsewhere.url),))
            with pytest.raises(RedirectRefused):
                await session.request("tools/call", {"name": "bump", "arguments": {}})
        assert elsewhere.stats.recorded_requests == ()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_redirects_are_followed_a_bounded_number_of_times(anyio_backend: str) -> None:
    # Two paths redirecting to each other, forever: a few hops, then the caller's RedirectRefused.
    behaviour = Behaviour(path_aliases=frozenset({"/a"}))
    async with serve(behaviour) as server:
        url = server.url
        server.configure(answer_rules=(AnswerRule(CannedAnswer.redirect(307, "/mcp"), frozenset({"tools/call"})),))
        async with httpx.AsyncClient() as http, Session(HttpxWire(http, url), url, options()) as session:
            with pytest.raises(RedirectRefused):
                await session.request("tools/call", {"name": "bump", "arguments": {}})
        assert server.stats.tool_executions.get("bump", 0) == 0
