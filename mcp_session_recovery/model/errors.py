"""The library's errors.

::

    McpSessionError                   abstract: catch this for everything the library raises
    ├── IllegalTransition             the table has no row for this event in this state (.state, .event)
    ├── MalformedSessionId            a server sent an id outside visible ASCII or too long (also a ValueError)
    ├── SessionClosed                 the session was closed by its owner
    ├── RecoveryFailed                recovery gave up for now (.attempts, .last_signal, .hint)
    │   └── SessionNotKept            new sessions were lost, one after another, before any was used (.losses)
    ├── ConnectTimedOut               connect() outlasted its timeout (.timeout, .last_signal, .cause)
    ├── RemoteError                   the server answered the request with a JSON-RPC error (.code, .message, .data)
    ├── UnexpectedAnswer              the server answered with something that is not JSON-RPC (.status, .detail)
    │   ├── AnswerTooLarge            the answer crossed a read limit; nothing more was read (.limit, .bound)
    │   ├── MismatchedResponse        the JSON-RPC response names another request's id
    │   └── RedirectRefused           a redirect the library does not follow (another origin, 301/302/303)
    ├── RequestFailed                 abstract: one request could not be completed (.request_id, .method)
    │   ├── OutcomeUnknown            its answer was lost and replaying it is not safe (.signal)
    │   ├── ReplayForbidden           lost unprocessed, but the policy never re-sends it (.signal)
    │   ├── ReplayLimitExceeded       lost again after max_replays re-sends (.replays, .last_signal, .hint)
    │   ├── DeadlineExceeded          its deadline passed while it was in .state
    │   └── RequestCancelled          its caller gave up
    └── SessionUnusable               abstract: the session is FAILED; no retry can fix it
        ├── NoCommonProtocolVersion   (.offered, .supported)
        ├── InitializeRejected        the server refused our ``initialize`` (.code, .detail)
        ├── CredentialsRejected       the server refused our credentials while we negotiated (.status)
        └── ProtocolViolation         the server broke the protocol while we negotiated (.detail)

No message ever contains a session id or a credential.
"""

from __future__ import annotations

from typing import Any

from .states import Signal, State

__all__ = [
    "MAX_SESSION_ID_LENGTH",
    "AnswerTooLarge",
    "ConnectTimedOut",
    "CredentialsRejected",
    "DeadlineExceeded",
    "IllegalTransition",
    "InitializeRejected",
    "MalformedSessionId",
    "McpSessionError",
    "MismatchedResponse",
    "NoCommonProtocolVersion",
    "OutcomeUnknown",
    "ProtocolViolation",
    "RecoveryFailed",
    "RedirectRefused",
    "RemoteError",
    "ReplayForbidden",
    "ReplayLimitExceeded",
    "RequestCancelled",
    "RequestFailed",
    "SessionClosed",
    "SessionNotKept",
    "SessionUnusable",
    "UnexpectedAnswer",
    "likely_cause",
]

_ABSTRACT: set[type[Exception]] = set()


class McpSessionError(Exception):
    """Base of every error the library raises. Abstract: raise a subclass."""

    def __new__(cls, *args: Any, **kwargs: Any) -> McpSessionError:
        if cls in _ABSTRACT:
            raise TypeError(f"{cls.__name__} is abstract; raise one of its subclasses")
        return super().__new__(cls, *args, **kwargs)

    # Errors travel inside effects, which are values: two errors are equal when they say the same.
    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, McpSessionError)
        return self.args == other.args and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), self.args))


_ABSTRACT.add(McpSessionError)


def likely_cause(signal: Signal | None) -> str:
    """A human sentence naming what most often produces repeated ``signal`` failures."""
    if signal is Signal.SESSION_GONE:
        return (
            "the server dropped each new session at once: a balancer without session affinity, "
            "or a server that forgets sessions at once"
        )
    if signal is Signal.UNREACHABLE:
        return "the server, or a proxy in front of it, did not answer: it is down or restarting"
    if signal is Signal.ERA_CHANGED:
        return "the server keeps changing protocol era: a rolling deploy mixing versions?"
    if signal is Signal.OUTCOME_UNKNOWN:
        return "answers were lost in transit: connections reset or streams cut"
    return "no failure was recorded"


class IllegalTransition(McpSessionError):
    """An event arrived that the transition table does not accept in the current state.

    This is a bug in the caller of the model (the runtime or an adapter), not a remote failure.
    The model is left exactly as it was.
    """

    def __init__(self, state: State, event: object, reason: str = "") -> None:
        self.state = state
        self.event = event
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(f"event {type(event).__name__} is not accepted in state {state.name}{detail}")


#: The longest session id accepted, in characters: a session id travels with every request, and
#: real ones (UUIDs, hashes, JWTs) are far shorter.
MAX_SESSION_ID_LENGTH = 4096


class MalformedSessionId(McpSessionError, ValueError):
    """A session id that is empty, longer than :data:`MAX_SESSION_ID_LENGTH`, or holds a character
    outside visible ASCII (0x21-0x7E).

    The offending value is not kept: only its length and the first bad position.
    """

    def __init__(self, length: int, position: int | None) -> None:
        self.length = length
        self.position = position
        if position is not None:
            where = f"character {position} is not visible ASCII"
        elif length > MAX_SESSION_ID_LENGTH:
            where = f"longer than {MAX_SESSION_ID_LENGTH} characters"
        else:
            where = "it is empty"
        super().__init__(f"malformed session id ({length} characters): {where}")


class SessionClosed(McpSessionError):
    """The session was closed by its owner; nothing more is sent."""

    def __init__(self) -> None:
        super().__init__("the session is closed")


class RecoveryFailed(McpSessionError):
    """Recovery gave up after ``attempts`` failed negotiations.

    The session is not dead: the next request starts a new round of recovery.
    """

    def __init__(self, attempts: int, last_signal: Signal | None) -> None:
        self.attempts = attempts
        self.last_signal = last_signal
        self.hint = likely_cause(last_signal)
        name = last_signal.name if last_signal else "none"
        super().__init__(f"recovery failed after {attempts} attempt(s), last signal {name}; likely cause: {self.hint}")


class SessionNotKept(RecoveryFailed):
    """``losses`` new sessions in a row were lost before any of their requests was answered.

    Waiting cannot help: a server that keeps no session it hands out (a balancer without session
    affinity sends each request to another backend, or the server forgets sessions at once) loses
    the next one too. Like :class:`RecoveryFailed`, the session is not dead: the next request (or
    ``connect()``) tries again, in case the deployment was fixed.
    """

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.attempts = losses
        self.last_signal = Signal.SESSION_GONE
        self.hint = (
            "likely a balancer without session affinity, or a server that forgets sessions at once; "
            "try: turn on session affinity at the balancer (sticky sessions, keyed on the "
            "Mcp-Session-Id header or the client address), point the client at one server instance, "
            "or run the server without sessions (stateless)"
        )
        McpSessionError.__init__(
            self,
            f"the server lost {losses} new sessions in a row before answering any of their requests; {self.hint}",
        )


class ConnectTimedOut(McpSessionError):
    """``connect()`` did not get a live session within ``timeout`` seconds.

    ``last_signal`` is the last failure the session met (``None``: the server has not answered
    yet), and ``cause`` says it in words (a refused connection, a gateway's 502, no answer, ...).
    """

    def __init__(self, timeout: float, last_signal: Signal | None, cause: str) -> None:
        self.timeout = timeout
        self.last_signal = last_signal
        self.cause = cause
        super().__init__(
            f"the connection to the MCP server was not negotiated within {timeout:g} s; last cause: {cause}"
        )


class RemoteError(McpSessionError):
    """The server answered a request with a JSON-RPC error: an answer for the caller, not a fault."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"the server answered with error {code}: {message}")


class UnexpectedAnswer(McpSessionError):
    """The server answered with something that is not a JSON-RPC response (a status, a non-JSON body).

    ``detail`` holds at most the first 200 characters of the body.
    """

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail[:200]
        super().__init__(f"HTTP {status} without a JSON-RPC response: {self.detail!r}")


class AnswerTooLarge(UnexpectedAnswer):
    """An answer crossed one of the read limits (``limit`` names the ``ReadLimits`` field, ``bound``
    its value in bytes); the library stopped reading it, so memory stays bounded."""

    def __init__(self, status: int, limit: str, bound: int) -> None:
        self.limit = limit
        self.bound = bound
        McpSessionError.__init__(self, f"HTTP {status}: the answer crossed the read limit {limit} ({bound} bytes)")
        self.status = status
        self.detail = f"crossed {limit}"


class MismatchedResponse(UnexpectedAnswer):
    """The server's JSON-RPC response carries an id that is not the request's: it is refused, never
    handed to the caller as its result."""

    def __init__(self, status: int) -> None:
        McpSessionError.__init__(self, f"HTTP {status}: the JSON-RPC response names another request's id")
        self.status = status
        self.detail = "mismatched JSON-RPC id"


class RedirectRefused(UnexpectedAnswer):
    """The server redirected the request somewhere the library does not follow.

    Only 307 and 308 to the endpoint's own origin are followed (same method, same body): a session
    id, a protocol version and the client's credentials never go to another origin, and 301, 302
    and 303 would turn the POST into a GET. The target is not kept (it may carry a token).
    """

    def __init__(self, status: int) -> None:
        McpSessionError.__init__(
            self, f"HTTP {status}: redirect not followed (only 307/308 to the endpoint's own origin are)"
        )
        self.status = status
        self.detail = "redirect not followed"


class RequestFailed(McpSessionError):
    """One request could not be completed. Abstract."""

    def __init__(self, request_id: int, method: str, message: str) -> None:
        self.request_id = request_id
        self.method = method
        super().__init__(f"request {request_id} ({method}): {message}")


_ABSTRACT.add(RequestFailed)


class OutcomeUnknown(RequestFailed):
    """The request was sent, its answer was lost, and the replay policy forbids sending it again.

    The server may or may not have acted on it.
    """

    def __init__(self, request_id: int, method: str) -> None:
        self.signal = Signal.OUTCOME_UNKNOWN
        super().__init__(
            request_id,
            method,
            "the answer was lost after sending and the replay policy does not allow sending it "
            "again; the server may or may not have processed it",
        )


class ReplayForbidden(RequestFailed):
    """The request was lost without being processed, but the replay policy never re-sends it.

    This is what ``notifications/initialized`` and ``notifications/cancelled`` get after a lost
    session: a new session sends its own handshake, and a cancellation for the old one is moot.
    """

    def __init__(self, request_id: int, method: str, signal: Signal) -> None:
        self.signal = signal
        super().__init__(request_id, method, f"lost ({signal.name}); the replay policy never re-sends it")


class ReplayLimitExceeded(RequestFailed):
    """The request was lost again after ``replays`` re-sends."""

    def __init__(self, request_id: int, method: str, replays: int, last_signal: Signal) -> None:
        self.replays = replays
        self.last_signal = last_signal
        self.hint = likely_cause(last_signal)
        super().__init__(
            request_id,
            method,
            f"lost after {replays} re-send(s), last signal {last_signal.name}; likely cause: {self.hint}",
        )


class DeadlineExceeded(RequestFailed):
    """The request's deadline passed while the session was in ``state``."""

    def __init__(self, request_id: int, method: str, state: State) -> None:
        self.state = state
        super().__init__(request_id, method, f"deadline exceeded while the session was {state.name}")


class RequestCancelled(RequestFailed):
    """The request's caller gave up on it."""

    def __init__(self, request_id: int, method: str) -> None:
        super().__init__(request_id, method, "cancelled by its caller")


class SessionUnusable(McpSessionError):
    """The session is FAILED: a condition no retry can fix. Abstract."""


_ABSTRACT.add(SessionUnusable)


class NoCommonProtocolVersion(SessionUnusable):
    """The client and the server share no protocol version."""

    def __init__(self, offered: tuple[str, ...], supported: tuple[str, ...]) -> None:
        self.offered = offered
        self.supported = supported
        super().__init__(
            f"no common protocol version: we offered {list(offered)}, the server supports "
            f"{list(supported) or 'none it named'}"
        )


class InitializeRejected(SessionUnusable):
    """The server answered our ``initialize`` with an error that retrying cannot fix."""

    def __init__(self, code: int | None, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"the server rejected initialize (code {code}): {detail}")


class CredentialsRejected(SessionUnusable):
    """The server refused our credentials (401/403) while the session was being (re)negotiated.

    Retrying with the same credentials cannot help; open a new session once they are fixed.
    """

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"the server refused our credentials (HTTP {status}) while negotiating the session")


class ProtocolViolation(SessionUnusable):
    """The server's negotiation answer broke the protocol (e.g. a session id outside visible ASCII)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"the server broke the protocol while negotiating: {detail}")
