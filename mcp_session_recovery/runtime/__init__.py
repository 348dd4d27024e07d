"""The anyio runtime that performs the model's effects: one :class:`Session` per endpoint.

Runs unchanged on asyncio and trio. Adapters reach it through :class:`Wire`, the one small
interface to the network.
"""

from __future__ import annotations

from .backoff import Backoff, RelistenSchedule
from .era_cache import DEFAULT_ERA_CACHE, EraCache, origin_of
from .memory import SessionMemory
from .observe import BindingChange, EventHook, TransitionRecord
from .options import SessionOptions
from .reading import MessageHandler, ReadLimits
from .session import Session
from .wire import Wire, WireError, WireResponse

__all__ = [
    "DEFAULT_ERA_CACHE",
    "Backoff",
    "BindingChange",
    "EraCache",
    "EventHook",
    "MessageHandler",
    "ReadLimits",
    "RelistenSchedule",
    "Session",
    "SessionMemory",
    "SessionOptions",
    "TransitionRecord",
    "Wire",
    "WireError",
    "WireResponse",
    "origin_of",
]
