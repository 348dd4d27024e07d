"""The legacy server-to-client stream (the GET stream) of a :class:`~.session.Session`.

A legacy session may carry server notifications on a long-lived GET. When the server restarts the
stream ends with the session; the listener opens it again for the next session, so whoever reads it
(the ``on_message`` hook, or a client above a transport) sees one stream until the session closes.
The listener only reports; the model decides. A 200 is reported (``ListenOpened``), and so is a 404
(``ListenRefused``, saying whether a stream of that session was served before). The model decides
whether the 404 ends the live session (and starts recovery), concerns one already replaced, or shows
a server that offers no stream at all (the GET of a fresh session answered 404 twice in a row: it
should say 405), in which case the session lives. For the listener every refusal is a failed
opening like an error status, backed off and then left until the next negotiation
(:class:`~.backoff.RelistenSchedule`). A 405 means the server offers no stream, and the listener
stops.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

import anyio

from mcp_session_recovery.model import Binding, State
from mcp_session_recovery.model.classify import refuses_credentials
from mcp_session_recovery.model.messages import listen_request

from .answers import Forwarded
from .observe import logger
from .reading import LimitCrossed, ReadLimits, json_object, read_body, sse_events
from .redirects import send_following
from .seam import SessionSeam
from .sse import SseEvent
from .wire import WireError, WireResponse, release

__all__ = ["Listener"]


class Listener:
    """The GET stream of ``core``'s session, across its generations."""

    def __init__(self, core: SessionSeam) -> None:
        self._core = core
        #: The server answered GET with 405: it offers no server-to-client stream.
        self._refused = False
        #: The generation whose GET stream the server opened (answered 200) last.
        self._served: int | None = None

    async def deliver_forever(self) -> None:
        """Hand every server message to the session's ``on_message`` hook until close."""
        async with aclosing(self._events(None)) as events:
            async for event in events:
                message = json_object(event.data)
                if message is not None:
                    self._core.deliver_message(message)

    async def stream(self) -> Forwarded:
        """The stream as an answer for a client above (a 405 for a sessionless or stream-less server).

        Waits, within the request timeout, for a live binding. A GET refused for its credentials
        (401, 403) is the client's: it gets the server's refusal as it came (status,
        ``WWW-Authenticate``, body), so that its auth flow renews them and opens the stream again.
        """
        core = self._core
        with anyio.move_on_after(core.options.request_timeout):
            binding = await self._live_binding(None)
            response = await self._open(binding, hand_up_refusal=True) if binding is not None else None
            if response is not None and refuses_credentials(response.status):
                return await _refusal(response, core.options.limits, core.options.close_timeout)
            if response is not None:
                return Forwarded(200, {"content-type": "text/event-stream"}, stream=self._relay(response))
        return Forwarded(405, {"allow": "POST"})

    async def _relay(self, response: WireResponse) -> AsyncGenerator[bytes, None]:
        async with aclosing(self._events(response)) as events:
            async for event in events:
                for piece in event.pieces:
                    yield piece

    async def _live_binding(self, after: int | None) -> Binding | None:
        """The next live legacy binding with a session id (newer than generation ``after``)."""
        core = self._core
        while True:
            snap = core.snapshot
            if snap.state in (State.CLOSED, State.FAILED):
                return None
            binding = snap.live_binding
            if binding is not None and (after is None or binding.generation > after):
                return binding if binding.session_id is not None else None
            await core.wait_for_change()

    async def _open(self, binding: Binding, *, hand_up_refusal: bool = False) -> WireResponse | None:
        """A 200 GET stream for ``binding``, or ``None`` (refused; the model hears of a 404).

        ``hand_up_refusal``: a refusal of the credentials (401, 403) is returned too, unread.
        """
        core = self._core
        try:
            response = await send_following(core.wire.send, listen_request(binding), core.url)
        except WireError:
            return None
        if response.status == 200:
            self._served = binding.generation
            core.listen_opened(binding)
            return response
        if hand_up_refusal and refuses_credentials(response.status):
            return response  # says nothing of the session: the credentials are the client's
        if response.status == 404:
            core.listen_refused(
                binding,
                stream_served=self._served == binding.generation,
                reason="session expired on the server (HTTP 404 to the GET stream)",
            )
        if response.status == 405:
            self._refused = True
        await release(response, core.options.close_timeout)
        return None

    async def _events(self, response: WireResponse | None) -> AsyncGenerator[SseEvent, None]:
        """The events of the GET stream ``response`` and of every later session's, until close.

        A stream that fails (refused, an error status, ended before any event) is tried again
        later and later, and after ``options.relisten.max_failures`` in a row not before a new
        session.
        """
        core = self._core
        schedule = core.options.relisten
        generation = core.snapshot.generation
        failures = 0
        opened = response is not None
        while True:  # ends when the session closes or the server has no GET stream; every turn waits
            if response is not None:
                delivered = False
                try:
                    async with aclosing(sse_events(response, core.options.limits)) as events:
                        async for event in events:
                            delivered = True
                            yield event
                except (WireError, LimitCrossed):
                    pass
                finally:
                    await release(response, core.options.close_timeout)
                failures = 0 if delivered else failures + 1
            elif opened:
                failures += 1
            if schedule.gives_up(failures):
                logger.warning(
                    "%s: the GET stream failed %d times in a row; it is reopened after the next negotiation",
                    core.origin,
                    failures,
                )
                binding = await self._live_binding(generation)
            else:
                if opened:  # same session: wait (a new session ends the wait)
                    with anyio.move_on_after(schedule.delay(failures)):
                        await self._live_binding(generation)
                binding = await self._live_binding(None)
            if binding is None or self._refused:
                return
            if binding.generation != generation:
                failures = 0
            generation = binding.generation
            opened = True
            response = await self._open(binding)


async def _refusal(response: WireResponse, limits: ReadLimits, close_timeout: float) -> Forwarded:
    """The server's refusal ``response`` as the client's answer: its status, headers and body (read
    within ``limits``; a body past them is left out, the status and challenge are what count)."""
    try:
        body = await read_body(response, limits)
    except (WireError, LimitCrossed):
        body = b""
    finally:
        await release(response, close_timeout)
    return Forwarded(response.status, response.headers, body, source=response)
