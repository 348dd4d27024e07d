"""``Session``: one endpoint's session, recovered whenever it is lost; what applications hold.

A thin facade over :class:`~.core.SessionCore` (the model and its effects): the lifecycle, the
library's own requests (:mod:`.exchange`), a client's own messages (:mod:`.forwarding`) and the GET
stream (:mod:`.listening`). It wires them together: the senders reach the core through its seam
(:class:`~.seam.SessionSeam`), and the core is given the restoration it performs
(:func:`.exchange.restore`), so it imports no sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import anyio.abc

from mcp_session_recovery.model import Abandonment, Binding, ClientIdentity, Snapshot, State

from . import exchange, forwarding, passthrough
from .answers import Forwarded
from .core import SessionCore
from .groups import ungrouped
from .listening import Listener
from .observe import EventHook
from .options import SessionOptions
from .reading import MessageHandler
from .redirects import Send
from .wire import Wire

__all__ = ["Session", "SessionOptions"]


class Session:
    """The session with one MCP endpoint, recovered whenever it is lost.

    Use it as an async context manager; it owns a task group for negotiation and timers::

        async with Session(wire, url) as session:
            result = await session.request("tools/call", {"name": "add", "arguments": {"a": 1}})
    """

    def __init__(
        self,
        wire: Wire,
        url: str,
        options: SessionOptions | None = None,
        *,
        on_event: EventHook | None = None,
        on_message: MessageHandler | None = None,
    ) -> None:
        self._options = options or SessionOptions()
        self._core = SessionCore(
            wire, url, self._options, restore=exchange.restore, on_event=on_event, on_message=on_message
        )
        self._listener = Listener(self._core)
        self._task_group: anyio.abc.TaskGroup | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        self.start_in(task_group)
        return self

    def start_in(self, task_group: anyio.abc.TaskGroup) -> None:
        """Run the session's background work in ``task_group`` (for adapters that own one).

        The owner must ``await session.aclose()`` before leaving the task group.
        """
        self._core.start_in(task_group)
        if self._options.listen:
            self._core.start_background(self._listener.deliver_forever)

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        assert self._task_group is not None
        with ungrouped():
            try:
                with anyio.CancelScope(shield=True):
                    await self.aclose()
            finally:
                self._task_group.cancel_scope.cancel()
                result = await self._task_group.__aexit__(*exc_info)
        return result

    async def aclose(self) -> None:
        """Close: every waiting call raises ``SessionClosed``; a live legacy session gets a DELETE.

        Nothing else is sent afterwards, and every later call raises ``SessionClosed``.
        """
        await self._core.close()

    # -- what callers use --------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The model's current state."""
        return self._core.snapshot.state

    @property
    def snapshot(self) -> Snapshot:
        """Everything the model knows, as one immutable value."""
        return self._core.snapshot

    @property
    def binding(self) -> Binding | None:
        """The live binding, or ``None`` when the session is not READY."""
        return self._core.snapshot.live_binding

    @property
    def negotiated_result(self) -> Mapping[str, Any]:
        """The raw result of the negotiation that made the live binding (``initialize`` or
        ``server/discover``); empty before the first one."""
        return self._core.negotiated_result

    def adopt_identity(self, identity: ClientIdentity) -> None:
        """Declare ``identity`` on every later (re)negotiation (an adapter learns it from its client)."""
        self._core.identity = identity

    @property
    def origin(self) -> str:
        """``scheme://host:port`` of the endpoint (never its credentials)."""
        return self._core.origin

    async def connect(self, *, timeout: float | None = None) -> Binding:
        """Negotiate now (or wait for the negotiation in flight) and return the live binding.

        The model decides; this only waits for its answer. Raises ``RecoveryFailed`` when a whole
        round of attempts fails (``SessionNotKept`` at once when new sessions are lost before they
        can be used), the ``SessionUnusable`` error of a FAILED session, ``SessionClosed`` after
        close, and ``ConnectTimedOut`` (naming the last cause seen) after ``timeout`` seconds
        (default: the request timeout). Never a bare ``TimeoutError``.
        """
        seconds = timeout if timeout is not None else self._options.request_timeout
        waiter = self._core.open_waiter(seconds)
        try:
            if waiter.resolution is None:
                with anyio.move_on_after(seconds):
                    await waiter.wait()
            if waiter.resolution is None:
                waiter.abandon(Abandonment.DEADLINE)
        except BaseException:
            waiter.abandon(Abandonment.CANCELLED)  # its caller left: the model must not track it on
            raise
        assert waiter.resolution is not None
        binding: Binding = waiter.resolution.unwrap()
        return binding

    async def request(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        tool_annotations: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request and return its JSON-RPC ``result``.

        Waits for (or starts) negotiation, survives lost sessions and outages within ``timeout``
        (default: ``SessionOptions.request_timeout``), and raises a typed
        :class:`~mcp_session_recovery.model.McpSessionError` otherwise: ``RemoteError`` for the
        server's JSON-RPC error, ``UnexpectedAnswer`` for a non-JSON-RPC answer (``AnswerTooLarge``
        past a read limit, ``MismatchedResponse`` for another request's id), ``OutcomeUnknown``,
        ``DeadlineExceeded``, ``RecoveryFailed``, ``SessionClosed``, ...
        ``tool_annotations`` (for ``tools/call``) feed the replay policy.
        """
        return await exchange.run(self._core, method, params, timeout=timeout, tool_annotations=tool_annotations)

    async def notify(
        self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> None:
        """Send a notification (no answer expected beyond the server accepting it)."""
        await exchange.run(self._core, method, params, notification=True, timeout=timeout)

    async def forward(
        self,
        message: Mapping[str, Any],
        body: bytes,
        *,
        timeout: float | None = None,
        tool_annotations: Mapping[str, Any] | None = None,
        send: Send | None = None,
        hand_over_streams: bool = False,
    ) -> Forwarded:
        """Send a client's own JSON-RPC request or notification (``message``, parsed from ``body``);
        return the answer for that client. See :func:`.forwarding.forward`."""
        return await forwarding.forward(
            self._core,
            message,
            body,
            timeout=timeout,
            tool_annotations=tool_annotations,
            send=send,
            hand_over_streams=hand_over_streams,
        )

    async def relay_answer(self, body: bytes, *, generation: int | None = None) -> bool:
        """Send a client's answer to a server's request under the live session, once; whether the
        server took it. ``generation``: that of the binding the request came under (the answer is
        dropped when another one is live). See :func:`.passthrough.relay_answer`."""
        return await passthrough.relay_answer(self._core, body, generation=generation)

    async def resume_stream(
        self, last_event_id: str, *, send: Send | None = None, hand_over: bool = False
    ) -> Forwarded:
        """A client's own GET that resumes a stream from the event ``last_event_id``, under the live
        session. See :func:`.passthrough.resume_stream`."""
        return await passthrough.resume_stream(self._core, last_event_id, send=send, hand_over=hand_over)

    async def listen_stream(self) -> Forwarded:
        """The legacy server-to-client stream for a client above, kept open across recoveries.

        See :meth:`.listening.Listener.stream`.
        """
        return await self._listener.stream()

    def __repr__(self) -> str:
        return repr(self._core)
