"""What the test server counted: the evidence a test asserts on.

Counting happens on the server side because that is the only place that knows whether a request
was *executed* (a tool's side effect ran) or merely *answered* (a stale 404). A client test can
then tell "replayed once after a 404" from "ran twice".
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = ["COUNTERS", "MAX_INITIALIZE_TIMES", "TALLIES", "TALLY_FIELDS", "RecordedRequest", "ServerStats"]

#: How many ``initialize`` arrival times the server keeps (the most recent ones).
MAX_INITIALIZE_TIMES = 1000

#: The counters a server process keeps as plain numbers (``ProcessState`` has the same fields).
COUNTERS = (
    "initializes",
    "discovers",
    "sessions_created",
    "sessions_deleted",
    "initialized_notifications",
    "requests_before_initialized",
    "get_streams_opened",
    "stale_answers",
    "mismatched_answers",
    "get_requests",
    "delete_requests",
    "canned_answers",
    "dropped_requests",
    "streams_paused",
    "streams_resumed",
    "connections_accepted",
)
#: The generated answers (``Behaviour.endless_sse_event``, ``oversized_json_bytes``) and what of
#: them was sent: ``<kind>_started``, ``<kind>_ended``, ``<kind>_bytes_sent``.
TALLIES = ("endless_events", "oversized_answers")
TALLY_FIELDS = tuple(f"{kind}_{part}" for kind in TALLIES for part in ("started", "ended", "bytes_sent"))
_INT_FIELDS = (*COUNTERS, *TALLY_FIELDS, "live_sessions", "process_id", "restarts")


class RecordedRequest(NamedTuple):
    """One request as the server received it (``Behaviour.record_requests``): who saw which headers."""

    method: str
    path: str
    #: Header names lower-case; a repeated header's values joined with ``", "``.
    headers: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        """``{"method": …, "path": …, "headers": {…}}``."""
        return {"method": self.method, "path": self.path, "headers": dict(self.headers)}

    @classmethod
    def from_json(cls, data: object) -> RecordedRequest:
        """Read :meth:`to_json`'s form back."""
        if not isinstance(data, Mapping) or not isinstance(data.get("headers"), Mapping):
            raise ValueError("expected a recorded request object")
        headers = MappingProxyType({str(key): str(value) for key, value in data["headers"].items()})
        return cls(str(data["method"]), str(data["path"]), headers)


@dataclass(frozen=True)
class ServerStats:
    """A snapshot of the server's counters since it (or its last in-process restart) started.

    ``restarts`` and ``process_id`` survive an in-process restart; everything else starts at zero.
    """

    #: Successful ``initialize`` requests (each created a session).
    initializes: int = 0
    #: Successful modern ``server/discover`` requests.
    discovers: int = 0
    #: Sessions created (including ones a non-sticky balancer forgot at once).
    sessions_created: int = 0
    #: Sessions ended by a ``DELETE``.
    sessions_deleted: int = 0
    #: ``notifications/initialized`` received on a live session.
    initialized_notifications: int = 0
    #: Requests served on a session before its ``notifications/initialized`` arrived.
    requests_before_initialized: int = 0
    #: Legacy GET event streams opened.
    get_streams_opened: int = 0
    #: Tool name → how many times the tool actually ran (counted before the answer is sent).
    tool_executions: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: JSON-RPC method → how many POSTs carried it, whatever the answer was.
    requests_by_method: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: Requests answered with the stale-session answer.
    stale_answers: int = 0
    #: ``tools/call`` answers sent with a JSON-RPC id that is not the request's.
    mismatched_answers: int = 0
    #: Endless SSE events started, ended (the client left, a write stalled, or the bound was
    #: hit) and the body bytes sent on them so far.
    endless_events_started: int = 0
    endless_events_ended: int = 0
    endless_events_bytes_sent: int = 0
    #: Oversized JSON answers started, ended (sent whole or abandoned) and their body bytes sent.
    oversized_answers_started: int = 0
    oversized_answers_ended: int = 0
    oversized_answers_bytes_sent: int = 0
    #: GET and DELETE requests received on the MCP path(s), whatever answered them (a canned
    #: answer, the stale answer, a stream).
    get_requests: int = 0
    delete_requests: int = 0
    #: Answers sent by ``Behaviour.answer_status_for_all`` or one of its ``answer_rules``.
    canned_answers: int = 0
    #: Requests an ``AnswerRule`` without an answer dropped (the connection closed, nothing sent).
    dropped_requests: int = 0
    #: When each ``initialize`` POST arrived on the MCP path(s), whatever answered it, as the
    #: server process's ``time.monotonic()`` (on Linux the same clock as the test's), oldest
    #: first; the last :data:`MAX_INITIALIZE_TIMES` only.
    initialize_times: tuple[float, ...] = ()
    #: Response streams paused after a priming event (``Behaviour.pause_tool_responses``), and GETs
    #: that resumed one with its ``Last-Event-ID`` (the answer followed).
    streams_paused: int = 0
    streams_resumed: int = 0
    #: When each paused stream was ended and each resuming GET arrived (``time.monotonic()``, as
    #: ``initialize_times``).
    pause_times: tuple[float, ...] = ()
    resume_times: tuple[float, ...] = ()
    #: TCP connections the server accepted (a client that reuses its connections opens few).
    connections_accepted: int = 0
    #: The last ``Behaviour.record_requests`` requests received, oldest first.
    recorded_requests: tuple[RecordedRequest, ...] = ()
    #: Sessions the server holds now.
    live_sessions: int = 0
    #: The serving process (changes only with a real process restart).
    process_id: int = field(default_factory=os.getpid)
    #: In-process restarts since the server started.
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` reads it back."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _INT_FIELDS}
        data["tool_executions"] = dict(self.tool_executions)
        data["requests_by_method"] = dict(self.requests_by_method)
        data["initialize_times"] = list(self.initialize_times)
        data["pause_times"] = list(self.pause_times)
        data["resume_times"] = list(self.resume_times)
        data["recorded_requests"] = [request.to_json() for request in self.recorded_requests]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerStats:
        """Rebuild the snapshot a control endpoint sent; unknown keys are ignored (newer servers)."""
        ints = {name: int(data[name]) for name in _INT_FIELDS if name in data}
        return cls(
            **ints,
            tool_executions=_counts(data.get("tool_executions", {})),
            requests_by_method=_counts(data.get("requests_by_method", {})),
            initialize_times=tuple(float(moment) for moment in data.get("initialize_times", ())),
            pause_times=tuple(float(moment) for moment in data.get("pause_times", ())),
            resume_times=tuple(float(moment) for moment in data.get("resume_times", ())),
            recorded_requests=tuple(RecordedRequest.from_json(entry) for entry in data.get("recorded_requests", ())),
        )

    @property
    def sessions_open(self) -> int:
        """Sessions created and not ended by a ``DELETE``: what clients left behind.

        Unlike ``live_sessions`` it still counts a session the server forgot (expired, or a
        balancer without affinity): a client that abandons a session should DELETE it.
        """
        return self.sessions_created - self.sessions_deleted


def _counts(value: object) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise ValueError("expected an object of counts")
    return MappingProxyType({str(key): int(count) for key, count in value.items()})


def frozen_counts(counter: Counter[str]) -> Mapping[str, int]:
    """A read-only copy of a live counter, so a snapshot never changes under the test."""
    return MappingProxyType(dict(counter))
