"""``Session``: one endpoint's session, driven by the model, with its effects performed on anyio.

Every decision is the model's. This module feeds it events and performs the effects it returns:

- ``_apply`` is the only place that changes the model. It never awaits, so on anyio's single event
  loop each decision is atomic: no lock is needed, and a cancellation can never land between a
  decision and its bookkeeping ("decide under a lock, do I/O outside it", with the event loop as
  the lock).
- Each caller's task performs the sends of its own request; negotiation, backoff timers,
  restoration and the GET stream run in the session's task group, so a caller that leaves cannot
  cancel the negotiation other callers wait on.
- A caller whose deadline passes or who is cancelled is reported to the model
  (``RequestAbandoned``); a request the model resolved (closed, failed) has its I/O cancelled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from mcp_session_recovery.model import (
    Abandonment,
    BackoffElapsed,
    Binding,
    ClassifierOptions,
    ClientIdentity,
    CloseRequested,
    ConnectRequested,
    DeliverResponse,
    Effect,
    Era,
    EraMode,
    Event,
    Exchange,
    FailRequest,
    HttpAnswer,
    McpSessionError,
    ModelConfig,
    NegotiationDisrupted,
    NotifyBindingChanged,
    Outgoing,
    Progress,
    RecoveryFailed,
    RemoteError,
    ReplayPolicy,
    ReplayRequest,
    RequestAbandoned,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    RestoreSessionState,
    ScheduleRecovery,
    SendDelete,
    SendDiscover,
    SendInitialize,
    SendInitialized,
    SendRequest,
    SessionClosed,
    SessionMachine,
    Signal,
    Snapshot,
    State,
    TransportFailure,
    TransportFailureKind,
    UnexpectedAnswer,
    classify,
)
from mcp_session_recovery.model.messages import (
    delete_request,
    discover_request,
    initialize_request,
    initialized_notification,
    session_message,
)
from mcp_session_recovery.model.negotiation import read_discover, read_initialize, read_initialized

from .backoff import Backoff
from .era_cache import DEFAULT_ERA_CACHE, EraCache, origin_of
from .forwarding import Forwarded, Relay
from .listening import Listener
from .memory import SessionMemory
from .observe import BindingChange, EventHook, TransitionRecord, log_level, logger
from .reading import MessageHandler, json_object, read_reply
from .wire import Wire, WireError

__all__ = ["Session", "SessionOptions"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOptions:
    """How a :class:`Session` behaves. Every field has a default that suits an interactive client."""

    #: Which era(s) to speak: probe modern first and fall back (AUTO), or pin one.
    mode: EraMode = EraMode.AUTO
    #: The client info and capabilities declared on every (re)negotiation.
    identity: ClientIdentity = field(default_factory=ClientIdentity)
    #: Which lost requests may be sent again.
    policy: ReplayPolicy = field(default_factory=ReplayPolicy)
    #: Failed negotiations in one round before waiting requests get ``RecoveryFailed``. With the
    #: default backoff a round spans about 9 s on average (18 s at most): a container restart.
    max_attempts: int = 8
    #: How often one request may be re-sent after it was lost.
    max_replays: int = 2
    #: The delay before each recovery attempt.
    backoff: Backoff = field(default_factory=Backoff)
    #: A request's deadline (seconds) unless the call names one, waiting time included.
    request_timeout: float = 60.0
    #: The longest one negotiation step may take (seconds) before it counts as a failed attempt.
    negotiation_timeout: float = 10.0
    #: The longest the best-effort DELETE on close may take (seconds).
    close_timeout: float = 2.0
    #: Opt-in signals of a lost session (400 / 410 variants).
    classifier: ClassifierOptions = field(default_factory=ClassifierOptions)
    #: Keep the legacy server-to-client GET stream open (its messages go to ``on_message``).
    listen: bool = False
    #: Where the era each origin spoke is remembered.
    era_cache: EraCache = field(default_factory=lambda: DEFAULT_ERA_CACHE)
    #: In AUTO mode, the era tried first while the cache knows nothing of the origin (default:
    #: the sessionless era). Either way the other era is tried when the first fails.
    first_era: Era | None = None

    def __post_init__(self) -> None:
        for name in ("request_timeout", "negotiation_timeout", "close_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class _Send:
    """Send the request under ``binding``."""

    binding: Binding


@dataclass(frozen=True, slots=True)
class _Resolution:
    """How a request ended: a value, or an error to raise."""

    value: Any = None
    error: McpSessionError | None = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class _Ticket:
    """One caller's request while the model tracks it."""

    def __init__(self, request_id: int, method: str, params: Mapping[str, Any] | None, notification: bool) -> None:
        self.request_id = request_id
        self.method = method
        self.params = params
        self.notification = notification
        self.sends: MemoryObjectSendStream[_Send]
        self.instructions: MemoryObjectReceiveStream[_Send]
        self.sends, self.instructions = anyio.create_memory_object_stream[_Send](max_buffer_size=math.inf)
        #: The answer of the latest exchange, handed out when the model says DeliverResponse.
        self.answer = _Resolution()
        self.resolution: _Resolution | None = None
        #: The scope of the exchange in progress, cancelled when the request is resolved meanwhile.
        self.io_scope: anyio.CancelScope | None = None

    def resolve(self, resolution: _Resolution) -> None:
        self.resolution = resolution
        self.sends.close()
        if self.io_scope is not None:
            self.io_scope.cancel()

    def close(self) -> None:
        self.sends.close()
        self.instructions.close()


class Session:
    """The session with one MCP endpoint, recovered whenever it is lost.

    Use it as an async context manager; it owns a task group for negotiation and timers::

        async with Session(wire, url) as session:
            result = await session.request("tools/call", {"name": "add", "arguments": {"a": 1}})
    """

    def __init__(
        self,
        wire: Wire,
        url: str,
        options: SessionOptions | None = None,
        *,
        on_event: EventHook | None = None,
        on_message: MessageHandler | None = None,
    ) -> None:
        self._wire = wire
        self._options = options or SessionOptions()
        self._origin = origin_of(url)
        self._on_event = on_event
        self._on_message = on_message
        auto = self._options.mode is EraMode.AUTO
        known = (self._options.era_cache.get(self._origin) or self._options.first_era) if auto else None
        self._machine = SessionMachine(
            ModelConfig(
                mode=self._options.mode,
                max_attempts=self._options.max_attempts,
                max_replays=self._options.max_replays,
                known_era=known,
            )
        )
        self._identity = self._options.identity
        self._negotiated_result: Mapping[str, Any] = {}
        self._pending_result: Mapping[str, Any] = {}
        self._memory = SessionMemory()
        self._tickets: dict[int, _Ticket] = {}
        self._request_ids = itertools.count()
        self._wire_ids = itertools.count(1)
        self._changed = anyio.Event()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._delete: Binding | None = None
        #: The cancel scopes of the background tasks (negotiation, timers, restoration, the GET stream).
        self._background: set[anyio.CancelScope] = set()
        self._listener = Listener(self)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self.start_in(task_group)
        return self

    def start_in(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the session's background work in ``task_group`` (for adapters that own one).

        The owner must ``await session.aclose()`` before leaving the task group.
        """
        if self._task_group is not None:
            raise RuntimeError("a Session can be started only once")
        self._task_group = task_group
        if self._options.listen:
            self._spawn(self._listener.deliver_forever)

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        assert self._task_group is not None
        try:
            with anyio.CancelScope(shield=True):
                await self.aclose()
        finally:
            self._task_group.cancel_scope.cancel()
            result = await self._task_group.__aexit__(*exc_info)
        return result

    async def aclose(self) -> None:
        """Close: every waiting call raises ``SessionClosed``; a live legacy session gets a DELETE.

        Nothing else is sent afterwards, and every later call raises ``SessionClosed``.
        """
        if self._machine.state is State.CLOSED:
            return
        self._apply(CloseRequested())
        delete, self._delete = self._delete, None
        if delete is not None:
            with anyio.move_on_after(self._options.close_timeout, shield=True):
                try:
                    response = await self._wire.send(delete_request(delete))
                    await response.aclose()
                except WireError as exc:
                    logger.info("%s: DELETE on close failed: %s", self._origin, exc)
        # Stop the background work; never the task group's own scope: the owner's code runs in it.
        for scope in tuple(self._background):
            scope.cancel()

    # -- what callers use --------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The model's current state."""
        return self._machine.state

    @property
    def snapshot(self) -> Snapshot:
        """Everything the model knows, as one immutable value."""
        return self._machine.snapshot

    @property
    def binding(self) -> Binding | None:
        """The live binding, or ``None`` when the session is not READY."""
        snap = self._machine.snapshot
        return snap.binding if snap.state is State.READY else None

    @property
    def negotiated_result(self) -> Mapping[str, Any]:
        """The raw result of the negotiation that made the live binding (``initialize`` or
        ``server/discover``); empty before the first one."""
        return self._negotiated_result

    def adopt_identity(self, identity: ClientIdentity) -> None:
        """Declare ``identity`` on every later (re)negotiation (an adapter learns it from its client)."""
        self._identity = identity

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the endpoint (never its credentials)."""
        return self._origin

    async def connect(self, *, timeout: float | None = None) -> Binding:
        """Negotiate now (or wait for the negotiation in flight) and return the live binding.

        Raises ``RecoveryFailed`` when a whole round of attempts fails, the ``SessionUnusable``
        error of a FAILED session, ``SessionClosed`` after close, and ``TimeoutError`` after
        ``timeout`` (default: the request timeout).
        """
        started = False
        with anyio.fail_after(timeout if timeout is not None else self._options.request_timeout):
            while True:
                snap = self._machine.snapshot
                if snap.state is State.READY:
                    assert snap.binding is not None
                    return snap.binding
                if snap.state is State.CLOSED:
                    raise SessionClosed()
                if snap.failure is not None:
                    raise snap.failure
                if snap.state in (State.UNINITIALIZED, State.INVALIDATED) and not snap.recovery_scheduled:
                    if started:
                        raise RecoveryFailed(self._options.max_attempts, snap.last_signal)
                    self._apply(ConnectRequested())
                    started = True
                    continue
                await self._changed.wait()

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        tool_annotations: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request and return its JSON-RPC ``result``.

        Waits for (or starts) negotiation, survives lost sessions and outages within ``timeout``
        (default: ``SessionOptions.request_timeout``), and raises a typed
        :class:`~mcp_session_recovery.model.McpSessionError` otherwise: ``RemoteError`` for the
        server's JSON-RPC error, ``UnexpectedAnswer`` for a non-JSON-RPC answer, ``OutcomeUnknown``,
        ``DeadlineExceeded``, ``RecoveryFailed``, ``SessionClosed``, ...
        ``tool_annotations`` (for ``tools/call``) feed the replay policy.
        """
        return await self._submit(method, params, False, timeout, tool_annotations)

    async def notify(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> None:
        """Send a notification (no answer expected beyond the server accepting it)."""
        await self._submit(method, params, True, timeout, None)

    def __repr__(self) -> str:
        snap = self._machine.snapshot
        return (
            f"<Session {snap.state.name} generation={snap.generation} "
            f"in_flight={len(snap.in_flight())} parked={len(snap.parked())} {self._origin}>"
        )

    # -- the model ---------------------------------------------------------------------------------

    def _apply(self, event: Event, reason: str = "") -> None:
        """Feed ``event`` to the model and perform its effects. Never awaits."""
        before = self._machine.snapshot
        effects = self._machine.handle(event)
        after = self._machine.snapshot
        change = next((e for e in effects if isinstance(e, NotifyBindingChanged)), None)
        record = TransitionRecord(
            origin=self._origin,
            old_state=before.state,
            event=event,
            new_state=after.state,
            generation=after.generation,
            reason=reason,
            binding_change=BindingChange(change.previous, change.current) if change else None,
        )
        self._observe(record)
        if after.state is State.READY and after.binding is not None and before.state is not State.READY:
            self._options.era_cache.remember(self._origin, after.binding.era)
            self._negotiated_result = self._pending_result
        for effect in effects:
            self._perform(effect, before, after)
        woken, self._changed = self._changed, anyio.Event()
        woken.set()

    def _observe(self, record: TransitionRecord) -> None:
        if record.old_state is not record.new_state or record.binding_change is not None:
            logger.log(log_level(record), "%s", record.describe())
        if self._on_event is not None:
            try:
                self._on_event(record)
            except Exception:
                logger.exception("%s: the on_event hook raised", self._origin)

    def _perform(self, effect: Effect, before: Snapshot, after: Snapshot) -> None:
        if isinstance(effect, (SendRequest, ReplayRequest)):
            assert after.binding is not None
            assert after.binding.generation == effect.generation
            self._tickets[effect.request_id].sends.send_nowait(_Send(after.binding))
        elif isinstance(effect, DeliverResponse):
            ticket = self._tickets[effect.request_id]
            ticket.resolve(ticket.answer)
        elif isinstance(effect, FailRequest):
            ticket = self._tickets[effect.request_id]
            ticket.resolve(_Resolution(error=effect.error))
        elif isinstance(effect, (SendDiscover, SendInitialize)):
            self._spawn(self._negotiate, effect)
        elif isinstance(effect, SendInitialized):
            assert after.pending is not None
            assert after.pending.generation == effect.generation
            self._spawn(self._complete_handshake, after.pending)
        elif isinstance(effect, ScheduleRecovery):
            self._spawn(self._recover_after, effect.attempt)
        elif isinstance(effect, RestoreSessionState):
            assert after.binding is not None
            self._spawn(self._restore, after.binding)
        elif isinstance(effect, SendDelete):
            live = before.binding if before.state is State.READY else before.pending
            assert live is not None
            assert live.generation == effect.generation
            self._delete = live
        elif isinstance(effect, NotifyBindingChanged):
            pass  # reported with the transition record
        else:  # pragma: no cover - every effect type is handled above
            raise AssertionError(f"unhandled effect {effect!r}")

    def _spawn(self, function: Callable[..., Awaitable[None]], *args: Any) -> None:
        if self._task_group is None:
            raise RuntimeError("use the Session as an async context manager (async with Session(...))")
        if self._machine.state is State.CLOSED:
            return
        scope = anyio.CancelScope()
        self._background.add(scope)
        self._task_group.start_soon(self._in_background, scope, function, *args)

    async def _in_background(
        self, scope: anyio.CancelScope, function: Callable[..., Awaitable[None]], *args: Any
    ) -> None:
        try:
            with scope:
                await function(*args)
        finally:
            self._background.discard(scope)

    # -- one caller's request ------------------------------------------------------------------------

    def _open(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        notification: bool,
        tool_annotations: Mapping[str, Any] | None,
    ) -> _Ticket:
        """Track a new request: the model decides whether it is sent now or waits."""
        if self._task_group is None:
            raise RuntimeError("use the Session as an async context manager (async with Session(...))")
        request_id = next(self._request_ids)
        tool_name = params.get("name") if method == "tools/call" and params else None
        if isinstance(tool_name, str) and tool_annotations is None:
            tool_annotations = self._memory.tool_annotations.get(tool_name)
        replayability = self._options.policy.replayability(
            method, tool_name=tool_name if isinstance(tool_name, str) else None, tool_annotations=tool_annotations
        )
        ticket = _Ticket(request_id, method, params, notification)
        self._tickets[request_id] = ticket
        try:
            self._apply(RequestSubmitted(request_id=request_id, method=method, replayability=replayability))
        except BaseException:
            self._release(ticket)
            raise
        return ticket

    def _release(self, ticket: _Ticket) -> None:
        self._tickets.pop(ticket.request_id, None)
        ticket.close()

    def _tracks(self, ticket: _Ticket) -> bool:
        return self._machine.snapshot.request(ticket.request_id) is not None

    def _next_wire_id(self) -> int:
        return next(self._wire_ids)

    async def _submit(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        notification: bool,
        timeout: float | None,
        tool_annotations: Mapping[str, Any] | None,
    ) -> Any:
        ticket = self._open(method, params, notification, tool_annotations)
        try:
            with anyio.move_on_after(timeout if timeout is not None else self._options.request_timeout):
                async for send in ticket.instructions:
                    await self._attempt(ticket, send)
            self._give_up(ticket, Abandonment.DEADLINE)
            assert ticket.resolution is not None
            return ticket.resolution.unwrap()
        except BaseException:
            # Cancelled by its caller (or an adapter bug surfaced): the model must not track it on.
            self._give_up(ticket, Abandonment.CANCELLED)
            raise
        finally:
            self._release(ticket)

    async def forward(
        self,
        message: Mapping[str, Any],
        *,
        timeout: float | None = None,
        tool_annotations: Mapping[str, Any] | None = None,
    ) -> Forwarded:
        """Send a client's own JSON-RPC request or notification; return the answer for that client.

        For adapters whose client speaks MCP itself (see :mod:`.forwarding`). Never raises for a
        remote failure: what the model gives up on comes back as a JSON-RPC error for that request.
        ``timeout`` bounds the wait for the answer to begin.
        """
        method = str(message.get("method", ""))
        params = message.get("params")
        notification = "id" not in message
        ticket = self._open(method, params if isinstance(params, Mapping) else None, notification, tool_annotations)
        relay = Relay(self, ticket, message.get("id"))
        streaming = False
        try:
            with anyio.move_on_after(timeout if timeout is not None else self._options.request_timeout):
                forwarded = await relay.head()
                streaming = forwarded is not None and forwarded.stream is not None
                return forwarded if forwarded is not None else relay.failure()
            self._give_up(ticket, Abandonment.DEADLINE)
            return relay.failure()
        except BaseException:
            self._give_up(ticket, Abandonment.CANCELLED)
            raise
        finally:
            if not streaming:  # a live stream owns the request until its consumer is done
                self._release(ticket)

    def _give_up(self, ticket: _Ticket, reason: Abandonment) -> None:
        if ticket.resolution is None and self._machine.snapshot.request(ticket.request_id) is not None:
            self._apply(RequestAbandoned(request_id=ticket.request_id, reason=reason))

    async def _attempt(self, ticket: _Ticket, send: _Send) -> None:
        """Send the request once under ``send.binding`` and report what happened."""
        if ticket.resolution is not None:
            return
        binding = send.binding
        wire_id = None if ticket.notification else next(self._wire_ids)
        outgoing = session_message(binding, ticket.method, ticket.params, wire_id, self._identity)
        exchange = Exchange(era=binding.era, method=ticket.method, carried_session_id=binding.session_id is not None)
        with anyio.CancelScope() as scope:
            ticket.io_scope = scope
            event, reason = await self._exchange(ticket, outgoing, exchange, wire_id)
        ticket.io_scope = None
        if scope.cancelled_caught or ticket.resolution is not None:
            return  # resolved while it was on the wire (closed, failed): nothing to report
        if event is not None:
            self._apply(event, reason)

    async def _exchange(
        self, ticket: _Ticket, outgoing: Outgoing, exchange: Exchange, wire_id: int | None
    ) -> tuple[Event | None, str]:
        answer = await self._fetch(outgoing, wire_id)
        if isinstance(answer, TransportFailure):
            classification = classify(exchange, answer, self._options.classifier)
            return RequestDisrupted(request_id=ticket.request_id, signal=classification.signal), classification.reason
        reply_answer, response = answer
        classification = classify(exchange, reply_answer, self._options.classifier)
        if classification.signal is not Signal.PASS_THROUGH:
            return RequestDisrupted(request_id=ticket.request_id, signal=classification.signal), classification.reason
        ticket.answer = _resolution_of(reply_answer, response, ticket.notification)
        if ticket.answer.error is None:
            self._memory.observe(ticket.method, ticket.params, ticket.answer.value)
        return ResponseReceived(request_id=ticket.request_id), classification.reason

    async def _fetch(
        self, outgoing: Outgoing, wire_id: int | None
    ) -> tuple[HttpAnswer, Mapping[str, Any] | None] | TransportFailure:
        """One HTTP exchange: the answer (and the JSON-RPC response in it), or the failure."""
        try:
            response = await self._wire.send(outgoing)
            try:
                reply = await read_reply(response, wire_id, self._deliver_message)
            finally:
                with anyio.move_on_after(self._options.close_timeout, shield=True):
                    await response.aclose()
        except WireError as exc:
            return exc.failure()
        return reply.answer, reply.response

    def _deliver_message(self, message: Mapping[str, Any]) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(message)
        except Exception:
            logger.exception("%s: the on_message hook raised", self._origin)

    # -- negotiation, recovery and restoration (in the session's task group) -------------------------

    async def _negotiate(self, effect: SendDiscover | SendInitialize) -> None:
        generation = effect.generation
        event: Event = NegotiationDisrupted(generation=generation, signal=Signal.UNREACHABLE)
        reason = "negotiation timed out"
        with anyio.move_on_after(self._options.negotiation_timeout):
            wire_id = next(self._wire_ids)
            if isinstance(effect, SendDiscover):
                answer = await self._negotiation_answer(discover_request(wire_id, self._identity), wire_id)
                event = read_discover(generation, answer, self._options.classifier)
            else:
                answer = await self._negotiation_answer(initialize_request(wire_id, self._identity), wire_id)
                event = read_initialize(generation, answer, self._options.classifier)
            reason = _describe(answer)
            if isinstance(answer, HttpAnswer):
                self._pending_result = _result_of(answer.body)
        self._apply(event, reason)

    async def _complete_handshake(self, pending: Binding) -> None:
        event: Event = NegotiationDisrupted(generation=pending.generation, signal=Signal.UNREACHABLE)
        reason = "notifications/initialized timed out"
        with anyio.move_on_after(self._options.negotiation_timeout):
            answer = await self._negotiation_answer(initialized_notification(pending), None)
            event = read_initialized(pending.generation, answer, self._options.classifier)
            reason = _describe(answer)
        self._apply(event, reason)

    async def _negotiation_answer(self, outgoing: Outgoing, wire_id: int | None) -> HttpAnswer | TransportFailure:
        try:
            fetched = await self._fetch(outgoing, wire_id)
        except Exception as exc:
            # An adapter raised something other than WireError: a bug below us. The session must not
            # die of it; count the attempt as failed and say so loudly.
            logger.error("%s: the wire raised %s during negotiation", self._origin, type(exc).__name__, exc_info=True)
            return TransportFailure(kind=TransportFailureKind.PROTOCOL_ERROR, progress=Progress.SENT)
        return fetched if isinstance(fetched, TransportFailure) else fetched[0]

    async def _recover_after(self, attempt: int) -> None:
        await anyio.sleep(self._options.backoff.delay(attempt))
        if self._machine.allows(BackoffElapsed()):
            self._apply(BackoffElapsed())

    async def _restore(self, binding: Binding) -> None:
        """Give a re-initialized legacy session what the lost one held (the GET stream reopens itself)."""
        if binding.session_id is None:
            return
        for method, params in self._memory.restoring_requests():
            try:
                await self.request(method, params)
            except McpSessionError as exc:
                logger.warning("%s: restoring %s failed: %s", self._origin, method, exc)

    async def listen_stream(self) -> Forwarded:
        """The legacy server-to-client stream for a client above, kept open across recoveries.

        See :meth:`.listening.Listener.stream`.
        """
        return await self._listener.stream()


def _resolution_of(answer: HttpAnswer, response: Mapping[str, Any] | None, notification: bool) -> _Resolution:
    """What the caller gets for an answer the classifier passed through."""
    if notification and 200 <= answer.status < 300:
        return _Resolution()
    if response is not None and isinstance(response.get("error"), dict):
        error = response["error"]
        code = error.get("code")
        return _Resolution(
            error=RemoteError(code if isinstance(code, int) else 0, str(error.get("message", "")), error.get("data"))
        )
    if response is not None and "result" in response and 200 <= answer.status < 300:
        return _Resolution(value=response["result"])
    return _Resolution(error=UnexpectedAnswer(answer.status, answer.body.decode("utf-8", errors="replace")))


def _result_of(body: bytes) -> Mapping[str, Any]:
    document = json_object(body)
    result = document.get("result") if document is not None else None
    return result if isinstance(result, dict) else {}


def _describe(answer: HttpAnswer | TransportFailure) -> str:
    if isinstance(answer, TransportFailure):
        return f"{answer.kind.value} ({answer.progress.value})"
    return f"HTTP {answer.status}"
