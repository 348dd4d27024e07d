"""The ``doctor`` probe: a few harmless requests that show how a server handles sessions.

It sends what a client would (``server/discover``, ``initialize`` per handshake version,
``notifications/initialized``, a ``ping`` under a session id the server never issued, an
``initialize`` still carrying that id, a GET stream, a DELETE), built by the model's own
message builders and read by the runtime's bounded readers; what an answer *means* is the
model's classifier's call, not this module's. Every session it opens is deleted before it
returns. Nothing here prints: :func:`probe` returns :class:`Findings`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import (
    LEGACY_PROTOCOL_VERSIONS,
    Binding,
    ClassifierOptions,
    ClientIdentity,
    DiscoverSucceeded,
    Era,
    Exchange,
    InitializeSucceeded,
    Outgoing,
    SessionId,
    Signal,
    TransportFailureKind,
    classify,
)
from mcp_session_recovery.model.messages import (
    delete_request,
    discover_request,
    initialize_request,
    initialized_notification,
    listen_request,
    session_message,
)
from mcp_session_recovery.model.negotiation import read_discover, read_initialize
from mcp_session_recovery.runtime import ReadLimits, WireError
from mcp_session_recovery.runtime.reading import Reply, read_reply
from mcp_session_recovery.runtime.redirects import send_following

from ._output import scrub
from .arguments import classifier_flag

__all__ = ["Findings", "StaleAnswer", "Unreachable", "probe"]

#: The probe reads at most this much of any answer.
LIMITS = ReadLimits(max_json_body=64 << 10, max_sse_event=64 << 10, max_sse_line=64 << 10)
IDENTITY = ClientIdentity(client_info={"name": "mcp-session-recovery-doctor", "version": "0.1.0"})
#: The settings that turn a 400 or a 410 to a request carrying a lost session id into SESSION_GONE:
#: every field of ClassifierOptions (each is also a flag of the bridges).
SETTINGS = tuple(field.name for field in dataclasses.fields(ClassifierOptions))
#: What a failure to connect at all means, in the user's words, and what to check.
_CONNECT_FAILURES = {
    TransportFailureKind.CONNECT_REFUSED: "the connection was refused (is the server running on that port?)",
    TransportFailureKind.NAME_RESOLUTION: "the name did not resolve (check the host name in the URL)",
    TransportFailureKind.CONNECT_TIMEOUT: "the connection timed out (is the host up, or a firewall in the way?)",
}


class Unreachable(Exception):
    """No HTTP answer at all to the first request: nothing was probed."""


@dataclass
class StaleAnswer:
    """What the server answered to a ``ping`` under a session id it never issued."""

    status: int
    #: The start of the body, on one line, session ids and credentials redacted.
    excerpt: str
    #: What the library makes of it with its defaults (``SESSION_GONE`` means: it recovers).
    signal: Signal
    #: The :class:`ClassifierOptions` field that makes it ``SESSION_GONE`` when the defaults do not,
    #: if one does.
    field: str | None

    @property
    def setting(self) -> str | None:
        """That field as Python: ``ClassifierOptions(session_gone_on_400=True)``."""
        return None if self.field is None else f"ClassifierOptions({self.field}=True)"

    @property
    def flag(self) -> str | None:
        """That field as the bridges' flag: ``--session-gone-on-400``."""
        return None if self.field is None else classifier_flag(self.field)

    @property
    def spec_404(self) -> bool:
        """Whether this is the specification's answer to an unknown session: 404."""
        return self.status == 404


@dataclass
class Findings:
    """Everything the probe learnt."""

    #: ``"legacy"`` and/or ``"modern"``.
    eras: list[str] = field(default_factory=list)
    #: Era → protocol versions the server accepted.
    versions: dict[str, list[str]] = field(default_factory=dict)
    #: Whether ``initialize`` answers carry an ``Mcp-Session-Id``; ``None`` without a legacy era.
    session_ids: bool | None = None
    stale: StaleAnswer | None = None
    #: Status of an ``initialize`` still carrying the unknown id, and whether it was refused.
    stale_initialize: tuple[int, bool] | None = None
    #: Whether a GET opened an event stream / a DELETE ended the session; ``None``: not tried.
    get_stream: bool | None = None
    delete: bool | None = None
    sessions_created: int = 0
    sessions_deleted: int = 0
    #: Answers that were not what a server of that era sends, in words.
    notes: list[str] = field(default_factory=list)


class _Probe:
    def __init__(self, http: httpx2.AsyncClient, url: str, header_values: list[str]) -> None:
        self._wire = HttpxWire(http, url)
        self._url = url
        self._secrets = list(header_values)
        self._open: list[Binding] = []
        self._ids = 0
        self.findings = Findings()

    def _next_id(self) -> str:
        self._ids += 1
        return f"mcp-session-recovery-doctor-{self._ids}"

    async def send(self, outgoing: Outgoing, expected_id: object) -> Reply | WireError:
        try:
            response = await send_following(self._wire.send, outgoing, self._url)
        except WireError as error:
            return error
        try:
            return await read_reply(response, expected_id, LIMITS, lambda message: None)
        except WireError as error:
            return error
        finally:
            await response.aclose()

    def excerpt(self, body: bytes) -> str:
        return scrub(body.decode("utf-8", errors="replace"), self._secrets, limit=120)

    async def run(self) -> Findings:
        wire_id = self._next_id()
        first = await self.send(discover_request(wire_id, IDENTITY), wire_id)
        if isinstance(first, WireError):
            if first.kind in _CONNECT_FAILURES:
                raise Unreachable(_CONNECT_FAILURES[first.kind])
        else:
            event = read_discover(1, first.answer)
            if isinstance(event, DiscoverSucceeded):
                self.findings.eras.append("modern")
                result = (first.response or {}).get("result", {})
                supported = result.get("supportedVersions", []) if isinstance(result, dict) else []
                self.findings.versions["modern"] = [str(v) for v in supported]
        try:
            binding = await self._legacy()
            if binding is not None and binding.session_id is not None:
                await self._stale(binding)
                await self._stream(binding)
                await self._delete(binding)
        finally:
            await self._clean_up()
        return self.findings

    async def _initialize(self, version: str, extra: Mapping[str, str] = {}) -> tuple[Reply | WireError, Any]:
        identity = ClientIdentity(client_info=IDENTITY.client_info, legacy_version=version)
        wire_id = self._next_id()
        request = initialize_request(wire_id, identity)
        request = Outgoing(request.http_method, {**request.headers, **extra}, request.body)
        reply = await self.send(request, wire_id)
        event = None if isinstance(reply, WireError) else read_initialize(1, reply.answer)
        if isinstance(event, InitializeSucceeded):
            binding = Binding(
                era=Era.LEGACY,
                protocol_version=event.protocol_version,
                generation=1,
                session_id=event.session_id,
            )
            if event.session_id is not None:
                self._secrets.append(event.session_id.header_value)
                self._open.append(binding)
                self.findings.sessions_created += 1
            return reply, binding
        return reply, None

    async def _legacy(self) -> Binding | None:
        """``initialize`` once per handshake version; the session of the newest one accepted, kept."""
        kept: Binding | None = None
        for version in LEGACY_PROTOCOL_VERSIONS:  # newest first
            _, binding = await self._initialize(version)
            if binding is None:
                continue
            if binding.protocol_version == version:
                self.findings.versions.setdefault("legacy", []).append(version)
            if kept is None:
                kept = binding
        if kept is None:
            return None
        self.findings.eras.append("legacy")
        self.findings.session_ids = kept.session_id is not None
        reply = await self.send(initialized_notification(kept), None)
        if isinstance(reply, WireError) or not 200 <= reply.answer.status < 300:
            self.findings.notes.append("notifications/initialized was not accepted")
        return kept

    async def _stale(self, binding: Binding) -> None:
        unknown = f"mcp-session-recovery-doctor-unknown-{secrets.token_hex(8)}"
        self._secrets.append(unknown)
        stale = Binding(
            era=Era.LEGACY, protocol_version=binding.protocol_version, generation=1, session_id=SessionId(unknown)
        )
        wire_id = self._next_id()
        reply = await self.send(session_message(stale, "ping", None, wire_id, IDENTITY), wire_id)
        if isinstance(reply, WireError):
            self.findings.notes.append(f"a ping under an unknown session id got no answer ({reply.kind.value})")
        else:
            exchange = Exchange(era=Era.LEGACY, method="ping", carried_session_id=True)
            signal = classify(exchange, reply.answer).signal
            setting = None
            if signal is not Signal.SESSION_GONE:
                setting = next(
                    (
                        name
                        for name in SETTINGS
                        if classify(exchange, reply.answer, ClassifierOptions(**{name: True})).signal
                        is Signal.SESSION_GONE
                    ),
                    None,
                )
            self.findings.stale = StaleAnswer(reply.answer.status, self.excerpt(reply.answer.body), signal, setting)
        answer, accepted = await self._initialize(binding.protocol_version, {"mcp-session-id": unknown})
        if not isinstance(answer, WireError):
            self.findings.stale_initialize = (answer.answer.status, accepted is None)

    async def _stream(self, binding: Binding) -> None:
        try:
            response = await send_following(self._wire.send, listen_request(binding), self._url)
        except WireError:
            self.findings.get_stream = False
            return
        try:
            content_type = response.headers.get("content-type", "")
            self.findings.get_stream = response.status == 200 and content_type.startswith("text/event-stream")
        finally:
            await response.aclose()

    async def _delete(self, binding: Binding) -> None:
        reply = await self.send(delete_request(binding), None)
        if isinstance(reply, WireError):
            self.findings.delete = False
            return
        self.findings.delete = 200 <= reply.answer.status < 300
        if self.findings.delete:
            self._open.remove(binding)
            self.findings.sessions_deleted += 1

    async def _clean_up(self) -> None:
        for binding in list(self._open):
            reply = await self.send(delete_request(binding), None)
            self._open.remove(binding)
            if not isinstance(reply, WireError) and 200 <= reply.answer.status < 300:
                self.findings.sessions_deleted += 1


async def probe(url: str, headers: Mapping[str, str], *, timeout: float = 5.0) -> Findings:
    """Probe the MCP endpoint ``url`` (``headers`` on every request); raises :class:`Unreachable`."""
    async with httpx2.AsyncClient(headers=dict(headers), timeout=timeout) as http:
        return await _Probe(http, url, list(headers.values())).run()
