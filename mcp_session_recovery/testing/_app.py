"""Routing: control endpoints, the gateway fault, the MCP path, and which era answers.

The app owns the configuration and the process memory and knows nothing about sockets, so the
same object answers in-process tests and a subprocess's control endpoint.
"""

from __future__ import annotations

import dataclasses
import json
import time
from types import MappingProxyType
from typing import Unpack

from ._echo import echo_secrets
from ._legacy import handle_legacy
from ._modern import handle_modern
from ._state import ProcessState
from ._wire import Drop, Fixed, HttpRequest, Reply, dumps, json_reply, text_reply
from .behaviour import LEGACY_PROTOCOL_VERSIONS, Behaviour, BehaviourChanges, ServedEra, changes_from_json
from .canned import AnswerRule
from .stats import RecordedRequest, ServerStats

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

    def take_pause(self) -> bool:
        """Use up one pending pause, if any."""
        pending = self._behaviour.pause_tool_responses
        if pending <= 0:
            return False
        self._behaviour = self._behaviour.replace(pause_tool_responses=pending - 1)
        return True

    def take_rule(self, http_method: str, rpc_method: str | None) -> AnswerRule | None:
        """The first live rule matching the request, using up one of its ``times``."""
        rules = self._behaviour.answer_rules
        for index, rule in enumerate(rules):  # bounded: at most MAX_RULES
            if rule.spent or not rule.matches(http_method, rpc_method):
                continue
            if rule.times is not None:
                used = dataclasses.replace(rule, times=rule.times - 1)
                self._behaviour = self._behaviour.replace(answer_rules=(*rules[:index], used, *rules[index + 1 :]))
            return rule
        return None

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
        behaviour = self._behaviour
        on_mcp_path = request.path == self.path or request.path in behaviour.path_aliases
        rpc_method = self._note(request, on_mcp_path)
        canned = behaviour.answer_status_for_all
        if canned is None and request.path == self.path and behaviour.answer_rules:
            rule = self.take_rule(request.method, rpc_method)
            if rule is not None and rule.answer is None:
                self._state.dropped_requests += 1
                return Drop()
            canned = None if rule is None else rule.answer
        if canned is not None:
            self._state.canned_answers += 1
            body = canned.body_bytes(request.header("mcp-session-id"), request.header("authorization"))
            return Fixed(canned.status, canned.response_headers(), body)
        if not on_mcp_path:
            reply: Reply = text_reply(404, "Not Found")
        elif self._routes_modern(request):
            reply = await handle_modern(self, request)
        else:
            reply = await handle_legacy(self, request)
        # The behaviour of the moment the answer leaves, as for every other fault.
        return echo_secrets(reply, request) if self._behaviour.echo_secrets else reply

    def _note(self, request: HttpRequest, on_mcp_path: bool) -> str | None:
        """Count what arrived, whatever will answer it; the POST's JSON-RPC method, when needed."""
        state, behaviour = self._state, self._behaviour
        if behaviour.record_requests:
            recorded = RecordedRequest(request.method, request.path, MappingProxyType(dict(request.headers)))
            state.record(recorded, behaviour.record_requests)
        if not on_mcp_path:
            return None
        if request.method == "GET":
            state.get_requests += 1
        elif request.method == "DELETE":
            state.delete_requests += 1
        elif request.method == "POST" and (behaviour.answer_rules or b'"initialize"' in request.body):
            # Parsed here only when something needs it: rules select by method, and initialize
            # arrivals are timed even when a canned answer (a gateway's 502) answers them.
            rpc_method = _rpc_method(request.body)
            if rpc_method == "initialize":
                state.initialize_times.append(time.monotonic())
            return rpc_method
        return None

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


def _rpc_method(body: bytes) -> str | None:
    """The ``method`` of a JSON-RPC message body; ``None`` when it is not one."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    method = message.get("method") if isinstance(message, dict) else None
    return method if isinstance(method, str) else None
