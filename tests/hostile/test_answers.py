"""Whatever a server answers becomes a typed error for that one caller, and the client lives on.

Every adapter (tests/edges/clients.py), on the backends it supports, against the fault-injecting
test server's hostile answers: statuses outside the classes HTTP defines, bodies that are not
JSON-RPC, a body that does not match its Content-Encoding, connections dropped at every stage,
credentials refused in the middle of a recovery. Each answer is given once (an ``AnswerRule`` with
``times=1``): the next call must work on the same client.
"""

from __future__ import annotations

import pytest

from mcp_session_recovery.model import (
    CredentialsRejected,
    McpSessionError,
    OutcomeUnknown,
    UnexpectedAnswer,
)
from mcp_session_recovery.testing import AnswerRule, Behaviour, CannedAnswer, serve
from tests.edges.clients import Adapter, RawClient, Refusal, cases, message_of
from tests.edges.support import options

pytestmark = pytest.mark.anyio

TYPED = ("session-httpx", "session-aiohttp", "connect")
RELAYED = ("sdk-httpx2", "raw-httpx2", "raw-httpx", "sync-httpx", "raw-aiohttp-middleware")


def once(answer: CannedAnswer | None, method: str = "tools/call") -> AnswerRule:
    return AnswerRule(answer, frozenset({method}), times=1)


@pytest.mark.parametrize("status", [600, 999])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=TYPED))
async def test_a_status_no_http_class_knows_is_unexpected_answer(
    anyio_backend: str, adapter: Adapter, status: int
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(once(CannedAnswer(status, "text/plain", "odd")),))
        refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), refusal
        refusal.expect(UnexpectedAnswer, str(status), status=status)
        assert await client.call("peek", {}) == "0", "the session stays usable"


@pytest.mark.parametrize("status", [99, 101, 199])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=TYPED))
async def test_a_status_below_200_is_a_typed_error(anyio_backend: str, adapter: Adapter, status: int) -> None:
    # httpx cannot read these as an answer (a malformed answer, outcome unknown); aiohttp can.
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(once(CannedAnswer(status, "text/plain", "")),))
        refusal = await client.call("bump", {})
        assert isinstance(refusal, Refusal), refusal
        assert isinstance(refusal.typed, (UnexpectedAnswer, OutcomeUnknown)), refusal
        # A canned answer stands in for the tool: a replay would have run it.
        assert await client.call("peek", {}) == "0", "not replayed; the session stays usable"


@pytest.mark.parametrize("status", [99, 600, 999])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(raw=True))
async def test_an_odd_status_reaches_the_client_above_a_transport_unchanged(
    anyio_backend: str, adapter: Adapter, status: int
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        assert isinstance(client, RawClient)
        server.configure(answer_rules=(once(CannedAnswer(status, "text/plain", "odd")),))
        answer = await client.raw_call(7, "peek", {})
        if status < 100 and "aiohttp" not in adapter.name:
            # httpx itself cannot parse a status below 100 (aiohttp can): a JSON-RPC error for that call.
            error = message_of(answer)["error"]
            assert (answer.status, error["code"]) == (200, -32000), answer
        else:
            assert (answer.status, answer.body) == (status, b"odd"), "passed through as the bare transport would"
        assert await client.call("peek", {}) == "0", "the client survives it"


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=("sdk-httpx2",)))
async def test_the_sdk_above_the_transport_survives_an_odd_status(anyio_backend: str, adapter: Adapter) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(once(CannedAnswer(600, "text/plain", "odd")),))
        refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), refusal  # the SDK's own error for a non-2xx answer
        assert await client.call("peek", {}) == "0"


BODIES = {
    "html": CannedAnswer(200, "text/html", "<html><body>Gateway says hi</body></html>"),
    "not-json-rpc": CannedAnswer(200, "application/json", '{"hello": "world"}'),
    "not-json": CannedAnswer(200, "application/json", "{this is not json"),
    "html-500": CannedAnswer(500, "text/html", "<h1>Internal Server Error</h1>"),
}


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=TYPED))
async def test_a_body_that_is_no_json_rpc_answer_is_unexpected_answer(
    anyio_backend: str, adapter: Adapter, body: str
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(once(BODIES[body]),))
        refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), refusal
        refusal.expect(UnexpectedAnswer, status=BODIES[body].status)
        assert await client.call("peek", {}) == "0"


GZIP_LIE = CannedAnswer(200, "application/json", "this is not gzip", (("content-encoding", "gzip"),))


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=(*TYPED, "sdk-httpx2", "raw-aiohttp-middleware")))
async def test_a_body_that_does_not_match_its_content_encoding_is_a_typed_error(
    anyio_backend: str, adapter: Adapter
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(once(GZIP_LIE),))
        refusal = await client.call("bump", {})
        assert isinstance(refusal, Refusal), refusal
        refusal.expect(OutcomeUnknown)  # the answer cannot be read: the server may have acted
        assert server.stats.tool_executions.get("bump", 0) == 0, "not replayed (a canned answer stood in for it)"
        assert await client.call("bump", {}) == "1", "the session stays usable"


@pytest.mark.parametrize("stage", ["initialize", "notifications/initialized"])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_a_connection_dropped_during_the_handshake_is_retried(
    anyio_backend: str, adapter: Adapter, stage: str
) -> None:
    async with serve(Behaviour(answer_rules=(once(None, stage),))) as server:
        async with adapter.open(server.url, options()) as client:
            assert await client.call("bump", {}) == "1"
        stats = await server.wait_until(lambda stats: stats.sessions_open == 0)
        assert stats.dropped_requests == 1
        # A session opened by an initialize whose handshake was cut is deleted, not left behind.
        assert stats.sessions_created == stats.sessions_deleted


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_a_connection_dropped_after_a_call_was_sent_is_outcome_unknown(
    anyio_backend: str, adapter: Adapter
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        server.configure(answer_rules=(once(None),))
        refusal = await client.call("bump", {})
        assert isinstance(refusal, Refusal), refusal
        refusal.expect(OutcomeUnknown)
        assert await client.call("peek", {}) in ("0", "1"), "the session stays usable"


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=TYPED))
async def test_credentials_refused_in_the_middle_of_a_recovery(
    anyio_backend: str, adapter: Adapter, status: int
) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        assert await client.call("peek", {}) == "0"
        refused = CannedAnswer(status, "application/json", '{"error": "invalid_token"}')
        server.configure(answer_rules=(AnswerRule(refused, frozenset({"initialize"})),))
        server.expire_sessions()  # the next call finds its session gone and must negotiate again
        refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), refusal
        refusal.expect(CredentialsRejected, status=status)
        assert server.stats.requests_by_method.get("initialize", 0) <= 1, "refused credentials are not retried"


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=TYPED))
async def test_every_typed_error_is_a_library_error(anyio_backend: str, adapter: Adapter) -> None:
    async with serve(Behaviour()) as server, adapter.open(server.url, options()) as client:
        for rule in (once(CannedAnswer(600, "text/plain", "odd")), once(None), once(GZIP_LIE)):
            server.configure(answer_rules=(rule,))
            refusal = await client.call("bump", {})
            assert isinstance(refusal, Refusal), refusal
            assert isinstance(refusal.typed, McpSessionError), refusal
