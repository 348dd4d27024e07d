"""Big answers through the relay: judged by their head, handed on in the chunks they came in.

A 1 MiB result is the client's to parse: the relay reads only what tells a response from a
notification and matches its id, except where it needs more (a re-sent request's answer gets the
client's id back; a ``tools/list`` teaches the session's memory). An in-memory server answers in
64 KiB chunks, as a socket gives them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from contextlib import aclosing
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from mcp_session_recovery.adapters.httpx_sync_transport import _next_lines, _threaded_stream
from mcp_session_recovery.model import EraMode, Outgoing
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions
from mcp_session_recovery.runtime.forwarding import Forwarded
from mcp_session_recovery.runtime.reading import UNREAD, message_head
from mcp_session_recovery.runtime.wire import WireResponse
from mcp_session_recovery.testing import blob_text

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/mcp"
CHUNK = 1 << 16
TEXT = blob_text(1 << 20)
STYLES = pytest.mark.parametrize("style", ["json", "sse"])

#: What the server answers to one request: status, headers, body chunks.
Answer = tuple[int, dict[str, str], list[bytes]]


class _Chunks:
    def __init__(self, status: int, headers: Mapping[str, str], chunks: list[bytes]) -> None:
        self.status, self.headers, self._chunks = status, headers, chunks

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        for chunk in self._chunks:
            await anyio.lowlevel.checkpoint()
            yield chunk

    async def aclose(self) -> None:
        return None


class ChunkedServer:
    """A legacy server in memory: negotiation answered at once, every request by ``answer``."""

    def __init__(self, answer: Callable[[dict[str, Any], int], Answer]) -> None:
        self._answer = answer
        self.requests = 0

    async def send(self, outgoing: Outgoing) -> WireResponse:
        await anyio.lowlevel.checkpoint()
        message = json.loads(outgoing.body) if outgoing.body else {}
        if message.get("method") == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "chunked"}}
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
            return _Chunks(200, {"content-type": "application/json", "mcp-session-id": "s1"}, [body])
        if "id" not in message:
            return _Chunks(202, {}, [])
        self.requests += 1
        return _Chunks(*self._answer(message, self.requests))


def answer_in(style: str, message: Mapping[str, Any]) -> Answer:
    """``message`` as a server writes it in ``style``, in 64 KiB chunks."""
    payload = json.dumps(message, separators=(",", ":")).encode()
    if style == "sse":
        body, content_type = b"event: message\r\ndata: " + payload + b"\r\n\r\n", "text/event-stream"
    else:
        body, content_type = payload, "application/json"
    return 200, {"content-type": content_type}, [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]


def blob_answer(style: str, answer_id: object) -> Answer:
    result = {"content": [{"type": "text", "text": TEXT}], "isError": False}
    return answer_in(style, {"jsonrpc": "2.0", "id": answer_id, "result": result})


def options() -> SessionOptions:
    return SessionOptions(mode=EraMode.LEGACY, era_cache=EraCache(), listen=False, request_timeout=10.0)


async def forwarded_body(forwarded: Forwarded) -> tuple[bytes, list[bytes]]:
    """The whole body the client gets, and the pieces it came in."""
    if forwarded.stream is None:
        return forwarded.body, [forwarded.body]
    async with aclosing(forwarded.stream) as stream:
        pieces = [piece async for piece in stream]
    return b"".join(pieces), pieces


def message_in(style: str, body: bytes) -> dict[str, Any]:
    if style == "sse":
        lines = body.decode().splitlines()
        body = "\n".join(line.removeprefix("data: ") for line in lines if line.startswith("data:")).encode()
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


CALL = {"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": {"name": "blob", "arguments": {}}}


async def test_a_big_event_goes_on_in_the_chunks_the_server_sent() -> None:
    sent: list[bytes] = []

    def answer(message: dict[str, Any], count: int) -> Answer:
        status, headers, chunks = blob_answer("sse", message["id"])
        sent.extend(chunks)
        return status, headers, chunks

    async with Session(ChunkedServer(answer), URL, options()) as session:
        body, pieces = await forwarded_body(await session.forward(CALL, json.dumps(CALL).encode()))
    assert len(pieces) == len(sent) > 16
    assert all(piece is chunk for piece, chunk in zip(pieces, sent, strict=True)), "no copy, no other cut"
    assert message_in("sse", body)["result"]["content"][0]["text"] == TEXT


@STYLES
async def test_a_big_answer_with_another_id_is_refused(style: str) -> None:
    server = ChunkedServer(lambda message, count: blob_answer(style, message["id"] + 1000))
    async with Session(server, URL, options()) as session:
        forwarded = await session.forward(CALL, json.dumps(CALL).encode())
        body, _ = await forwarded_body(forwarded)
    refusal = message_in(style, body)
    assert (refusal["id"], refusal["error"]["data"]["error"]) == (41, "MismatchedResponse")
    assert server.requests == 1, "refused, not re-sent"


@STYLES
async def test_a_re_sent_requests_big_answer_comes_back_under_the_clients_id(style: str) -> None:
    """The first attempt finds the session gone (404, never run): the re-sent request has an id of
    the runtime's, and its answer is read whole to give the client its own id back."""
    wire_ids: list[object] = []

    def answer(message: dict[str, Any], count: int) -> Answer:
        wire_ids.append(message["id"])
        if count == 1:
            return 404, {"content-type": "text/plain"}, [b"session not found"]
        return blob_answer(style, message["id"])

    async with Session(ChunkedServer(answer), URL, options()) as session:
        body, _ = await forwarded_body(await session.forward(CALL, json.dumps(CALL).encode()))
    assert wire_ids[0] == 41
    assert wire_ids[1] != 41
    document = message_in(style, body)
    assert (document["id"], document["result"]["content"][0]["text"]) == (41, TEXT)


@STYLES
async def test_a_big_tools_list_still_teaches_the_memory_its_annotations(style: str) -> None:
    tools = [
        {"name": f"tool-{n}", "description": "d" * 20_000, "annotations": {"readOnlyHint": n % 2 == 0}}
        for n in range(10)
    ]
    listed = {"jsonrpc": "2.0", "method": "tools/list", "id": 3}
    document = {"jsonrpc": "2.0", "id": 3, "result": {"tools": tools}}
    assert message_head(json.dumps(document)) == {"jsonrpc": UNREAD, "id": 3, "result": UNREAD}, "a head would not do"

    def answer(message: dict[str, Any], count: int) -> Answer:
        return answer_in(style, {**document, "id": message["id"]})

    async with Session(ChunkedServer(answer), URL, options()) as session:
        body, _ = await forwarded_body(await session.forward(listed, json.dumps(listed).encode()))
        learned = dict(session._core.memory.tool_annotations)
    assert len(body) > 1 << 17
    assert len(learned) == 10
    assert (learned["tool-0"], learned["tool-1"]) == ({"readOnlyHint": True}, {"readOnlyHint": False})


# --- RecoveringSyncTransport: a worker thread's trips ---------------------------------------------


class _Blocking:
    """A blocking response whose reads are logged next to what the async side received."""

    def __init__(self, content_type: str, chunks: int, log: list[str]) -> None:
        self.headers = httpx.Headers({"content-type": content_type})
        self._chunks = chunks
        self._log = log
        self._lock = threading.Lock()

    def iter_raw(self) -> Iterator[bytes]:
        for n in range(self._chunks):
            with self._lock:
                self._log.append(f"read {n}")
            yield b"x" * CHUNK

    def close(self) -> None:
        return None


@pytest.mark.parametrize(("content_type", "expected"), [("application/json", "batched"), ("text/event-stream", "each")])
async def test_a_blocking_body_is_read_in_few_trips_unless_it_is_an_event_stream(
    content_type: str, expected: str
) -> None:
    """A body the runtime reads whole goes over in batches (each trip to a worker costs about as much
    as reading a chunk); an event stream's chunks go over one by one (an event must not wait)."""
    log: list[str] = []
    count = 70  # 4.4 MiB
    stream = _threaded_stream(httpx, _Blocking(content_type, count, log))
    async for _ in stream:
        log.append("got")
    await stream.aclose()
    assert log.count("got") == count
    if expected == "each":
        assert log == [entry for n in range(count) for entry in (f"read {n}", "got")]
    else:
        # 4 MiB (64 chunks) in the first trip, the rest in the next, which finds the end
        assert log == [f"read {n}" for n in range(64)] + ["got"] * 64 + [f"read {n}" for n in range(64, count)] + [
            "got"
        ] * (count - 64)


async def test_the_pieces_of_an_event_cross_to_a_blocking_client_in_one_trip() -> None:
    """Taken up to a line end: a whole event at once, and never a wait for the next event."""
    next_event = anyio.Event()

    async def relayed() -> AsyncGenerator[bytes, None]:
        yield b"event: message\r\ndata: " + b"x" * 100
        yield b"x" * 100
        yield b"\r\n\r\n"
        await next_event.wait()  # the server sends nothing more for now
        yield b"data: 2\n\n"

    chunks = relayed()
    with anyio.fail_after(5):
        first = await _next_lines(chunks)
    assert first == b"event: message\r\ndata: " + b"x" * 200 + b"\r\n\r\n"
    next_event.set()
    assert (await _next_lines(chunks), await _next_lines(chunks)) == (b"data: 2\n\n", None)
