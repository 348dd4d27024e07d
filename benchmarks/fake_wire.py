"""An in-memory legacy MCP server behind the runtime's ``Wire``: every request answered at once.

With it a row measures the runtime and the model alone, no sockets. It can forget its session
every ``lose_every`` calls, so recovery (404, re-initialize, replay) is part of a long run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping

import anyio.lowlevel

from mcp_session_recovery.model import Outgoing
from mcp_session_recovery.runtime import WireResponse

__all__ = ["InstantServer"]

_INITIALIZE_RESULT = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "instant"}}
_TOOL_RESULT = {"content": [{"type": "text", "text": "3"}]}


class _Answer:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self._body = status, headers, body

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        yield self._body

    async def aclose(self) -> None:
        return None


class InstantServer:
    """The fake server, a :class:`~mcp_session_recovery.runtime.Wire`.

    ``lose_every=N``: the live session is forgotten after every N-th call (the next request gets
    404). ``None``: sessions are never forgotten, and every id it issued stays valid (many Sessions
    may share one server).
    """

    def __init__(self, lose_every: int | None = None) -> None:
        self.lose_every = lose_every
        self.calls = 0
        self.sessions = 0
        #: The last ``tools/call`` the runtime sent (a row replays it to time the fake alone).
        self.last_call: Outgoing | None = None

    def _valid(self, session_id: str | None) -> bool:
        if session_id is None:
            return False
        if self.lose_every is None:
            return session_id.startswith("s")
        return session_id == f"s{self.sessions}"

    async def send(self, outgoing: Outgoing) -> WireResponse:
        # Real I/O always gives the event loop a turn; without one, asyncio never drops the timers of
        # finished cancel scopes, and memory would seem to grow with every call.
        await anyio.lowlevel.checkpoint()
        message = json.loads(outgoing.body) if outgoing.body else {}
        method = message.get("method")
        if method == "initialize":
            self.sessions += 1
            return _json(message, _INITIALIZE_RESULT, {"mcp-session-id": f"s{self.sessions}"})
        if not self._valid(outgoing.headers.get("mcp-session-id")):
            return _Answer(404, {"content-type": "text/plain"}, b"session not found")
        if outgoing.http_method == "DELETE" or method == "notifications/initialized":
            return _Answer(202, {}, b"")
        self.calls += 1
        self.last_call = outgoing
        if self.lose_every is not None and self.calls % self.lose_every == 0:
            self.sessions += 1  # forgotten: the next request gets 404
        return _json(message, _TOOL_RESULT, {})


def _json(message: Mapping[str, object], result: object, headers: Mapping[str, str]) -> _Answer:
    body = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": result}).encode()
    return _Answer(200, {"content-type": "application/json", **headers}, body)
