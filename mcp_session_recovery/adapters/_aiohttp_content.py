"""Response contents the aiohttp middleware hands a client in the place of the server's own.

A ``ClientResponse`` reads its body from an ``aiohttp.StreamReader``; when the client must get other
bytes than the connection carries (a body the runtime already read, an answer the runtime made, a
relayed SSE stream) the middleware gives the response a reader it feeds itself.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - aiohttp runs on asyncio only; its StreamReader takes the loop
import copy
from collections.abc import AsyncGenerator, Mapping
from http import HTTPStatus

import aiohttp
import anyio.abc
from aiohttp.base_protocol import BaseProtocol
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["answered", "content_of", "relayed", "with_headers"]


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


def answered(
    template: aiohttp.ClientResponse, status: int, headers: Mapping[str, str], content: aiohttp.StreamReader
) -> aiohttp.ClientResponse:
    """An answer the runtime made itself (``status``, ``headers``, ``content``), in the shape of a
    response the server sent it (``template``: the URL, the request it answered, the connection's
    details)."""
    response = copy.copy(template)
    # The copy shares nothing live with the template: neither its cached headers, nor its
    # connection and request writer (releasing the copy must not release the template's).
    response._cache = {}
    response._connection = None
    response._writer = None
    response.status = status
    response.reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else None
    with_headers(response, headers)
    response.content = content
    return response


def with_headers(response: aiohttp.ClientResponse, headers: Mapping[str, str]) -> None:
    """Give ``response`` ``headers`` in place of its own (aiohttp caches them once read)."""
    response._headers = CIMultiDictProxy(CIMultiDict(headers))
    response._raw_headers = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())
    response._cache.pop("headers", None)
    response._cache.pop("raw_headers", None)


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
