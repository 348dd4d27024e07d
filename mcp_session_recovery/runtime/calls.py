"""``Call``: one request from its submission until it resolves; the seam between the session core and
the code that performs the request's sends. ``Waiter``: one ``connect()`` caller, the same way.

The core (:mod:`.core`) tracks a call for the model: when the model says *send* (``SendRequest``,
``ReplayRequest``) it hands the call a binding; when the model resolves the request
(``DeliverResponse``, ``FailRequest``) it resolves the call. The sender (``Session.request``'s
exchange, the relay of a client's message) waits for those instructions with :meth:`Call.next_send`,
performs each send, and reports what happened with :meth:`Call.disrupted` or :meth:`Call.answered`.
A sender never changes the model in any other way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from mcp_session_recovery.model import (
    Abandonment,
    Binding,
    ConnectAbandoned,
    Event,
    McpSessionError,
    RequestAbandoned,
    RequestDisrupted,
    ResponseReceived,
    ResumeStream,
    Signal,
    StreamPaused,
)

__all__ = ["Call", "Resolution", "Waiter"]

#: Feeds an event (with the reason in words) to the model; the core's ``apply``.
Report = Callable[[Event, str], None]


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a request ended: a value, or an error to raise."""

    value: Any = None
    error: McpSessionError | None = None

    def unwrap(self) -> Any:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value


_NOTHING = Resolution()


class Call:
    """One request the model tracks; resolved exactly once (invariant 4)."""

    __slots__ = (
        "_report",
        "_reporting",
        "_resume",
        "_scope",
        "_send",
        "_waiter",
        "answer",
        "client_id",
        "method",
        "notification",
        "params",
        "request_id",
        "resolution",
        "timeout",
        "wire_id",
    )

    def __init__(
        self,
        request_id: int,
        method: str,
        params: Mapping[str, Any] | None,
        notification: bool,
        report: Report,
        *,
        client_id: Any = None,
    ) -> None:
        self.request_id = request_id
        self.method = method
        #: The JSON-RPC id the client above gave this request (``None``: the library's own request).
        self.client_id = client_id
        #: The caller's deadline in seconds, once its sender set it (its errors say it).
        self.timeout: float | None = None
        self.params = params
        self.notification = notification
        #: Set once, when the model resolved the request.
        self.resolution: Resolution | None = None
        #: The answer of the latest exchange, handed out when the model says ``DeliverResponse``.
        self.answer = _NOTHING
        self._report = report
        self._send: Binding | None = None
        #: The next send is the resumption of a paused stream (the model's ``ResumeStream``).
        self._resume: ResumeStream | None = None
        #: The JSON-RPC id of the latest send (a resumed stream answers it).
        self.wire_id: object = None
        self._waiter: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        #: The sender is reporting: a resolution now needs no cancellation (the sender sees it itself).
        self._reporting = False

    # -- the core performs the model's effects ------------------------------------------------------

    def instruct(self, binding: Binding, resume: ResumeStream | None = None) -> None:
        """The model says: send (again) under ``binding``, or resume the paused stream (``resume``)."""
        self._send = binding
        self._resume = resume
        self._wake()

    def resolve(self, resolution: Resolution) -> None:
        """The model resolved the request: the sender stops, and I/O in progress is cancelled."""
        self.resolution = resolution
        self._wake()
        if self._scope is not None and not self._reporting:
            self._scope.cancel()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.set()

    # -- the sender ----------------------------------------------------------------------------------

    def guard(self, scope: anyio.CancelScope) -> anyio.CancelScope:
        """Make ``scope`` the one the model's resolution cancels (the sender's I/O); returns it."""
        self._scope = scope
        return scope

    async def next_send(self) -> Binding | None:
        """The binding of the next send the model asks for; ``None`` once the request is resolved."""
        while self._send is None and self.resolution is None:
            waiter = self._waiter = anyio.Event()
            await waiter.wait()
        if self.resolution is not None:
            return None
        binding, self._send = self._send, None
        return binding

    def take_resume(self) -> ResumeStream | None:
        """Whether the send :meth:`next_send` gave is the resumption of a paused stream (then how)."""
        resume, self._resume = self._resume, None
        return resume

    def paused(self, last_event_id: str, retry_ms: int | None, reason: str) -> None:
        """The response stream ended before the response, after an event with an id: the model
        decides whether to resume it."""
        if self.resolution is None:
            self._tell(StreamPaused(request_id=self.request_id, last_event_id=last_event_id, retry_ms=retry_ms), reason)

    def disrupted(self, signal: Signal, reason: str) -> None:
        """The send failed with ``signal`` (the classifier's verdict); the model decides what next."""
        if self.resolution is None:
            self._tell(RequestDisrupted(request_id=self.request_id, signal=signal), reason)

    def answered(self, value: Any = None, error: McpSessionError | None = None, reason: str = "") -> None:
        """The server answered: ``value`` (the result) or ``error`` is what the caller gets."""
        if self.resolution is None:
            self.answer = Resolution(value, error) if value is not None or error is not None else _NOTHING
            self._tell(ResponseReceived(request_id=self.request_id), reason)

    def abandon(self, reason: Abandonment) -> None:
        """The caller's deadline passed or it left: the model must stop tracking the request."""
        if self.resolution is None:
            self._tell(RequestAbandoned(request_id=self.request_id, reason=reason), "")

    def _tell(self, event: Event, reason: str) -> None:
        self._reporting = True
        try:
            self._report(event, reason)
        finally:
            self._reporting = False

    def __repr__(self) -> str:
        state = "open" if self.resolution is None else "resolved"
        return f"<Call {self.request_id} {self.method} {state}>"


class Waiter:
    """One ``connect()`` caller the model tracks until a binding is live or it resolves the caller
    with a typed error (``DeliverBinding``, ``FailConnect``); resolved exactly once."""

    __slots__ = ("_done", "_report", "resolution", "waiter_id")

    def __init__(self, waiter_id: int, report: Report) -> None:
        self.waiter_id = waiter_id
        #: Set once, when the model resolved the caller: the live binding, or the error to raise.
        self.resolution: Resolution | None = None
        self._report = report
        self._done = anyio.Event()

    def resolve(self, resolution: Resolution) -> None:
        """The model resolved the caller."""
        self.resolution = resolution
        self._done.set()

    async def wait(self) -> None:
        """Return once the model resolved the caller."""
        await self._done.wait()

    def abandon(self, reason: Abandonment) -> None:
        """The caller's deadline passed or it left: the model must stop tracking it."""
        if self.resolution is None:
            self._report(ConnectAbandoned(waiter_id=self.waiter_id, reason=reason), "")

    def __repr__(self) -> str:
        state = "waiting" if self.resolution is None else "resolved"
        return f"<Waiter {self.waiter_id} {state}>"
