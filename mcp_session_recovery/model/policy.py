"""The replay policy: which requests may be sent again after they were lost.

What provably was not processed may be re-sent (bounded by ``ModelConfig.max_replays``). What may
have been processed is re-sent only when repeating it is harmless: discovery, listing, reading,
getting, ping, subscribing. A ``tools/call`` qualifies only when the user allow-lists the tool, or
trusts the server's annotations and the tool says it is read-only or idempotent (the spec tells
clients to treat annotations as untrusted unless the server is trusted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .states import Replayability

__all__ = ["NEVER_REPLAYED", "REPEATABLE_METHODS", "ReplayPolicy"]

#: Methods whose repetition has no further effect on the server.
REPEATABLE_METHODS: frozenset[str] = frozenset(
    {
        "server/discover",
        "ping",
        "tools/list",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "logging/setLevel",
        "completion/complete",
        "subscriptions/listen",
    }
)

#: Messages that are never re-sent: a new session sends its own ``initialized``, and a
#: cancellation aimed at a lost session's request means nothing to the new one.
NEVER_REPLAYED: frozenset[str] = frozenset({"notifications/initialized", "notifications/cancelled"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayPolicy:
    """Decides each request's :class:`Replayability` when it is submitted."""

    #: Trust the server's ``readOnlyHint`` / ``idempotentHint`` tool annotations.
    trust_tool_annotations: bool = False
    #: Tools the user declares safe to call twice, whatever the server says.
    replayable_tools: frozenset[str] = field(default_factory=frozenset)

    def replayability(
        self,
        method: str,
        *,
        tool_name: str | None = None,
        tool_annotations: Mapping[str, Any] | None = None,
    ) -> Replayability:
        """How far a request with this method (and, for ``tools/call``, this tool) may be re-sent."""
        if method in NEVER_REPLAYED:
            return Replayability.NEVER
        if method in REPEATABLE_METHODS:
            return Replayability.ALWAYS
        if method == "tools/call" and tool_name is not None:
            if tool_name in self.replayable_tools:
                return Replayability.ALWAYS
            if self.trust_tool_annotations and _declares_repeatable(tool_annotations or {}):
                return Replayability.ALWAYS
        return Replayability.IF_UNPROCESSED


def _declares_repeatable(annotations: Mapping[str, Any]) -> bool:
    return annotations.get("readOnlyHint") is True or annotations.get("idempotentHint") is True
