"""``RecoveringSyncTransport``: :class:`~.httpx_transport.RecoveringTransport` for a blocking ``httpx.Client``.

::

    with httpx.Client(transport=RecoveringSyncTransport(httpx.HTTPTransport())) as client:
        client.post(url, json=..., headers=...)

The runtime is async: the twin runs it on a private event loop that the calling threads run
themselves (:class:`~.driven_loop.DrivenLoop`), and the blocking inner transport's steps of a
request in that request's own thread, so a request makes no trip between threads. Every decision is
the async transport's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio

from mcp_session_recovery.runtime import SessionOptions
from mcp_session_recovery.runtime.deadlines import sending_deadline
from mcp_session_recovery.runtime.reading import is_stream, media_type

from .driven_loop import DrivenLoop, blocking
from .httpx_transport import RecoveringTransport, TransportNotStarted
from .httpx_wire import library_of

__all__ = ["RecoveringSyncTransport"]

if TYPE_CHECKING:
    # Typed as an httpx transport (what a blocking httpx.Client takes); at run time it serves httpx2 alike.
    from httpx import BaseTransport as _TransportBase
else:
    _TransportBase = object

#: The most of a body that is not an event stream one blocking step reads (at most the read limit).
_BATCH = 4 << 20


class _AsyncFacade:
    """The blocking inner transport, as the async one the runtime expects (its calls :func:`blocking`)."""

    def __init__(self, inner: Any, module: ModuleType, batch: int = _BATCH) -> None:
        self._inner = inner
        self._module = module
        #: The most one blocking step reads of a JSON body: never past the runtime's read limit.
        self._most = batch

    async def __aenter__(self) -> _AsyncFacade:
        await blocking(self._inner.__enter__)
        return self

    async def aclose(self) -> None:
        await blocking(self._inner.close)

    async def handle_async_request(self, request: Any) -> Any:
        body = await request.aread()
        # The extensions carry the client's timeouts, capped at the request's deadline: a blocking step
        # cannot be cancelled, and a silent server would hold its thread (and the transport's close).
        deadline = min(anyio.current_effective_deadline(), sending_deadline())
        extensions = _within(request.extensions, deadline - anyio.current_time())
        sent = self._module.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=extensions
        )
        try:
            response, chunks, first = await blocking(self._exchange, sent)
        except self._module.TimeoutException:
            if anyio.current_time() >= deadline:
                # Timed out by the call's own deadline, which cancels the call: let that land, as on
                # the async transport (the caller gets DeadlineExceeded, not a server's silence).
                with anyio.move_on_after(_LANDING):
                    await anyio.sleep_forever()
            raise
        stream = _stream_types(self._module).blocking_body(response, chunks, first, self._most)
        return self._module.Response(response.status_code, headers=response.headers, stream=stream, request=request)

    def _exchange(self, request: Any) -> tuple[Any, Iterator[bytes], _Batch | None]:
        """Blocking: the inner transport's response, its chunks, and the first batch of
        them if the body is JSON.

        The runtime reads a JSON body whole, so reading it in the same step spares one there and
        back; once it is read to its end, the response is closed in that step too. Any other body is
        left to the runtime: an event stream is handed on as it comes, and a body the runtime may
        leave unread (a notification's acceptance) must stay unread, or the connection is kept.
        """
        response = self._inner.handle_request(request)
        chunks = iter(response.stream)  # not iter_raw(): a response made with its content (a mock) is read already
        if media_type(response.headers) != "application/json":
            return response, chunks, None
        try:
            first = _batch(chunks, self._most)
            if not first[1]:
                response.close()
        except BaseException:
            response.close()
            raise
        return response, chunks, first


def _within(extensions: Mapping[str, Any], seconds: float) -> Mapping[str, Any]:
    """``extensions`` with each of its timeouts at most ``seconds`` (no change without a deadline)."""
    if seconds == math.inf:
        return extensions
    seconds = max(seconds, 0.001)
    timeouts = extensions.get("timeout") or {}
    capped = {kind: seconds if timeouts.get(kind) is None else min(timeouts[kind], seconds) for kind in _TIMEOUTS}
    return {**extensions, "timeout": capped}


_TIMEOUTS = ("connect", "read", "write", "pool")
#: The most a call timed out by its deadline waits for the deadline's cancellation (due already).
_LANDING = 1.0

#: Chunks read in one blocking step, and whether more may follow.
_Batch = tuple[bytes, bool]


class _StreamTypes(NamedTuple):
    #: An async stream over a blocking response (what the runtime reads).
    blocking_body: Any
    #: A blocking stream over an async response (what the blocking client reads).
    loop_body: Any


@functools.cache
def _stream_types(module: ModuleType) -> _StreamTypes:
    """The two byte streams a blocking response and an async one cross over in, for ``module``
    (``httpx`` or ``httpx2``): made once, for a class made per call costs as much as a small answer."""

    class BlockingBody(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        """An async byte stream reading a blocking response's ``chunks`` :func:`blocking`.

        An event stream's chunks are handed over one by one, as they come (an event must not wait
        for the next). Any other body is read whole by the runtime, so one step reads up to
        ``_BATCH`` bytes of it: a step in a worker thread costs about as much as reading a 64 KiB
        chunk, and a 1 MiB answer comes in 16 of them. ``first`` is the batch read with the headers.
        """

        def __init__(self, response: Any, chunks: Iterator[bytes], first: _Batch | None, most: int) -> None:
            self._response = response
            self._chunks = chunks
            self._first = first
            self._most = most
            self._events = is_stream(response.headers)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            chunks = self._chunks
            if self._events:
                while (chunk := await blocking(next, chunks, None)) is not None:
                    yield chunk
                return
            batch, more = self._first if self._first is not None else await blocking(_batch, chunks, self._most)
            while True:
                if batch:
                    yield batch
                if not more:
                    return
                batch, more = await blocking(_batch, chunks, self._most)

        async def aclose(self) -> None:
            if self._first is None or self._first[1]:  # else closed in the step that read it to its end
                await blocking(self._response.close)

    class LoopBody(module.SyncByteStream):  # type: ignore[name-defined,misc]
        """A blocking byte stream reading an async response on ``driven``."""

        def __init__(self, driven: DrivenLoop, response: Any) -> None:
            self._driven = driven
            self._response = response

        def __iter__(self) -> Iterator[bytes]:
            chunks = self._response.stream.__aiter__()  # the raw stream: a body given as bytes is one too
            while (chunk := self._driven.run(_next_lines, chunks)) is not None:
                yield chunk

        def close(self) -> None:
            self._driven.run(self._response.aclose)

    return _StreamTypes(BlockingBody, LoopBody)


def _batch(chunks: Iterator[bytes], most: int) -> _Batch:
    """The next ``most`` bytes of ``chunks`` or fewer (give or take a chunk), in one piece, and
    whether more may follow: joined here, the runtime, which reads such a body whole, does not copy
    it again."""
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= most:
            return b"".join(batch), True
    return b"".join(batch), False


async def _next_lines(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunks up to one that ends a line, in one piece (``None`` at the end).

    The runtime hands on an event stream whole events at a time, the pieces of a big one in a row:
    taking them together up to a line end never waits past an event, and spares a call per piece (a
    1 MiB event comes in 16).
    """
    pieces: list[bytes] = []
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            break
        pieces.append(chunk)
        if chunk.endswith((b"\n", b"\r")):
            break
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class RecoveringSyncTransport(_TransportBase):
    """A blocking transport of ``httpx`` (or ``httpx2``) that keeps the MCP session under it alive.

    Takes the same keyword arguments as :class:`~.httpx_transport.RecoveringTransport`: ``library``
    (``httpx`` or ``httpx2``) is told from ``inner``'s base class when not given.
    """

    def __init__(self, inner: Any, *, library: ModuleType | None = None, **options: Any) -> None:
        self._module = library_of(inner, library)
        limits = (options.get("options") or SessionOptions()).limits
        # One byte past the limit is enough for the runtime to refuse a body (AnswerTooLarge).
        facade = _AsyncFacade(inner, self._module, min(_BATCH, limits.max_json_body + 1))
        self._recovering = RecoveringTransport(facade, library=self._module, **options)
        self._driven: DrivenLoop | None = None

    def __enter__(self) -> RecoveringSyncTransport:
        driven = DrivenLoop()
        try:
            driven.hold(self._recovering)
        except BaseException:
            driven.close()
            raise
        self._driven = driven
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the session (one DELETE for a live legacy session), the inner transport and the loop."""
        driven, self._driven = self._driven, None
        if driven is not None:
            driven.close()

    def handle_request(self, request: Any) -> Any:
        driven = self._driven
        if driven is None:
            raise TransportNotStarted(
                "enter the client first: with httpx.Client(transport=RecoveringSyncTransport(...)) as client"
            )
        body = request.read()
        asynchronous = self._module.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        response = driven.run(self._answer, asynchronous)
        if not is_stream(response.headers):
            stream = self._module.ByteStream(response.content)  # read in the same call: no more calls
        else:
            stream = _stream_types(self._module).loop_body(driven, response)
        return self._module.Response(response.status_code, headers=response.headers, stream=stream, request=request)

    async def _answer(self, request: Any) -> Any:
        """The async transport's response; a body that is not an event stream read and closed (the
        runtime read it whole already)."""
        response = await self._recovering.handle_async_request(request)
        if not is_stream(response.headers):
            await response.aread()
        return response
