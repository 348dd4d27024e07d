"""Running one of the library's own requests (``Session.request``) to its resolution.

The model says when to send and under which binding; each send is one HTTP exchange read to the
response (bounded), classified, and reported to the model, which decides whether the caller gets
the answer, the request is sent again, or it fails with a typed error. :func:`restore` runs the
requests that give a re-initialized session what the lost one held (the core is handed it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from mcp_session_recovery.model import Abandonment, Binding, McpSessionError, Signal, TransportFailure, classify
from mcp_session_recovery.model.classify import exchange_of
from mcp_session_recovery.model.messages import resume_request, session_message

from .calls import Call
from .observe import logger
from .reading import Pause, Reply, is_stream, resolution_of
from .seam import SessionSeam

__all__ = ["restore", "run"]


async def run(
    core: SessionSeam,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    notification: bool = False,
    timeout: float | None = None,
    tool_annotations: Mapping[str, Any] | None = None,
) -> Any:
    """Send ``method`` until the model resolves it; return its result or raise its typed error."""
    call = core.open_call(method, params, notification=notification, tool_annotations=tool_annotations)
    call.timeout = timeout if timeout is not None else core.options.request_timeout
    scope = core.deadline_scope(call.timeout)
    try:
        # One scope: the deadline, and the model's resolution (close, failure) cancels it too.
        with call.guard(scope):
            while (binding := await call.next_send()) is not None:
                await _attempt(core, call, binding)
        if call.resolution is None:
            call.abandon(Abandonment.DEADLINE)
        assert call.resolution is not None
        return call.resolution.unwrap()
    except BaseException:
        # Cancelled by its caller (or an adapter bug surfaced): the model must not track it on.
        call.abandon(Abandonment.CANCELLED)
        raise
    finally:
        core.end_deadline(scope)
        core.release(call)


async def restore(core: SessionSeam, binding: Binding) -> None:
    """Give a re-initialized legacy session (``binding``) what the lost one held: the last log level
    and every live subscription (the GET stream reopens itself). A step that fails is logged and
    skipped: the session serves without it."""
    if binding.session_id is None:
        return
    for method, params in core.memory.restoring_requests():
        try:
            await run(core, method, params)
        except McpSessionError as exc:
            logger.warning("%s: restoring %s failed: %s", core.origin, method, exc)


async def _attempt(core: SessionSeam, call: Call, binding: Binding) -> None:
    """Send the request once under ``binding`` (or resume its paused stream) and report what happened."""
    resume = call.take_resume()
    exchange = exchange_of(binding.era, call.method, binding.session_id is not None)
    if resume is not None:
        # After the server's ``retry`` delay (the call's deadline bounds it): a GET with Last-Event-ID,
        # whose stream carries the answer to the request as it was first sent (its id).
        await anyio.sleep(resume.delay)
        wire_id = call.wire_id
        fetched = await core.fetch(
            resume_request(binding, resume.last_event_id), wire_id, resume_from=resume.last_event_id
        )
        if isinstance(fetched, Pause):
            call.paused(fetched.last_event_id, fetched.retry_ms, fetched.reason)
        elif isinstance(fetched, TransportFailure) or not _resumed(fetched.answer.status, fetched.answer.headers):
            # Processed before its stream paused: whatever the resumption met, the outcome is unknown.
            call.disrupted(Signal.OUTCOME_UNKNOWN, _not_resumed(fetched))
        else:
            _answered(core, call, fetched, "")
        return
    wire_id = None if call.notification else core.next_wire_id()
    call.wire_id = wire_id
    outgoing = session_message(binding, call.method, call.params, wire_id, core.identity)
    fetched = await core.fetch(outgoing, wire_id)
    if isinstance(fetched, Pause):
        call.paused(fetched.last_event_id, fetched.retry_ms, fetched.reason)
        return
    if isinstance(fetched, TransportFailure):
        classification = classify(exchange, fetched)
        call.disrupted(classification.signal, classification.reason)
        return
    classification = classify(exchange, fetched.answer, core.options.classifier)
    if classification.signal is not Signal.PASS_THROUGH:
        core.heed(fetched.answer.status, fetched.answer.headers)
        call.disrupted(classification.signal, classification.reason)
        return
    _answered(core, call, fetched, classification.reason)


def _resumed(status: int, headers: Mapping[str, str]) -> bool:
    """Whether the server answered a resumption with the stream."""
    return 200 <= status < 300 and is_stream(headers)


def _not_resumed(fetched: Reply | TransportFailure) -> str:
    """Why a paused stream could not be resumed, in words."""
    if isinstance(fetched, TransportFailure):
        return f"the paused stream could not be resumed: {fetched.kind.value}"
    return f"the server did not resume the paused stream (HTTP {fetched.answer.status})"


def _answered(core: SessionSeam, call: Call, fetched: Reply, reason: str) -> None:
    value, error = resolution_of(fetched, call.notification)
    if error is None:
        core.memory.observe(call.method, call.params, value)
    else:
        error = core.redactor.error(error)  # it may quote a server that echoed a secret
    call.answered(value, error, reason)
