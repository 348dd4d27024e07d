"""The handshake era (2025-03-26 … 2025-11-25): sessions, their ids, GET streams and DELETE.

The order of checks follows the MCP Python SDK's session manager, because clients are written
against it: an unknown session id is answered before the body is even looked at (so an
``initialize`` that still carries a stale id is refused too), and a request without an id gets
the 400 with a throwaway id that a careful client must not adopt.
"""

from __future__ import annotations

import time

from ._faults import tool_answer
from ._methods import Host, serve_method
from ._state import Session
from ._wire import (
    INVALID_REQUEST,
    Answer,
    EventFeed,
    Fixed,
    HttpRequest,
    Message,
    Reply,
    RpcError,
    Stream,
    error_body,
    fixed_error,
    missing_session_reply,
    new_session_id,
    parse_message,
    result_body,
    stale_reply,
)
from .behaviour import LEGACY_PROTOCOL_VERSIONS, LEGACY_VERSION_LATEST, SERVER_NAME, ResponseStyle

__all__ = ["handle_legacy"]

_CAPABILITIES = {"tools": {"listChanged": True}, "resources": {"subscribe": True}, "logging": {}, "prompts": {}}


async def handle_legacy(host: Host, request: HttpRequest) -> Reply:
    """Answer one request the way a stateful SDK server does."""
    session_id = request.header("mcp-session-id")
    if request.method == "POST":
        return await _post(host, request, session_id)
    if request.method not in ("GET", "DELETE"):
        return Fixed(405, (("allow", "GET, POST, DELETE"),))
    if session_id is None:
        return missing_session_reply()
    session = host.state.sessions.get(session_id)
    if session is None:
        return _stale(host)
    if request.method == "DELETE":
        host.state.drop_session(session_id, abort=False)
        host.state.sessions_deleted += 1
        return Fixed(200, ())
    if "text/event-stream" not in (request.header("accept") or ""):
        return fixed_error(406, INVALID_REQUEST, "Not Acceptable: Client must accept text/event-stream")
    last_event_id = request.header("last-event-id")
    if last_event_id is not None:
        return _resume(host, session, last_event_id)
    return _open_stream(host, session)


async def _post(host: Host, request: HttpRequest, session_id: str | None) -> Reply:
    try:
        message: Message | RpcError = parse_message(request.body)
    except RpcError as error:
        message = error
    if isinstance(message, Message) and message.method is not None:
        host.state.requests_by_method[message.method] += 1
    session = None if session_id is None else host.state.sessions.get(session_id)
    if session_id is not None and session is None:
        return _stale(host)
    if isinstance(message, RpcError):
        return fixed_error(message.status, message.code, message.message)
    if session is not None:
        return await _in_session(host, session, message)
    if message.kind == "request" and message.method == "initialize":
        return _initialize(host, message)
    return missing_session_reply()


def _initialize(host: Host, message: Message) -> Reply:
    requested = message.params.get("protocolVersion")
    version = requested if isinstance(requested, str) and requested in LEGACY_PROTOCOL_VERSIONS else None
    version = version or LEGACY_VERSION_LATEST
    state = host.state
    issued = host.behaviour.issued_session_id
    session_id = new_session_id() if issued is None else issued
    state.initializes += 1
    state.sessions_created += 1
    state.drop_session(session_id, abort=True)  # an issued id is reused: the new session replaces it
    if not host.behaviour.forget_sessions_after_initialize:
        state.sessions[session_id] = Session(session_id, version)
    result = {
        "protocolVersion": version,
        "capabilities": _CAPABILITIES,
        "serverInfo": {"name": SERVER_NAME, "version": "1"},
    }
    return Answer(result_body(message.id, result), host.behaviour.response_style, (("mcp-session-id", session_id),))


async def _in_session(host: Host, session: Session, message: Message) -> Reply:
    state = host.state
    if message.kind != "request" or message.method is None:
        if message.method == "notifications/initialized":
            session.initialized = True
            state.initialized_notifications += 1
        return Fixed(202, ())
    if message.method == "initialize":
        return fixed_error(400, INVALID_REQUEST, "Invalid Request: Server already initialized", request_id=message.id)
    if not session.initialized:
        state.requests_before_initialized += 1
    headers = (("mcp-session-id", session.id),)
    style = host.behaviour.response_style
    assert message.id is not None  # parse_message refuses a request with a null id
    outcome: object | RpcError
    try:
        outcome = await serve_method(host, message.method, message.params, session)
    except RpcError as error:
        outcome = error
    if message.method == "tools/call":
        if not isinstance(outcome, RpcError) and host.take_pause():
            return _pause(host, session, result_body(message.id, outcome), headers)
        return tool_answer(host, message.id, outcome, headers)
    if isinstance(outcome, RpcError):
        return Answer(error_body(message.id, outcome.code, outcome.message, outcome.data), style, headers)
    return Answer(result_body(message.id, outcome), style, headers)


def _pause(host: Host, session: Session, answer: bytes, headers: tuple[tuple[str, str], ...]) -> Reply:
    """A stream that carries only its priming event, then ends; ``answer`` waits for the resumption."""
    session.events_sent += 1
    event_id = f"event-{session.events_sent}"
    session.paused_answers[event_id] = answer
    host.state.streams_paused += 1
    host.state.pause_times.append(time.monotonic())
    priming = f"id: {event_id}\nretry: {host.behaviour.pause_retry_ms}\ndata: \n\n".encode()
    return Fixed(200, (*_SSE, *headers), priming)


def _resume(host: Host, session: Session, last_event_id: str) -> Reply:
    """The paused stream's answer, once; a resume point this session does not hold is answered 404."""
    host.state.resume_times.append(time.monotonic())
    answer = session.paused_answers.pop(last_event_id, None)
    if answer is None:
        return fixed_error(404, INVALID_REQUEST, "Not Found: no stream to resume from that event")
    host.state.streams_resumed += 1
    return Answer(answer, ResponseStyle.SSE, (("mcp-session-id", session.id),))


_SSE = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))


def _open_stream(host: Host, session: Session) -> Reply:
    feed = EventFeed.open()
    session.feeds.add(feed)
    feed.on_close = lambda: session.feeds.discard(feed)
    host.state.get_streams_opened += 1
    return Stream(feed, (("mcp-session-id", session.id),))


def _stale(host: Host) -> Reply:
    host.state.stale_answers += 1
    return stale_reply(host.behaviour.stale_style)
