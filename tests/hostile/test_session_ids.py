"""A session id that is not visible ASCII, or longer than the bound, is a ProtocolViolation at once.

The server issues it in the ``initialize`` answer's ``Mcp-Session-Id`` header as raw bytes (h11
would refuse to write a CR, an LF or a NUL there). No retry can help, so the first negotiation is
the only one: the server sees one ``initialize``, and the caller a typed error naming the cause.
"""

from __future__ import annotations

import pytest

from mcp_session_recovery.adapters.aiohttp_middleware import McpAiohttpError
from mcp_session_recovery.model import MAX_SESSION_ID_LENGTH, McpSessionError, ProtocolViolation
from mcp_session_recovery.testing import Behaviour, serve
from tests.edges.clients import Adapter, Refusal, cases
from tests.edges.support import options

pytestmark = pytest.mark.anyio

MALFORMED = {
    "bare-cr": ("a1b2\rc3d4", "not valid HTTP"),
    "bare-lf": ("a1b2\nc3d4", "not valid HTTP"),
    "nul": ("a1b2\x00c3d4", "not valid HTTP"),
    "space": ("a1b2 c3d4", "not visible ASCII"),
    "too-long": ("s" * (MAX_SESSION_ID_LENGTH + 1), f"longer than {MAX_SESSION_ID_LENGTH}"),
    # aiohttp refuses a header this long itself (a malformed answer), httpx reads it: either way.
    "60-kb": ("s" * 60_000, ""),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize(
    ("anyio_backend", "adapter"), cases(names=("session-httpx", "session-aiohttp", "connect", "raw-aiohttp-middleware"))
)
async def test_a_malformed_session_id_is_a_protocol_violation_at_once(
    anyio_backend: str, adapter: Adapter, case: str
) -> None:
    session_id, words = MALFORMED[case]
    async with serve(Behaviour(issued_session_id=session_id)) as server:
        try:
            async with adapter.open(server.url, options()) as client:
                outcome: object = await client.call("peek", {})
        except McpSessionError as error:  # connect() and the middleware's handshake raise it
            outcome = Refusal(typed=error.error if isinstance(error, McpAiohttpError) else error)
        assert isinstance(outcome, Refusal), outcome
        outcome.expect(ProtocolViolation, *(words,) if words else ())
        assert session_id not in repr(outcome.typed)
        assert session_id not in str(outcome.typed)
        assert len(server.stats.initialize_times) == 1, "no retry: the same server answers the same way"


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=("session-httpx", "connect", "raw-httpx2")))
async def test_a_long_but_bounded_session_id_is_accepted(anyio_backend: str, adapter: Adapter) -> None:
    async with (
        serve(Behaviour(issued_session_id="k" * 2048)) as server,
        adapter.open(server.url, options()) as client,
    ):
        assert await client.call("bump", {}) == "1"
