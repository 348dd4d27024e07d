"""The ``blob`` tool and the answer faults a client's edges must survive: an SSE event that never
ends, an oversized JSON body, a JSON-RPC id that is not the request's.
"""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import anyio
import httpx
import pytest

from mcp_session_recovery.testing import (
    MAX_BLOB_SIZE,
    Behaviour,
    ResponseStyle,
    ServedEra,
    ServerProcess,
    blob_text,
    serve,
)

from .helpers import body_of, call_tool, modern_headers, modern_params, open_session, rpc, session_headers, tool_text

MIB = 1 << 20
#: How far a test reads an endless event before it hangs up.
ENDLESS_READ = 8 * MIB
TIMEOUT = httpx.Timeout(20.0)

pytestmark = pytest.mark.anyio


def test_blob_text_is_deterministic_and_shows_every_shift() -> None:
    assert blob_text(0) == ""
    text = blob_text(1000)
    assert len(text) == 1000
    assert text == blob_text(1000)
    assert blob_text(130) == text[:130]  # a prefix of any longer blob
    assert text.isascii()
    assert text.isalnum()
    assert (text[:8], text[64:72]) == ("00000000", "00000001")  # record numbers count up
    records = {text[i : i + 64] for i in range(0, 960, 64)}
    assert len(records) == 15  # no two records alike: a dropped or repeated one is visible
    for bad in (-1, MAX_BLOB_SIZE + 1, True, 1.0):
        with pytest.raises(ValueError, match="size"):
            blob_text(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_a_one_mib_blob_arrives_whole(style: ResponseStyle) -> None:
    async with serve(Behaviour(response_style=style)) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        session_id = await open_session(client, server.url)
        response = await call_tool(client, server.url, session_id, "blob", {"size": MIB})
        expected = "application/json" if style is ResponseStyle.JSON else "text/event-stream"
        assert response.headers["content-type"].startswith(expected)
        assert tool_text(response) == blob_text(MIB)
        listed = await client.post(server.url, json=rpc("tools/list"), headers=session_headers(session_id))
        tools = {tool["name"]: tool for tool in body_of(listed)["result"]["tools"]}
        assert tools["blob"]["annotations"] == {"readOnlyHint": True}
        assert tools["blob"]["inputSchema"]["required"] == ["size"]
        assert server.stats.tool_executions["blob"] == 1


async def test_a_blob_in_the_modern_era() -> None:
    behaviour = Behaviour(eras=frozenset({ServedEra.MODERN}), response_style=ResponseStyle.JSON)
    async with serve(behaviour) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        params = modern_params({"name": "blob", "arguments": {"size": 4097}})
        response = await client.post(
            server.url, json=rpc("tools/call", params), headers=modern_headers("tools/call", "blob")
        )
        assert tool_text(response) == blob_text(4097)


@pytest.mark.parametrize("arguments", [{}, {"size": -1}, {"size": MAX_BLOB_SIZE + 1}, {"size": "8"}, {"size": True}])
async def test_a_bad_blob_size_is_invalid_params(arguments: dict[str, Any]) -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        answer = body_of(await call_tool(client, server.url, session_id, "blob", arguments))
        assert answer["error"]["code"] == -32602
        assert "size" in answer["error"]["message"]
        assert server.stats.tool_executions == {}


@pytest.mark.parametrize("era", list(ServedEra))
async def test_an_endless_event_streams_until_the_client_leaves(era: ServedEra) -> None:
    behaviour = Behaviour(eras=frozenset({era}), response_style=ResponseStyle.JSON, endless_sse_event=True)
    async with serve(behaviour) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        request, headers = await _peek_request(client, server.url, era, request_id=5)
        received = bytearray()
        with anyio.fail_after(30):
            async with client.stream("POST", server.url, json=request, headers=headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/event-stream"  # whatever response_style says
                async for chunk in response.aiter_raw():
                    received += chunk
                    if len(received) > ENDLESS_READ:
                        break
            stats = await server.wait_until(lambda stats: stats.endless_events_ended == 1)
        assert received.startswith(b"event: message\ndata: xxx")
        assert b"\n\n" not in received  # one event, never ended
        assert set(bytes(received).split(b"\n")[1:-1]) == {b"data: " + b"x" * 1017}
        assert stats.endless_events_started == 1
        assert stats.endless_events_bytes_sent >= ENDLESS_READ
        assert stats.tool_executions["peek"] == 1  # the tool ran; its answer went wrong on the way out
        server.configure(endless_sse_event=False)
        request, headers = await _peek_request(client, server.url, era, request_id=6, session=headers)
        assert tool_text(await client.post(server.url, json=request, headers=headers)) == "0"  # still serving
        assert server.errors == ()


async def test_generated_answers_stay_small_in_the_servers_memory() -> None:
    size = 48 * MIB
    async with serve(Behaviour(oversized_json_bytes=size)) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        session_id = await open_session(client, server.url)
        tracemalloc.start()
        try:
            received = 0
            with anyio.fail_after(30):
                request = rpc("tools/call", {"name": "peek", "arguments": {}})
                async with client.stream("POST", server.url, json=request, headers=session_headers(session_id)) as r:
                    async for chunk in r.aiter_raw():
                        received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == size
        assert peak < 4 * MIB  # server and client together, for a 48 MiB answer


@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_an_oversized_json_answer_has_the_announced_length(style: ResponseStyle) -> None:
    size = 3 * MIB + 7
    behaviour = Behaviour(response_style=style, oversized_json_bytes=size)
    async with serve(behaviour) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        session_id = await open_session(client, server.url)
        response = await call_tool(client, server.url, session_id, "add", {"a": 2, "b": 3})
        assert response.headers["content-type"] == "application/json"  # whatever response_style says
        assert response.headers["content-length"] == str(size)
        assert len(response.content) == size
        answer = json.loads(response.content)
        assert (answer["jsonrpc"], answer["id"]) == ("2.0", 1)
        assert answer["result"]["content"] == [{"type": "text", "text": "5"}]
        assert answer["result"]["_meta"]["padding"].isalnum()
        error = json.loads((await call_tool(client, server.url, session_id, "nope")).content)
        assert error["error"]["code"] == -32602
        assert error["error"]["data"]["padding"].isalnum()
        stats = await server.wait_until(lambda stats: stats.oversized_answers_ended == 2)  # just after the last byte
        assert stats.oversized_answers_started == 2
        assert stats.oversized_answers_bytes_sent == 2 * size


async def test_an_oversized_answer_abandoned_by_the_client_is_noticed() -> None:
    size = 1 << 30
    async with serve(Behaviour(oversized_json_bytes=size)) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        session_id = await open_session(client, server.url)
        received = 0
        with anyio.fail_after(30):
            request = rpc("tools/call", {"name": "peek", "arguments": {}})
            async with client.stream("POST", server.url, json=request, headers=session_headers(session_id)) as r:
                assert r.headers["content-length"] == str(size)
                async for chunk in r.aiter_raw():
                    received += len(chunk)
                    if received > 4 * MIB:
                        break
            stats = await server.wait_until(lambda stats: stats.oversized_answers_ended == 1)
        assert 4 * MIB < stats.oversized_answers_bytes_sent < size
        server.configure(oversized_json_bytes=0)
        assert tool_text(await call_tool(client, server.url, session_id, "peek")) == "0"


@pytest.mark.parametrize("era", list(ServedEra))
@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_a_mismatched_response_id(era: ServedEra, style: ResponseStyle) -> None:
    behaviour = Behaviour(eras=frozenset({era}), response_style=style, mismatched_response_id=True)
    async with serve(behaviour) as server, httpx.AsyncClient(timeout=TIMEOUT) as client:
        request, headers = await _peek_request(client, server.url, era, request_id=41)
        answer = body_of(await client.post(server.url, json=request, headers=headers))
        assert answer["id"] == 1041
        assert answer["result"]["content"][0]["text"] == "0"
        answer = body_of(await client.post(server.url, json={**request, "id": "abc"}, headers=headers))
        assert answer["id"] == "abc-mismatched"
        if era is ServedEra.MODERN:
            listing, list_headers = rpc("tools/list", modern_params(), 41), modern_headers("tools/list")
        else:
            listing, list_headers = rpc("tools/list", request_id=41), headers
        listed = body_of(await client.post(server.url, json=listing, headers=list_headers))
        assert listed["id"] == 41  # only tool calls get the wrong id
        assert server.stats.mismatched_answers == 2
        server.configure(mismatched_response_id=False)
        assert body_of(await client.post(server.url, json=request, headers=headers))["id"] == 41


def test_the_answer_faults_over_the_control_endpoint() -> None:
    with ServerProcess(response_style=ResponseStyle.JSON) as server, httpx.Client(timeout=TIMEOUT) as client:
        initialize = rpc("initialize", {"protocolVersion": "2025-11-25"})
        session_id = client.post(server.url, json=initialize).headers["mcp-session-id"]
        headers = session_headers(session_id)
        call = rpc("tools/call", {"name": "blob", "arguments": {"size": MIB}}, request_id=9)
        assert tool_text(client.post(server.url, json=call, headers=headers)) == blob_text(MIB)
        behaviour = server.configure(mismatched_response_id=True, oversized_json_bytes=2 * MIB)
        assert (behaviour["mismatched_response_id"], behaviour["oversized_json_bytes"]) == (True, 2 * MIB)
        answer = client.post(server.url, json=call, headers=headers)
        assert answer.headers["content-length"] == str(2 * MIB)
        assert json.loads(answer.content)["id"] == 1009
        server.configure(mismatched_response_id=False, oversized_json_bytes=0, endless_sse_event=True)
        with client.stream("POST", server.url, json=call, headers=headers) as response:
            assert response.headers["content-type"] == "text/event-stream"
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received > MIB:
                    break
        stats = server.stats()
        assert stats.endless_events_started == 1
        assert (stats.mismatched_answers, stats.oversized_answers_ended) == (1, 1)
        server.configure(endless_sse_event=False)
        assert tool_text(client.post(server.url, json=call, headers=headers)) == blob_text(MIB)


async def _peek_request(
    client: httpx.AsyncClient, url: str, era: ServedEra, *, request_id: int, session: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A ``peek`` call in ``era`` and its headers (a new legacy session unless ``session`` is given)."""
    if era is ServedEra.MODERN:
        params = modern_params({"name": "peek", "arguments": {}})
        return rpc("tools/call", params, request_id), modern_headers("tools/call", "peek")
    headers = session if session is not None else session_headers(await open_session(client, url))
    return rpc("tools/call", {"name": "peek", "arguments": {}}, request_id), headers
