"""Routing: control endpoints, the gateway fault, the MCP path, and which era answers.

The app owns the configuration and the process memory and knows nothing about sockets, so the
same object answers in-process tests and a subprocess's control endpoint.
"""

from __future__ import annotations

import json
from typing import Unpack

from ._legacy import handle_legacy
from ._modern import handle_modern
from ._state import ProcessState
from ._wire import Fixed, HttpRequest, Reply, dumps, json_reply, text_reply
from .behaviour import LEGACY_PROTOCOL_VERSIONS, Behaviour, BehaviourChanges, ServedEra, changes_from_json
from .stats import ServerStats

__all__ = ["CONTROL_PREFIX", "App"]

#: Requests under this path drive the server instead of being served (when control is enabled).
CONTROL_PREFIX = "/_control/"


class App:
    """The server's behaviour, memory and request routing, without any I/O."""

    def __init__(self, behaviour: Behaviour, *, path: str = "/mcp", control: bool = True) -> None:
        if not path.startswith("/") or path.startswith(CONTROL_PREFIX):
            raise ValueError(f"path must start with '/' and not with {CONTROL_PREFIX!r}, got {path!r}")
        self._behaviour = behaviour
        self._state = ProcessState()
        self.path = path
        self.control = control

    @property
    def behaviour(self) -> Behaviour:
        """The current configuration."""
        return self._behaviour

    @property
    def state(self) -> ProcessState:
        """The current process memory (replaced by :meth:`restart`)."""
        return self._state

    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        return self._state.snapshot()

    def configure(self, **changes: Unpack[BehaviourChanges]) -> Behaviour:
        """Apply ``changes`` (validated as a whole) and return the new configuration."""
        self._behaviour = self._behaviour.replace(**changes)
        return self._behaviour

    def take_cut(self) -> bool:
        """Use up one pending cut, if any."""
        pending = self._behaviour.cut_tool_responses
        if pending <= 0:
            return False
        self._behaviour = self._behaviour.replace(cut_tool_responses=pending - 1)
        return True

    def restart(self) -> None:
        """Forget everything a process would lose; the configuration stays."""
        old = self._state
        old.drop_all(abort=True)
        self._state = ProcessState(restarts=old.restarts + 1)

    def expire_sessions(self) -> int:
        """Forget every session (idle reaping), keep the counters; returns how many."""
        return self._state.drop_all(abort=False)

    def close(self) -> None:
        """Abort every open GET stream (the server is shutting down)."""
        self._state.drop_all(abort=True)

    async def handle(self, request: HttpRequest) -> Reply:
        """Answer one HTTP request."""
        if self.control and request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        canned = self._behaviour.answer_status_for_all
        if canned is not None:
            body = canned.body.encode("utf-8") if isinstance(canned.body, str) else canned.body
            return Fixed(canned.status, (("content-type", canned.content_type),), body)
        if request.path != self.path:
            return text_reply(404, "Not Found")
        if self._routes_modern(request):
            return await handle_modern(self, request)
        return await handle_legacy(self, request)

    def _routes_modern(self, request: HttpRequest) -> bool:
        eras = self._behaviour.eras
        if ServedEra.LEGACY not in eras:
            return True
        if ServedEra.MODERN not in eras:
            return False
        # As the SDK's dual server: a version header that is not a handshake one goes modern.
        version = request.header("mcp-protocol-version")
        return version is not None and version not in LEGACY_PROTOCOL_VERSIONS

    def _control(self, request: HttpRequest) -> Reply:
        action = request.path.removeprefix(CONTROL_PREFIX)
        if request.method == "GET" and action == "stats":
            return json_reply(200, dumps(self.stats().to_json()))
        if request.method == "GET" and action == "behaviour":
            return json_reply(200, dumps(self._behaviour.to_json()))
        if request.method == "POST" and action == "restart":
            self.restart()
            return json_reply(200, dumps(self.stats().to_json()))
        if request.method == "POST" and action == "configure":
            try:
                changes = changes_from_json(json.loads(request.body or b"{}"))
                behaviour = self.configure(**changes)
            except ValueError as error:  # json.JSONDecodeError is a ValueError too
                return json_reply(400, dumps({"error": str(error)}))
            return json_reply(200, dumps(behaviour.to_json()))
        return json_reply(404, dumps({"error": f"no control action {request.method} {action!r}"}))
