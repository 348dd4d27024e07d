"""``SessionCore``: the model of one endpoint's session, with its effects performed on anyio.

Every decision is the model's. The core feeds it events and performs the effects it returns:

- :meth:`SessionCore.apply` is the only place that changes the model. It never awaits, so on
  anyio's single event loop each decision is atomic: no lock is needed, and a cancellation can never
  land between a decision and its bookkeeping ("decide under a lock, do I/O outside it", with the
  event loop as the lock).
- Each caller's task performs the sends of its own request (a :class:`~.calls.Call`); negotiation,
  backoff timers, restoration and the GET stream run in the session's task group, so a caller that
  leaves cannot cancel the negotiation other callers wait on.

The senders, :mod:`.exchange` (``Session.request``), :mod:`.forwarding` (a client's own messages)
and :mod:`.listening` (the GET stream), see the core only through :class:`~.seam.SessionSeam`, never
the model's engine; and the core imports none of them: restoring a re-negotiated session's state
(requests sent through the seam) is the :data:`~.seam.Restore` its owner gives it.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.abc

from mcp_session_recovery.model import (
    BackoffElapsed,
    Binding,
    ClientIdentity,
    CloseRequested,
    ConnectRequested,
    CredentialsRefused,
    CredentialsRejected,
    DeliverBinding,
    DeliverResponse,
    Effect,
    EraMode,
    Event,
    FailConnect,
    FailRequest,
    HttpAnswer,
    ListenOpened,
    ListenRefused,
    ModelConfig,
    NegotiationDisrupted,
    NegotiationRejected,
    NotifyBindingChanged,
    Outgoing,
    Progress,
    ReplayRequest,
    RequestDisrupted,
    RequestSubmitted,
    RestoreSessionState,
    ResumeStream,
    ScheduleRecovery,
    SendDelete,
    SendDiscover,
    SendInitialize,
    SendInitialized,
    SendRequest,
    SessionMachine,
    Signal,
    Snapshot,
    State,
    StreamPaused,
    TransportFailure,
    TransportFailureKind,
    UnexpectedException,
)
from mcp_session_recovery.model.messages import (
    delete_request,
    discover_request,
    initialize_request,
    initialized_notification,
)
from mcp_session_recovery.model.negotiation import read_discover, read_initialize, read_initialized

from .backoff import retry_after_seconds
from .calls import Call, Resolution, Waiter
from .deadlines import Deadlines, sends_for_no_call
from .era_cache import origin_of
from .memory import SessionMemory
from .observe import BindingChange, EventHook, SessionLog, TransitionRecord, logger
from .options import SessionOptions
from .reading import MessageHandler, Pause, Reply, json_object, read_reply_or_pause
from .redaction import Redactor
from .redirects import send_following
from .seam import Background, Restore
from .wire import Wire, WireError, credentials_of, release

__all__ = ["SessionCore"]

#: The most abandoned sessions waiting for their DELETE (the oldest are dropped first).
MAX_ABANDONED = 8


class SessionCore:
    """One endpoint's session model and the effects it asks for."""

    def __init__(
        self,
        wire: Wire,
        url: str,
        options: SessionOptions,
        *,
        restore: Restore,
        on_event: EventHook | None = None,
        on_message: MessageHandler | None = None,
    ) -> None:
        """``restore`` gives a re-initialized legacy session what the lost one held (``RestoreSessionState``)."""
        #: The one way to the network.
        self.wire = wire
        self.options = options
        #: The endpoint (what a request without its own ``url`` goes to; never written anywhere).
        self.url = url
        #: ``scheme://host:port`` of the endpoint (never its credentials).
        self.origin = origin_of(url)
        #: What the client declares on every (re)negotiation.
        self.identity: ClientIdentity = options.identity
        #: What successful requests taught (restored after a legacy re-initialize).
        self.memory = SessionMemory()
        #: The raw result of the negotiation that made the live binding.
        self.negotiated_result: Mapping[str, Any] = {}
        #: Keeps the session ids and the wire's credentials out of what the library writes.
        self.redactor = Redactor(lambda: credentials_of(wire))
        self._issued: object = None  # the newest session id given to the redactor
        self._on_event = on_event
        self._on_message = on_message
        self._restore = restore
        auto = options.mode is EraMode.AUTO
        known = (options.era_cache.get(self.origin) or options.first_era) if auto else None
        self._machine = SessionMachine(
            ModelConfig(
                mode=options.mode,
                max_attempts=options.max_attempts,
                max_replays=options.max_replays,
                known_era=known,
                unkept_sessions_limit=options.unkept_sessions_limit,
                max_resumptions=options.max_resumptions,
                resume_delay=options.resume_delay,
            )
        )
        self._pending_result: Mapping[str, Any] = {}
        self._calls: dict[int, Call] = {}
        self._waiters: dict[int, Waiter] = {}
        self._waiter_ids = itertools.count()
        self._request_ids = itertools.count()
        self._wire_ids = itertools.count(1)
        self._changed: anyio.Event | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        #: Sessions to DELETE: the live one on close, those the model gave up once one is live again.
        self._deletes: collections.deque[Binding] = collections.deque(maxlen=MAX_ABANDONED)
        #: No recovery attempt before this time (``anyio.current_time()``): a server's ``Retry-After``.
        self._not_before = 0.0
        #: The cancel scopes of the background tasks (negotiation, timers, restoration, the GET stream).
        self._background: set[anyio.CancelScope] = set()
        #: The callers' deadlines, on one timer (its watcher starts with the first call).
        self._deadlines = Deadlines()
        self._watching = False
        #: What is logged of the transitions (one warning per loss, one note when back).
        self._log = SessionLog()
        #: Negotiations that made a binding live so far.
        self._negotiated = 0
        #: The latest disruption of the session or of a request, in words (an error's cause).
        self.last_failure = ""

    # -- lifecycle ---------------------------------------------------------------------------------

    def start_in(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the background work in ``task_group``; the owner calls :meth:`close` before leaving it."""
        if self._task_group is not None:
            raise RuntimeError("a Session can be started only once")
        self._task_group = task_group

    async def close(self) -> None:
        """Close: waiting calls get ``SessionClosed``; a live legacy session gets one DELETE."""
        if self._machine.state is State.CLOSED:
            return
        self.apply(CloseRequested())
        with anyio.move_on_after(self.options.close_timeout, shield=True):
            await self._send_deletes()
        # Stop the background work; never the task group's own scope: the owner's code runs in it.
        for scope in tuple(self._background):
            scope.cancel()

    # -- what senders see ----------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """Everything the model knows, as one immutable value."""
        return self._machine.snapshot

    async def wait_for_change(self) -> None:
        """Return after the model's next step."""
        if self._changed is None:
            self._changed = anyio.Event()
        await self._changed.wait()

    def open_call(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        *,
        notification: bool = False,
        tool_annotations: Mapping[str, Any] | None = None,
        client_id: Any = None,
    ) -> Call:
        """Track a new request; the model decides whether it is sent now or waits.

        ``client_id``: the JSON-RPC id the client above gave it (its errors name it). The caller
        must :meth:`release` the call when it is done with it.
        """
        if self._task_group is None:
            raise RuntimeError("use the Session as an async context manager (async with Session(...))")
        request_id = next(self._request_ids)
        tool_name = params.get("name") if method == "tools/call" and params else None
        if not isinstance(tool_name, str):
            tool_name = None
        elif tool_annotations is None:
            tool_annotations = self.memory.tool_annotations.get(tool_name)
        replayability = self.options.policy.replayability(
            method, tool_name=tool_name, tool_annotations=tool_annotations
        )
        call = Call(request_id, method, params, notification, self.apply, client_id=client_id)
        self._calls[request_id] = call
        try:
            self.apply(RequestSubmitted(request_id=request_id, method=method, replayability=replayability))
        except BaseException:
            self.release(call)
            raise
        return call

    def open_waiter(self, timeout: float) -> Waiter:
        """Track a ``connect()`` caller with a deadline of ``timeout`` seconds (which the caller keeps);
        the model resolves it, at once when a binding is live."""
        if self._task_group is None:
            raise RuntimeError("use the Session as an async context manager (async with Session(...))")
        waiter = Waiter(next(self._waiter_ids), self.apply)
        self._waiters[waiter.waiter_id] = waiter
        try:
            self.apply(ConnectRequested(waiter_id=waiter.waiter_id, timeout=timeout))
        except BaseException:
            self._waiters.pop(waiter.waiter_id, None)
            raise
        return waiter

    def release(self, call: Call) -> None:
        """Forget ``call`` (resolved, or its sender gave up and reported so)."""
        self._calls.pop(call.request_id, None)

    def deadline_scope(self, seconds: float) -> anyio.CancelScope:
        """A cancel scope cancelled ``seconds`` from now; the caller must :meth:`end_deadline` it."""
        if not self._watching:
            self._watching = True
            self.start_background(self._deadlines.watch)
        return self._deadlines.open(anyio.current_time() + seconds)

    def end_deadline(self, scope: anyio.CancelScope) -> None:
        """Forget the deadline of a scope from :meth:`deadline_scope` (its block is done)."""
        self._deadlines.close(scope)

    def next_wire_id(self) -> str:
        """A JSON-RPC id for a request the library sends itself: never one a client above uses."""
        return f"mcp-session-recovery-{next(self._wire_ids)}"

    def deliver_message(self, message: Mapping[str, Any]) -> None:
        """Hand a server message that is no response to the ``on_message`` hook."""
        if self._on_message is None:
            return
        try:
            self._on_message(message)
        except Exception:
            logger.exception("%s: the on_message hook raised", self.origin)

    def start_background(self, function: Background, *args: Any) -> None:
        """Run ``function(*args)`` in the session's task group until it ends or the session closes."""
        if self._task_group is None:
            raise RuntimeError("use the Session as an async context manager (async with Session(...))")
        if self._machine.state is State.CLOSED:
            return
        scope = anyio.CancelScope()
        self._background.add(scope)
        self._task_group.start_soon(self._in_background, scope, function, *args)

    async def _in_background(self, scope: anyio.CancelScope, function: Background, *args: Any) -> None:
        sends_for_no_call()  # started from a caller's task, it copied that call's deadline
        try:
            with scope:
                await function(*args)
        finally:
            self._background.discard(scope)

    async def fetch(
        self, outgoing: Outgoing, expected_id: object, *, resume_from: str | None = None
    ) -> Reply | TransportFailure | Pause:
        """One HTTP exchange read to the response (bounded): the reply, the transport failure, or the
        pause of a stream that ended after an event with an id (``resume_from``: ``outgoing``
        resumes the stream paused after the event with that id)."""
        try:
            response = await send_following(self.wire.send, outgoing, self.url)
            try:
                reply = await read_reply_or_pause(
                    response, expected_id, self.options.limits, self.deliver_message, resume_from
                )
            finally:
                await release(response, self.options.close_timeout)
        except WireError as exc:
            return exc.failure()
        return reply

    def listen_opened(self, binding: Binding) -> None:
        """The GET stream that carried ``binding``'s session id was answered 200: tell the model."""
        self.apply(ListenOpened(generation=binding.generation))

    def listen_refused(self, binding: Binding, *, stream_served: bool, reason: str) -> None:
        """The GET stream that carried ``binding``'s session id was answered 404: tell the model.

        The model decides what it means (the live session is gone, an older one: nothing, or a
        server that offers no GET stream: nothing either).
        """
        self.apply(ListenRefused(generation=binding.generation, stream_served=stream_served), reason)

    def heed(self, status: int, headers: Mapping[str, str]) -> None:
        """Take a disrupting answer's ``Retry-After`` (429, 503) into account for the next attempt."""
        seconds = retry_after_seconds(status, headers, self.options.retry_after_limit)
        if seconds is not None:
            self._not_before = max(self._not_before, anyio.current_time() + seconds)

    # -- the model ---------------------------------------------------------------------------------

    def apply(self, event: Event, reason: str = "") -> None:
        """Feed ``event`` to the model and perform its effects. Never awaits."""
        machine = self._machine
        before = machine.snapshot
        effects = machine.handle(event)
        after = machine.snapshot
        if after.pending is not None:
            issued = after.pending.session_id
            if issued is not None and issued is not self._issued:
                self._issued = issued
                self.redactor.add_session_id(issued.header_value)
        entered = before.state is not after.state
        if reason and isinstance(event, (RequestDisrupted, NegotiationDisrupted, StreamPaused)):
            self.last_failure = reason
        if entered and after.state is State.READY:
            self._negotiated += 1
            self.last_failure = ""
        change = None
        if entered or before.binding is not after.binding:  # else no effect can say it changed
            for effect in effects:
                if isinstance(effect, NotifyBindingChanged):
                    change = BindingChange(effect.previous, effect.current)
        # A READY call's steps change neither state nor binding: no record unless a hook wants one.
        if entered or change is not None or self._on_event is not None:
            self._observe(
                TransitionRecord(
                    origin=self.origin,
                    old_state=before.state,
                    event=event,
                    new_state=after.state,
                    generation=after.generation,
                    negotiated=self._negotiated,
                    reason=reason,
                    binding_change=change,
                ),
                gave_up=after.state is State.INVALIDATED and not after.recovery_scheduled,
            )
        live = after.live_binding
        if entered and live is not None:
            self.options.era_cache.remember(self.origin, live.era)
            self.negotiated_result = self._pending_result
            if self._deletes:
                self.start_background(self._delete_abandoned)
        for effect in effects:
            self._perform(effect, after)
        if self._changed is not None:
            changed, self._changed = self._changed, None
            changed.set()

    def _observe(self, record: TransitionRecord, *, gave_up: bool) -> None:
        if record.old_state is not record.new_state or record.binding_change is not None:
            level, text = self._log.line(record, gave_up=gave_up)
            logger.log(level, "%s", text)
        if self._on_event is not None:
            try:
                self._on_event(record)
            except Exception:
                logger.exception("%s: the on_event hook raised", self.origin)

    def _perform(self, effect: Effect, after: Snapshot) -> None:
        if isinstance(effect, (SendRequest, ReplayRequest)):
            assert after.binding is not None
            assert after.binding.generation == effect.generation
            self._calls[effect.request_id].instruct(after.binding)
        elif isinstance(effect, ResumeStream):
            assert after.binding is not None
            assert after.binding.generation == effect.generation
            self._calls[effect.request_id].instruct(after.binding, effect)
        elif isinstance(effect, DeliverResponse):
            call = self._calls[effect.request_id]
            call.resolve(call.answer)
        elif isinstance(effect, FailRequest):
            call = self._calls[effect.request_id]
            # The model knows the request; the caller's own id, its deadline and the cause in words are ours.
            error = effect.error.in_context(
                method=call.method, client_id=call.client_id, timeout=call.timeout, cause=self.last_failure or None
            )
            call.resolve(Resolution(error=self.redactor.error(error)))
        elif isinstance(effect, DeliverBinding):
            assert after.binding is not None
            self._waiters.pop(effect.waiter_id).resolve(Resolution(after.binding))
        elif isinstance(effect, FailConnect):
            self._waiters.pop(effect.waiter_id).resolve(Resolution(error=self.redactor.error(effect.error)))
        elif isinstance(effect, (SendDiscover, SendInitialize)):
            self.start_background(self._negotiate, effect)
        elif isinstance(effect, SendInitialized):
            assert after.pending is not None
            assert after.pending.generation == effect.generation
            self.start_background(self._complete_handshake, after.pending)
        elif isinstance(effect, ScheduleRecovery):
            self.start_background(self._recover_after, effect.attempt)
        elif isinstance(effect, RestoreSessionState):
            assert after.binding is not None
            self.start_background(self._restore, self, after.binding)
        elif isinstance(effect, SendDelete):
            # On close, the close sends it; else once a session is live again (the server may be down now).
            self._deletes.append(effect.binding)
        elif isinstance(effect, NotifyBindingChanged):
            pass  # reported with the transition record
        else:  # pragma: no cover - every effect type is handled above
            raise AssertionError(f"unhandled effect {effect!r}")

    # -- negotiation, recovery and restoration (in the session's task group) -------------------------

    async def _negotiate(self, effect: SendDiscover | SendInitialize) -> None:
        wire_id = self.next_wire_id()
        if isinstance(effect, SendDiscover):
            outgoing, read, method = discover_request(wire_id, self.identity), read_discover, "server/discover"
        else:
            outgoing, read, method = initialize_request(wire_id, self.identity), read_initialize, "initialize"
        await self._negotiation_step(effect.generation, method, outgoing, wire_id, read)

    async def _complete_handshake(self, pending: Binding) -> None:
        outgoing = initialized_notification(pending)
        await self._negotiation_step(pending.generation, "notifications/initialized", outgoing, None, read_initialized)

    async def _negotiation_step(
        self, generation: int, method: str, outgoing: Outgoing, wire_id: str | None, read: Callable[..., Event]
    ) -> None:
        """Send one negotiation message (``method``), bounded by the negotiation timeout, and tell the
        model what its answer means (``read``: the model's reading of that message's answer)."""
        timed_out = f"server unreachable: no answer to {method} within {self.options.negotiation_timeout:g} s"
        event: Event = NegotiationDisrupted(generation=generation, signal=Signal.UNREACHABLE, detail=timed_out)
        try:
            with anyio.move_on_after(self.options.negotiation_timeout):
                answer = await self._negotiation_answer(outgoing, wire_id)
                event = self.redactor.event(read(generation, answer, self.options.classifier))
                if wire_id is not None and isinstance(answer, HttpAnswer):
                    self._pending_result = _result_of(answer.body)
        except CredentialsRejected as exc:
            # The wire's client could not get credentials (its auth flow failed): the client's to fix.
            event = CredentialsRefused(generation=generation, error=exc)
        except Exception as exc:
            event = self._bug(generation, exc)
        self.apply(event, _reason(event))

    def _bug(self, generation: int, exc: Exception) -> Event:
        """The model's event for a negotiation that raised ``exc``, which is no network fault.

        Only a ``WireError`` is a network fault (the wire's own exceptions, classified); anything else
        is a bug in the wire, the transport it wraps or the library. Retrying cannot fix a bug, and
        the callers waiting on this negotiation run in other tasks: so the negotiation is rejected
        and the session ends FAILED, through the table's own ``NegotiationRejected`` rows (no row of
        its own). Every waiting caller gets, at once, the typed error whose ``__cause__`` is ``exc``:
        the library's public surfaces raise only typed errors, and the bug stays one ``raise ... from``
        away for whoever debugs it.
        """
        error = UnexpectedException(type(exc).__name__)
        error.__cause__ = exc
        # The type only: the exception's message may quote the answer's headers (a session id).
        logger.error(
            "%s: negotiation raised %s, a bug, not a network fault: the session FAILED", self.origin, type(exc).__name__
        )
        return NegotiationRejected(generation=generation, error=error)

    async def _negotiation_answer(self, outgoing: Outgoing, wire_id: str | None) -> HttpAnswer | TransportFailure:
        fetched = await self.fetch(outgoing, wire_id)
        if isinstance(fetched, Pause):  # a negotiation is not resumed: its stream was cut
            return TransportFailure(kind=TransportFailureKind.STREAM_CUT, progress=Progress.STREAMING)
        if isinstance(fetched, TransportFailure):
            return fetched
        self.heed(fetched.answer.status, fetched.answer.headers)
        if fetched.refused is not None:  # too large, or another request's id: not an answer to ours
            return TransportFailure(kind=TransportFailureKind.PROTOCOL_ERROR, progress=Progress.STREAMING)
        return fetched.answer

    async def _delete_abandoned(self) -> None:
        with anyio.move_on_after(self.options.close_timeout):
            await self._send_deletes()

    async def _send_deletes(self) -> None:
        """One best-effort DELETE for each session ended or given up (the caller bounds the time)."""
        while self._deletes:
            binding = self._deletes.popleft()
            try:
                response = await send_following(self.wire.send, delete_request(binding), self.url)
                await response.aclose()
            except WireError as exc:
                logger.info("%s: DELETE of an ended session failed: %s", self.origin, exc)
            except Exception as exc:  # a bug below us must not end the session (its message may quote headers)
                logger.error("%s: the wire raised %s during a DELETE", self.origin, type(exc).__name__)

    async def _recover_after(self, attempt: int) -> None:
        await anyio.sleep(max(self.options.backoff.delay(attempt), self._not_before - anyio.current_time()))
        if self._machine.allows(BackoffElapsed()):
            self.apply(BackoffElapsed())

    def __repr__(self) -> str:
        snap = self._machine.snapshot
        return (
            f"<Session {snap.state.name} generation={snap.generation} "
            f"in_flight={len(snap.in_flight())} parked={len(snap.parked())} {self.origin}>"
        )


def _result_of(body: bytes) -> Mapping[str, Any]:
    document = json_object(body)
    result = document.get("result") if document is not None else None
    return result if isinstance(result, dict) else {}


def _reason(event: Event) -> str:
    """Why a negotiation step failed, in a caller's words (the model's); empty when it succeeded."""
    if isinstance(event, (NegotiationRejected, CredentialsRefused)):
        return str(event.error)
    return event.detail if isinstance(event, NegotiationDisrupted) else ""
