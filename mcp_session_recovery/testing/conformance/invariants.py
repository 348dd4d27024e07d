"""The judge: which recovery invariants one story's evidence breaks.

Written from the recovery invariants, not from this library's transition table: the evidence is
what the server received (its counters and its request log) and what each caller got back, so
any client can be judged, whatever it is built on.
"""

from __future__ import annotations

import math

from mcp_session_recovery.testing.behaviour import MODERN_PROTOCOL_VERSION

from .evidence import SESSION_HEADER, Ending, Ledger
from .report import Counters, Invariant

__all__ = ["STORM_RATE", "counters_of", "judge"]

#: The most ``initialize`` attempts per second of unavailability that still count as backing off
#: (a busy loop makes hundreds); a few more are allowed for the attempts around its edges.
STORM_RATE = 20.0
STORM_SLACK = 4
#: The header naming a request's protocol version.
VERSION_HEADER = "mcp-protocol-version"


def judge(ledger: Ledger) -> list[tuple[Invariant, str]]:
    """Every invariant ``ledger`` shows broken, with a detail that names no session id."""
    found: list[tuple[Invariant, str]] = []
    found += _calls(ledger)
    if ledger.client_failure is not None:
        found.append((Invariant.CLIENT_SURVIVES, f"the client failed: {ledger.client_failure}"))
    found += _negotiations(ledger)
    found += _rejected_ids(ledger)
    found += _initialized(ledger)
    bumps = sum(1 for call in ledger.calls if call.tool == "bump")
    executions = ledger.executions("bump")
    if executions > bumps:
        found.append(
            (
                Invariant.NO_DUPLICATE_EXECUTION,
                f"bump ran {executions} times for {bumps} calls (a request that may have run was sent again)",
            )
        )
    found += _eras(ledger)
    return found


def _calls(ledger: Ledger) -> list[tuple[Invariant, str]]:
    found: list[tuple[Invariant, str]] = []
    for call in ledger.calls:
        where = f"the call of {call.tool} in step {call.step + 1}"
        if call.ending is Ending.HANG:
            found.append((Invariant.RESOLVED, f"{where} did not resolve within its deadline"))
        elif call.ending is Ending.KILLED:
            found.append((Invariant.RESOLVED, f"{where} never resolved: the client died under it"))
        elif call.ending is Ending.RESULT and call.expected_text is not None and call.text != call.expected_text:
            found.append((Invariant.RESOLVED, f"{where} returned {call.detail!r}, not its own answer"))
        elif call.ending is Ending.EXCEPTION and not call.in_doubt:
            found.append((Invariant.RECOVERED, f"{where} raised {call.detail}"))
    return found


def _negotiations(ledger: Ledger) -> list[tuple[Invariant, str]]:
    found: list[tuple[Invariant, str]] = []
    initializes = ledger.total("initializes")
    allowed = 1 + ledger.losses
    if initializes > allowed:
        found.append(
            (
                Invariant.ONE_INITIALIZE_PER_LOST_SESSION,
                f"{initializes} sessions initialized for {ledger.losses} lost (at most {allowed} expected)",
            )
        )
    posts = ledger.initialize_posts()
    # A few refused ones are fine anywhere (a dual-era client's probe gets one refused by a
    # sessionless server); a storm is many, as fast as the server answers them.
    limit = initializes + STORM_SLACK * (1 + len(ledger.windows)) + math.ceil(STORM_RATE * ledger.window_seconds)
    if posts > limit:
        found.append(
            (
                Invariant.NO_STORM,
                f"{posts} initialize requests for {initializes} sessions in {len(ledger.windows)} gateway "
                f"window(s) of {ledger.window_seconds:g} s in all (at most {limit} expected)",
            )
        )
    return found


def _rejected_uses(ledger: Ledger) -> int:
    """Requests that carried an already-rejected session id (outside gateway windows).

    The first requests after a death are how a client learns of it: until the first step that
    made calls after the death has ended, the callers in flight at once (and a GET stream) may
    each carry the dead id once. After that step the client has seen the rejection: none may.
    """
    uses = 0
    for position, dead in ledger.deaths:
        learned = next((end for end in ledger.call_steps_ended if end > position), len(ledger.recorded))
        early = 0
        for index in range(position, len(ledger.recorded)):
            if any(first <= index < end for first, end in ledger.windows):
                continue  # a gateway answered: the id was not rejected by these
            if ledger.recorded[index].headers.get(SESSION_HEADER) in dead:
                if index < learned:
                    early += 1
                else:
                    uses += 1
        grace = ledger.max_callers + 1
        uses += max(0, early - grace)
    return uses


def _rejected_ids(ledger: Ledger) -> list[tuple[Invariant, str]]:
    uses = _rejected_uses(ledger)
    if not uses:
        return []
    return [
        (
            Invariant.NO_REJECTED_SESSION_ID,
            f"{uses} requests carried a session id the server had already rejected "
            f"({ledger.total('stale_answers')} stale-session answers for {len(ledger.deaths)} lost session(s))",
        )
    ]


def _initialized(ledger: Ledger) -> list[tuple[Invariant, str]]:
    found: list[tuple[Invariant, str]] = []
    early = ledger.total("requests_before_initialized")
    if early:
        found.append((Invariant.INITIALIZED_FIRST, f"{early} requests reached a session before its initialized"))
    notified, sessions = ledger.total("initialized_notifications"), ledger.total("sessions_created")
    if notified > sessions:
        found.append((Invariant.INITIALIZED_FIRST, f"{notified} notifications/initialized for {sessions} sessions"))
    return found


def _eras(ledger: Ledger) -> list[tuple[Invariant, str]]:
    mixed = sum(
        1
        for request in ledger.recorded
        if SESSION_HEADER in request.headers and request.headers.get(VERSION_HEADER) == MODERN_PROTOCOL_VERSION
    )
    if not mixed:
        return []
    return [(Invariant.NO_ERA_MIXING, f"{mixed} requests carried a session id and the sessionless version")]


def counters_of(ledger: Ledger) -> Counters:
    """The story's evidence as counters (summed by the check over every story)."""
    endings = [call.ending for call in ledger.calls]
    return Counters(
        stories=1,
        steps=ledger.steps_run,
        calls=len(endings),
        results=endings.count(Ending.RESULT),
        exceptions=endings.count(Ending.EXCEPTION),
        hangs=endings.count(Ending.HANG),
        restarts=ledger.faults.get("restarts", 0),
        expiries=ledger.faults.get("expiries", 0),
        outages=ledger.faults.get("outages", 0),
        gateway_windows=ledger.faults.get("gateway_windows", 0),
        cut_streams=ledger.faults.get("cut_streams", 0),
        era_switches=ledger.faults.get("era_switches", 0),
        initializes=ledger.total("initializes"),
        initialize_posts=ledger.initialize_posts(),
        sessions_created=ledger.total("sessions_created"),
        stale_answers=ledger.total("stale_answers"),
        initialized_notifications=ledger.total("initialized_notifications"),
        requests_before_initialized=ledger.total("requests_before_initialized"),
        bump_executions=ledger.executions("bump"),
        rejected_id_requests=_rejected_uses(ledger),
    )
