"""The clients the conformance kit judges in our CI: every adapter, the plain SDK, two broken ones.

Our adapters come from ``tests/edges/clients.py`` (one list of every way through the library);
here each is given the ``call_tool`` surface the kit drives: a result, or an exception for what
the caller got instead. The plain SDK client is what the library exists to fix; the two broken
adapters are mistakes the kit must name: one that lets every caller re-initialize on its own,
one that sends a ``tools/call`` again when its answer was lost.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import OutcomeUnknown
from mcp_session_recovery.runtime import SessionOptions
from mcp_session_recovery.testing.conformance import OpenClient, ToolCaller
from tests.edges.clients import ACCEPT, ADAPTERS, Adapter, EdgeClient, RawAnswer, Refusal, message_of
from tests.edges.support import options

__all__ = ["Refused", "broken_reinitializes_per_caller", "broken_replays_cut_calls", "opener", "plain_sdk"]


class Refused(Exception):
    """What an edge client's caller got instead of a result (its typed error or JSON-RPC error)."""

    def __init__(self, refusal: Refusal) -> None:
        what = repr(refusal.typed) if refusal.typed is not None else f"JSON-RPC {refusal.code}: {refusal.message}"
        super().__init__(what)
        self.refusal = refusal


class _Caller:
    def __init__(self, client: EdgeClient) -> None:
        self.client = client

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        outcome = await self.client.call(name, arguments)
        if isinstance(outcome, Refusal):
            raise Refused(outcome)
        return outcome


def adapter(name: str) -> Adapter:
    """The edge adapter called ``name``."""
    return next(a for a in ADAPTERS if a.name == name)


def opener(name: str, session_options: SessionOptions | None = None) -> OpenClient:
    """``open_client`` for the edge adapter ``name`` (quick backoff, a private era cache)."""
    chosen = adapter(name)

    @asynccontextmanager
    async def open_client(url: str) -> AsyncIterator[ToolCaller]:
        async with chosen.open(url, session_options or options()) as client:
            yield _Caller(client)

    return open_client


@asynccontextmanager
async def plain_sdk(url: str) -> AsyncIterator[ToolCaller]:
    """The official SDK's client with nothing of this library: what breaks in production."""
    async with (
        streamable_http_client(url) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class _ReplaysCut:
    """Broken on purpose: when a call's answer was lost, it simply calls again."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        try:
            return await self.client.call_tool(name, arguments)
        except OutcomeUnknown:
            return await self.client.call_tool(name, arguments)


def broken_replays_cut_calls(url: str) -> AbstractAsyncContextManager[ToolCaller]:
    """``connect()`` behind a wrapper that re-sends a call whose outcome is unknown."""

    @asynccontextmanager
    async def open_client() -> AsyncIterator[ToolCaller]:
        async with connect(url, mode="legacy", options=options()) as client:
            yield _ReplaysCut(client)

    return open_client()


class _EveryCallerReinitializes:
    """Broken on purpose: a raw client whose callers each open a new session when theirs is gone."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def initialize(self) -> None:
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "broken", "version": "1"}}
        body = {"jsonrpc": "2.0", "id": self._id(), "method": "initialize", "params": params}
        answer = await self.http.post(self.url, json=body, headers=ACCEPT)
        answer.raise_for_status()
        session_id = answer.headers["mcp-session-id"]
        headers = {**ACCEPT, "mcp-session-id": session_id}
        await self.http.post(self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        self.session_id = session_id

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": self._id(),
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        )
        for _ in range(2):
            headers = {**ACCEPT, "content-type": "application/json", "mcp-session-id": self.session_id}
            answer = await self.http.post(self.url, content=body, headers=headers)
            if answer.status_code == 404:
                await self.initialize()  # no single flight: every caller that saw the 404 does it
                continue
            message = message_of(RawAnswer(answer.status_code, answer.headers.get("content-type", ""), answer.content))
            return str(message["result"]["content"][0]["text"])
        raise RuntimeError("the call failed twice")


@asynccontextmanager
async def broken_reinitializes_per_caller(url: str) -> AsyncIterator[ToolCaller]:
    async with httpx.AsyncClient(timeout=10) as http:
        client = _EveryCallerReinitializes(http, url)
        await client.initialize()
        yield client
        with anyio.CancelScope(shield=True):
            await http.delete(url, headers={"mcp-session-id": client.session_id})
