"""The classifier: what one failed (or answered) exchange means for the session.

Pure: it looks at what was sent (era, method, whether a session id went with it) and at what came
back (a transport failure and how far the request got, or an HTTP status with its headers and a
small body), and names one :class:`Signal`. It never reads a streamed body; callers pass at most
the first :data:`BODY_LIMIT` bytes of a JSON body.

What real servers send for a lost session varies (404 with -32600, -32001 or -32603, 404 plain
text, 404 ``{"error": ...}``, older Python servers 400 "No valid session ID"), so the primary rule
keys on the status alone: a legacy 404 to a request that carried the session id is SESSION_GONE,
whatever the body. The 400 and 410 variants are opt-in.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .states import Era, Signal

__all__ = [
    "BODY_LIMIT",
    "FAILURE_WORDS",
    "UNTREATED_LOSS",
    "Classification",
    "ClassifierOptions",
    "Exchange",
    "HttpAnswer",
    "Progress",
    "TransportFailure",
    "TransportFailureKind",
    "classify",
    "exchange_of",
    "refuses_credentials",
]

#: The statuses that refuse the client's credentials: its own to renew (its auth flow reads them).
_CREDENTIAL_REFUSALS = frozenset({401, 403})

#: The most body bytes the classifier looks at.
BODY_LIMIT = 65536

#: JSON-RPC codes the 2026-07-28 specification reserves: only a modern server sends them.
_UNSUPPORTED_PROTOCOL_VERSION = -32022
_HEADER_MISMATCH = -32020
_METHOD_NOT_FOUND = -32601
_MODERN_CODES = range(-32099, -32019)

#: Wording that servers use when they want a session we do not have.
_SESSION_WORDING = re.compile(r"session|not initiali[sz]ed", re.IGNORECASE)
#: Wording of a sessionless server that misses the per-request envelope a legacy request lacks.
_ENVELOPE_WORDING = re.compile(r"_meta|protocolVersion|clientCapabilities")


class Progress(enum.Enum):
    """How far a request got before its transport failed."""

    #: Nothing was written: the connection was never made.
    NOT_SENT = "not_sent"
    #: The request was (or may have been) written; no response headers arrived.
    SENT = "sent"
    #: Response headers arrived, then the body stream broke.
    STREAMING = "streaming"


class TransportFailureKind(enum.Enum):
    """The transport errors the classifier tells apart."""

    CONNECT_REFUSED = "connect_refused"
    NAME_RESOLUTION = "name_resolution"
    CONNECT_TIMEOUT = "connect_timeout"
    WRITE_TIMEOUT = "write_timeout"
    READ_TIMEOUT = "read_timeout"
    CONNECTION_RESET = "connection_reset"
    STREAM_CUT = "stream_cut"
    PROTOCOL_ERROR = "protocol_error"
    #: An answer arrived that is not valid HTTP (a header with a bare CR, LF or NUL, say): the
    #: server may have acted; a server that answers a negotiation so cannot be spoken to.
    MALFORMED_ANSWER = "malformed_answer"


#: Each transport failure in a caller's words (what a status line and an error message say).
FAILURE_WORDS: Mapping[TransportFailureKind, str] = MappingProxyType(
    {
        TransportFailureKind.CONNECT_REFUSED: "connection refused",
        TransportFailureKind.NAME_RESOLUTION: "the name did not resolve",
        TransportFailureKind.CONNECT_TIMEOUT: "connecting timed out",
        TransportFailureKind.WRITE_TIMEOUT: "sending timed out",
        TransportFailureKind.READ_TIMEOUT: "no answer in time",
        TransportFailureKind.CONNECTION_RESET: "the connection was reset",
        TransportFailureKind.STREAM_CUT: "the answer's stream was cut",
        TransportFailureKind.PROTOCOL_ERROR: "the answer broke the HTTP protocol",
        TransportFailureKind.MALFORMED_ANSWER: "the answer was not valid HTTP",
    }
)

_CONNECT_PHASE = frozenset(
    {TransportFailureKind.CONNECT_REFUSED, TransportFailureKind.NAME_RESOLUTION, TransportFailureKind.CONNECT_TIMEOUT}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Exchange:
    """What was sent."""

    era: Era
    method: str
    carried_session_id: bool = False

    def __post_init__(self) -> None:
        if self.era is Era.MODERN and self.carried_session_id:
            raise ValueError("a modern request never carries a session id")


@functools.lru_cache(maxsize=512)
def exchange_of(era: Era, method: str, carried_session_id: bool) -> Exchange:
    """The (immutable) :class:`Exchange` for these facts, built once and shared."""
    return Exchange(era=era, method=method, carried_session_id=carried_session_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailure:
    """No HTTP answer: the transport failed after the request got as far as ``progress``."""

    kind: TransportFailureKind
    progress: Progress


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAnswer:
    """An HTTP answer: status, headers, and the first bytes of a non-streamed body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    body: bytes = b""

    def __post_init__(self) -> None:
        # HTTP/1.1's grammar allows any three digits; what the classifier does not know is
        # passed through, and the caller gets ``UnexpectedAnswer``.
        if isinstance(self.status, bool) or not isinstance(self.status, int) or not 0 <= self.status <= 999:
            raise ValueError(f"not an HTTP status: {self.status!r}")
        object.__setattr__(self, "body", bytes(self.body[:BODY_LIMIT]))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassifierOptions:
    """Opt-in signals some servers send for a lost session."""

    #: Treat 400 "no valid session / not initialized" to a request that carried an id as
    #: SESSION_GONE (mcp <= 1.25 servers and some proxies answer that way).
    session_gone_on_400: bool = False
    #: Treat 410 Gone to a request that carried an id as SESSION_GONE.
    session_gone_on_410: bool = False


#: The reasons of answers a server may mean as a lost session that the defaults pass through to the
#: caller, and the :class:`ClassifierOptions` field that makes each one a lost session.
REFUSED_SESSION_400 = "the server refused the session (HTTP 400): not a lost session by default"
GONE_410 = "HTTP 410 Gone to a request of the session: not a lost session by default"
UNTREATED_LOSS: Mapping[str, str] = MappingProxyType(
    {REFUSED_SESSION_400: "session_gone_on_400", GONE_410: "session_gone_on_410"}
)


@dataclass(frozen=True, slots=True)
class Classification:
    """The signal, why it was chosen (in a caller's words: "server unreachable: connection refused"),
    and the JSON-RPC error code seen (if any)."""

    signal: Signal
    reason: str
    jsonrpc_code: int | None = None


def classify(
    exchange: Exchange,
    answer: HttpAnswer | TransportFailure,
    options: ClassifierOptions = ClassifierOptions(),
) -> Classification:
    """Name the signal for one exchange's answer."""
    if isinstance(answer, TransportFailure):
        return _classify_failure(answer)
    if 200 <= answer.status < 300 and not (exchange.era is Era.MODERN and exchange.method == "server/discover"):
        return _PASSED[answer.status]  # a success: its body is the caller's, nothing to read here
    code, message = _jsonrpc_error(answer.body)
    return _classify_status(exchange, answer.status, code, message, options)


_PASSED = {status: Classification(Signal.PASS_THROUGH, f"HTTP {status}") for status in range(200, 300)}


def _classify_failure(failure: TransportFailure) -> Classification:
    words = FAILURE_WORDS.get(failure.kind, failure.kind.value)
    if failure.kind in _CONNECT_PHASE or failure.progress is Progress.NOT_SENT:
        return Classification(Signal.UNREACHABLE, f"server unreachable: {words}")
    return Classification(Signal.OUTCOME_UNKNOWN, f"answer lost after sending: {words}")


def _classify_status(
    exchange: Exchange, status: int, code: int | None, message: str, options: ClassifierOptions
) -> Classification:
    legacy_with_id = exchange.era is Era.LEGACY and exchange.carried_session_id
    wants_session = bool(_SESSION_WORDING.search(message))
    probing = exchange.era is Era.MODERN and exchange.method == "server/discover"

    def signal(sig: Signal, reason: str) -> Classification:
        return Classification(sig, reason, code)

    if 200 <= status < 300:
        if probing and code is not None:
            return signal(Signal.ERA_CHANGED, "server/discover answered with an error: not a modern server")
        return signal(Signal.PASS_THROUGH, f"HTTP {status}")
    if code == _UNSUPPORTED_PROTOCOL_VERSION:
        return signal(Signal.ERA_CHANGED, "the server does not support our protocol version")
    if status == 404:
        if legacy_with_id:
            return signal(Signal.SESSION_GONE, "session expired on the server (HTTP 404)")
        if code == _METHOD_NOT_FOUND:
            if exchange.era is Era.LEGACY and exchange.method == "initialize":
                return signal(Signal.ERA_CHANGED, "the server does not know initialize: not a legacy server")
            return signal(Signal.PASS_THROUGH, "unknown method")
        if exchange.era is Era.MODERN and wants_session:
            return signal(Signal.ERA_CHANGED, "the server wants a session: it speaks the legacy era")
        if code is None:
            return signal(Signal.UNREACHABLE, "server unreachable: HTTP 404 with no sign of an MCP server")
        if probing:
            return signal(Signal.ERA_CHANGED, "server/discover refused: not a modern server")
        return signal(Signal.PASS_THROUGH, "404 from an MCP server")
    if status == 400:
        if code == _HEADER_MISMATCH:
            return signal(Signal.PASS_THROUGH, "header mismatch: a bug in the request, not the session")
        if wants_session:
            if exchange.era is Era.MODERN:
                return signal(Signal.ERA_CHANGED, "the server wants a session: it speaks the legacy era")
            if not exchange.carried_session_id:
                return signal(Signal.SESSION_GONE, "the server now requires a session (HTTP 400)")
            if options.session_gone_on_400:
                return signal(Signal.SESSION_GONE, "session expired on the server (HTTP 400)")
        if exchange.era is Era.LEGACY and exchange.carried_session_id and _ENVELOPE_WORDING.search(message):
            return signal(Signal.ERA_CHANGED, "the server wants the sessionless envelope: it speaks the modern era")
        if probing and (code is None or code not in _MODERN_CODES):
            return signal(Signal.ERA_CHANGED, "server/discover refused without a modern error: not a modern server")
        if wants_session and exchange.carried_session_id:
            return signal(Signal.PASS_THROUGH, REFUSED_SESSION_400)
        return signal(Signal.PASS_THROUGH, "400 Bad Request")
    if status == 410 and legacy_with_id:
        if options.session_gone_on_410:
            return signal(Signal.SESSION_GONE, "session expired on the server (HTTP 410)")
        return signal(Signal.PASS_THROUGH, GONE_410)
    if status in (502, 503):
        return signal(Signal.UNREACHABLE, f"server unreachable: the gateway answered HTTP {status}")
    if status == 504:
        return signal(Signal.OUTCOME_UNKNOWN, "answer lost: the gateway gave up waiting (HTTP 504)")
    return signal(Signal.PASS_THROUGH, f"HTTP {status}")


def _jsonrpc_error(body: bytes) -> tuple[int | None, str]:
    """The JSON-RPC error code and message in ``body``; ``(None, text)`` when there is none.

    Tolerates anything: plain text, invalid UTF-8, ``{"error": "text"}``, non-object JSON.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text.startswith("{"):
        return None, text
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None, text
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            message if isinstance(message, str) else "",
        )
    if isinstance(error, str):
        return None, error
    return None, text


def refuses_credentials(status: int) -> bool:
    """Whether an answer with ``status`` refuses the client's credentials (401, 403).

    Such an answer belongs to the client whatever it answers: the client's auth flow renews the
    credentials and sends the request again. Nothing of the library's can fix them.
    """
    return status in _CREDENTIAL_REFUSALS
