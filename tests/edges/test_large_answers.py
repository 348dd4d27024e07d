"""A large answer arrives whole and unchanged, JSON and SSE, through every adapter (DESIGN §7:
"relay bytes unchanged ... whatever their size below the read limits").

1 MiB of ``blob_text``: under the library's 16 MiB default limits, over the SDK client's 1 MiB
SSE event default (raised in ``clients``, so only this library is under test).
"""

from __future__ import annotations

import pytest

from mcp_session_recovery.model import EraMode
from mcp_session_recovery.testing import Behaviour, ResponseStyle, blob_text, serve
from tests.integration.processes import ManagedServer

from .clients import Adapter, RawClient, cases
from .support import MIB, assert_same, options, reference_answer

pytestmark = pytest.mark.anyio

BLOB = {"size": MIB}


@pytest.mark.parametrize("style", list(ResponseStyle), ids=lambda style: style.value)
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(raw=False))  # raw ones: the next test, byte for byte
async def test_a_one_mib_answer_arrives_whole(anyio_backend: str, adapter: Adapter, style: ResponseStyle) -> None:
    async with serve(Behaviour(response_style=style)) as server, adapter.open(server.url, options()) as client:
        text = await client.call("blob", BLOB)
        assert_same(text, blob_text(MIB))
        assert server.stats.tool_executions["blob"] == 1
        assert server.errors == ()


@pytest.mark.parametrize("style", list(ResponseStyle), ids=lambda style: style.value)
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(raw=True))
async def test_the_raw_answer_is_the_servers_own_bytes(
    anyio_backend: str, adapter: Adapter, style: ResponseStyle
) -> None:
    async with serve(Behaviour(response_style=style)) as server:
        reference = await reference_answer(server.url, 7, "blob", BLOB)
        assert (reference.status, len(reference.body) > MIB) == (200, True)
        async with adapter.open(server.url, options()) as client:
            assert isinstance(client, RawClient)
            answer = await client.raw_call(7, "blob", BLOB)
        assert (answer.status, answer.content_type) == (200, reference.content_type)
        assert_same(answer.body, reference.body)


@pytest.mark.parametrize("style", ["sse", "json"])
@pytest.mark.parametrize(("anyio_backend", "adapter"), cases(backends=("asyncio",)))
async def test_a_one_mib_answer_from_the_sdk_server_process(
    anyio_backend: str, adapter: Adapter, style: str, request: pytest.FixtureRequest
) -> None:
    server: ManagedServer = request.getfixturevalue(f"sdk_{style}_server")
    async with adapter.open(server.url, options(mode=EraMode.AUTO)) as client:
        text = await client.call("blob", BLOB)
        assert_same(text, blob_text(MIB))
        if adapter.raw:
            assert isinstance(client, RawClient)
            reference = await reference_answer(server.url, 9, "blob", BLOB)
            answer = await client.raw_call(9, "blob", BLOB)
            assert (answer.status, answer.content_type) == (200, reference.content_type)
            assert_same(answer.body, reference.body)
