"""THE transition table: the one description of the session machine.

Each row reads: in state ``source``, event ``event``, when ``guard`` holds (or always, if it is
``None``), go to ``target`` and run ``action``. Rows for the same state and event are tried in
order and the first whose guard holds wins; when none does, the event is illegal there. The runtime's
state changes, the ``transitions`` engine in :mod:`.reference_engine`, the diagrams in ``diagrams/``, the
test strategies and the structural checks are all derived from :data:`TABLE`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import rules
from .events import (
    BackoffElapsed,
    CloseRequested,
    ConnectAbandoned,
    ConnectRequested,
    CredentialsRefused,
    DiscoverSucceeded,
    Event,
    InitializedDelivered,
    InitializeSucceeded,
    ListenOpened,
    ListenRefused,
    NegotiationDisrupted,
    NegotiationRejected,
    RequestAbandoned,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    StreamPaused,
)
from .rules import Action, Guard
from .states import State

__all__ = ["LATE_REPORTS", "TABLE", "Row"]

S = State


@dataclass(frozen=True, slots=True)
class Row:
    """One transition."""

    source: State
    event: type[Event]
    target: State
    action: Action
    guard: Guard | None = None

    @property
    def name(self) -> str:
        """A stable, readable identifier, e.g. ``READY.RequestDisrupted[loses_binding]``."""
        guard = f"[{self.guard.__name__}]" if self.guard else ""
        return f"{self.source.name}.{self.event.__name__}{guard}"


#: Reports of a negotiation that was in flight when the session was closed. They change nothing.
#: (Requests and connect() callers need no such rows: closing resolves them all, and the runtime
#: reports only on those the model still tracks. FAILED needs none: it is entered when the one
#: negotiation ends.)
LATE_REPORTS: tuple[type[Event], ...] = (
    DiscoverSucceeded,
    InitializeSucceeded,
    InitializedDelivered,
    NegotiationDisrupted,
    NegotiationRejected,
    CredentialsRefused,
)

_NEGOTIATING = (S.INITIALIZING, S.RECOVERING)
_LIVE = (S.INITIALIZING, S.READY, S.INVALIDATED, S.RECOVERING)
#: Where connect() callers wait (READY hands each its binding at once).
_AWAITING_BINDING = (S.INITIALIZING, S.INVALIDATED, S.RECOVERING)
#: Where a report on a GET stream opened while READY may arrive late: it changes nothing there.
_AFTER_READY = (S.INVALIDATED, S.RECOVERING, S.CLOSED, S.FAILED)

TABLE: tuple[Row, ...] = (
    # --- starting: a request or a connect() caller needs a binding ---------------------------
    Row(S.UNINITIALIZED, ConnectRequested, S.INITIALIZING, rules.wait_and_negotiate),
    Row(S.UNINITIALIZED, RequestSubmitted, S.INITIALIZING, rules.park_and_negotiate),
    Row(S.INITIALIZING, ConnectRequested, S.INITIALIZING, rules.wait_for_binding),
    Row(S.INITIALIZING, RequestSubmitted, S.INITIALIZING, rules.park),
    # --- negotiating (first time or recovering): one negotiation in flight, requests wait -----
    *(
        row
        for state in _NEGOTIATING
        for row in (
            Row(state, DiscoverSucceeded, S.READY, rules.bind_modern, rules.modern_answer),
            Row(state, InitializeSucceeded, state, rules.hold_pending, rules.legacy_answer),
            Row(state, InitializedDelivered, S.READY, rules.bind_pending, rules.handshake_pending),
            Row(state, NegotiationDisrupted, state, rules.switch_era, rules.may_switch_era),
            Row(state, NegotiationDisrupted, S.INVALIDATED, rules.give_up_unkept, rules.sessions_not_kept),
            Row(state, NegotiationDisrupted, S.INVALIDATED, rules.count_failure, rules.current_negotiation),
            Row(state, NegotiationRejected, S.FAILED, rules.fail_session, rules.current_negotiation),
            # The credentials are the client's: the round ends, the next request negotiates again.
            Row(state, CredentialsRefused, S.INVALIDATED, rules.refuse_credentials, rules.current_negotiation),
        )
    ),
    # --- ready: requests go out under the live binding ----------------------------------------
    Row(S.READY, ConnectRequested, S.READY, rules.hand_binding),
    Row(S.READY, RequestSubmitted, S.READY, rules.send),
    Row(S.READY, ResponseReceived, S.READY, rules.deliver, rules.in_flight),
    Row(S.READY, RequestDisrupted, S.INVALIDATED, rules.give_up_unkept, rules.sessions_not_kept),
    Row(S.READY, RequestDisrupted, S.INVALIDATED, rules.invalidate, rules.loses_binding),
    Row(S.READY, RequestDisrupted, S.READY, rules.resend_or_fail, rules.keeps_binding),
    # A stream closed (or cut) after an event with an id, before the response: the request waits to
    # resume it (SEP-1699); past the bound, or where it cannot be resumed, it is a cut stream.
    Row(S.READY, StreamPaused, S.READY, rules.resume, rules.resumable),
    Row(S.READY, StreamPaused, S.READY, rules.resend_or_fail, rules.keeps_binding),
    # --- invalidated: waiting for the backoff, or for a request that wants a binding ----------
    Row(S.INVALIDATED, ConnectRequested, S.RECOVERING, rules.wait_and_negotiate, rules.recovery_idle),
    Row(S.INVALIDATED, ConnectRequested, S.INVALIDATED, rules.wait_for_binding, rules.recovery_scheduled),
    Row(S.INVALIDATED, RequestSubmitted, S.RECOVERING, rules.park_and_negotiate, rules.recovery_idle),
    Row(S.INVALIDATED, RequestSubmitted, S.INVALIDATED, rules.park, rules.recovery_scheduled),
    Row(S.INVALIDATED, BackoffElapsed, S.RECOVERING, rules.negotiate, rules.recovery_scheduled),
    Row(S.INVALIDATED, ResponseReceived, S.INVALIDATED, rules.deliver, rules.in_flight),
    Row(S.INVALIDATED, RequestDisrupted, S.RECOVERING, rules.requeue_and_negotiate, rules.requeues_while_idle),
    Row(S.INVALIDATED, RequestDisrupted, S.INVALIDATED, rules.requeue_or_fail, rules.in_flight),
    Row(S.INVALIDATED, StreamPaused, S.RECOVERING, rules.requeue_and_negotiate, rules.requeues_while_idle),
    Row(S.INVALIDATED, StreamPaused, S.INVALIDATED, rules.requeue_or_fail, rules.in_flight),
    # --- recovering: old-generation requests may still report -----------------------------------
    Row(S.RECOVERING, ConnectRequested, S.RECOVERING, rules.wait_for_binding),
    Row(S.RECOVERING, RequestSubmitted, S.RECOVERING, rules.park),
    Row(S.RECOVERING, ResponseReceived, S.RECOVERING, rules.deliver, rules.in_flight),
    Row(S.RECOVERING, RequestDisrupted, S.RECOVERING, rules.requeue_or_fail, rules.in_flight),
    Row(S.RECOVERING, StreamPaused, S.RECOVERING, rules.requeue_or_fail, rules.in_flight),
    # --- any live state: a request's (or a connect() caller's) deadline passes or its caller leaves
    *(Row(state, RequestAbandoned, state, rules.abandon, rules.tracked) for state in _LIVE),
    # --- the GET stream refused with 404: the session of that generation is gone, unless the
    # server shows it offers no stream (a fresh session's GET refused twice in a row) ------------
    Row(S.READY, ListenRefused, S.READY, rules.keep_session, rules.server_offers_no_stream),
    Row(S.READY, ListenRefused, S.INVALIDATED, rules.give_up_unkept, rules.sessions_not_kept),
    Row(S.READY, ListenRefused, S.INVALIDATED, rules.forget_session, rules.refuses_live_session),
    Row(S.READY, ListenRefused, S.READY, rules.ignore, rules.refuses_older_session),
    *(Row(state, ListenRefused, state, rules.ignore) for state in _AFTER_READY),
    # --- the GET stream served (200): the server offers one -----------------------------------------
    Row(S.READY, ListenOpened, S.READY, rules.note_stream_served, rules.opens_live_stream),
    Row(S.READY, ListenOpened, S.READY, rules.ignore, rules.opens_older_stream),
    *(Row(state, ListenOpened, state, rules.ignore) for state in _AFTER_READY),
    *(Row(state, ConnectAbandoned, state, rules.abandon_connect, rules.waiting) for state in _AWAITING_BINDING),
    # --- closing and the terminal states ---------------------------------------------------------
    *(Row(state, CloseRequested, S.CLOSED, rules.close) for state in State if state is not S.CLOSED),
    Row(S.CLOSED, CloseRequested, S.CLOSED, rules.ignore),
    Row(S.CLOSED, RequestSubmitted, S.CLOSED, rules.refuse_closed),
    Row(S.FAILED, RequestSubmitted, S.FAILED, rules.refuse_failed),
    Row(S.CLOSED, ConnectRequested, S.CLOSED, rules.refuse_connect_closed),
    Row(S.FAILED, ConnectRequested, S.FAILED, rules.refuse_connect_failed),
    *(Row(S.CLOSED, event, S.CLOSED, rules.ignore) for event in LATE_REPORTS),
)
