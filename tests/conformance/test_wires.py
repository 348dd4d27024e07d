"""``check_wire``: our wires pass, and wires broken in each way a wire can lie are named."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urljoin

import aiohttp
import httpx
import httpx2
import pytest

from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import Outgoing, Progress, TransportFailureKind
from mcp_session_recovery.runtime import Wire, WireError
from mcp_session_recovery.runtime.wire import WireResponse
from mcp_session_recovery.testing.conformance import Invariant, check_wire

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def httpx_wire(url: str, read_timeout: float) -> AsyncIterator[Wire]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=read_timeout)) as client:
        yield HttpxWire(client, url)


@asynccontextmanager
async def httpx2_wire(url: str, read_timeout: float) -> AsyncIterator[Wire]:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(10, read=read_timeout)) as client:
        yield HttpxWire(client, url)


@asynccontextmanager
async def aiohttp_wire(url: str, read_timeout: float) -> AsyncIterator[Wire]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=read_timeout)) as client:
        yield AiohttpWire(client, url)


@pytest.mark.parametrize("make_wire", [httpx_wire, httpx2_wire, aiohttp_wire], ids=["httpx", "httpx2", "aiohttp"])
async def test_our_wires_pass(make_wire: object) -> None:
    report = await check_wire(make_wire)  # type: ignore[arg-type]
    assert report.passed, report.summary()
    assert report.examples_run == 10


# -- wires broken on purpose, each around a working HttpxWire ---------------------------------------


class _Buffered:
    """Reads the whole body before handing over the response: an endless answer never arrives."""

    def __init__(self, response: WireResponse, body: bytes) -> None:
        self.status, self.headers, self._body, self._inner = response.status, response.headers, body, response

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        yield self._body

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Unclosed:
    """Forgets to release the connection."""

    def __init__(self, response: WireResponse) -> None:
        self.status, self.headers, self._inner = response.status, response.headers, response

    def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        return self._inner.iter_bytes()

    async def aclose(self) -> None:
        return None


class _Shouting:
    """Shows header names as the server wrote them."""

    def __init__(self, response: WireResponse) -> None:
        self.status, self._inner = response.status, response
        self.headers: Mapping[str, str] = {name.title(): value for name, value in response.headers.items()}

    def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        return self._inner.iter_bytes()

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Broken:
    def __init__(self, inner: HttpxWire, how: str, url: str) -> None:
        self.inner, self.how, self.url = inner, how, url

    async def send(self, outgoing: Outgoing) -> WireResponse:
        if self.how == "misaddressed":  # always to the endpoint, whatever the runtime says
            outgoing = dataclasses.replace(outgoing, url=None)
        try:
            response = await self.inner.send(outgoing)
        except WireError:
            if self.how == "all-refused":  # calls every failure "refused": a reset would be replayed
                raise WireError(TransportFailureKind.CONNECT_REFUSED, Progress.NOT_SENT) from None
            raise
        if self.how == "buffered":
            chunks = [chunk async for chunk in response.iter_bytes()]
            return _Buffered(response, b"".join(chunks))
        if self.how == "unclosed":
            return _Unclosed(response)
        if self.how == "shouting":
            return _Shouting(response)
        if self.how == "following" and response.status in (307, 308):  # follows redirects itself
            await response.aclose()
            target = urljoin(outgoing.url or self.url, response.headers["location"])
            return await self.inner.send(dataclasses.replace(outgoing, url=target))
        return response


def broken(how: str) -> object:
    @asynccontextmanager
    async def make(url: str, read_timeout: float) -> AsyncIterator[Wire]:
        async with httpx_wire(url, read_timeout) as wire:
            assert isinstance(wire, HttpxWire)
            yield _Broken(wire, how, url)

    return make


@pytest.mark.parametrize(
    ("how", "invariant"),
    [
        ("all-refused", Invariant.WIRE_ERRORS),
        ("buffered", Invariant.WIRE_STREAMED),
        ("unclosed", Invariant.WIRE_CLOSED),
        ("shouting", Invariant.WIRE_HEADERS),
        ("misaddressed", Invariant.WIRE_ADDRESSED),
        ("following", Invariant.WIRE_ADDRESSED),
    ],
)
async def test_a_broken_wire_is_named(how: str, invariant: Invariant) -> None:
    report = await check_wire(broken(how))  # type: ignore[arg-type]
    assert invariant in report.broken, report.summary()
    assert report.counters.seconds < 15
