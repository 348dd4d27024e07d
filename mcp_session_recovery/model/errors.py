"""The library's errors.

::

    McpSessionError                   abstract: catch this for everything the library raises
    ├── IllegalTransition             the table has no row for this event in this state (.state, .event)
    ├── MalformedSessionId            a server sent an id outside visible ASCII or too long (also a ValueError)
    ├── SessionClosed                 the session was closed by its owner
    ├── RecoveryFailed                recovery gave up for now (.attempts, .last_signal, .hint, .advice)
    │   └── SessionNotKept            new sessions were lost, one after another, before any was used (.losses)
    ├── ConnectTimedOut               connect() outlasted its timeout (.timeout, .last_signal, .cause)
    ├── CredentialsRejected           the server refused the credentials while we negotiated (.status, .headers, .body)
    │   └── AuthFlowFailed            the client's own auth flow (OAuth) failed to get credentials (.flow_error)
    ├── RemoteError                   the server answered the request with a JSON-RPC error (.code, .message, .data)
    ├── UnexpectedAnswer              the server answered with something that is not JSON-RPC (.status, .detail)
    │   ├── AnswerTooLarge            the answer crossed a read limit; nothing more was read (.limit, .bound)
    │   ├── MismatchedResponse        the JSON-RPC response names another request's id
    │   └── RedirectRefused           a redirect the library does not follow (another origin, 301/302/303)
    ├── RequestFailed                 abstract: one request could not be completed (.request_id, .method, .client_id)
    │   ├── OutcomeUnknown            its answer was lost and replaying it is not safe (.signal)
    │   ├── ReplayForbidden           lost unprocessed, but the policy never re-sends it (.signal)
    │   ├── ReplayLimitExceeded       lost again after max_replays re-sends (.replays, .last_signal, .hint)
    │   ├── DeadlineExceeded          its deadline passed (.timeout) while the session was in .state
    │   └── RequestCancelled          its caller gave up
    └── SessionUnusable               abstract: the session is FAILED; no retry can fix it
        ├── NoCommonProtocolVersion   (.offered, .supported)
        ├── InitializeRejected        the server refused our ``initialize`` (.code, .detail)
        ├── ProtocolViolation         the server broke the protocol while we negotiated (.detail)
        └── UnexpectedException       a bug (no network fault) raised while we negotiated (.exception_type)

No message ever contains a session id or a credential. Messages speak the caller's terms: the
caller's method and its own JSON-RPC id where the library knows it, what happened, and what to try.
The library's internals (its request numbers, the session's state) are attributes, never words of a
message; the runtime adds what only it knows (the caller's id, the deadline, the last failure in
words) with :meth:`McpSessionError.in_context`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Self, cast

from .states import Signal, State

__all__ = [
    "MAX_SESSION_ID_LENGTH",
    "AnswerTooLarge",
    "AuthFlowFailed",
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
    "UnexpectedException",
    "advice",
    "likely_cause",
    "what_happened",
]

_ABSTRACT: set[type[Exception]] = set()


class McpSessionError(Exception):
    """Base of every error the library raises. Abstract: raise a subclass."""

    #: The attributes :meth:`in_context` may fill in (what the runtime knows and the model does not).
    _CONTEXT: ClassVar[frozenset[str]] = frozenset()

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

    def _render(self) -> str:
        """The message, from the attributes (errors with context to fill in override this)."""
        return str(self.args[0]) if self.args else ""

    def in_context(
        self,
        *,
        method: str | None = None,
        client_id: Any = None,
        timeout: float | None = None,
        cause: str | None = None,
    ) -> Self:
        """This error, or a copy that also says what the runtime knows and the model does not.

        ``method`` and ``client_id``: the caller's JSON-RPC method and its own id; ``timeout``: the
        caller's deadline in seconds; ``cause``: the last failure, in words. What this kind of error
        has no use for is ignored, and so is ``None``.
        """
        given = {"method": method, "client_id": client_id, "timeout": timeout, "cause": cause}
        changes = {
            name: value
            for name, value in given.items()
            if value is not None and name in self._CONTEXT and getattr(self, name) != value
        }
        if not changes:
            return self
        # A copy built without __init__ (the subclasses' signatures differ), its message rendered again.
        copy = cast(Self, type(self).__new__(type(self)))
        copy.__dict__.update(vars(self))
        copy.__dict__.update(changes)
        copy.args = (copy._render(),)
        return copy


_ABSTRACT.add(McpSessionError)


class _Words(NamedTuple):
    """What repeated failures with one signal mean, in a caller's words."""

    #: What one such failure was.
    happened: str
    #: What most often produces them again and again.
    likely_cause: str
    #: What to try.
    advice: str


_WORDS: Mapping[Signal | None, _Words] = MappingProxyType(
    {
        Signal.SESSION_GONE: _Words(
            "the session expired on the server",
            "the server dropped each new session at once: a load balancer without session affinity, "
            "or a server that forgets sessions at once",
            "give the load balancer session affinity, or let the server keep its sessions longer",
        ),
        Signal.UNREACHABLE: _Words(
            "the server was unreachable",
            "the server, or a proxy in front of it, did not answer: it is down or restarting",
            "check that the server is running and reachable at its URL, then try again",
        ),
        Signal.ERA_CHANGED: _Words(
            "the server changed protocol era",
            "the server keeps changing protocol era: a rolling deploy mixing versions?",
            "let the rollout finish so that every server speaks one protocol era, or pin the era (mode)",
        ),
        Signal.OUTCOME_UNKNOWN: _Words(
            "the answer was lost in transit",
            "answers were lost in transit: connections reset or streams cut",
            "check the proxies and timeouts between the client and the server, then try again",
        ),
        None: _Words("no failure was recorded", "no failure was recorded", "try again"),
    }
)


def likely_cause(signal: Signal | None) -> str:
    """A human sentence naming what most often produces repeated ``signal`` failures."""
    return _WORDS[signal].likely_cause


def what_happened(signal: Signal | None) -> str:
    """What a disruption with ``signal`` means, in a caller's words."""
    return _WORDS[signal].happened


def advice(signal: Signal | None) -> str:
    """What a caller can try when failures with ``signal`` repeat."""
    return _WORDS[signal].advice


def _subject(method: str | None, client_id: Any) -> str:
    """How a message names the caller's request: its method, and its own JSON-RPC id if known."""
    if method is None:
        return ""
    if client_id is None:
        return f"{method}: "
    shown = json.dumps(client_id) if isinstance(client_id, (str, int, float)) else repr(client_id)
    return f"{method} (id {shown}): "


def _seconds(value: float) -> str:
    return f"{value:g} s" if value >= 1 else f"{value:.3g} s"


class IllegalTransition(McpSessionError):
    """An event arrived that the transition table does not accept in the current state.

    This is a bug in the caller of the model (the runtime or an adapter), not a remote failure, and
    its reader is the one who wrote that caller: the message names the state and the event.
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
    """The session was closed by its owner; nothing more is sent.

    ``method`` and ``client_id`` name the request it refused, when there was one.
    """

    _CONTEXT = frozenset({"method", "client_id"})

    def __init__(self, *, method: str | None = None, client_id: Any = None) -> None:
        self.method = method
        self.client_id = client_id
        super().__init__(self._render())

    def _render(self) -> str:
        return f"{_subject(self.method, self.client_id)}the session is closed; open a new one to send more"


class RecoveryFailed(McpSessionError):
    """Recovery gave up after ``attempts`` failed negotiations.

    The session is not dead: the next request starts a new round of recovery. ``hint`` names the
    likely cause, ``advice`` what to try; ``cause`` is the last failure in words (when the runtime
    knows it), ``method`` and ``client_id`` the request that waited (if any).
    """

    _CONTEXT = frozenset({"method", "client_id", "cause"})

    def __init__(
        self,
        attempts: int,
        last_signal: Signal | None,
        *,
        method: str | None = None,
        client_id: Any = None,
        cause: str = "",
    ) -> None:
        self.attempts = attempts
        self.last_signal = last_signal
        self.hint = likely_cause(last_signal)
        self.advice = advice(last_signal)
        self.method = method
        self.client_id = client_id
        self.cause = cause
        super().__init__(self._render())

    def _render(self) -> str:
        last = self.cause or what_happened(self.last_signal)
        return (
            f"{_subject(self.method, self.client_id)}the session could not be recovered: "
            f"{self.attempts} attempt(s) failed (last: {last}); likely cause: {self.hint}; "
            f"{self.advice} (the next request starts recovering again)"
        )


class SessionNotKept(RecoveryFailed):
    """``losses`` new sessions in a row were lost before any of their requests was answered.

    Waiting cannot help: a server that keeps no session it hands out (a balancer without session
    affinity sends each request to another backend, or the server forgets sessions at once) loses
    the next one too. Like :class:`RecoveryFailed`, the session is not dead: the next request (or
    ``connect()``) tries again, in case the deployment was fixed.
    """

    def __init__(self, losses: int, *, method: str | None = None, client_id: Any = None, cause: str = "") -> None:
        self.losses = losses
        super().__init__(losses, Signal.SESSION_GONE, method=method, client_id=client_id, cause=cause)
        self.hint = "a load balancer without session affinity, or a server that forgets sessions at once"
        self.advice = (
            "try: turn on session affinity at the balancer (sticky sessions, keyed on the Mcp-Session-Id "
            "header or the client address), point the client at one server instance, or run the server "
            "without sessions (stateless)"
        )
        self.args = (self._render(),)

    def _render(self) -> str:
        return (
            f"{_subject(self.method, self.client_id)}the server lost {self.losses} new sessions in a row "
            f"before answering any of their requests: waiting cannot help; likely cause: {self.hint}; "
            f"{self.advice}"
        )


class ConnectTimedOut(McpSessionError):
    """``connect()`` did not get a live session within ``timeout`` seconds.

    ``last_signal`` is the last failure the session met (``None``: the server has not answered
    yet), and ``cause`` says it in words (a refused connection, a gateway's 502, no answer, ...);
    ``method`` and ``client_id`` the client's own negotiation that waited, when an adapter's client
    negotiated.
    """

    _CONTEXT = frozenset({"method", "client_id"})

    def __init__(
        self,
        timeout: float,
        last_signal: Signal | None,
        cause: str,
        *,
        method: str | None = None,
        client_id: Any = None,
    ) -> None:
        self.timeout = timeout
        self.last_signal = last_signal
        self.cause = cause
        self.method = method
        self.client_id = client_id
        super().__init__(self._render())

    def _render(self) -> str:
        return (
            f"{_subject(self.method, self.client_id)}no session with the MCP server within {self.timeout:g} s "
            f"({self.cause or 'no answer from the server yet'}); check that the server is running and "
            "reachable, or allow a longer timeout"
        )


class CredentialsRejected(McpSessionError):
    """The server refused the credentials (401 or 403) while the session was being (re)negotiated.

    Credentials are the client's: no retry of ours can fix them, and no timer retries them. The
    round of negotiation ends; the requests that waited for it get this error, or, under a client
    that negotiates itself (``RecoveringTransport``, ``RecoveringMiddleware``), the server's own
    answer (``status``, ``headers``, ``body``), so that its auth flow (an ``httpx.Auth``) runs and
    sends the request again with new credentials. The next request negotiates again, with the
    credentials it carries.
    """

    def __init__(self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b"") -> None:
        self.status = status
        #: The refusal's headers (``WWW-Authenticate`` says what the server wants) and its body.
        self.headers: Mapping[str, str] = dict(headers or {})
        self.body = body
        super().__init__(
            f"the server refused the credentials (HTTP {status}) while negotiating the session; "
            "renew or fix them (the client's auth flow, or the token): the next request negotiates again"
        )


class AuthFlowFailed(CredentialsRejected):
    """The client's own auth flow (an ``httpx.Auth`` such as the SDK's ``OAuthClientProvider``) failed
    to get credentials while the session was being (re)negotiated: the authorization server refused
    the registration or the token, its metadata could not be found, ...

    A refusal like any other (no retry of ours can fix it, no timer retries it, the next request
    negotiates again), but the server's own answer is not known here: ``status`` is 401, the refusal
    an auth flow exists to answer, with no headers and no body. ``flow_error`` names the flow's
    exception, which is this error's ``__cause__``; its message is not repeated (an authorization
    server's answer may quote what the client sent).
    """

    def __init__(self, flow_error: str) -> None:
        self.flow_error = flow_error
        super().__init__(401)
        self.args = (
            f"the client's auth flow failed ({flow_error}) while negotiating the session; check the flow's "
            "settings and the authorization server (the flow's exception is this error's __cause__): "
            "the next request negotiates again",
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
        super().__init__(f"the server answered HTTP {status} without a JSON-RPC response: {self.detail!r}")


class AnswerTooLarge(UnexpectedAnswer):
    """An answer crossed one of the read limits (``limit`` names the ``ReadLimits`` field, ``bound``
    its value in bytes); the library stopped reading it, so memory stays bounded."""

    def __init__(self, status: int, limit: str, bound: int) -> None:
        self.limit = limit
        self.bound = bound
        McpSessionError.__init__(
            self,
            f"HTTP {status}: the answer crossed the read limit {limit} ({bound} bytes) and was not read "
            f"further; raise ReadLimits.{limit} if answers this large are expected",
        )
        self.status = status
        self.detail = f"crossed {limit}"


class MismatchedResponse(UnexpectedAnswer):
    """The server's JSON-RPC response carries an id that is not the request's: it is refused, never
    handed to the caller as its result."""

    def __init__(self, status: int) -> None:
        McpSessionError.__init__(
            self,
            f"HTTP {status}: the server's JSON-RPC response names another request's id, so it was refused "
            "(a bug in the server or in a proxy in front of it)",
        )
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
            self,
            f"HTTP {status}: redirect not followed (only 307/308 to the endpoint's own origin are); "
            "give the client the endpoint's final URL",
        )
        self.status = status
        self.detail = "redirect not followed"


class RequestFailed(McpSessionError):
    """One request could not be completed. Abstract.

    ``request_id`` is the library's own number for the request (never in the message); ``method``
    and ``client_id`` are the caller's method and its own JSON-RPC id (``None`` when the library
    does not know it); ``cause`` is the last failure in words, when the runtime knows it.
    """

    _CONTEXT = frozenset({"client_id", "cause"})

    def __init__(
        self, request_id: int, method: str, message: str = "", *, client_id: Any = None, cause: str = ""
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.client_id = client_id
        self.cause = cause
        self._what = message
        super().__init__(self._render())

    def _render(self) -> str:
        return f"{_subject(self.method, self.client_id)}{self._explain()}"

    def _explain(self) -> str:
        """What happened and what to try (after the subject)."""
        return self._what

    def _because(self) -> str:
        return f" ({self.cause})" if self.cause else ""


_ABSTRACT.add(RequestFailed)


class OutcomeUnknown(RequestFailed):
    """The request was sent, its answer was lost, and the replay policy forbids sending it again.

    The server may or may not have acted on it.
    """

    def __init__(self, request_id: int, method: str, *, client_id: Any = None, cause: str = "") -> None:
        self.signal = Signal.OUTCOME_UNKNOWN
        super().__init__(request_id, method, client_id=client_id, cause=cause)

    def _explain(self) -> str:
        return (
            f"the answer was lost after the request was sent{self._because()}; the server may or may not "
            "have processed it, and the replay policy does not send it again: check its effect before "
            "retrying, or let the ReplayPolicy replay it if it is safe to repeat"
        )


class ReplayForbidden(RequestFailed):
    """The request was lost without being processed, but the replay policy never re-sends it.

    This is what ``notifications/initialized`` and ``notifications/cancelled`` get after a lost
    session: a new session sends its own handshake, and a cancellation for the old one is moot.
    """

    def __init__(self, request_id: int, method: str, signal: Signal, *, client_id: Any = None, cause: str = "") -> None:
        self.signal = signal
        super().__init__(request_id, method, client_id=client_id, cause=cause)

    def _explain(self) -> str:
        return (
            f"not delivered: {what_happened(self.signal)}{self._because()}, and this message is never "
            "sent again to a new session (it belongs to the lost one); nothing to retry"
        )


class ReplayLimitExceeded(RequestFailed):
    """The request was lost again after ``replays`` re-sends."""

    def __init__(
        self,
        request_id: int,
        method: str,
        replays: int,
        last_signal: Signal,
        *,
        client_id: Any = None,
        cause: str = "",
    ) -> None:
        self.replays = replays
        self.last_signal = last_signal
        self.hint = likely_cause(last_signal)
        self.advice = advice(last_signal)
        super().__init__(request_id, method, client_id=client_id, cause=cause)

    def _explain(self) -> str:
        return (
            f"the session could not be kept: the request was lost again after {self.replays} re-send(s) "
            f"(last: {self.cause or what_happened(self.last_signal)}); likely cause: {self.hint}; {self.advice}"
        )


#: How a deadline message says where the session stood (a caller does not know the states).
_WHILE = {
    State.UNINITIALIZED: " before the session was established",
    State.INITIALIZING: " while the session was being established",
    State.INVALIDATED: " while the session was being (re)established",
    State.RECOVERING: " while the session was being (re)established",
}


class DeadlineExceeded(RequestFailed):
    """The request's deadline (``timeout`` seconds, when known) passed while the session was in ``state``."""

    _CONTEXT = frozenset({"client_id", "cause", "timeout"})

    def __init__(
        self,
        request_id: int,
        method: str,
        state: State,
        *,
        client_id: Any = None,
        timeout: float | None = None,
        cause: str = "",
    ) -> None:
        self.state = state
        self.timeout = timeout
        super().__init__(request_id, method, client_id=client_id, cause=cause)

    def _explain(self) -> str:
        within = (
            f"no answer within {_seconds(self.timeout)}"
            if self.timeout is not None
            else "no answer before the deadline"
        )
        waiting = _WHILE.get(self.state)
        if waiting is None:  # the session was live: the server itself was slow
            return f"{within}; the server may still be working on it: allow a longer timeout"
        return (
            f"{within}{waiting}{self._because()}; the library keeps trying to reach the server: check that "
            "it is running and reachable, or allow a longer timeout"
        )


class RequestCancelled(RequestFailed):
    """The request's caller gave up on it."""

    def __init__(self, request_id: int, method: str, *, client_id: Any = None) -> None:
        super().__init__(request_id, method, client_id=client_id)

    def _explain(self) -> str:
        return "cancelled by its caller"


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
            f"{list(supported) or 'none it named'}; upgrade the client or the server"
        )


class InitializeRejected(SessionUnusable):
    """The server answered our ``initialize`` with an error that retrying cannot fix."""

    def __init__(self, code: int | None, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"the server rejected initialize (code {code}): {detail}")


class ProtocolViolation(SessionUnusable):
    """The server's negotiation answer broke the protocol (e.g. a session id outside visible ASCII)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"the server broke the protocol while negotiating: {detail}")


class UnexpectedException(SessionUnusable):
    """An exception that is no network fault (an ``AttributeError``, a ``TypeError``...) was raised
    while the session was negotiated: a programming error in the transport, an adapter or this library.

    Retrying cannot fix a bug, and taking it for a network fault would hide it behind a round of
    retries, so the session fails at once. The exception itself is this error's ``__cause__``; the
    message names only its type (its own message may quote a header: a session id, a credential).
    """

    def __init__(self, exception_type: str) -> None:
        self.exception_type = exception_type
        super().__init__(
            f"negotiating the session raised {exception_type}: a programming error in the transport, an "
            "adapter or this library, not a network fault, so it was not retried (the exception is this "
            "error's __cause__)"
        )
