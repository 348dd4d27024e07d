"""What the library reads is bounded, with a typed error naming the limit (DESIGN §7).

An SSE event that never ends and a JSON body larger than ``max_json_body`` each end in
``AnswerTooLarge`` for that one caller, in the adapter's form, before the request's deadline and
with memory bounded by the limit (``tracemalloc`` over the failing call, every thread). The server
says what it sent: the library hung up (the server's writer noticed) well before the end. The
session serves the next call.
"""

from __future__ import annotations

import anyio
import pytest

from mcp_session_recovery.model import AnswerTooLarge
from mcp_session_recovery.runtime import ReadLimits
from mcp_session_recovery.testing import Behaviour, ResponseStyle, serve

from .clients import Adapter, Refusal, cases
from .support import MIB, options, traced

pytestmark = pytest.mark.anyio

#: The limit under test, and what a bounded reader may hold meanwhile (buffers, one copy, chunks).
LIMIT = MIB
MEMORY_BUDGET = 8 * LIMIT
#: The request deadline; the refusal must come before it (a reader without bounds would run into it).
DEADLINE = 5.0
#: The oversized body: far more than the limit and than what socket buffers hold.
OVERSIZED = 256 * MIB


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_an_endless_sse_event_ends_in_answer_too_large(anyio_backend: str, adapter: Adapter) -> None:
    settings = options(limits=ReadLimits(max_sse_event=LIMIT), request_timeout=DEADLINE)
    async with (
        serve(Behaviour(response_style=ResponseStyle.SSE)) as server,
        adapter.open(server.url, settings) as client,
    ):
        assert await client.call("peek", {}) == "0"  # connected before memory is measured
        server.configure(endless_sse_event=True)
        with anyio.fail_after(DEADLINE + 5), traced() as memory:
            refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), f"an endless event gave a result: {refusal[:200]!r}"
        refusal.expect(AnswerTooLarge, "max_sse_event", limit="max_sse_event", bound=LIMIT)
        assert memory.peak < MEMORY_BUDGET, f"{memory.peak} bytes traced while reading a {LIMIT}-byte-bounded event"
        stats = await server.wait_until(lambda stats: stats.endless_events_ended == 1)  # the library hung up
        assert stats.endless_events_bytes_sent >= LIMIT, "refused only once the event crossed the limit"
        server.configure(endless_sse_event=False)
        assert await client.call("peek", {}) == "0", "the session stays usable"
        assert server.errors == ()


@pytest.mark.parametrize(("anyio_backend", "adapter"), cases())
async def test_an_oversized_json_body_ends_in_answer_too_large(anyio_backend: str, adapter: Adapter) -> None:
    settings = options(limits=ReadLimits(max_json_body=LIMIT), request_timeout=DEADLINE)
    async with (
        serve(Behaviour(response_style=ResponseStyle.JSON)) as server,
        adapter.open(server.url, settings) as client,
    ):
        server.configure(oversized_json_bytes=LIMIT)  # exactly the limit: not crossed, read whole
        assert await client.call("peek", {}) == "0"
        server.configure(oversized_json_bytes=OVERSIZED)
        with anyio.fail_after(DEADLINE + 5), traced() as memory:
            refusal = await client.call("peek", {})
        assert isinstance(refusal, Refusal), f"an oversized body gave a result: {refusal[:200]!r}"
        refusal.expect(AnswerTooLarge, "max_json_body", limit="max_json_body", bound=LIMIT)
        assert memory.peak < MEMORY_BUDGET, f"{memory.peak} bytes traced while reading a {LIMIT}-byte-bounded body"
        stats = await server.wait_until(lambda stats: stats.oversized_answers_ended == 2)  # the library hung up
        assert stats.oversized_answers_bytes_sent < LIMIT + OVERSIZED, "the library did not drain the body"
        server.configure(oversized_json_bytes=LIMIT + 1)  # one byte over
        one_over = await client.call("peek", {})
        assert isinstance(one_over, Refusal), "a body one byte over the limit was read"
        one_over.expect(AnswerTooLarge, "max_json_body", limit="max_json_body", bound=LIMIT)
        server.configure(oversized_json_bytes=0)
        assert await client.call("peek", {}) == "0", "the session stays usable"
        assert server.errors == ()
