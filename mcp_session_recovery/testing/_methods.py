"""The MCP methods the server serves in both eras: five tools, one resource, no prompts.

The tools are chosen for what a recovery test needs to observe: ``bump`` has a side effect and no
annotations (unsafe to replay), ``add`` and ``peek`` are read-only (safe to replay), ``peek``
reads the side effect without changing it, ``slow`` keeps a request in flight, and ``blob``
(read-only) answers ``size`` characters of :func:`~.blob.blob_text`, to check large answers
arrive whole.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any, Protocol

import anyio

from ._state import ProcessState, Session
from ._wire import INVALID_PARAMS, METHOD_NOT_FOUND, RESOURCE_NOT_FOUND, RpcError, dumps, sse_event
from .behaviour import MAX_SLOW_SECONDS, Behaviour
from .blob import MAX_BLOB_SIZE, blob_text

__all__ = ["COUNTER_URI", "LEGACY_ONLY_METHODS", "MAX_TOKEN", "Host", "record_bumps_to", "serve_method"]

#: The one resource; its text is the ``bump`` count.
COUNTER_URI = "test://counter"

#: Methods the 2026-07-28 era removed; a modern request for them is an unknown method.
LEGACY_ONLY_METHODS = frozenset({"ping", "resources/subscribe", "resources/unsubscribe", "logging/setLevel"})

#: The longest ``token`` a ``bump`` call may carry.
MAX_TOKEN = 200

#: The ledger's file descriptor (``--ledger FILE``), or ``None``. One per process, on purpose: the
#: ledger is for a test that SIGKILLs the process, so it must live outside the process's memory.
_ledger: list[int] = []


def record_bumps_to(path: str) -> None:
    """Append the ``token`` of every ``bump`` execution to ``path``, one line each, before it answers.

    A test that SIGKILLs the server reads the file afterwards: a token on two lines ran twice, even
    when the two executions were in different processes.
    """
    _ledger.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600))


_NUMBER = {"type": "number"}
_READ_ONLY = {"readOnlyHint": True}

_TOOLS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "bump",
        "description": "Increment the server's side-effect counter and return it (`token`: written to the ledger).",
        "inputSchema": {"type": "object", "properties": {"token": {"type": "string", "maxLength": MAX_TOKEN}}},
    },
    {
        "name": "add",
        "description": "Return a + b.",
        "inputSchema": {"type": "object", "properties": {"a": _NUMBER, "b": _NUMBER}, "required": ["a", "b"]},
        "annotations": _READ_ONLY,
    },
    {
        "name": "peek",
        "description": "Return the side-effect counter without changing it.",
        "inputSchema": {"type": "object", "properties": {}},
        "annotations": _READ_ONLY,
    },
    {
        "name": "slow",
        "description": "Sleep for `seconds`, then return 'done'.",
        "inputSchema": {"type": "object", "properties": {"seconds": _NUMBER}},
    },
    {
        "name": "blob",
        "description": "Return `size` characters of a fixed pattern (blob_text), to check large answers arrive whole.",
        "inputSchema": {
            "type": "object",
            "properties": {"size": {"type": "integer", "minimum": 0, "maximum": MAX_BLOB_SIZE}},
            "required": ["size"],
        },
        "annotations": _READ_ONLY,
    },
)


class Host(Protocol):
    """What the era handlers need from the server: its current configuration and memory."""

    @property
    def behaviour(self) -> Behaviour: ...

    @property
    def state(self) -> ProcessState: ...

    def take_cut(self) -> bool:
        """Whether this tool answer must be cut (uses up one of ``cut_tool_responses``)."""
        ...

    def take_pause(self) -> bool:
        """Whether this tool answer must wait for a resumption (uses up one of ``pause_tool_responses``)."""
        ...


async def serve_method(host: Host, method: str, params: Mapping[str, Any], session: Session | None) -> object:
    """The result of ``method``; raises :class:`RpcError` for unknown methods and bad params.

    ``session`` is ``None`` in the modern era, which has no legacy-only methods.
    """
    if session is not None and method in LEGACY_ONLY_METHODS:
        return _legacy_only(method, params, session)
    if method == "tools/list":
        return {"tools": [dict(tool) for tool in _TOOLS]}
    if method == "tools/call":
        return await _call_tool(host, params)
    if method == "resources/list":
        return {"resources": [{"uri": COUNTER_URI, "name": "counter", "mimeType": "text/plain"}]}
    if method == "resources/read":
        uri = params.get("uri")
        if uri != COUNTER_URI:
            raise RpcError(RESOURCE_NOT_FOUND, "Resource not found", data={"uri": uri})
        return {"contents": [{"uri": COUNTER_URI, "mimeType": "text/plain", "text": str(host.state.bumps)}]}
    if method == "prompts/list":
        return {"prompts": []}
    if method == "prompts/get":
        raise RpcError(INVALID_PARAMS, f"Unknown prompt: {params.get('name')!r}")
    raise RpcError(METHOD_NOT_FOUND, "Method not found", data={"method": method})


def _legacy_only(method: str, params: Mapping[str, Any], session: Session) -> object:
    if method in ("resources/subscribe", "resources/unsubscribe"):
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RpcError(INVALID_PARAMS, "params.uri must be a string")
        if method == "resources/subscribe":
            session.subscriptions.add(uri)
        else:
            session.subscriptions.discard(uri)
    elif method == "logging/setLevel":
        level = params.get("level")
        if not isinstance(level, str):
            raise RpcError(INVALID_PARAMS, "params.level must be a string")
        session.log_level = level
    return {}


async def _call_tool(host: Host, params: Mapping[str, Any]) -> object:
    name = params.get("name")
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise RpcError(INVALID_PARAMS, "params.arguments must be an object")
    state = host.state
    if name == "bump":
        token = arguments.get("token")
        if token is not None and not (isinstance(token, str) and len(token) <= MAX_TOKEN and token.isprintable()):
            raise RpcError(INVALID_PARAMS, f"argument 'token' must be a printable string of at most {MAX_TOKEN}")
        if _ledger and token is not None:
            os.write(_ledger[0], f"{token}\n".encode())  # one write(2) with O_APPEND: whole lines
        state.tool_executions[name] += 1
        state.bumps += 1
        notification = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": COUNTER_URI}}
        state.notify_subscribers(COUNTER_URI, sse_event(dumps(notification)))
        return _text(str(state.bumps))
    if name == "add":
        a, b = _number(arguments, "a"), _number(arguments, "b")
        state.tool_executions[name] += 1
        return _text(str(a + b))
    if name == "peek":
        state.tool_executions[name] += 1
        return _text(str(state.bumps))
    if name == "slow":
        seconds = _number(arguments, "seconds") if "seconds" in arguments else host.behaviour.slow_seconds
        if not 0 <= seconds <= MAX_SLOW_SECONDS:
            raise RpcError(INVALID_PARAMS, f"seconds must be between 0 and {MAX_SLOW_SECONDS}")
        state.tool_executions[name] += 1
        await anyio.sleep(seconds)
        return _text("done")
    if name == "blob":
        size = arguments.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_BLOB_SIZE:
            raise RpcError(INVALID_PARAMS, f"argument 'size' must be an integer in 0..{MAX_BLOB_SIZE}")
        state.tool_executions[name] += 1
        return _text(blob_text(size))
    raise RpcError(INVALID_PARAMS, f"Unknown tool: {name!r}")


def _number(arguments: Mapping[str, Any], key: str) -> int | float:
    value = arguments.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RpcError(INVALID_PARAMS, f"argument {key!r} must be a finite number")
    return value


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False}
