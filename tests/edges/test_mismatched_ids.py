"""Every answer is matched to its request by JSON-RPC id, JSON and SSE alike (DESIGN §7).

A server answering with another id gets ``MismatchedResponse`` for that one caller (an
``MCPError`` -32000 naming it through the transports); the call is not replayed (the tool ran
once) and the session serves the next call.
"""

from __future__ import annotations

import pytest

from mcp_session_recovery.model import EraMode, MismatchedResponse
from mcp_session_recovery.testing import Behaviour, ResponseStyle, ServedEra, serve

from .clients import Adapter, Refusal, cases
from .support import options

pytestmark = pytest.mark.anyio

STYLES = pytest.mark.parametrize("style", list(ResponseStyle), ids=lambda style: style.value)
TYPED = ("session-httpx", "session-aiohttp", "connect")


@STYLES
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_a_mismatched_id_is_refused_and_the_next_call_works(
    anyio_backend: str, adapter: Adapter, style: ResponseStyle
) -> None:
    async with serve(Behaviour(response_style=style)) as server, adapter.open(server.url, options()) as client:
        server.configure(mismatched_response_id=True)
        refusal = await client.call("bump", {})
        assert isinstance(refusal, Refusal), f"another request's answer was handed over: {refusal!r}"
        refusal.expect(MismatchedResponse)
        stats = server.stats
        assert (stats.mismatched_answers, stats.tool_executions["bump"]) == (1, 1), "refused, not replayed"
        server.configure(mismatched_response_id=False)
        assert await client.call("bump", {}) == "2", "the session stays usable"
        assert server.errors == ()


@STYLES
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(names=TYPED))
async def test_a_mismatched_id_in_the_sessionless_era(
    anyio_backend: str, adapter: Adapter, style: ResponseStyle
) -> None:
    behaviour = Behaviour(eras=frozenset({ServedEra.MODERN}), response_style=style, mismatched_response_id=True)
    async with serve(behaviour) as server, adapter.open(server.url, options(mode=EraMode.MODERN)) as client:
        refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), f"another request's answer was handed over: {refusal!r}"
        refusal.expect(MismatchedResponse)
        server.configure(mismatched_response_id=False)
        assert await client.call("peek", {}) == "0"
