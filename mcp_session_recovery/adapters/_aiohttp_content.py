"""Response contents the aiohttp middleware hands a client in the place of the server's own.

A ``ClientResponse`` reads its body from an ``aiohttp.StreamReader``; when the client must get other
bytes than the connection carries (a body the runtime already read, a copy of a negotiation answer,
a relayed SSE stream) the middleware gives the response a reader it feeds itself.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - aiohttp runs on asyncio only; its StreamReader takes the loop
import copy
from collections.abc import AsyncGenerator

import aiohttp
import anyio.abc
from aiohttp.base_protocol import BaseProtocol

from mcp_session_recovery.runtime.reading import is_stream

__all__ = ["answered", "content_of", "relayed"]


class _Unpaced(BaseProtocol):
    """The "connection" of a body the library feeds itself: always open, nothing to pause."""

    @property
    def connected(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


def _reader() -> aiohttp.StreamReader:
    loop = asyncio.get_running_loop()
    return aiohttp.StreamReader(_Unpaced(loop), 2**16, loop=loop)


def content_of(body: bytes) -> aiohttp.StreamReader:
    """``body`` as a response's content."""
    reader = _reader()
    if body:
        reader.feed_data(body)
    reader.feed_eof()
    return reader


def answered(source: aiohttp.ClientResponse, status: int, body: bytes) -> aiohttp.ClientResponse:
    """A copy of the server's response ``source`` with ``status`` and ``body`` (an SSE event when
    ``source`` was a stream): the answer for a client's copy of a message the runtime sent itself."""
    response = copy.copy(source)
    response.status = status
    if body and is_stream({"content-type": source.headers.get("content-type", "")}):
        body = b"event: message\ndata: " + body + b"\n\n"
    response.content = content_of(body)
    return response


def relayed(stream: AsyncGenerator[bytes, None], task_group: anyio.abc.TaskGroup | None) -> aiohttp.StreamReader:
    """A content that the runtime's relay ``stream`` feeds, chunk by chunk, in the background."""
    assert task_group is not None
    reader = _reader()

    async def pump() -> None:
        try:
            async for chunk in stream:
                if reader.exception() is not None:
                    return  # the client released the response: stop relaying
                reader.feed_data(chunk)
        except Exception as exc:
            # The relay turns every network fault into an answer of its own (an SSE event with a
            # JSON-RPC error): what escapes it is a bug. The client gets that very exception, never a
            # ClientPayloadError it would take for the network (and might retry).
            reader.set_exception(exc)
            return
        finally:
            await stream.aclose()
        reader.feed_eof()

    task_group.start_soon(pump)
    return reader
