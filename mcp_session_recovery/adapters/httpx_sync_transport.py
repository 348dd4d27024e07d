"""``RecoveringSyncTransport``: :class:`~.httpx_transport.RecoveringTransport` for a blocking ``httpx.Client``.

::

    with httpx.Client(transport=RecoveringSyncTransport(httpx.HTTPTransport())) as client:
        client.post(url, json=..., headers=...)

The runtime is async, so the twin runs it on an event loop in a helper thread (an anyio blocking
portal, opened when the client is entered and closed when it leaves) and runs the blocking inner
transport in worker threads from there. Every decision is the async transport's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.lowlevel import EventLoopToken

from mcp_session_recovery.runtime.reading import is_stream, media_type

from .httpx_transport import RecoveringTransport, TransportNotStarted
from .httpx_wire import library_of

__all__ = ["RecoveringSyncTransport"]

if TYPE_CHECKING:
    # Typed as an httpx transport (what a blocking httpx.Client takes); at run time it serves httpx2 alike.
    from httpx import BaseTransport as _TransportBase
else:
    _TransportBase = object

#: The most of a body that is not an event stream one trip to a worker thread reads.
_BATCH = 4 << 20


class _AsyncFacade:
    """The blocking inner transport, as the async one the runtime expects (its calls in worker threads)."""

    def __init__(self, inner: Any, module: ModuleType) -> None:
        self._inner = inner
        self._module = module

    async def __aenter__(self) -> _AsyncFacade:
        await anyio.to_thread.run_sync(self._inner.__enter__)
        return self

    async def aclose(self) -> None:
        await anyio.to_thread.run_sync(self._inner.close)

    async def handle_async_request(self, request: Any) -> Any:
        body = await request.aread()
        # The extensions carry the client's timeouts: without them a silent server holds the worker
        # thread (and so the transport's close) for ever.
        blocking = self._module.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        response, chunks, first = await anyio.to_thread.run_sync(self._exchange, blocking)
        stream = _threaded_stream(self._module, response, chunks, first)
        return self._module.Response(response.status_code, headers=response.headers, stream=stream, request=request)

    def _exchange(self, request: Any) -> tuple[Any, Iterator[bytes], _Batch | None]:
        """In a worker thread: the inner transport's response, its chunks, and the first batch of
        them if the body is JSON.

        The runtime reads a JSON body whole, so reading it in the same trip spares one there and
        back; once it is read to its end, the response is closed in that trip too. Any other body is
        left to the runtime: an event stream is handed on as it comes, and a body the runtime may
        leave unread (a notification's acceptance) must stay unread, or the connection is kept.
        """
        response = self._inner.handle_request(request)
        chunks = response.iter_raw()
        if media_type(response.headers) != "application/json":
            return response, chunks, None
        try:
            first = _batch(chunks)
            if not first[1]:
                response.close()
        except BaseException:
            response.close()
            raise
        return response, chunks, first


#: Chunks read in one trip to a worker thread, and whether more may follow.
_Batch = tuple[list[bytes], bool]


def _threaded_stream(module: ModuleType, response: Any, chunks: Iterator[bytes], first: _Batch | None) -> Any:
    """An async byte stream reading a blocking response's ``chunks`` in worker threads.

    An event stream's chunks are handed over one by one, as they come (an event must not wait for
    the next). Any other body is read whole by the runtime, so a worker reads up to ``_BATCH`` bytes
    of it at a time: each trip to a worker thread and back costs about as much as reading a 64 KiB
    chunk, and a 1 MiB answer comes in 16 of them. ``first`` is the batch read with the headers.
    """
    events = is_stream(response.headers)
    closed = first is not None and not first[1]

    class ThreadedStream(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        async def __aiter__(self) -> AsyncIterator[bytes]:
            if events:
                while (chunk := await anyio.to_thread.run_sync(next, chunks, None)) is not None:
                    yield chunk
                return
            batch, more = first if first is not None else await anyio.to_thread.run_sync(_batch, chunks)
            for chunk in batch:
                yield chunk
            while more:
                batch, more = await anyio.to_thread.run_sync(_batch, chunks)
                for chunk in batch:
                    yield chunk

        async def aclose(self) -> None:
            if not closed:
                await anyio.to_thread.run_sync(response.close)

    return ThreadedStream()


def _batch(chunks: Iterator[bytes]) -> _Batch:
    """The next chunks of ``chunks``, up to ``_BATCH`` bytes, and whether more may follow."""
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= _BATCH:
            return batch, True
    return batch, False


def _loop_stream(module: ModuleType, loop: EventLoopToken, response: Any) -> Any:
    """A blocking byte stream reading an async response on ``loop``."""

    class LoopStream(module.SyncByteStream):  # type: ignore[name-defined,misc]
        def __iter__(self) -> Iterator[bytes]:
            chunks = response.stream.__aiter__()  # the raw stream: a body given as bytes is one too
            while (chunk := anyio.from_thread.run(_next_lines, chunks, token=loop)) is not None:
                yield chunk

        def close(self) -> None:
            anyio.from_thread.run(response.aclose, token=loop)

    return LoopStream()


async def _next_lines(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunks up to one that ends a line, in one piece (``None`` at the end).

    The runtime hands on an event stream whole events at a time, the pieces of a big one in a row:
    taking them together up to a line end never waits past an event, and spares a trip between
    threads per piece (a 1 MiB event comes in 16).
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
        self._recovering = RecoveringTransport(_AsyncFacade(inner, self._module), library=self._module, **options)
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._entered: AbstractContextManager[Any] | None = None
        #: The portal's event loop: calls go into it in one hop (the portal's own calls take two).
        self._loop_token: EventLoopToken | None = None

    def __enter__(self) -> RecoveringSyncTransport:
        self._portal_cm = start_blocking_portal()
        portal = self._portal_cm.__enter__()
        self._entered = portal.wrap_async_context_manager(self._recovering)
        self._entered.__enter__()
        self._loop_token = portal.call(anyio.lowlevel.current_token)
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
        entered, portal_cm = self._entered, self._portal_cm
        self._entered = self._portal_cm = self._loop_token = None
        try:
            if entered is not None:
                entered.__exit__(None, None, None)
        finally:
            if portal_cm is not None:
                portal_cm.__exit__(None, None, None)

    def handle_request(self, request: Any) -> Any:
        loop = self._loop_token
        if loop is None:
            raise TransportNotStarted(
                "enter the client first: with httpx.Client(transport=RecoveringSyncTransport(...)) as client"
            )
        body = request.read()
        asynchronous = self._module.Request(
            request.method, request.url, headers=request.headers, content=body, extensions=request.extensions
        )
        response = anyio.from_thread.run(self._answer, asynchronous, token=loop)
        if not is_stream(response.headers):
            stream = self._module.ByteStream(response.content)  # read in the same trip: no more trips
        else:
            stream = _loop_stream(self._module, loop, response)
        return self._module.Response(response.status_code, headers=response.headers, stream=stream, request=request)

    async def _answer(self, request: Any) -> Any:
        """The async transport's response; a body that is not an event stream read and closed (the
        runtime read it whole already): each trip between this thread and the loop's costs time."""
        response = await self._recovering.handle_async_request(request)
        if not is_stream(response.headers):
            await response.aread()
        return response
