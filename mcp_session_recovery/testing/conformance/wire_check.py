"""``check_wire``: does an implementation of the runtime's ``Wire`` report what happened truthfully?

The runtime decides everything from what a wire tells it: the status and headers, the body as a
stream, and for a failure a :class:`~mcp_session_recovery.runtime.WireError` saying *what* failed
and *how far the request got*. A wire that calls a reset "refused" makes the runtime replay a
request that may have run; one that buffers a body hangs on an endless event stream; one that
follows a redirect itself carries the session id wherever it points (the runtime follows what may
be followed, sending again with ``Outgoing.url`` set, which the wire must honour). Each check
below provokes one such case on the test server and compares the wire's account with the facts.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from typing import Any
from urllib.parse import urljoin

import anyio

from mcp_session_recovery.model import Outgoing, Progress, TransportFailureKind
from mcp_session_recovery.runtime.wire import Wire, WireError, WireResponse
from mcp_session_recovery.testing.behaviour import AnswerRule, Behaviour, CannedAnswer, ResponseStyle, ServedEra
from mcp_session_recovery.testing.server import TestServer, serve

from .report import ConformanceReport, Counters, Invariant, Violation

__all__ = ["MakeWire", "WireCheck", "check_wire"]

#: ``make_wire(url, read_timeout)``: an async context manager yielding a :class:`Wire` to ``url``
#: whose HTTP client gives up waiting for data after ``read_timeout`` seconds.
MakeWire = Callable[[str, float], AbstractAsyncContextManager[Wire]]

#: Accept both answer kinds, as MCP clients do.
_ACCEPT = "application/json, text/event-stream"
#: The mixed-case header the server sends to see it come back lower-case.
_MIXED_CASE = ("X-Conformance-Mixed-Case", "Kept")
#: Another path the test server serves the endpoint at: where an ``Outgoing.url`` and a redirect point.
_ELSEWHERE = "/conformance/elsewhere/mcp"
#: How long one check may take, beyond the wire's own read timeout.
CHECK_TIMEOUT = 10.0
#: How long the first bytes of an endless answer, or the server seeing the client leave, may take.
STREAM_TIMEOUT = 2.0


class WireCheck(enum.Enum):
    """The cases :func:`check_wire` provokes, each judged as one :class:`Invariant`."""

    ROUND_TRIP = "an initialize: its answer, status, headers and body, unchanged"
    LOWER_CASE_HEADERS = "a response header sent in mixed case"
    REFUSED = "a closed port"
    RESET = "the connection dropped after the request, before any answer"
    CUT = "an SSE answer cut after its headers"
    READ_TIMEOUT = "a tool slower than the read timeout"
    STREAMED = "an SSE event that never ends, read as a stream and closed"
    CLOSED_UNREAD = "an endless answer closed without reading"
    ADDRESSED = "an initialize whose Outgoing names another URL of the endpoint's origin"
    REDIRECT_UNFOLLOWED = "a 307 to another path of the endpoint's origin"


#: The invariant each case judges.
JUDGED: dict[WireCheck, Invariant] = {
    WireCheck.ROUND_TRIP: Invariant.WIRE_ROUND_TRIP,
    WireCheck.LOWER_CASE_HEADERS: Invariant.WIRE_HEADERS,
    WireCheck.REFUSED: Invariant.WIRE_ERRORS,
    WireCheck.RESET: Invariant.WIRE_ERRORS,
    WireCheck.CUT: Invariant.WIRE_ERRORS,
    WireCheck.READ_TIMEOUT: Invariant.WIRE_ERRORS,
    WireCheck.STREAMED: Invariant.WIRE_STREAMED,
    WireCheck.CLOSED_UNREAD: Invariant.WIRE_CLOSED,
    WireCheck.ADDRESSED: Invariant.WIRE_ADDRESSED,
    WireCheck.REDIRECT_UNFOLLOWED: Invariant.WIRE_ADDRESSED,
}


class _Mismatch(Exception):
    """What the wire did differs from what the case demands (the message says how)."""


async def check_wire(make_wire: MakeWire, *, read_timeout: float = 0.5) -> ConformanceReport:
    """Check a ``Wire`` implementation against every case of :class:`WireCheck`; a report of what failed.

    ``make_wire(url, read_timeout)`` returns an async context manager yielding the wire (a fresh
    one per case). Needs a running event loop; each case takes well under a second but the
    timeout case, which waits ``read_timeout``.
    """
    started = time.monotonic()
    violations: list[Violation] = []
    behaviour = Behaviour(
        eras=frozenset({ServedEra.LEGACY}),
        response_style=ResponseStyle.JSON,
        record_requests=50,
        path_aliases=frozenset({_ELSEWHERE}),
    )
    async with serve(behaviour) as server:
        for case in WireCheck:
            server.restart(drop_connections=True)
            server.configure(**_defaults(behaviour))
            try:
                with anyio.fail_after(CHECK_TIMEOUT + read_timeout):
                    async with make_wire(server.url, read_timeout) as wire:
                        await _CASES[case](server, wire, read_timeout)
            except _Mismatch as mismatch:
                violations.append(Violation(JUDGED[case], str(mismatch), case.value))
            except TimeoutError:
                violations.append(Violation(JUDGED[case], f"did not finish within {CHECK_TIMEOUT} s", case.value))
            except WireError as error:
                detail = f"raised WireError({error.kind.value}, {error.progress.value}) where none was due"
                violations.append(Violation(JUDGED[case], detail, case.value))
            except Exception as error:
                detail = f"raised {type(error).__name__}, not a WireError"
                violations.append(Violation(JUDGED[case], detail, case.value))
            finally:
                if not server.listening:
                    await server.start_listening()
    counters = Counters(stories=len(WireCheck), seconds=time.monotonic() - started)
    return ConformanceReport("wire", tuple(violations), counters, examples_run=len(WireCheck))


def _defaults(behaviour: Behaviour) -> dict[str, Any]:
    return {
        "response_style": behaviour.response_style,
        "answer_rules": (),
        "cut_tool_responses": 0,
        "endless_sse_event": False,
        "slow_seconds": behaviour.slow_seconds,
    }


def _post(method: str, params: dict[str, Any], session_id: str | None = None, request_id: int = 1) -> Outgoing:
    headers = {"content-type": "application/json", "accept": _ACCEPT}
    if session_id is not None:
        headers["mcp-session-id"] = session_id
        headers["mcp-protocol-version"] = "2025-11-25"
    message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    return Outgoing("POST", headers, json.dumps(message).encode())


def _initialize() -> Outgoing:
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "conformance", "version": "1"},
    }
    return _post("initialize", params)


async def _read(response: WireResponse) -> bytes:
    chunks: list[bytes] = []
    async with aclosing(response.iter_bytes()) as body:
        async for chunk in body:
            chunks.append(chunk)
    return b"".join(chunks)


async def _session(wire: Wire) -> str:
    """Open a legacy session through the wire; its id."""
    response = await wire.send(_initialize())
    try:
        await _read(response)
        session_id = response.headers.get("mcp-session-id")
    finally:
        await response.aclose()
    if response.status != 200 or session_id is None:
        raise _Mismatch(f"initialize answered {response.status}, with no session id header the wire shows")
    return session_id


def _expect_error(error: WireError, kind: TransportFailureKind, progress: Progress) -> None:
    if (error.kind, error.progress) != (kind, progress):
        raise _Mismatch(
            f"WireError({error.kind.value}, {error.progress.value}), expected WireError({kind.value}, {progress.value})"
        )


async def _round_trip(server: TestServer, wire: Wire, read_timeout: float) -> None:
    response = await wire.send(_initialize())
    try:
        names = list(response.headers)
        body = await _read(response)
    finally:
        await response.aclose()
    if response.status != 200:
        raise _Mismatch(f"status {response.status}, expected 200")
    if "mcp-session-id" not in names or not response.headers.get("content-type", "").startswith("application/json"):
        raise _Mismatch(f"the headers the wire shows lack mcp-session-id or content-type: {sorted(names)}")
    answer = json.loads(body)
    if answer.get("id") != 1 or "result" not in answer:
        raise _Mismatch("the body is not the server's initialize answer")
    sent = server.stats.recorded_requests
    if not sent or sent[-1].headers.get("accept") != _ACCEPT:
        raise _Mismatch("the request did not reach the server with the headers the runtime set")


async def _lower_case(server: TestServer, wire: Wire, read_timeout: float) -> None:
    canned = CannedAnswer(200, "application/json", '{"jsonrpc":"2.0","id":1,"result":{}}', (_MIXED_CASE,))
    server.configure(answer_rules=(AnswerRule(canned, frozenset({"initialize"}), 1),))
    response = await wire.send(_initialize())
    try:
        names = list(response.headers)
        value = response.headers.get(_MIXED_CASE[0].lower())
    finally:
        await response.aclose()
    upper = [name for name in names if name != name.lower()]
    if upper or value != _MIXED_CASE[1]:
        raise _Mismatch(
            f"header names not lower-case ({upper}) or the mixed-case header not found by its lower-case name"
        )


async def _refused(server: TestServer, wire: Wire, read_timeout: float) -> None:
    await server.stop_listening()
    try:
        response = await wire.send(_initialize())
    except WireError as error:
        _expect_error(error, TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT)
        return
    await response.aclose()
    raise _Mismatch(f"an answer ({response.status}) from a closed port")


async def _reset(server: TestServer, wire: Wire, read_timeout: float) -> None:
    server.configure(answer_rules=(AnswerRule(None, frozenset({"initialize"}), 1),))
    try:
        response = await wire.send(_initialize())
    except WireError as error:
        _expect_error(error, TransportFailureKind.CONNECTION_RESET, Progress.SENT)
        return
    await response.aclose()
    raise _Mismatch(f"an answer ({response.status}) from a connection that was dropped")


async def _cut(server: TestServer, wire: Wire, read_timeout: float) -> None:
    session_id = await _session(wire)
    server.configure(cut_tool_responses=1, response_style=ResponseStyle.SSE)
    try:
        response = await wire.send(_post("tools/call", {"name": "peek", "arguments": {}}, session_id, 2))
    except WireError as error:
        raise _Mismatch(
            f"send raised WireError({error.kind.value}, {error.progress.value}) for a cut body: the body was "
            "read before the response was handed over (expected iter_bytes to raise (stream_cut, streaming))"
        ) from None
    try:
        await _read(response)
    except WireError as error:
        _expect_error(error, TransportFailureKind.STREAM_CUT, Progress.STREAMING)
        return
    finally:
        await response.aclose()
    raise _Mismatch("the cut body was read to an end without an error")


async def _timeout(server: TestServer, wire: Wire, read_timeout: float) -> None:
    session_id = await _session(wire)
    arguments = {"seconds": read_timeout * 4}
    try:
        response = await wire.send(_post("tools/call", {"name": "slow", "arguments": arguments}, session_id, 2))
    except WireError as error:
        _expect_error(error, TransportFailureKind.READ_TIMEOUT, Progress.SENT)
        return
    await response.aclose()
    raise _Mismatch(f"an answer ({response.status}) arrived: the read timeout did not apply")


async def _endless(wire: Wire, server: TestServer) -> WireResponse:
    session_id = await _session(wire)
    server.configure(endless_sse_event=True)
    with anyio.move_on_after(STREAM_TIMEOUT):
        return await wire.send(_post("tools/call", {"name": "peek", "arguments": {}}, session_id, 2))
    raise _Mismatch("send did not return for an endless answer: the body is buffered, not streamed")


async def _left(server: TestServer) -> None:
    try:
        await server.wait_until(lambda stats: stats.endless_events_ended >= 1, timeout=STREAM_TIMEOUT)
    except TimeoutError:
        raise _Mismatch("the server still sends: aclose did not close the connection") from None


async def _streamed(server: TestServer, wire: Wire, read_timeout: float) -> None:
    response = await _endless(wire, server)
    try:
        with anyio.move_on_after(STREAM_TIMEOUT) as waited:
            body: AsyncGenerator[bytes, None] = response.iter_bytes()
            async with aclosing(body):
                first = await body.__anext__()
        if waited.cancelled_caught:
            raise _Mismatch("no chunk of an endless answer arrived: the body is buffered, not streamed")
        if not first:
            raise _Mismatch("an empty chunk")
    finally:
        await response.aclose()
    await _left(server)


async def _closed_unread(server: TestServer, wire: Wire, read_timeout: float) -> None:
    response = await _endless(wire, server)
    await response.aclose()
    await _left(server)


async def _addressed(server: TestServer, wire: Wire, read_timeout: float) -> None:
    response = await wire.send(dataclasses.replace(_initialize(), url=urljoin(server.url, _ELSEWHERE)))
    try:
        await _read(response)
    finally:
        await response.aclose()
    sent = server.stats.recorded_requests
    path = sent[-1].path if sent else None
    if path != _ELSEWHERE:
        raise _Mismatch(f"the request went to {path!r}, not to the Outgoing's url (path {_ELSEWHERE!r})")
    if response.status != 200:
        raise _Mismatch(f"status {response.status}, expected 200")


async def _redirect_unfollowed(server: TestServer, wire: Wire, read_timeout: float) -> None:
    server.configure(answer_rules=(AnswerRule(CannedAnswer.redirect(307, _ELSEWHERE), frozenset({"initialize"}), 1),))
    response = await wire.send(_initialize())
    await response.aclose()
    followed = [request for request in server.stats.recorded_requests if request.path == _ELSEWHERE]
    if response.status != 307 or followed:
        raise _Mismatch(
            f"status {response.status} after {len(followed)} request(s) to the redirect's target, expected the "
            "307 itself and none: the runtime follows what may be followed, a wire follows nothing"
        )


_CASES = {
    WireCheck.ROUND_TRIP: _round_trip,
    WireCheck.LOWER_CASE_HEADERS: _lower_case,
    WireCheck.REFUSED: _refused,
    WireCheck.RESET: _reset,
    WireCheck.CUT: _cut,
    WireCheck.READ_TIMEOUT: _timeout,
    WireCheck.STREAMED: _streamed,
    WireCheck.CLOSED_UNREAD: _closed_unread,
    WireCheck.ADDRESSED: _addressed,
    WireCheck.REDIRECT_UNFOLLOWED: _redirect_unfollowed,
}
