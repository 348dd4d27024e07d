"""The enumerations the model is made of: session states, protocol eras and signals."""

from __future__ import annotations

import enum

__all__ = ["TERMINAL_STATES", "Era", "EraMode", "Replayability", "Signal", "State"]


class State(enum.Enum):
    """Where a client's relationship with one MCP endpoint stands."""

    #: Nothing negotiated yet; the first request (or an explicit connect) starts negotiating.
    UNINITIALIZED = "uninitialized"
    #: The first negotiation (probe or ``initialize``) is in flight; requests wait.
    INITIALIZING = "initializing"
    #: A binding is live: requests are sent under its generation.
    READY = "ready"
    #: The binding is known lost (or a negotiation attempt failed); recovery is waiting for its
    #: backoff to elapse, or for a request to want it.
    INVALIDATED = "invalidated"
    #: A re-negotiation is in flight; requests wait.
    RECOVERING = "recovering"
    #: Closed by its owner. Terminal.
    CLOSED = "closed"
    #: A condition no retry can fix (no common protocol version, ``initialize`` rejected).
    #: Terminal except for closing.
    FAILED = "failed"

    # Members are singletons compared by identity, so identity hashing is consistent with ``==``.
    # ``Enum.__hash__`` is a Python function (it hashes the name); a state keys the compiled
    # engine's row lookup on every event, so it is hashed twice on every call.
    __hash__ = object.__hash__


#: States that no event leaves except (for ``FAILED``) closing.
TERMINAL_STATES = frozenset({State.CLOSED, State.FAILED})


class Era(enum.Enum):
    """The two generations of the MCP HTTP transport."""

    #: 2025-03-26 .. 2025-11-25: ``initialize`` handshake and optional ``Mcp-Session-Id``.
    LEGACY = "legacy"
    #: 2026-07-28 and later: sessionless, version and capabilities on every request.
    MODERN = "modern"

    __hash__ = object.__hash__  # as for State: every request's exchange is looked up by era


class EraMode(enum.Enum):
    """Which era a client is willing to speak."""

    #: Probe the modern era first, fall back to ``initialize``, re-probe when the era changes.
    AUTO = "auto"
    #: Only the legacy handshake.
    LEGACY = "legacy"
    #: Only the sessionless era.
    MODERN = "modern"


class Signal(enum.Enum):
    """What one failed exchange means for the session (the classifier's output)."""

    #: Legacy 404 to a request that carried the session id: the session is gone, and the server
    #: did not process the request.
    SESSION_GONE = "session_gone"
    #: Nothing reached an MCP server (connect refused, DNS, connect timeout, 502/503, an
    #: intermediary's 404). Not processed; wait with backoff.
    UNREACHABLE = "unreachable"
    #: The server now speaks another era, or no longer supports our version. Not processed;
    #: re-probe.
    ERA_CHANGED = "era_changed"
    #: The request was sent but its answer was lost (reset, stream cut, read timeout, 504). It may
    #: have been processed.
    OUTCOME_UNKNOWN = "outcome_unknown"
    #: An answer for the caller (a result, an application error, 401/403/429, an unknown method).
    PASS_THROUGH = "pass_through"


class Replayability(enum.Enum):
    """How far a request may be sent again (decided by the replay policy)."""

    #: Safe to send again even when it may have been processed (list, read, get, ping, ...).
    ALWAYS = "always"
    #: Sent again only when it provably was not processed (e.g. an ordinary ``tools/call``).
    IF_UNPROCESSED = "if_unprocessed"
    #: Never sent again (``notifications/initialized``, ``notifications/cancelled``).
    NEVER = "never"
