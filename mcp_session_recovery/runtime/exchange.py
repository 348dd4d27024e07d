"""Running one of the library's own requests (``Session.request``) to its resolution.

The model says when to send and under which binding; each send is one HTTP exchange read to the
response (bounded), classified, and reported to the model, which decides whether the caller gets
the answer, the request is sent again, or it fails with a typed error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mcp_session_recovery.model import Abandonment, Binding, Signal, TransportFailure, classify
from mcp_session_recovery.model.classify import exchange_of
from mcp_session_recovery.model.messages import session_message

from .calls import Call
from .reading import resolution_of

if TYPE_CHECKING:
    from .core import SessionCore

__all__ = ["run"]


async def run(
    core: SessionCore,
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


async def _attempt(core: SessionCore, call: Call, binding: Binding) -> None:
    """Send the request once under ``binding`` and report what happened."""
    wire_id = None if call.notification else core.next_wire_id()
    outgoing = session_message(binding, call.method, call.params, wire_id, core.identity)
    exchange = exchange_of(binding.era, call.method, binding.session_id is not None)
    fetched = await core.fetch(outgoing, wire_id)
    if isinstance(fetched, TransportFailure):
        classification = classify(exchange, fetched)
        call.disrupted(classification.signal, classification.reason)
        return
    classification = classify(exchange, fetched.answer, core.options.classifier)
    if classification.signal is not Signal.PASS_THROUGH:
        core.heed(fetched.answer.status, fetched.answer.headers)
        call.disrupted(classification.signal, classification.reason)
        return
    value, error = resolution_of(fetched, call.notification)
    if error is None:
        core.memory.observe(call.method, call.params, value)
    else:
        error = core.redactor.error(error)  # it may quote a server that echoed a secret
    call.answered(value, error, classification.reason)
