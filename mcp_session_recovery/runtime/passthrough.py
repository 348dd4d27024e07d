"""What goes to the server as the client sent it: its answer to a server's request, and its own
resumption of a stream. Neither is replayed into another session, and the model hears nothing of
either."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import anyio

from mcp_session_recovery.model import Binding, Era, State
from mcp_session_recovery.model.messages import answer_message, resume_request

from .answers import Forwarded
from .observe import logger
from .reading import LimitCrossed, read_body
from .redirects import Send, send_following
from .seam import SessionSeam
from .wire import WireError, WireResponse, release

__all__ = ["relay_answer", "resume_stream"]


async def relay_answer(core: SessionSeam, body: bytes, *, generation: int | None = None) -> bool:
    """Send a client's answer to a server's request (sampling, elicitation, roots) under the live
    binding, once and unchanged; whether the server took it.

    It belongs to the session the server's request came from, so it is never replayed into a new
    one: an answer the server can no longer take (its session is gone, or none is live) is dropped,
    as a server that restarted would drop it. ``generation``, when the caller knows it, is that of
    the binding the request came under: when another binding is live by now, the answer is dropped
    (the new session never asked).
    """
    binding = core.snapshot.live_binding
    if binding is None:
        logger.info("%s: an answer to a server request was dropped: no live session", core.origin)
        return False
    if generation is not None and binding.generation != generation:
        logger.info("%s: an answer to a server request was dropped: its session was replaced", core.origin)
        return False
    try:
        response = await send_following(core.wire.send, answer_message(binding, body), core.url)
        try:
            await read_body(response, core.options.limits)
        finally:
            await release(response, core.options.close_timeout)
    except (WireError, LimitCrossed) as exc:
        logger.info("%s: an answer to a server request was not delivered: %s", core.origin, exc)
        return False
    if not 200 <= response.status < 300:
        logger.info("%s: the server refused an answer to its request: HTTP %s", core.origin, response.status)
        return False
    return True


async def resume_stream(
    core: SessionSeam, last_event_id: str, *, send: Send | None = None, hand_over: bool = False
) -> Forwarded:
    """A client's own GET that resumes a stream from the event ``last_event_id`` (SEP-1699), sent
    under the live legacy session (waited for within the request timeout) and answered as the
    server answers it: the events it replays carry the ids the client's request went out with.

    ``send`` sends the client's own request (the runtime's headers swapped in, its
    ``Last-Event-ID`` kept). The answer is handed over unread (``hand_over``, ``source``) or relayed
    byte for byte (``stream``), whatever its status: a refusal (a 404 for a resume point the server
    no longer holds, or for a session it lost) is the client's, as it would be without the library.
    The model hears nothing of it: a 404 here may name the event, not the session, and the session's
    next request finds out whether the session is gone. The sessionless era resumes nothing: 405. A
    transport failure is a 503 (try again later): no exception reaches the client.
    """
    binding: Binding | None = None
    with anyio.move_on_after(core.options.request_timeout):
        binding = await _live_binding(core)
    if binding is None or binding.era is not Era.LEGACY:
        return Forwarded(405, {"allow": "POST"})
    try:
        response = await send_following(send or core.wire.send, resume_request(binding, last_event_id), core.url)
    except WireError as exc:
        logger.info("%s: a client's resumption of a stream was not sent: %s", core.origin, exc)
        return Forwarded(503, {"retry-after": "1"})
    if hand_over:
        return Forwarded(response.status, response.headers, source=response)
    return Forwarded(
        response.status, response.headers, stream=_verbatim(response, core.options.close_timeout), source=response
    )


async def _live_binding(core: SessionSeam) -> Binding | None:
    """The live binding, waited for; ``None`` once the session is closed or FAILED."""
    while True:  # every turn waits for the model to change
        snap = core.snapshot
        if snap.state in (State.CLOSED, State.FAILED):
            return None
        if snap.live_binding is not None:
            return snap.live_binding
        await core.wait_for_change()


async def _verbatim(response: WireResponse, close_timeout: float) -> AsyncGenerator[bytes, None]:
    """``response``'s body as it comes; a cut ends it (the client resumes again, as it would)."""
    try:
        async with aclosing(response.iter_bytes()) as chunks:
            async for chunk in chunks:
                yield chunk
    except WireError:
        return
    finally:
        await release(response, close_timeout)
