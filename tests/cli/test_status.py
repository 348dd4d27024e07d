"""The bridges' status line: one line per change a user cares about, a reason that reads right,
"generation N" counting the negotiations that made a session live, and its own line on a terminal.

The first tests feed it records as the runtime makes them; the last run the ``stdio`` bridge as a
real process through an outage and a gateway's 502 window.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mcp_session_recovery.cli.status import StatusLine
from mcp_session_recovery.cli.upstream import failure_message
from mcp_session_recovery.model import (
    BackoffElapsed,
    Binding,
    CredentialsRefused,
    CredentialsRejected,
    DeadlineExceeded,
    Era,
    Event,
    InitializeSucceeded,
    NegotiationDisrupted,
    Progress,
    Replayability,
    RequestDisrupted,
    RequestSubmitted,
    Signal,
    State,
    TransportFailure,
    TransportFailureKind,
    classify,
)
from mcp_session_recovery.model.classify import exchange_of
from mcp_session_recovery.runtime import TransitionRecord
from mcp_session_recovery.testing import ServedEra, ServerProcess
from tests.integration.processes import ManagedServer, free_port, proxy_argv, sdk_server_argv

from .bridges import BridgeProcess, read_line, send_line

ORIGIN = "http://127.0.0.1:8000"
BINDING = Binding(era=Era.LEGACY, protocol_version="2025-11-25", generation=16)
REFUSED = "server unreachable: connection refused"
BAD_GATEWAY = "server unreachable: the gateway answered HTTP 502"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(
    old: State, new: State, *, generation: int, negotiated: int, reason: str = "", event: Event | None = None
) -> TransitionRecord:
    return TransitionRecord(
        origin=ORIGIN,
        old_state=old,
        event=event or BackoffElapsed(),
        new_state=new,
        generation=generation,
        negotiated=negotiated,
        reason=reason,
    )


def _outage(first_generation: int, attempts: int, negotiated: int) -> Iterator[TransitionRecord]:
    """The records of a session lost once and recovered after ``attempts`` negotiations."""
    yield _record(
        State.READY,
        State.INVALIDATED,
        generation=first_generation,
        negotiated=negotiated,
        reason=REFUSED,
        event=RequestDisrupted(request_id=0, signal=Signal.UNREACHABLE),
    )
    for attempt in range(1, attempts):
        generation = first_generation + attempt
        yield _record(State.INVALIDATED, State.RECOVERING, generation=generation, negotiated=negotiated)
        yield _record(
            State.RECOVERING, State.RECOVERING, generation=generation, negotiated=negotiated, reason="HTTP 200"
        )
        yield _record(
            State.RECOVERING, State.INVALIDATED, generation=generation, negotiated=negotiated, reason=BAD_GATEWAY
        )
    generation = first_generation + attempts
    yield _record(State.INVALIDATED, State.RECOVERING, generation=generation, negotiated=negotiated)
    yield _record(State.RECOVERING, State.READY, generation=generation, negotiated=negotiated + 1)


def _show(line: StatusLine, records: Iterator[TransitionRecord] | list[TransitionRecord], key: object = None) -> None:
    for record in records:
        line.update(ORIGIN, record, BINDING if record.new_state is State.READY else None, key=key)


def test_an_outage_of_14_attempts_is_two_lines_and_generation_counts_negotiations() -> None:
    stream = io.StringIO()
    line = StatusLine(stream=stream)
    _show(
        line,
        [
            _record(State.UNINITIALIZED, State.INITIALIZING, generation=1, negotiated=0),
            _record(State.INITIALIZING, State.READY, generation=1, negotiated=1),
        ],
    )
    _show(line, _outage(1, 14, negotiated=1))
    _show(line, [_record(State.READY, State.CLOSED, generation=15, negotiated=2)])
    assert stream.getvalue().splitlines() == [
        f"upstream {ORIGIN}: connecting…",
        f"upstream {ORIGIN}: connected: legacy 2025-11-25, generation 1",
        f"upstream {ORIGIN}: reconnecting… ({REFUSED})",
        f"upstream {ORIGIN}: connected: legacy 2025-11-25, generation 2",
        f"upstream {ORIGIN}: closed",
    ]


def test_a_first_connection_that_fails_says_it_cannot_connect_and_counts_one_generation() -> None:
    stream = io.StringIO()
    line = StatusLine(stream=stream)
    dns = classify(
        exchange_of(Era.LEGACY, "initialize", False),
        TransportFailure(kind=TransportFailureKind.NAME_RESOLUTION, progress=Progress.NOT_SENT),
    ).reason
    records = [
        _record(State.UNINITIALIZED, State.INITIALIZING, generation=1, negotiated=0),
        _record(
            State.INITIALIZING,
            State.INVALIDATED,
            generation=1,
            negotiated=0,
            reason=dns,
            event=NegotiationDisrupted(generation=1, signal=Signal.UNREACHABLE),
        ),
        *(
            record
            for attempt in range(2, 9)
            for record in (
                _record(State.INVALIDATED, State.RECOVERING, generation=attempt, negotiated=0),
                _record(State.RECOVERING, State.INVALIDATED, generation=attempt, negotiated=0, reason=dns),
            )
        ),
        _record(State.INVALIDATED, State.RECOVERING, generation=9, negotiated=0),
        _record(
            State.RECOVERING,
            State.RECOVERING,
            generation=9,
            negotiated=0,
            reason="",
            event=InitializeSucceeded(generation=9, protocol_version="2025-11-25", session_id=None),
        ),
        _record(State.RECOVERING, State.READY, generation=9, negotiated=1),
    ]
    _show(line, records)
    assert stream.getvalue().splitlines() == [
        f"upstream {ORIGIN}: connecting…",
        f"upstream {ORIGIN}: cannot connect (server unreachable: the name did not resolve); retrying…",
        f"upstream {ORIGIN}: connected: legacy 2025-11-25, generation 1",
    ]


def test_refused_credentials_say_what_happens_next_not_retrying() -> None:
    """No timer retries refused credentials (the next request negotiates again, with the ones it
    brings, as the bridges' OAuth does): the line says so instead of "retrying…"."""
    stream = io.StringIO()
    line = StatusLine(stream=stream)
    refusal = CredentialsRejected(401)
    records = [
        _record(State.UNINITIALIZED, State.INITIALIZING, generation=1, negotiated=0),
        _record(
            State.INITIALIZING,
            State.INVALIDATED,
            generation=1,
            negotiated=0,
            reason=str(refusal),
            event=CredentialsRefused(generation=1, error=refusal),
        ),
        # The next request negotiates again, with new credentials.
        _record(
            State.INVALIDATED,
            State.RECOVERING,
            generation=2,
            negotiated=0,
            event=RequestSubmitted(request_id=1, method="tools/list", replayability=Replayability.ALWAYS),
        ),
        _record(State.RECOVERING, State.READY, generation=2, negotiated=1),
    ]
    _show(line, records)
    assert stream.getvalue().splitlines() == [
        f"upstream {ORIGIN}: connecting…",
        f"upstream {ORIGIN}: not connected ({refusal})",
        f"upstream {ORIGIN}: connected: legacy 2025-11-25, generation 1",
    ]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (TransportFailureKind.CONNECT_REFUSED, "server unreachable: connection refused"),
        (TransportFailureKind.NAME_RESOLUTION, "server unreachable: the name did not resolve"),
        (TransportFailureKind.CONNECT_TIMEOUT, "server unreachable: connecting timed out"),
    ],
)
def test_the_reasons_read_right(kind: TransportFailureKind, reason: str) -> None:
    failure = TransportFailure(kind=kind, progress=Progress.NOT_SENT)
    assert classify(exchange_of(Era.LEGACY, "tools/call", True), failure).reason == reason


def test_a_lost_session_and_a_gateway_read_right() -> None:
    from mcp_session_recovery.model import HttpAnswer

    legacy_call = exchange_of(Era.LEGACY, "tools/call", True)
    assert classify(legacy_call, HttpAnswer(status=404)).reason == "session expired on the server (HTTP 404)"
    assert classify(legacy_call, HttpAnswer(status=502)).reason == BAD_GATEWAY


def test_on_a_terminal_every_status_line_is_a_line_of_its_own() -> None:
    terminal = Terminal()
    line = StatusLine(stream=terminal)
    _show(line, [_record(State.UNINITIALIZED, State.INITIALIZING, generation=1, negotiated=0)])
    terminal.write('{"jsonrpc":"2.0","id":1,"result":{}}\n')  # other output on the same terminal
    _show(line, [_record(State.INITIALIZING, State.READY, generation=1, negotiated=1)])
    line.note("stopping")
    written = terminal.getvalue()
    assert "\r" not in written
    assert "\x1b" not in written
    assert written.splitlines() == [
        f"upstream {ORIGIN}: connecting…",
        '{"jsonrpc":"2.0","id":1,"result":{}}',
        f"upstream {ORIGIN}: connected: legacy 2025-11-25, generation 1",
        "stopping",
    ]
    assert written.endswith("\n")


def test_each_upstream_session_of_a_proxy_has_its_own_line() -> None:
    stream = io.StringIO()
    line = StatusLine(stream=stream)
    first, second = object(), object()
    connect = [
        _record(State.UNINITIALIZED, State.INITIALIZING, generation=1, negotiated=0),
        _record(State.INITIALIZING, State.READY, generation=1, negotiated=1),
    ]
    _show(line, connect, key=first)
    _show(line, connect, key=second)
    assert len(stream.getvalue().splitlines()) == 4


def test_quiet_shows_no_status() -> None:
    stream = io.StringIO()
    line = StatusLine(stream=stream, quiet=True)
    _show(line, _outage(1, 3, negotiated=1))
    line.warn("still shown")
    assert stream.getvalue() == "warning: still shown\n"


def test_a_bridge_failure_names_the_method_the_cause_and_what_to_try() -> None:
    timed_out = failure_message("initialize", TimeoutError(), 0.5)
    assert timed_out.startswith("initialize: the upstream did not answer within 0.5 s")
    assert "--timeout" in timed_out
    typed = DeadlineExceeded(0, "tools/call", State.RECOVERING).in_context(client_id=3, timeout=2.0)
    assert failure_message("tools/call", typed, 2.0) == str(typed)
    bug = failure_message("tools/list", RuntimeError("mcp-session-id: s3cret"), 1.0)
    assert bug.startswith("tools/list: the bridge failed (RuntimeError)")
    assert "s3cret" not in bug, "a foreign exception's text may quote a header"


# -- the stdio bridge as a real process ---------------------------------------------------------------

_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
_INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def _call(request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "bump", "arguments": {}}}


def _status_lines(bridge: BridgeProcess, after: int) -> list[str]:
    return [line for line in bridge.stderr.splitlines()[after:] if line.startswith("upstream ")]


def test_a_2_s_outage_through_the_stdio_bridge_is_two_status_lines() -> None:
    with (
        ServerProcess(eras=[ServedEra.LEGACY]) as server,
        BridgeProcess(["stdio", server.url, "--timeout", "30"], stdio=True) as bridge,
    ):
        send_line(bridge, _INITIALIZE)
        assert "result" in read_line(bridge)
        send_line(bridge, _INITIALIZED)
        send_line(bridge, _call(2))
        assert "result" in read_line(bridge)
        assert _status_lines(bridge, 0)[-1] == f"upstream {server.base_url}: connected: legacy 2025-11-25, generation 1"

        mark = bridge.line_count()
        server.kill()
        send_line(bridge, _call(3))
        bridge.wait_for_line("reconnecting", after=mark)
        time.sleep(2.0)  # the scenario's 2 s outage (its length, not a wait for anything): the bridge retries
        server.start()
        assert read_line(bridge)["result"]["content"][0]["text"] == "1"
        bridge.wait_for_line("generation 2", after=mark)
        lines = _status_lines(bridge, mark)
        assert len(lines) == 2, lines
        assert lines[0].startswith(f"upstream {server.base_url}: reconnecting… (server unreachable: ")
        assert lines[1] == f"upstream {server.base_url}: connected: legacy 2025-11-25, generation 2"
        assert server.stats().initializes == 1


def test_generation_counts_the_initializes_a_server_saw_across_a_502_window() -> None:
    with ManagedServer(sdk_server_argv()) as backend, ManagedServer(proxy_argv(backend.port)) as gateway:
        backend.kill()  # the gateway answers 502 for it
        with BridgeProcess(["stdio", gateway.url, "--timeout", "30"], stdio=True) as bridge:
            send_line(bridge, _INITIALIZE)
            bridge.wait_for_line("cannot connect (server unreachable: the gateway answered HTTP 502)")
            for _ in range(500):  # until several attempts met the window (the gateway counts them), bounded
                if gateway.stats()["down_answers"] >= 3:
                    break
                time.sleep(0.02)
            assert gateway.stats()["down_answers"] >= 3, "several attempts met the window"
            backend.start()
            assert read_line(bridge)["result"]["serverInfo"]["name"]
            bridge.wait_for_line("connected:")
            lines = _status_lines(bridge, 0)
            assert lines[-1].endswith("generation 1"), lines
            assert len(lines) == 3, lines  # connecting, cannot connect, connected
            assert backend.stats()["initializes"] == 1


def test_a_request_that_runs_out_of_time_in_the_bridge_says_why() -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"  # nothing listens there
    with BridgeProcess(["stdio", url, "--timeout", "0.5"], stdio=True) as bridge:
        send_line(bridge, _INITIALIZE)
        answer = read_line(bridge)
        assert answer["id"] == 1
        message = answer["error"]["message"]
        assert message.startswith("initialize"), message
        assert "0.5 s" in message or "connection refused" in message, message
        assert "bridge error" not in message
