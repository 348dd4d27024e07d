"""Row 6: 1 MiB answers (the ``blob`` tool) through each adapter against its bare twin.

Three servers: the test server answering JSON, the test server answering SSE, the SDK 2.3.0
server (SSE). Every answer is compared with :func:`~mcp_session_recovery.testing.blob_text`:
"identical" means every call of that side returned exactly the text the server sent. The SDK's
clients get a bigger SSE event limit than their default (exactly 1 MiB, less than one such answer
with its JSON-RPC envelope), on both sides alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
import httpx2

from mcp_session_recovery.adapters.httpx_sync_transport import RecoveringSyncTransport
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.testing import ManagedProcess, ResponseStyle, blob_text

from .clients import (
    RawSync,
    aiohttp_session_and_raw,
    recovering,
    sdk_client,
    session_and_raw,
    text_of,
)
from .common import Context, Result, Row, interleave, interleave_sync, median, ms, ratio

__all__ = ["ROWS"]

SIZE = 1 << 20
ARGUMENTS = {"size": SIZE}
BLOB = {"name": "blob", "arguments": ARGUMENTS}
BUDGET = 45.0

Call = Callable[[], Awaitable[Any]]


@asynccontextmanager
async def _sdk(url: str) -> AsyncIterator[dict[str, Call]]:
    async with sdk_client(url, httpx2.AsyncHTTPTransport()) as bare, sdk_client(url, recovering()) as adapter:
        yield {
            "bare": lambda: bare.call_tool("blob", ARGUMENTS),
            "adapter": lambda: adapter.call_tool("blob", ARGUMENTS),
        }


@asynccontextmanager
async def _session(url: str) -> AsyncIterator[dict[str, Call]]:
    async with session_and_raw(url) as (session, raw):
        yield {"bare": lambda: raw.call("blob", ARGUMENTS), "adapter": lambda: session.request("tools/call", BLOB)}


@asynccontextmanager
async def _aiohttp(url: str) -> AsyncIterator[dict[str, Call]]:
    async with aiohttp_session_and_raw(url) as (session, raw):
        yield {"bare": lambda: raw.call("blob", ARGUMENTS), "adapter": lambda: session.request("tools/call", BLOB)}


@asynccontextmanager
async def _connect(url: str) -> AsyncIterator[dict[str, Call]]:
    async with sdk_client(url, httpx2.AsyncHTTPTransport()) as bare, connect(url, mode="legacy") as client:
        yield {
            "bare": lambda: bare.call_tool("blob", ARGUMENTS),
            "adapter": lambda: client.call_tool("blob", ARGUMENTS),
        }


@contextmanager
def _sync(url: str) -> Iterator[dict[str, Callable[[], Any]]]:
    transport = RecoveringSyncTransport(httpx.HTTPTransport())
    with httpx.Client(timeout=30) as bare_http, httpx.Client(transport=transport, timeout=30) as http:
        bare, adapter = RawSync(bare_http, url), RawSync(http, url)
        bare.initialize()
        adapter.initialize()
        yield {"bare": lambda: bare.call("blob", ARGUMENTS), "adapter": lambda: adapter.call("blob", ARGUMENTS)}


class _Check:
    """Wraps each side's call: its errors name the side, its answers are compared with the blob."""

    def __init__(self) -> None:
        self.expected = blob_text(SIZE)
        self.identical = {"bare": True, "adapter": True}

    def check(self, side: str, result: Any) -> None:
        self.identical[side] = self.identical[side] and text_of(result) == self.expected

    def wrap(self, side: str, call: Call) -> Call:
        async def checked() -> None:
            try:
                result = await call()
            except Exception as error:
                raise RuntimeError(f"{side}: {type(error).__name__}: {error}") from error
            self.check(side, result)

        return checked

    def wrap_sync(self, side: str, call: Callable[[], Any]) -> Callable[[], None]:
        def checked() -> None:
            try:
                result = call()
            except Exception as error:
                raise RuntimeError(f"{side}: {type(error).__name__}: {error}") from error
            self.check(side, result)

        return checked

    def result(self, samples: Mapping[str, list[float]]) -> Result:
        bare, adapter = median(samples["bare"]), median(samples["adapter"])
        value = ratio(adapter, bare)
        yes = {side: "yes" if ok else "no" for side, ok in self.identical.items()}
        return Result(
            f"{value:.2f}x ({ms(adapter)}), identical: {yes['adapter']}",
            f"bare {ms(bare)}, identical: {yes['bare']}; {len(samples['bare'])} calls each",
            met=self.identical["adapter"],
            values={"ratio": value, "bare_s": bare, "adapter_s": adapter, "identical": self.identical},
        )


PAIRS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "sdk": ("RecoveringTransport+SDK / bare SDK", _sdk),
    "session": ("Session over HttpxWire / raw httpx2", _session),
    "sync": ("RecoveringSyncTransport / bare httpx.Client", _sync),
    "aiohttp": ("AiohttpWire / raw aiohttp", _aiohttp),
    "connect": ("connect() / bare SDK", _connect),
}
SERVERS = {"json": "test server JSON", "sse": "test server SSE", "sdkserver": "SDK server"}


def _server(context: Context, kind: str) -> ManagedProcess:
    if kind == "sdkserver":
        return context.servers.sdk()
    return context.servers.testing(ResponseStyle.JSON if kind == "json" else ResponseStyle.SSE)


def _row(kind: str, pair: str) -> Callable[[Context], Result]:
    def run(context: Context) -> Result:
        url = _server(context, kind).url
        rounds = context.scale.pick(60, 1)
        check = _Check()
        if pair == "sync":
            with _sync(url) as calls:
                subjects = {side: check.wrap_sync(side, call) for side, call in calls.items()}
                return check.result(interleave_sync(subjects, rounds, budget=BUDGET, warmup=1))

        async def main() -> dict[str, list[float]]:
            with anyio.fail_after(BUDGET + 60):
                async with PAIRS[pair][1](url) as calls:
                    subjects = {side: check.wrap(side, call) for side, call in calls.items()}
                    return await interleave(subjects, rounds, budget=BUDGET, warmup=1)

        return check.result(anyio.run(main))

    return run


ROWS = [
    Row(f"blob-{kind}-{pair}", f"1 MiB answer, {server}, {figure}", "identical: yes", _row(kind, pair))
    for kind, server in SERVERS.items()
    for pair, (figure, _) in PAIRS.items()
]
