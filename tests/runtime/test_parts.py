"""The runtime's small parts: the SSE reader, backoff, session memory, the era cache, and the httpx wire.

The wire is tested against real sockets on 127.0.0.1 with both httpx and httpx2.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import itertools
import json
import random
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Container
from types import ModuleType
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.adapters.httpx_wire import HttpxWire, transport_failure
from mcp_session_recovery.model import ClientIdentity, Era, Progress, TransportFailure, TransportFailureKind
from mcp_session_recovery.model.messages import initialize_request
from mcp_session_recovery.runtime import (
    Backoff,
    EraCache,
    RelistenSchedule,
    SessionMemory,
    SessionOptions,
    WireError,
    core,
    origin_of,
)
from mcp_session_recovery.runtime.reading import ReadLimits, json_object, read_reply
from mcp_session_recovery.runtime.sse import LimitCrossed, SseReader

# --- SseReader ---------------------------------------------------------------------------------------

LIMIT = 1 << 20


def reader() -> SseReader:
    return SseReader(max_event=LIMIT, max_line=LIMIT)


def ev(name: str, data: str) -> tuple[str, str]:
    return (name, data)


def decode(*chunks: bytes, hand_on_after: Container[int] = ()) -> list[tuple[str, str]]:
    """The dispatched events (name, data); also checks that the raw bytes of every event, plus what
    is still pending, are exactly the stream's bytes, in order, with the bytes of an unfinished
    event handed on after each chunk whose index is in ``hand_on_after``."""
    sse = reader()
    events = []
    relayed: list[bytes] = []
    for index, chunk in enumerate(chunks):
        completed = sse.feed(chunk)
        events.extend(completed)
        relayed.extend(piece for event in completed for piece in event.pieces)
        if index in hand_on_after:
            before = sse.partial
            relayed.extend(handed := sse.hand_on())
            assert (sum(map(len, handed)), sse.partial) == (before, 0)
    assert b"".join(relayed) + b"".join(sse.hand_on()) == b"".join(chunks)
    return [(event.event, event.data) for event in events if event.event]


def test_one_event_with_the_default_name() -> None:
    assert decode(b'data: {"jsonrpc":"2.0"}\n\n') == [ev("message", '{"jsonrpc":"2.0"}')]


def test_an_event_name_applies_to_its_event_only() -> None:
    stream = b"event: ping\ndata: 1\n\ndata: 2\n\n"

    assert decode(stream) == [ev("ping", "1"), ev("message", "2")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode(b"data: a\ndata:b\ndata\ndata:  c\n\n") == [ev("message", "a\nb\n\n c")]


def test_comments_and_other_fields_are_ignored() -> None:
    stream = b": keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n: more\n\n:\n\n"

    assert decode(stream) == [ev("message", "x")]


def test_an_event_without_data_dispatches_nothing_and_forgets_its_name() -> None:
    assert decode(b"event: lonely\n\ndata: y\n\n") == [ev("message", "y")]


def test_an_unfinished_event_is_not_dispatched() -> None:
    decoder = reader()

    assert decoder.feed(b"data: x\n") == []
    assert decoder.feed(b"data: y") == []
    (event,) = decoder.feed(b"\n\n")
    assert (event.event, event.data, event.raw) == ("message", "x\ny", b"data: x\ndata: y\n\n")


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_gives_the_same_events(newline: bytes) -> None:
    lines = [b"event: e", b"data: 1", b"data: 2", b"", b": note", b"data: 3", b"", b""]

    assert decode(newline.join(lines)) == [ev("e", "1\n2"), ev("message", "3")]


MIXED_STREAM = (
    b": hello\r\n"
    b"event: first\r\ndata: a\r\ndata: b\r\n\r\n"
    b"data: c\rdata: d\r\r"
    b"data: e\ndata:f\n\n"
    b"event: last\r\ndata: g\r\r\n"
    b"data: h\n\r\n"
)
MIXED_EVENTS = [
    ev("first", "a\nb"),
    ev("message", "c\nd"),
    ev("message", "e\nf"),
    ev("last", "g"),
    ev("message", "h"),
]


def test_a_stream_mixing_line_endings() -> None:
    assert decode(MIXED_STREAM) == MIXED_EVENTS


def test_every_split_into_two_or_three_chunks_gives_the_same_events() -> None:
    size = len(MIXED_STREAM)
    for first in range(size + 1):
        assert decode(MIXED_STREAM[:first], MIXED_STREAM[first:]) == MIXED_EVENTS, first
        for second in range(first + 1, size):
            chunks = (MIXED_STREAM[:first], MIXED_STREAM[first:second], MIXED_STREAM[second:])
            assert decode(*chunks) == MIXED_EVENTS, (first, second)


def test_byte_by_byte_gives_the_same_events() -> None:
    assert decode(*(MIXED_STREAM[i : i + 1] for i in range(len(MIXED_STREAM)))) == MIXED_EVENTS
    bytewise = [MIXED_STREAM[i : i + 1] for i in range(len(MIXED_STREAM))]
    assert decode(*bytewise, hand_on_after=range(0, len(bytewise), 3)) == MIXED_EVENTS


def test_a_character_split_between_chunks_is_kept_whole() -> None:
    stream = "data: caf\u00e9 \u2603 \U0001f600\n\n".encode()

    for cut in range(len(stream) + 1):
        assert decode(stream[:cut], stream[cut:]) == [ev("message", "caf\u00e9 \u2603 \U0001f600")], cut


def test_an_empty_chunk_between_cr_and_lf_does_not_add_a_line_break() -> None:
    assert decode(b"data: x\r", b"", b"\ndata: y\r\n\r\n") == [ev("message", "x\ny")]


sse_values = st.text(st.characters(exclude_characters="\r\n"), max_size=12)
sse_lines = st.one_of(
    st.just(""),
    sse_values.map(lambda value: "data:" + value),
    sse_values.map(lambda value: "data: " + value),
    sse_values.map(lambda value: "event: " + value),
    sse_values.map(lambda value: ":" + value),
    st.builds(lambda name, value: f"{name}:{value}", st.sampled_from(["id", "retry", "data", "x"]), sse_values),
    st.sampled_from(["data", "event"]),
)


@st.composite
def streams_and_chunkings(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    lines = draw(st.lists(sse_lines, max_size=12))
    endings = draw(st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(lines), max_size=len(lines)))
    stream = "".join(line + ending for line, ending in zip(lines, endings, strict=True)).encode()
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=len(stream))))
    bounds = [0, *(cut for cut in cuts if cut < len(stream)), len(stream)]
    return stream, [stream[start:end] for start, end in itertools.pairwise(bounds)]


@given(streams_and_chunkings())
def test_any_chunking_gives_the_events_of_the_whole_stream(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case

    assert b"".join(chunks) == stream
    assert decode(*chunks) == decode(stream)
    # Handing an unfinished event's bytes on changes no event, and loses or repeats no byte.
    assert decode(*chunks, hand_on_after=range(len(chunks))) == decode(stream)


@st.composite
def whole_event_streams(draw: st.DrawFn) -> bytes:
    """Streams a server writes in one go: events, one kind of line end, ending in a blank line."""
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    events = draw(st.lists(st.lists(sse_lines.filter(bool), min_size=0, max_size=4), min_size=1, max_size=4))
    text = "".join("".join(line + newline for line in lines) + newline for lines in events)
    prefix = draw(st.sampled_from(["", "\ufeff", newline]))
    return (prefix + text).encode()


class LineScanOnly(SseReader):
    """The reader without its split of whole events: every line is scanned."""

    def _whole_events(self, chunk: bytes) -> None:
        return None


def events_of(sse: SseReader, chunk: bytes) -> tuple[list[tuple[str, str, bytes]], bytes]:
    return [(event.event, event.data, event.raw) for event in sse.feed(chunk)], b"".join(sse.hand_on())


@given(whole_event_streams())
def test_whole_events_in_one_chunk_are_the_events_of_the_line_scan(stream: bytes) -> None:
    line_scan = LineScanOnly(max_event=LIMIT, max_line=LIMIT)
    assert events_of(reader(), stream) == events_of(line_scan, stream)


def test_a_chunk_of_whole_events_is_split_without_the_line_scan() -> None:
    answer = b'event: message\r\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\r\n\r\n'
    split = reader()._whole_events(answer)
    assert split is not None
    assert [(event.event, event.data, event.raw) for event in split] == [
        ("message", '{"jsonrpc":"2.0","id":1,"result":{}}', answer)
    ]
    two = b"data: 1\n\n: ping\n\n"
    assert [(e.event, e.data, e.raw) for e in reader()._whole_events(two) or []] == [
        ("message", "1", b"data: 1\n\n"),
        ("", "", b": ping\n\n"),
    ]
    # Anything else is left to the line scan: a lone CR or LF among CRLFs, a BOM, a blank line
    # first, two blank lines in a row, an unfinished event, more than a limit.
    for other in (
        b"data: a\r\ndata: b\n\r\n",
        b"data: a\rdata: b\r\n\r\n",
        b"\xef\xbb\xbfdata: a\n\n",
        b"\ndata: a\n\n",
        b"data: a\n\n\n",
        b"data: a\n",
        b"data: " + b"x" * LIMIT + b"\n\n",
    ):
        assert reader()._whole_events(other) is None, other


# --- json_object ---------------------------------------------------------------------------------


def reference_json_object(data: bytes) -> object:
    """What ``json_object`` must return: the standard decoder's object, else ``None``."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


json_texts = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=6,
    ).map(json.dumps),
    st.text(max_size=12),
)
padding = st.text(alphabet=" \t\n\r\x0b\x0c\u3000\ufeff", max_size=3)


@given(padding, json_texts, padding)
def test_json_object_is_the_standard_decoders_object(before: str, text: str, after: str) -> None:
    data = (before + text + after).encode()
    assert json_object(data) == reference_json_object(data)
    assert json_object(data.decode()) == reference_json_object(data)


def test_json_object_refuses_what_is_no_single_object() -> None:
    for data in (b"", b" ", b"[1]", b'{"a": 1} {"b": 2}', b'{"a":', b"\xff", b"[" * 100_000, b'{"a": 1}x'):
        assert json_object(data) is None, data[:20]
    assert json_object(b' \r\n{"a": [1, {"b": null}]}\n') == {"a": [1, {"b": None}]}


class CountedBody:
    """A ``WireResponse`` that counts how often its body was asked for."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.headers = {"content-type": "application/json"}
        self._body = body
        self.reads = 0

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        self.reads += 1
        yield self._body

    async def aclose(self) -> None:
        return None


@pytest.mark.anyio
@pytest.mark.parametrize("status", [200, 202])
async def test_a_notifications_success_is_not_read(status: int) -> None:
    """Left unread, the connection is not kept (as the SDK leaves a 202): on a server without
    TCP_NODELAY the next SSE answer on a kept-alive connection would wait out a delayed ACK."""
    response = CountedBody(status, b'{"ignored": true}')
    reply = await read_reply(response, None, ReadLimits(), lambda message: None)
    assert (reply.answer.status, reply.answer.body, reply.response, reply.refused) == (status, b"", None, None)
    assert response.reads == 0


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "expected_id"), [(404, None), (400, None), (200, 1)])
async def test_an_error_answer_or_a_requests_answer_is_read(status: int, expected_id: int | None) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": expected_id, "error": {"code": -32600, "message": "no"}}).encode()
    response = CountedBody(status, body)
    reply = await read_reply(response, expected_id, ReadLimits(), lambda message: None)
    assert (reply.answer.status, reply.answer.body) == (status, body)
    assert response.reads == 1


def test_a_line_at_the_limit_is_held() -> None:
    decoder = SseReader(max_event=4096, max_line=1024)
    line = b"data: " + b"x" * (1024 - len(b"data: "))

    assert decoder.feed(line) == []
    assert [(e.event, e.data) for e in decoder.feed(b"\n\n")] == [ev("message", "x" * (1024 - 6))]


def test_a_line_longer_than_the_limit_is_refused_however_it_arrives() -> None:
    for chunk in (256, 1025, 4096):
        decoder = limited_reader(max_line=1024)
        stream = b"data: " + b"x" * 2000 + b"\n\n"
        chunks = [stream[start : start + chunk] for start in range(0, len(stream), chunk)]
        with pytest.raises(LimitCrossed, match="max_sse_line") as caught:
            feed_all(decoder, chunks)
        assert (caught.value.limit, caught.value.bound) == ("max_sse_line", 1024)


def test_an_event_of_many_short_lines_is_bounded() -> None:
    decoder = limited_reader(max_event=10_000)
    # 10,000 lines of 11 bytes cross the limit long before the end
    with pytest.raises(LimitCrossed, match="max_sse_event"):
        feed_all(decoder, [b"data: xxxx\n"] * 10_000)
    assert decoder.partial <= 10_000 + 11


def test_a_whole_oversized_event_in_one_chunk_is_refused() -> None:
    with pytest.raises(LimitCrossed, match="max_sse_event"):
        limited_reader(max_event=100).feed(b"data: " + b"y" * 200 + b"\n\n")


def test_many_events_in_one_chunk_keep_their_bytes() -> None:
    stream = b"".join(b"event: n\ndata: %d\n\n" % i for i in range(5000)) + b": tail"
    decoder = reader()
    events = decoder.feed(stream)

    assert [event.data for event in events] == [str(i) for i in range(5000)]
    assert b"".join(event.raw for event in events) + b"".join(decoder.hand_on()) == stream


def test_a_big_event_keeps_the_chunks_it_came_in() -> None:
    """Handed on as the server's chunks, not copied into one piece (its client reads them as it
    would read the server's); a small event split across chunks is joined."""
    event = b"event: message\r\ndata: " + b"x" * (LIMIT // 2) + b"\r\n\r\n"
    chunks = [event[start : start + 65536] for start in range(0, len(event), 65536)]
    decoder = reader()
    (dispatched,) = [found for chunk in chunks for found in decoder.feed(chunk)]
    assert len(dispatched.pieces) == len(chunks)
    assert all(piece is chunk for piece, chunk in zip(dispatched.pieces, chunks, strict=True))
    assert (dispatched.data, dispatched.raw) == ("x" * (LIMIT // 2), event)

    small = b"data: 1\n\ndata: 2\n\n"
    decoder = reader()
    events = [found for part in (small[:4], small[4:12], small[12:]) for found in decoder.feed(part)]
    assert [event.pieces for event in events] == [(b"data: 1\n\n",), (b"data: 2\n\n",)]


def test_an_event_after_a_big_one_is_cut_from_their_shared_chunk() -> None:
    big = b"data: " + b"y" * 200_000 + b"\n\n"
    stream = big + b"data: next\n\n" + b"data: unfinished"
    chunks = [stream[start : start + 65536] for start in range(0, len(stream), 65536)]
    decoder = reader()
    events = [found for chunk in chunks for found in decoder.feed(chunk)]
    assert [event.raw for event in events] == [big, b"data: next\n\n"]
    assert events[0].pieces[:-1] == tuple(chunks[:-1])
    assert b"".join(decoder.hand_on()) == b"data: unfinished"


def limited_reader(*, max_event: int = LIMIT, max_line: int = LIMIT) -> SseReader:
    return SseReader(max_event=max_event, max_line=max_line)


def feed_all(decoder: SseReader, chunks: list[bytes]) -> None:
    for chunk in chunks:
        decoder.feed(chunk)


# --- Backoff ---------------------------------------------------------------------------------------


def test_the_first_attempt_does_not_wait() -> None:
    backoff = Backoff(base=1.0, cap=10.0, rng=random.Random(0))

    assert backoff.ceiling(0) == 0.0
    assert backoff.delay(0) == 0.0
    assert backoff.delay(-3) == 0.0


def test_the_ceiling_doubles_from_base_up_to_cap() -> None:
    backoff = Backoff(base=0.25, cap=5.0)

    assert [backoff.ceiling(attempt) for attempt in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize("attempt", [63, 64, 1_000, 10**6, 2**63, 10**100])
def test_huge_attempt_numbers_stay_at_the_cap(attempt: int) -> None:
    backoff = Backoff(base=0.5, cap=30.0, rng=random.Random(1))

    assert backoff.ceiling(attempt) == 30.0
    assert 0.0 <= backoff.delay(attempt) <= 30.0


def test_a_huge_base_does_not_overflow() -> None:
    backoff = Backoff(base=1e300, cap=60.0)

    assert backoff.ceiling(100) == 60.0


@pytest.mark.parametrize(("base", "cap"), [(-0.1, 1.0), (1.0, -1.0), (-1.0, -1.0)])
def test_negative_delays_are_refused(base: float, cap: float) -> None:
    with pytest.raises(ValueError, match="negative"):
        Backoff(base=base, cap=cap)


def test_zero_delays_are_allowed() -> None:
    backoff = Backoff(base=0.0, cap=0.0)

    assert [backoff.delay(attempt) for attempt in range(5)] == [0.0] * 5


def test_a_seeded_rng_gives_the_same_delays() -> None:
    def delays(seed: int) -> list[float]:
        backoff = Backoff(base=0.1, cap=2.0, rng=random.Random(seed))
        return [backoff.delay(attempt) for attempt in range(1, 20)]

    assert delays(42) == delays(42)
    assert delays(42) != delays(43)


def test_delays_are_jittered() -> None:
    backoff = Backoff(base=1.0, cap=1.0, rng=random.Random(7))

    assert len({backoff.delay(5) for _ in range(20)}) > 1


@given(
    base=st.floats(0.0, 1e6),
    cap=st.floats(0.0, 1e6),
    attempt=st.integers(-5, 10**30),
    seed=st.integers(0, 2**32),
)
def test_every_delay_is_within_zero_and_a_capped_ceiling(base: float, cap: float, attempt: int, seed: int) -> None:
    backoff = Backoff(base=base, cap=cap, rng=random.Random(seed))
    ceiling = backoff.ceiling(attempt)

    assert 0.0 <= ceiling <= cap
    assert 0.0 <= backoff.delay(attempt) <= ceiling
    if 1 <= attempt <= 60:
        assert ceiling == min(cap, base * 2 ** (attempt - 1))
    assert backoff.ceiling(attempt + 1) >= ceiling


# --- RelistenSchedule -----------------------------------------------------------------------------


def test_the_relisten_schedule_waits_briefly_after_a_served_stream_then_doubles_to_its_cap() -> None:
    schedule = RelistenSchedule()

    assert [schedule.delay(failures) for failures in range(8)] == [0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [schedule.gives_up(failures) for failures in range(7)] == [False] * 5 + [True] * 2
    assert SessionOptions().relisten == schedule, "the default a session uses"


def test_a_relisten_schedule_of_ones_own_is_followed_without_patching_anything() -> None:
    schedule = RelistenSchedule(after_close=0.0, base=0.02, cap=0.05, max_failures=2)

    assert [schedule.delay(failures) for failures in range(4)] == [0.0, 0.02, 0.04, 0.05]
    assert (schedule.gives_up(1), schedule.gives_up(2)) == (False, True)
    assert RelistenSchedule().delay(3) == 2.0, "another schedule is not changed by it"


@given(failures=st.integers(-5, 10**30), base=st.floats(0.0, 1e300), cap=st.floats(0.0, 1e6))
def test_every_relisten_delay_is_within_the_cap_and_never_shrinks(failures: int, base: float, cap: float) -> None:
    schedule = RelistenSchedule(base=base, cap=cap)

    if failures <= 0:
        assert schedule.delay(failures) == schedule.after_close
    else:
        assert 0.0 <= schedule.delay(failures) <= cap
        assert schedule.delay(failures + 1) >= schedule.delay(failures)


@pytest.mark.parametrize(
    "changes", [{"after_close": -1.0}, {"base": -0.1}, {"cap": -1.0}, {"max_failures": 0}, {"base": float("nan")}]
)
def test_an_impossible_relisten_schedule_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"negative|at least"):
        RelistenSchedule(**changes)


# --- The core's dependencies -------------------------------------------------------------------------


def imported_modules(module: ModuleType) -> set[str]:
    """Every module ``module``'s source imports (``from . import x`` counts as importing ``.x``)."""
    package = module.__name__.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_the_core_imports_none_of_the_senders() -> None:
    """The senders call the core through its seam; the core is given restoration, never imports it."""
    imported = imported_modules(core)
    assert "mcp_session_recovery.runtime.seam" in imported, "the check reads relative imports"
    senders = {f"mcp_session_recovery.runtime.{name}" for name in ("exchange", "forwarding", "listening", "session")}
    assert not imported & senders
    assert not any(isinstance(value, ModuleType) and value.__name__ in senders for value in vars(core).values())


# --- SessionMemory -----------------------------------------------------------------------------------


def test_a_new_memory_restores_nothing() -> None:
    memory = SessionMemory()

    assert memory.log_level is None
    assert memory.subscriptions == ()
    assert memory.restoring_requests() == []


def test_the_last_log_level_wins() -> None:
    memory = SessionMemory()
    memory.observe("logging/setLevel", {"level": "info"})
    memory.observe("logging/setLevel", {"level": "debug"})
    memory.observe("logging/setLevel", {"level": 3})  # not a level: ignored
    memory.observe("logging/setLevel", None)

    assert memory.log_level == "debug"
    assert memory.restoring_requests() == [("logging/setLevel", {"level": "debug"})]


def test_subscriptions_are_restored_in_subscription_order_after_the_log_level() -> None:
    memory = SessionMemory()
    for uri in ["file:///b", "file:///a", "file:///c", "file:///a"]:
        memory.observe("resources/subscribe", {"uri": uri})
    memory.observe("resources/unsubscribe", {"uri": "file:///b"})
    memory.observe("resources/unsubscribe", {"uri": "file:///never-subscribed"})
    memory.observe("resources/subscribe", {"uri": "file:///b"})
    memory.observe("logging/setLevel", {"level": "warning"})

    assert memory.subscriptions == ("file:///a", "file:///c", "file:///b")
    assert memory.restoring_requests() == [
        ("logging/setLevel", {"level": "warning"}),
        ("resources/subscribe", {"uri": "file:///a"}),
        ("resources/subscribe", {"uri": "file:///c"}),
        ("resources/subscribe", {"uri": "file:///b"}),
    ]


def test_tool_annotations_come_from_the_last_tools_list() -> None:
    memory = SessionMemory()
    tools = [{"name": "add", "annotations": {"readOnlyHint": True}}, {"name": "bump"}, {"name": 3}, "junk"]
    memory.observe("tools/list", None, {"tools": tools})
    memory.observe("tools/call", {"name": "add"}, {"tools": [{"name": "add"}]})  # not a listing
    assert memory.tool_annotations == {"add": {"readOnlyHint": True}, "bump": {}}
    memory.observe("tools/list", None, {"tools": [{"name": "add", "annotations": "nonsense"}]})
    assert memory.tool_annotations["add"] == {}


def test_requests_that_change_nothing_on_the_server_are_not_remembered() -> None:
    memory = SessionMemory()
    memory.observe("tools/call", {"name": "add", "uri": "file:///x", "level": "debug"})
    memory.observe("resources/read", {"uri": "file:///x"})
    memory.observe("resources/subscribe", {"uri": None})
    memory.observe("resources/subscribe", None)

    assert memory.restoring_requests() == []


def test_changing_a_restoring_request_does_not_change_the_memory() -> None:
    memory = SessionMemory()
    memory.observe("resources/subscribe", {"uri": "file:///a"})
    memory.observe("logging/setLevel", {"level": "info"})
    for _, params in memory.restoring_requests():
        params.clear()

    assert memory.restoring_requests() == [
        ("logging/setLevel", {"level": "info"}),
        ("resources/subscribe", {"uri": "file:///a"}),
    ]


# --- origin_of and EraCache ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080"),
        ("http://example.com/mcp", "http://example.com:80"),
        ("https://example.com/mcp", "https://example.com:443"),
        ("https://user:hunter2@Example.COM/a/b?token=secret#frag", "https://example.com:443"),
        ("HTTP://Example.com:80/other", "http://example.com:80"),
        ("https://example.com:8443", "https://example.com:8443"),
    ],
)
def test_the_origin_is_scheme_host_and_port(url: str, origin: str) -> None:
    assert origin_of(url) == origin


def test_an_origin_never_holds_credentials_path_or_query() -> None:
    origin = origin_of("https://alice:hunter2@mcp.example.com:9000/v1/mcp?api_key=k3y#x")

    assert "alice" not in origin
    assert "hunter2" not in origin
    assert "k3y" not in origin
    assert "/v1" not in origin


def test_urls_of_one_server_share_an_origin() -> None:
    assert origin_of("http://h/mcp") == origin_of("http://h:80/other?x=1") == origin_of("http://u@H:80")
    assert origin_of("http://h:8080/mcp") != origin_of("http://h:8081/mcp")
    assert origin_of("http://h/mcp") != origin_of("https://h/mcp")


def test_an_ipv6_origin_keeps_its_brackets() -> None:
    assert origin_of("http://[::1]:8080/mcp") == "http://[::1]:8080"


def test_the_era_cache_remembers_and_forgets_per_origin() -> None:
    cache = EraCache()
    a, b = origin_of("http://a:1/mcp"), origin_of("http://b:1/mcp")

    assert cache.get(a) is None
    cache.remember(a, Era.MODERN)
    cache.remember(b, Era.LEGACY)
    assert (cache.get(a), cache.get(b)) == (Era.MODERN, Era.LEGACY)
    cache.remember(a, Era.LEGACY)  # the server rolled back
    assert cache.get(a) is Era.LEGACY
    cache.forget(a)
    cache.forget(a)  # forgetting twice is harmless
    cache.forget("http://never-seen:1")
    assert (cache.get(a), cache.get(b)) == (None, Era.LEGACY)


def test_era_caches_are_independent() -> None:
    first, second = EraCache(), EraCache()
    first.remember("http://a:1", Era.MODERN)

    assert second.get("http://a:1") is None


# --- HttpxWire and transport_failure --------------------------------------------------------------------

LIBRARIES = ["httpx", "httpx2"]
OUTGOING = initialize_request(1, ClientIdentity())


@pytest.fixture(params=LIBRARIES)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(str(request.param))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


Handler = Callable[[SocketStream, bytes, bytes], Awaitable[None]]


async def read_request(stream: SocketStream) -> tuple[bytes, bytes]:
    """One HTTP/1.1 request's head and body (the body sized by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive()
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += await stream.receive()
    return head, body


@contextlib.asynccontextmanager
async def http_server(handler: Handler) -> AsyncIterator[int]:
    """A one-purpose HTTP server on 127.0.0.1: ``handler`` answers each request (head, body) by hand."""

    async def serve(stream: SocketStream) -> None:
        async with stream:
            head, body = await read_request(stream)
            await handler(stream, head, body)

    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = multi.listeners[0]
    assert isinstance(listener, SocketListener)
    async with multi, anyio.create_task_group() as group:
        group.start_soon(multi.serve, serve)
        yield listener.extra(SocketAttribute.local_port)
        group.cancel_scope.cancel()


def client(lib: ModuleType, **options: Any) -> Any:
    return lib.AsyncClient(trust_env=False, **options)


@pytest.mark.anyio
async def test_an_answer_comes_back_with_its_status_lower_case_headers_and_body(lib: ModuleType) -> None:
    received: list[tuple[bytes, bytes]] = []

    async def answer(stream: SocketStream, head: bytes, body: bytes) -> None:
        received.append((head, body))
        payload = b'{"jsonrpc":"2.0","id":1,"result":{}}'
        await stream.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: abc\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(payload)
            + payload
        )

    async with http_server(answer) as port, client(lib) as http:
        response = await HttpxWire(http, f"http://127.0.0.1:{port}/mcp").send(OUTGOING)
        try:
            chunks = [chunk async for chunk in response.iter_bytes()]
        finally:
            await response.aclose()

    assert response.status == 200
    assert response.headers["mcp-session-id"] == "abc"
    assert response.headers["content-type"] == "application/json"
    assert b"".join(chunks) == b'{"jsonrpc":"2.0","id":1,"result":{}}'
    [(head, body)] = received
    assert head.startswith(b"POST /mcp HTTP/1.1\r\n")
    assert b"\r\ncontent-type: application/json" in head.lower()
    assert b"\r\naccept: application/json, text/event-stream" in head.lower()
    assert body == OUTGOING.body


@pytest.mark.anyio
async def test_a_refused_connection_was_not_sent(lib: ModuleType) -> None:
    port = closed_port()

    async with client(lib) as http:
        with pytest.raises(WireError) as caught:
            await HttpxWire(http, f"http://user:hunter2@127.0.0.1:{port}/mcp").send(OUTGOING)

    assert (caught.value.kind, caught.value.progress) == (TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT)
    assert caught.value.failure() == TransportFailure(
        kind=TransportFailureKind.CONNECT_REFUSED, progress=Progress.NOT_SENT
    )
    assert isinstance(caught.value.__cause__, lib.ConnectError)
    assert "hunter2" not in str(caught.value)


@pytest.mark.anyio
async def test_a_server_that_never_answers_is_a_read_timeout_after_sending(lib: ModuleType) -> None:
    async def hold(stream: SocketStream, head: bytes, body: bytes) -> None:
        # Say nothing; wait for the client to give up and hang up.
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            await stream.receive()

    async with http_server(hold) as port, client(lib, timeout=lib.Timeout(5.0, read=0.2)) as http:
        with pytest.raises(WireError) as caught:
            await HttpxWire(http, f"http://127.0.0.1:{port}/mcp").send(OUTGOING)

    assert (caught.value.kind, caught.value.progress) == (TransportFailureKind.READ_TIMEOUT, Progress.SENT)
    assert isinstance(caught.value.__cause__, lib.ReadTimeout)


@pytest.mark.anyio
async def test_a_body_cut_short_is_a_stream_cut_while_streaming(lib: ModuleType) -> None:
    async def cut(stream: SocketStream, head: bytes, body: bytes) -> None:
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 1000\r\n\r\ndata: {")

    async with http_server(cut) as port, client(lib) as http:
        response = await HttpxWire(http, f"http://127.0.0.1:{port}/mcp").send(OUTGOING)
        chunks: list[bytes] = []

        async def read_all() -> None:
            async for chunk in response.iter_bytes():
                chunks.append(chunk)

        try:
            with pytest.raises(WireError) as caught:
                await read_all()
        finally:
            await response.aclose()

    assert response.status == 200
    assert b"".join(chunks) == b"data: {"
    assert (caught.value.kind, caught.value.progress) == (TransportFailureKind.STREAM_CUT, Progress.STREAMING)
    assert isinstance(caught.value.__cause__, lib.TransportError)


@pytest.mark.anyio
async def test_an_unsupported_scheme_is_a_protocol_error_before_sending(lib: ModuleType) -> None:
    async with client(lib) as http:
        with pytest.raises(WireError) as caught:
            await HttpxWire(http, "ftp://127.0.0.1/mcp").send(OUTGOING)

    assert (caught.value.kind, caught.value.progress) == (TransportFailureKind.PROTOCOL_ERROR, Progress.NOT_SENT)


@pytest.mark.anyio
async def test_an_error_that_is_not_a_transport_failure_is_raised_unchanged(lib: ModuleType) -> None:
    http = client(lib)
    await http.aclose()

    with pytest.raises(RuntimeError, match="closed"):
        await HttpxWire(http, f"http://127.0.0.1:{closed_port()}/mcp").send(OUTGOING)


@pytest.mark.parametrize(
    ("name", "kind", "progress"),
    [
        ("ConnectError", TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT),
        ("ConnectTimeout", TransportFailureKind.CONNECT_TIMEOUT, Progress.NOT_SENT),
        ("PoolTimeout", TransportFailureKind.CONNECT_TIMEOUT, Progress.NOT_SENT),
        ("ProxyError", TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT),
        ("UnsupportedProtocol", TransportFailureKind.PROTOCOL_ERROR, Progress.NOT_SENT),
        ("LocalProtocolError", TransportFailureKind.PROTOCOL_ERROR, Progress.NOT_SENT),
        ("WriteTimeout", TransportFailureKind.WRITE_TIMEOUT, Progress.SENT),
        ("ReadTimeout", TransportFailureKind.READ_TIMEOUT, Progress.SENT),
        ("ReadError", TransportFailureKind.CONNECTION_RESET, Progress.SENT),
        ("WriteError", TransportFailureKind.CONNECTION_RESET, Progress.SENT),
        ("CloseError", TransportFailureKind.CONNECTION_RESET, Progress.SENT),
    ],
)
def test_each_transport_exception_before_the_answer(
    lib: ModuleType, name: str, kind: TransportFailureKind, progress: Progress
) -> None:
    failure = transport_failure(lib, getattr(lib, name)("boom"), streaming=False)

    assert failure is not None
    assert (failure.kind, failure.progress) == (kind, progress)
    assert name in str(failure)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ReadTimeout", TransportFailureKind.READ_TIMEOUT),
        ("ReadError", TransportFailureKind.STREAM_CUT),
        ("ConnectError", TransportFailureKind.STREAM_CUT),
    ],
)
def test_each_transport_exception_while_streaming(lib: ModuleType, name: str, kind: TransportFailureKind) -> None:
    failure = transport_failure(lib, getattr(lib, name)("boom"), streaming=True)

    assert failure is not None
    assert (failure.kind, failure.progress) == (kind, Progress.STREAMING)


@pytest.mark.parametrize(
    ("message", "streaming", "kind", "progress"),
    [
        # httpcore's words for a connection that ended: the server may have gone, try again.
        (
            "Server disconnected without sending a response.",
            False,
            TransportFailureKind.CONNECTION_RESET,
            Progress.SENT,
        ),
        (
            "peer closed connection without sending complete message body",
            True,
            TransportFailureKind.STREAM_CUT,
            Progress.STREAMING,
        ),
        # h11 could not parse what arrived (a header with a bare CR): the server answered, badly.
        (
            "illegal header line: bytearray(b'mcp-session-id: a\\rb')",
            False,
            TransportFailureKind.MALFORMED_ANSWER,
            Progress.SENT,
        ),
        ("illegal header line", True, TransportFailureKind.MALFORMED_ANSWER, Progress.STREAMING),
    ],
)
def test_a_remote_protocol_error_is_an_ended_connection_or_a_malformed_answer(
    lib: ModuleType, message: str, streaming: bool, kind: TransportFailureKind, progress: Progress
) -> None:
    failure = transport_failure(lib, lib.RemoteProtocolError(message), streaming=streaming)

    assert failure is not None
    assert (failure.kind, failure.progress) == (kind, progress)
    assert "mcp-session-id" not in str(failure), "a wire error never quotes a header"


@pytest.mark.parametrize("streaming", [False, True])
def test_a_body_that_does_not_decode_is_a_malformed_answer(lib: ModuleType, streaming: bool) -> None:
    failure = transport_failure(lib, lib.DecodingError("z"), streaming=streaming)

    assert failure is not None
    assert (failure.kind, failure.progress) == (TransportFailureKind.MALFORMED_ANSWER, Progress.STREAMING)


@pytest.mark.parametrize("streaming", [False, True])
def test_other_exceptions_are_not_transport_failures(lib: ModuleType, streaming: bool) -> None:
    for exc in (ValueError("x"), RuntimeError("y"), lib.TooManyRedirects("w")):
        assert transport_failure(lib, exc, streaming=streaming) is None


def test_one_librarys_exception_is_not_the_others_transport_failure() -> None:
    import httpx
    import httpx2

    assert transport_failure(httpx, httpx2.ConnectError("x"), streaming=False) is None
    assert transport_failure(httpx2, httpx.ConnectError("x"), streaming=False) is None


def test_the_reader_keeps_the_last_event_id_and_retry_for_a_resumption() -> None:
    sse = reader()
    assert (sse.last_event_id, sse.retry) == (None, None)
    sse.feed(b"id: event-1\nretry: 500\ndata: \n\n")  # a priming event (SEP-1699)
    assert (sse.last_event_id, sse.retry) == ("event-1", 500)
    sse.feed(b"retry: soon\ndata: x\n\n")  # not a number: ignored; an event without an id keeps the last
    assert (sse.last_event_id, sse.retry) == ("event-1", 500)
    sse.feed(b"id: ev")
    assert sse.last_event_id == "event-1", "an id counts once its event is dispatched"
    sse.feed(b"-2\r\ndata: y\r\n\r\n")
    assert sse.last_event_id == "ev-2"
    sse.feed(b"id: a\x00b\ndata: z\n\n")  # an id with NUL is ignored, as the SSE standard says
    assert sse.last_event_id == "ev-2"
    resumed = SseReader(max_event=LIMIT, max_line=LIMIT, last_event_id="ev-2")
    resumed.feed(b"data: {}\n\n")
    assert resumed.last_event_id == "ev-2", "a resumed stream continues from the id it resumed from"
