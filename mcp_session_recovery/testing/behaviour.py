"""What the test server does: eras, stale-session answers, response style and the faults.

Pure configuration (no I/O), so the same values travel from a test to an in-process server, to a
subprocess's command line and over the ``/_control/configure`` endpoint as JSON. Every value is
validated when it is built: a misconfigured fault would otherwise show up as a confusing test
failure far away from its cause.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar, Unpack

from .canned import (
    MAX_RULES,
    AnswerRule,
    CannedAnswer,
    canned,
    canned_from_json,
    canned_to_json,
    header_value,
    rule,
    rule_from_json,
    rule_to_json,
)

__all__ = [
    "LEGACY_PROTOCOL_VERSIONS",
    "LEGACY_VERSION_LATEST",
    "MAX_RECORDED_REQUESTS",
    "MODERN_PROTOCOL_VERSION",
    "SERVER_NAME",
    "AnswerRule",
    "Behaviour",
    "BehaviourChanges",
    "CannedAnswer",
    "ResponseStyle",
    "ServedEra",
    "StaleStyle",
    "changes_from_json",
    "changes_to_json",
]

#: The handshake-era protocol versions the server accepts in ``initialize``, oldest first.
LEGACY_PROTOCOL_VERSIONS: tuple[str, ...] = ("2025-03-26", "2025-06-18", "2025-11-25")
#: What ``initialize`` answers when the client asked for a version the server does not know.
LEGACY_VERSION_LATEST = "2025-11-25"
#: The one sessionless protocol version the server speaks.
MODERN_PROTOCOL_VERSION = "2026-07-28"
#: ``serverInfo.name`` in every era.
SERVER_NAME = "mcp-session-recovery-testing"

_E = TypeVar("_E", bound=enum.Enum)

#: Upper bound for ``slow_seconds`` and the ``slow`` tool's argument: a test must not wait forever.
MAX_SLOW_SECONDS = 300.0
#: Upper bound for ``oversized_json_bytes`` (the body is generated while it is sent, never held).
MAX_OVERSIZED_JSON_BYTES = 1 << 34
#: Upper bound for ``record_requests`` (each recorded request holds all its headers).
MAX_RECORDED_REQUESTS = 1000


class ServedEra(enum.Enum):
    """A protocol era the server answers in; a server may serve one or both."""

    #: Handshake era (2025-03-26 … 2025-11-25): ``initialize``, ``Mcp-Session-Id``, GET streams.
    LEGACY = "legacy"
    #: Sessionless era (2026-07-28): ``_meta`` on every request, ``server/discover``.
    MODERN = "modern"


class StaleStyle(enum.Enum):
    """How a request carrying an unknown (stale) session id is answered; each is a real server's."""

    #: MCP Python SDK 2.x: 404, ``application/json``, JSON-RPC -32600 "Session not found".
    SDK_PYTHON = "sdk_python"
    #: MCP TypeScript and C# SDKs: 404, JSON, JSON-RPC -32001 "Session not found".
    SDK_TYPESCRIPT = "sdk_typescript"
    #: Go SDK (``http.Error``): 404, ``text/plain``, ``session not found``.
    PLAIN_TEXT = "plain_text"
    #: Hand-written servers seen in the wild: 404, JSON, ``{"error": "Not Found: invalid session ID"}``.
    ERROR_STRING = "error_string"
    #: Older servers: 400, ``text/plain``, ``Bad Request: No valid session ID provided``.
    LEGACY_400 = "legacy_400"


class ResponseStyle(enum.Enum):
    """How a POST that carries a JSON-RPC request is answered."""

    #: One ``application/json`` body with a content-length.
    JSON = "json"
    #: A ``text/event-stream`` with one ``message`` event, then the end of the stream (the SDK default).
    SSE = "sse"


@dataclass(frozen=True)
class Behaviour:
    """The whole configuration of a test server; every field can be changed while it runs.

    Replace it with :meth:`replace` (or ``TestServer.configure``), never by mutation, so a
    request sees one consistent configuration from start to end.
    """

    #: Which eras the server speaks. Both: routed by the ``mcp-protocol-version`` header.
    eras: frozenset[ServedEra] = frozenset({ServedEra.LEGACY})
    #: The answer to a request carrying an unknown session id.
    stale_style: StaleStyle = StaleStyle.SDK_PYTHON
    #: JSON or SSE answers to requests.
    response_style: ResponseStyle = ResponseStyle.SSE
    #: A load balancer without session affinity: each session is forgotten as soon as it is created.
    forget_sessions_after_initialize: bool = False
    #: The next N ``tools/call`` requests run their tool, then lose the connection mid-answer (JSON:
    #: after the headers; SSE: after a comment and the first half of the answer's event).
    cut_tool_responses: int = 0
    #: The ``slow`` tool's default duration in seconds.
    slow_seconds: float = 1.0
    #: The next N legacy ``tools/call`` requests run their tool, then answer a ``text/event-stream``
    #: that carries only a priming event (``id``, ``retry: pause_retry_ms``, empty data) and ends
    #: (SEP-1699): the answer waits in the session for a GET with that ``Last-Event-ID``.
    pause_tool_responses: int = 0
    #: The ``retry`` value of those priming events, in milliseconds.
    pause_retry_ms: int = 500
    #: While set, every request gets this answer and nothing else happens (a gateway, backend down).
    answer_status_for_all: CannedAnswer | None = None
    #: While set, every ``tools/call`` runs its tool, then answers 200 ``text/event-stream`` with one
    #: event that never ends: ``data:`` lines and never the blank line that would end it. It stops
    #: when the client leaves, a write stalls for 30 s, or after 2 GiB (then the connection drops).
    endless_sse_event: bool = False
    #: Not 0: every ``tools/call`` answers ``application/json`` (whatever ``response_style``), a valid
    #: JSON-RPC response with a content-length of this many bytes (more only if the real answer is
    #: longer), padded in ``result._meta.padding`` (``error.data.padding`` for an error), generated
    #: while it is sent.
    oversized_json_bytes: int = 0
    #: While set, every ``tools/call`` answers (in ``response_style``) with a JSON-RPC id that is not
    #: the request's: an integer id + 1000, a string id + ``"-mismatched"``.
    mismatched_response_id: bool = False
    #: Canned answers for chosen requests on the MCP path (and only the next N, if counted):
    #: the first rule that matches answers (``AnswerRule``); checked after ``answer_status_for_all``.
    answer_rules: tuple[AnswerRule, ...] = ()
    #: More paths the MCP endpoint is served at, with the same sessions (a same-origin redirect's
    #: target, or ``/mcp/`` next to ``/mcp``). ``answer_rules`` do not apply there.
    path_aliases: frozenset[str] = frozenset()
    #: While set, every ``initialize`` issues exactly this ``Mcp-Session-Id`` (any Latin-1 text:
    #: a bare CR, LF or NUL, 60 KB …, written as raw bytes when h11 refuses it) and keeps the new
    #: session under it, so a client that sends it back is in that session.
    issued_session_id: str | None = None
    #: While set, error answers the server builds (JSON-RPC error messages, ``{"error": …}``
    #: strings, plain-text error bodies) and tool results (an extra text item) repeat the
    #: request's ``Mcp-Session-Id`` and ``Authorization`` values verbatim.
    echo_secrets: bool = False
    #: Not 0: the server keeps the method, path and headers of the last N requests it received
    #: (``ServerStats.recorded_requests``, control requests excepted): a second origin's witness.
    record_requests: int = 0

    def __post_init__(self) -> None:
        eras = frozenset(self.eras)
        if not eras or not all(isinstance(era, ServedEra) for era in eras):
            raise ValueError(f"eras must be a non-empty set of ServedEra, got {self.eras!r}")
        object.__setattr__(self, "eras", eras)
        if not isinstance(self.stale_style, StaleStyle):
            raise ValueError(f"stale_style must be a StaleStyle, got {self.stale_style!r}")
        if not isinstance(self.response_style, ResponseStyle):
            raise ValueError(f"response_style must be a ResponseStyle, got {self.response_style!r}")
        if not isinstance(self.forget_sessions_after_initialize, bool):
            raise ValueError("forget_sessions_after_initialize must be a bool")
        if isinstance(self.cut_tool_responses, bool) or not isinstance(self.cut_tool_responses, int):
            raise ValueError(f"cut_tool_responses must be an int, got {self.cut_tool_responses!r}")
        if self.cut_tool_responses < 0:
            raise ValueError("cut_tool_responses must not be negative")
        for name, bound in (("pause_tool_responses", 1 << 20), ("pause_retry_ms", 60_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= bound:
                raise ValueError(f"{name} must be an int in 0..{bound}, got {value!r}")
        _check_seconds(self.slow_seconds, "slow_seconds")
        object.__setattr__(self, "slow_seconds", float(self.slow_seconds))
        if self.answer_status_for_all is not None:
            object.__setattr__(self, "answer_status_for_all", canned(self.answer_status_for_all))
        for flag in ("endless_sse_event", "mismatched_response_id", "echo_secrets"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        size = self.oversized_json_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_OVERSIZED_JSON_BYTES:
            raise ValueError(f"oversized_json_bytes must be an int in 0..{MAX_OVERSIZED_JSON_BYTES}, got {size!r}")
        self._check_hostile()

    def _check_hostile(self) -> None:
        rules = self.answer_rules
        if isinstance(rules, AnswerRule) or not isinstance(rules, tuple | list) or len(rules) > MAX_RULES:
            raise ValueError(f"answer_rules must be a sequence of at most {MAX_RULES} AnswerRule values")
        object.__setattr__(self, "answer_rules", tuple(rule(value) for value in rules))
        aliases = [self.path_aliases] if isinstance(self.path_aliases, str) else self.path_aliases
        if not isinstance(aliases, Iterable) or not all(_is_alias(path) for path in aliases):
            raise ValueError(f"path_aliases must be paths starting with '/' (not /_control/), got {aliases!r}")
        object.__setattr__(self, "path_aliases", frozenset(aliases))
        if self.issued_session_id is not None:
            header_value(self.issued_session_id, "issued_session_id")
        count = self.record_requests
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_RECORDED_REQUESTS:
            raise ValueError(f"record_requests must be an int in 0..{MAX_RECORDED_REQUESTS}, got {count!r}")

    def replace(self, **changes: Unpack[BehaviourChanges]) -> Behaviour:
        """A copy with ``changes`` applied and validated (unknown names raise ``ValueError``)."""
        names = {field.name for field in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        values: dict[str, Any] = {name: getattr(self, name) for name in names}
        values.update(changes)
        return Behaviour(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON form :func:`changes_from_json` reads back (enums by their lower-case value)."""
        canned = self.answer_status_for_all
        return {
            "eras": sorted(era.value for era in self.eras),
            "stale_style": self.stale_style.value,
            "response_style": self.response_style.value,
            "forget_sessions_after_initialize": self.forget_sessions_after_initialize,
            "cut_tool_responses": self.cut_tool_responses,
            "slow_seconds": self.slow_seconds,
            "pause_tool_responses": self.pause_tool_responses,
            "pause_retry_ms": self.pause_retry_ms,
            "answer_status_for_all": None if canned is None else canned_to_json(canned),
            "endless_sse_event": self.endless_sse_event,
            "oversized_json_bytes": self.oversized_json_bytes,
            "mismatched_response_id": self.mismatched_response_id,
            "answer_rules": [rule_to_json(value) for value in self.answer_rules],
            "path_aliases": sorted(self.path_aliases),
            "issued_session_id": self.issued_session_id,
            "echo_secrets": self.echo_secrets,
            "record_requests": self.record_requests,
        }


class BehaviourChanges(TypedDict, total=False):
    """Keyword arguments accepted by ``configure``: any subset of :class:`Behaviour`'s fields."""

    eras: Iterable[ServedEra]
    stale_style: StaleStyle
    response_style: ResponseStyle
    forget_sessions_after_initialize: bool
    cut_tool_responses: int
    pause_tool_responses: int
    pause_retry_ms: int
    slow_seconds: float
    answer_status_for_all: CannedAnswer | tuple[int, str, bytes | str] | None
    endless_sse_event: bool
    oversized_json_bytes: int
    mismatched_response_id: bool
    answer_rules: Sequence[AnswerRule]
    path_aliases: Iterable[str]
    issued_session_id: str | None
    echo_secrets: bool
    record_requests: int


def changes_from_json(data: object) -> BehaviourChanges:
    """Read a JSON object of configure fields (enums by lower-case value) into typed changes.

    Raises ``ValueError`` naming the offending field, so a control client gets a useful 400.
    """
    if not isinstance(data, Mapping):
        raise ValueError("the configuration must be a JSON object")
    changes: BehaviourChanges = {}
    for key, value in data.items():
        if key == "eras":
            names = value.split(",") if isinstance(value, str) else value
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise ValueError("eras must be a list of era names or a comma-separated string")
            changes["eras"] = frozenset(_enum(ServedEra, name.strip(), key) for name in names)
        elif key == "stale_style":
            changes["stale_style"] = _enum(StaleStyle, value, key)
        elif key == "response_style":
            changes["response_style"] = _enum(ResponseStyle, value, key)
        elif key in ("forget_sessions_after_initialize", "endless_sse_event", "mismatched_response_id", "echo_secrets"):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            if key == "forget_sessions_after_initialize":
                changes["forget_sessions_after_initialize"] = value
            elif key == "endless_sse_event":
                changes["endless_sse_event"] = value
            elif key == "echo_secrets":
                changes["echo_secrets"] = value
            else:
                changes["mismatched_response_id"] = value
        elif key in (
            "cut_tool_responses",
            "oversized_json_bytes",
            "record_requests",
            "pause_tool_responses",
            "pause_retry_ms",
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key} must be an integer")
            if key == "pause_tool_responses":
                changes["pause_tool_responses"] = value
            elif key == "pause_retry_ms":
                changes["pause_retry_ms"] = value
            elif key == "cut_tool_responses":
                changes["cut_tool_responses"] = value
            elif key == "record_requests":
                changes["record_requests"] = value
            else:
                changes["oversized_json_bytes"] = value
        elif key == "slow_seconds":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            changes["slow_seconds"] = float(value)
        elif key == "answer_status_for_all":
            changes["answer_status_for_all"] = None if value is None else canned_from_json(value)
        elif key == "answer_rules":
            if not isinstance(value, list) or len(value) > MAX_RULES:
                raise ValueError(f"answer_rules must be a list of at most {MAX_RULES} rule objects")
            changes["answer_rules"] = tuple(rule_from_json(entry) for entry in value)
        elif key == "path_aliases":
            paths = value.split(",") if isinstance(value, str) else value
            if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
                raise ValueError("path_aliases must be a list of paths or a comma-separated string")
            changes["path_aliases"] = frozenset(path.strip() for path in paths if path.strip())
        elif key == "issued_session_id":
            if not isinstance(value, str | None):
                raise ValueError("issued_session_id must be a string or null")
            changes["issued_session_id"] = value
        else:
            raise ValueError(f"unknown behaviour field: {key!r}")
    return changes


def changes_to_json(changes: BehaviourChanges) -> dict[str, Any]:
    """The JSON form of ``changes`` for ``/_control/configure`` (validated first)."""
    full = Behaviour().replace(**changes).to_json()
    return {key: full[key] for key in changes}


def _enum(kind: type[_E], value: object, field: str) -> _E:
    if isinstance(value, str):
        for member in kind:
            if member.value == value.lower():
                return member
    choices = ", ".join(str(member.value) for member in kind)
    raise ValueError(f"{field} must be one of {choices}, got {value!r}")


def _check_seconds(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not 0 <= value <= MAX_SLOW_SECONDS:
        raise ValueError(f"{name} must be between 0 and {MAX_SLOW_SECONDS}, got {value!r}")


def _is_alias(path: object) -> bool:
    return isinstance(path, str) and path.startswith("/") and not path.startswith("/_control/") and path.isascii()
