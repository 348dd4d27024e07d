"""Big answers through the relay: judged by their head, handed on in the chunks they came in.

A 1 MiB result is the client's to parse: the relay reads only what tells a response from a
notification and matches its id, except where it needs more (a re-sent request's answer gets the
client's id back; a ``tools/list`` teaches the session's memory). An in-memory server answers in
64 KiB chunks, as a socket gives them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from mcp_session_recovery.adapters.httpx_sync_transport import _AsyncFacade, _next_lines
from mcp_session_recovery.model import EraMode, Outgoing, Progress, ReplayPolicy, TransportFailureKind
from mcp_session_recovery.runtime import EraCache, Session, SessionOptions
from mcp_session_recovery.runtime.answers import CUT_EVENT_TYPE, Forwarded
from mcp_session_recovery.runtime.heads import UNREAD, message_head
from mcp_session_recovery.runtime.wire import WireError, WireResponse
from mcp_session_recovery.testing import blob_text

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/mcp"
CHUNK = 1 << 16
TEXT = blob_text(1 << 20)
STYLES = pytest.mark.parametrize("style", ["json", "sse"])

#: What the server answers to one request: status, headers, body chunks (an event in their midst is
#: waited for, a wire error raised: the connection lost there).
Answer = tuple[int, dict[str, str], Sequence[bytes | anyio.Event | WireError]]
#: An answer as a server writes it: status, headers, body chunks.
Written = tuple[int, dict[str, str], list[bytes]]


class _Chunks:
    def __init__(
        self, status: int, headers: Mapping[str, str], chunks: Sequence[bytes | anyio.Event | WireError]
    ) -> None:
        self.status, self.headers, self._chunks = status, headers, chunks

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        for chunk in self._chunks:
            await anyio.lowlevel.checkpoint()
            if isinstance(chunk, anyio.Event):
                await chunk.wait()
            elif isinstance(chunk, WireError):
                raise chunk
            else:
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


def answer_in(style: str, message: Mapping[str, Any]) -> Written:
    """``message`` as a server writes it in ``style``, in 64 KiB chunks."""
    payload = json.dumps(message, separators=(",", ":")).encode()
    if style == "sse":
        body, content_type = b"event: message\r\ndata: " + payload + b"\r\n\r\n", "text/event-stream"
    else:
        body, content_type = payload, "application/json"
    return 200, {"content-type": content_type}, [body[start : start + CHUNK] for start in range(0, len(body), CHUNK)]


def blob_answer(style: str, answer_id: object) -> Written:
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


def events_seen(body: bytes) -> list[tuple[str, str]]:
    """The events an SSE client dispatches from ``body``: (type, data), as the standard reads them."""
    seen = []
    for block in body.replace(b"\r\n", b"\n").decode().split("\n\n")[:-1]:
        kind, data = "message", []
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
        if data:
            seen.append((kind, "\n".join(data)))
    return seen


CUT_MID_EVENT = WireError(TransportFailureKind.STREAM_CUT, Progress.STREAMING, "cut")


async def test_a_big_event_goes_on_before_it_is_whole() -> None:
    """The client above parses while the rest arrives: the server sends its last chunk only once
    the client has the first ones."""
    client_has_some = anyio.Event()

    def answer(message: dict[str, Any], count: int) -> Answer:
        status, headers, chunks = blob_answer("sse", message["id"])
        return status, headers, [*chunks[:-1], client_has_some, chunks[-1]]

    async with Session(ChunkedServer(answer), URL, options()) as session:
        forwarded = await session.forward(CALL, json.dumps(CALL).encode())
        assert forwarded.stream is not None
        pieces = []
        with anyio.fail_after(5):
            async for piece in forwarded.stream:
                pieces.append(piece)
                client_has_some.set()
    assert message_in("sse", b"".join(pieces))["result"]["content"][0]["text"] == TEXT


@pytest.mark.parametrize("replayed", [True, False], ids=["replayed", "not-replayed"])
async def test_a_big_event_cut_half_way_is_closed_as_no_message(replayed: bool) -> None:
    """Half an event was handed on when the connection dropped: it is ended under a type no MCP
    client reads as a message, and what follows (the replayed call's answer, or the error for a
    call that may have run) is an event of its own."""

    def answer(message: dict[str, Any], count: int) -> Answer:
        status, headers, chunks = blob_answer("sse", message["id"])
        return status, headers, [*chunks[: len(chunks) // 2], CUT_MID_EVENT] if count == 1 else chunks

    policy = ReplayPolicy(replayable_tools=frozenset({"blob"} if replayed else ()))
    async with Session(ChunkedServer(answer), URL, replace(options(), policy=policy)) as session:
        body, _ = await forwarded_body(await session.forward(CALL, json.dumps(CALL).encode()))
    seen = events_seen(body)
    assert [kind for kind, _ in seen] == [CUT_EVENT_TYPE, "message"]
    last = json.loads(seen[-1][1])
    if replayed:
        assert (last["id"], last["result"]["content"][0]["text"]) == (41, TEXT)
    else:
        assert (last["id"], last["error"]["data"]["error"]) == (41, "OutcomeUnknown")


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
    if style == "sse":
        # The server's event went on as it came (handed on before it was whole), the refusal after it
        first, _, body = body.replace(b"\r\n", b"\n").partition(b"\n\n")
        assert message_in(style, first)["id"] == 1041
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


# --- RecoveringSyncTransport: the blocking steps -----------------------------------------------------


class _Blocking:
    """A blocking response whose reads and close are logged next to what the async side received."""

    def __init__(self, content_type: str | None, chunks: int, log: list[str]) -> None:
        self.status_code = 200 if content_type else 202
        self.headers = httpx.Headers({"content-type": content_type} if content_type else {})
        self._chunks = chunks
        self._log = log
        self._lock = threading.Lock()

    @property
    def stream(self) -> Iterator[bytes]:
        for n in range(self._chunks):
            with self._lock:
                self._log.append(f"read {n}")
            yield b"x" * CHUNK

    def close(self) -> None:
        with self._lock:
            self._log.append("closed")


class _BlockingTransport(httpx.BaseTransport):
    def __init__(self, response: _Blocking) -> None:
        self._response = response

    def handle_request(self, request: httpx.Request) -> Any:
        return self._response


async def _through_facade(content_type: str | None, count: int) -> list[str]:
    """What a body of ``count`` chunks goes through, from the blocking transport to the runtime: the
    blocking reads, the headers, and each piece the runtime got (its size in chunks)."""
    log: list[str] = []
    facade = _AsyncFacade(_BlockingTransport(_Blocking(content_type, count, log)), httpx)
    response = await facade.handle_async_request(httpx.Request("POST", "http://127.0.0.1:9/mcp", content=b"{}"))
    log.append("headers")
    async for piece in response.stream:
        assert len(piece) % CHUNK == 0
        log.append(f"got {len(piece) // CHUNK}")
    await response.stream.aclose()
    assert sum(int(entry.split()[1]) for entry in log if entry.startswith("got")) == count
    return log


async def test_a_json_body_comes_with_its_headers_and_in_few_trips() -> None:
    """A body the runtime reads whole goes over in batches of one piece each (the runtime does not
    copy it again), the first in the step that brought the headers; a body read to its end with its
    headers is closed in that step, not in one more."""
    count = 70  # 4.4 MiB: 4 MiB (64 chunks) with the headers, the rest in the next step, which ends it
    log = await _through_facade("application/json", count)
    assert log == [
        *(f"read {n}" for n in range(64)),
        "headers",
        "got 64",
        *(f"read {n}" for n in range(64, count)),
        f"got {count - 64}",
        "closed",
    ]
    small = await _through_facade("application/json", 3)
    assert small == ["read 0", "read 1", "read 2", "closed", "headers", "got 3"]


@pytest.mark.parametrize("content_type", ["text/event-stream", None], ids=["event-stream", "no-body"])
async def test_other_bodies_are_left_to_the_runtime(content_type: str | None) -> None:
    """An event stream's chunks go over one by one (an event must not wait for the next); a
    notification's acceptance is not read with its headers (left unread, its connection is not kept)."""
    count = 3 if content_type else 0
    log = await _through_facade(content_type, count)
    assert log == ["headers", *(entry for n in range(count) for entry in (f"read {n}", "got 1")), "closed"]


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
