"""A scripted Wire for driving the real runtime: every exchange waits until the test answers it.

The test decides when each pending exchange is answered and how (as a simulated server would, cut
mid-stream, refused), so Hypothesis chooses the order in which answers and faults arrive. The
simulated server is deliberately simple and written from the protocol, not from the runtime. While
it answers, it records what invariants 1-10 (DESIGN §3) need and reports violations.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp_session_recovery.model import Outgoing, Progress, TransportFailureKind
from mcp_session_recovery.runtime.wire import WireError, WireResponse

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
NEGOTIATION = frozenset({"initialize", "server/discover", "notifications/initialized"})


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    cut: bool = False  # headers arrive, then the body breaks


class _Response:
    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.headers: Mapping[str, str] = answer.headers
        self._answer = answer

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        if self._answer.cut:
            yield b": cut\n\n"
            raise WireError(TransportFailureKind.STREAM_CUT, Progress.STREAMING)
        if self._answer.body:
            yield self._answer.body

    async def aclose(self) -> None:
        return None


@dataclass
class Exchange:
    """One request the runtime sent, waiting for the test to answer it."""

    outgoing: Outgoing
    document: dict[str, Any]
    done: anyio.Event = field(default_factory=anyio.Event)
    outcome: Answer | WireError | None = None

    @property
    def method(self) -> str:
        if self.outgoing.http_method != "POST":
            return self.outgoing.http_method
        return str(self.document.get("method", ""))

    @property
    def session_id(self) -> str | None:
        return self.outgoing.headers.get("mcp-session-id")

    @property
    def modern(self) -> bool:
        return self.outgoing.headers.get("mcp-protocol-version") == MODERN

    @property
    def sort_key(self) -> tuple[str, str, str]:
        """What the exchange is, independent of the JSON-RPC id it got (ids follow scheduling)."""
        return (self.method, _token(self.document) or "", self.outgoing.headers.get("mcp-session-id", ""))

    def settle(self, outcome: Answer | WireError) -> None:
        self.outcome = outcome
        self.done.set()


class ScriptedServer:
    """The Wire the runtime sends through, and the simulated server behind it."""

    def __init__(self, *, eras: frozenset[str] = frozenset({"legacy"})) -> None:
        self.eras = set(eras)
        self.up = True
        self.sessions: dict[str, bool] = {}  # id -> got notifications/initialized
        self.pending: list[Exchange] = []
        self.executions: dict[str, int] = {}  # tool-call token -> times executed
        self.sends: dict[str, int] = {}  # tool-call token -> times sent
        self.negotiations_in_flight = 0
        self.initializes = 0
        self.discovers = 0
        self.rejected_ids: set[str] = set()
        self.lost_evidence: set[str] = set()  # ids a request learned were lost (or unreachable)
        self.latest_id: str | None = None
        self.closing = False
        self.violations: list[str] = []
        self.all_ids: set[str] = set()

    # -- the Wire -------------------------------------------------------------------------------------

    async def send(self, outgoing: Outgoing) -> WireResponse:
        document: dict[str, Any] = json.loads(outgoing.body) if outgoing.body else {}
        exchange = Exchange(outgoing, document)
        self._check_send(exchange)
        negotiation = exchange.method in NEGOTIATION
        if negotiation:
            self.negotiations_in_flight += 1
            if self.negotiations_in_flight > 1:
                self.violations.append("1: two negotiations in flight")
        self.pending.append(exchange)
        try:
            await exchange.done.wait()
        finally:
            if negotiation:
                self.negotiations_in_flight -= 1
            if exchange in self.pending:
                self.pending.remove(exchange)
        assert exchange.outcome is not None
        if isinstance(exchange.outcome, WireError):
            raise exchange.outcome
        return _Response(exchange.outcome)

    def _check_send(self, exchange: Exchange) -> None:
        session_id = exchange.session_id
        if self.closing and exchange.method != "DELETE":
            self.violations.append(f"7: {exchange.method} sent after close")
        if session_id is not None and session_id in self.rejected_ids:
            self.violations.append(f"2: {exchange.method} sent with a rejected session id")
        meta = (exchange.document.get("params") or {}).get("_meta") or {}
        if session_id is not None and (exchange.modern or "io.modelcontextprotocol/protocolVersion" in meta):
            self.violations.append("10: a modern request carried a session id")
        if exchange.method == "initialize":
            if session_id is not None:
                self.violations.append("2: initialize carried a session id")
            live = self.latest_id is not None and self.latest_id in self.sessions
            if live and self.latest_id not in self.lost_evidence:
                self.violations.append("3: re-initialized while the live session was never reported lost")
        handshake_done = self.sessions.get(session_id, True) if session_id is not None else True
        if not handshake_done and exchange.method not in ("notifications/initialized", "DELETE"):
            self.violations.append(f"6: {exchange.method} sent before notifications/initialized")
        token = _token(exchange.document)
        if token is not None:
            self.sends[token] = self.sends.get(token, 0) + 1

    # -- faults ---------------------------------------------------------------------------------------

    def restart(self) -> None:
        self.sessions.clear()

    # -- answering ------------------------------------------------------------------------------------

    def answer(self, exchange: Exchange, *, cut: bool = False) -> None:
        """Answer ``exchange`` as the simulated server would (``cut``: execute, then break the stream)."""
        if not self.up:
            if exchange.session_id is not None:
                self.lost_evidence.add(exchange.session_id)
            exchange.settle(WireError(TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT))
            return
        answer = self._serve(exchange)
        if answer.status >= 300 and exchange.session_id is not None:
            self.lost_evidence.add(exchange.session_id)
        if cut and answer.status == 200 and exchange.method == "tools/call":
            answer = Answer(200, {"content-type": "text/event-stream"}, cut=True)
        exchange.settle(answer)

    def _serve(self, exchange: Exchange) -> Answer:
        method, session_id, document = exchange.method, exchange.session_id, exchange.document
        if exchange.modern:
            if "modern" not in self.eras:
                return _error(400, -32600, "Bad Request: Missing session ID", {"mcp-session-id": self._new_id()})
            if method == "server/discover":
                self.discovers += 1
                return _result(document, {"supportedVersions": [MODERN], "capabilities": {"tools": {}}})
            return self._execute(document)
        if "legacy" not in self.eras:
            # A modern-only server: the handshake version in the header (or initialize) is unsupported.
            return _error(400, -32022, "Unsupported protocol version", data={"supported": [MODERN]})
        if method == "initialize":
            if session_id is not None:
                return self._stale(session_id)
            self.initializes += 1
            new_id = self._new_id()
            self.sessions[new_id] = False
            self.latest_id = new_id
            result = {"protocolVersion": LEGACY, "capabilities": {"tools": {}}, "serverInfo": {"name": "scripted"}}
            return _result(document, result, {"mcp-session-id": new_id})
        if session_id is None:
            return _error(400, -32600, "Bad Request: Missing session ID", {"mcp-session-id": self._new_id()})
        if session_id not in self.sessions:
            return self._stale(session_id)
        if method == "DELETE":
            del self.sessions[session_id]
            return Answer(200)
        if method == "notifications/initialized":
            if self.sessions[session_id]:
                self.violations.append("6: notifications/initialized sent twice for one session")
            self.sessions[session_id] = True
            return Answer(202)
        return self._execute(document)

    def _execute(self, document: dict[str, Any]) -> Answer:
        token = _token(document)
        if token is not None:
            self.executions[token] = self.executions.get(token, 0) + 1
            return _result(document, {"token": token})
        return _result(document, {"method": document.get("method")})

    def _stale(self, session_id: str) -> Answer:
        self.rejected_ids.add(session_id)
        self.lost_evidence.add(session_id)
        return _error(404, -32600, "Session not found")

    def _new_id(self) -> str:
        new_id = uuid.uuid4().hex
        self.all_ids.add(new_id)
        return new_id


def _token(document: Mapping[str, Any]) -> str | None:
    params = document.get("params") or {}
    if document.get("method") != "tools/call":
        return None
    token = (params.get("arguments") or {}).get("token")
    return token if isinstance(token, str) else None


def _result(request: Mapping[str, Any], result: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), "result": result}).encode()
    return Answer(200, {"content-type": "application/json", **(headers or {})}, body)


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None, data: Any = None) -> Answer:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    return Answer(status, {"content-type": "application/json", **(headers or {})}, body)
