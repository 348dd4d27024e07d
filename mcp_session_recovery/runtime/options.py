"""``SessionOptions``: how a :class:`~.session.Session` behaves; every field has a sensible default."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_session_recovery.model import ClassifierOptions, ClientIdentity, Era, EraMode, ReplayPolicy

from .backoff import Backoff, RelistenSchedule
from .era_cache import DEFAULT_ERA_CACHE, EraCache
from .reading import ReadLimits

__all__ = ["SessionOptions"]


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
    #: default backoff a round spans about 20 s (30 s at most): a container restart or a redeploy.
    max_attempts: int = 60
    #: How often one request may be re-sent after it was lost.
    max_replays: int = 2
    #: New sessions lost in a row before any of their requests was answered, after which waiting
    #: calls get ``SessionNotKept`` at once (a balancer without session affinity, a server that
    #: forgets sessions at once: waiting cannot help). A refused connection or a gateway's 502 or
    #: 404 never counts: those are waited out for the whole ``max_attempts`` round.
    unkept_sessions_limit: int = 3
    #: Resumptions of one request's paused response stream (SEP-1699: the server ended it after an
    #: event with an id) in a row without a new event id, before it counts as cut (and the replay
    #: policy decides). The request's deadline bounds them too.
    max_resumptions: int = 3
    #: Seconds before resuming a paused stream whose server gave no ``retry`` (the SDK's 1 s).
    resume_delay: float = 1.0
    #: The delay before each recovery attempt.
    backoff: Backoff = field(default_factory=Backoff)
    #: The longest ``Retry-After`` (on 429 and 503) honoured before the next attempt, in seconds;
    #: a waiting request's own deadline still applies.
    retry_after_limit: float = 60.0
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
    #: When a GET stream that ended or was refused is opened again, and when it is left closed.
    relisten: RelistenSchedule = field(default_factory=RelistenSchedule)
    #: Where the era each origin spoke is remembered.
    era_cache: EraCache = field(default_factory=lambda: DEFAULT_ERA_CACHE)
    #: The most the library reads of one answer (bodies and events are relayed unchanged below).
    limits: ReadLimits = field(default_factory=ReadLimits)
    #: In AUTO mode, the era tried first while the cache knows nothing of the origin (default:
    #: the sessionless era). Either way the other era is tried when the first fails.
    first_era: Era | None = None

    def __post_init__(self) -> None:
        if not self.retry_after_limit >= 0:
            raise ValueError("retry_after_limit must not be negative")
        if not 0 <= self.resume_delay < float("inf"):
            raise ValueError("resume_delay must be a finite number of seconds, not negative")
        for name in ("request_timeout", "negotiation_timeout", "close_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
