"""What the runtime learns from the requests that succeed.

The server keeps a session's log level and resource subscriptions; a re-initialized session starts
without them. The runtime watches the requests that succeed and replays the last
``logging/setLevel`` and every live ``resources/subscribe`` after a legacy re-initialize. It also
keeps the annotations of the tools ``tools/list`` named, which the replay policy reads when the
caller trusts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SessionMemory"]

#: The methods whose results :meth:`SessionMemory.observe` reads.
_RESULTS_READ = frozenset({"tools/list"})


class SessionMemory:
    """The session-scoped state learned from successful requests."""

    def __init__(self) -> None:
        self.log_level: str | None = None
        self._subscriptions: dict[str, None] = {}  # ordered set: restored in subscription order
        #: Tool name -> the annotations the last ``tools/list`` gave it.
        self.tool_annotations: dict[str, Mapping[str, Any]] = {}

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """The URIs subscribed to and not unsubscribed, oldest first."""
        return tuple(self._subscriptions)

    @staticmethod
    def reads_result(method: str) -> bool:
        """Whether :meth:`observe` reads the result of ``method`` (a relay need not parse others)."""
        return method in _RESULTS_READ

    def observe(self, method: str, params: Mapping[str, Any] | None, result: object = None) -> None:
        """Record what a request that succeeded (with ``result``) changed or told."""
        params = params or {}
        if method == "tools/list" and isinstance(result, Mapping):
            for tool in result.get("tools") or ():
                if isinstance(tool, Mapping) and isinstance(tool.get("name"), str):
                    annotations = tool.get("annotations")
                    self.tool_annotations[tool["name"]] = annotations if isinstance(annotations, Mapping) else {}
        if method == "logging/setLevel" and isinstance(params.get("level"), str):
            self.log_level = params["level"]
        elif method == "resources/subscribe" and isinstance(params.get("uri"), str):
            self._subscriptions[params["uri"]] = None
        elif method == "resources/unsubscribe" and isinstance(params.get("uri"), str):
            self._subscriptions.pop(params["uri"], None)

    def restoring_requests(self) -> list[tuple[str, dict[str, Any]]]:
        """The requests that give a new session what this one held, in order."""
        requests: list[tuple[str, dict[str, Any]]] = []
        if self.log_level is not None:
            requests.append(("logging/setLevel", {"level": self.log_level}))
        requests.extend(("resources/subscribe", {"uri": uri}) for uri in self._subscriptions)
        return requests
