"""Secrets a server echoes never reach the library's messages, reprs or log records.

The test server's ``echo_secrets`` repeats the request's ``Mcp-Session-Id`` and ``Authorization``
values in every error it builds; ``issued_session_id`` makes the session id known to the test. The
library's typed errors quote a server's error text, so the redactor must take both out: from the
message, the attributes, ``data``, the repr, and every log record the library writes meanwhile
(DEBUG included). httpx's and httpcore's own DEBUG logging shows raw headers (documented in the
README); those records are theirs, not checked here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import httpx
import pytest
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.adapters.aiohttp_wire import AiohttpWire
from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.model import McpSessionError, RemoteError, UnexpectedAnswer
from mcp_session_recovery.runtime import Session, SessionOptions
from mcp_session_recovery.runtime.redaction import REDACTED
from mcp_session_recovery.testing import AnswerRule, Behaviour, CannedAnswer, serve
from tests.edges.support import options

pytestmark = pytest.mark.anyio

SESSION_ID = "echoed-session-id-0123456789abcdef"
TOKEN = "echoed-token-9876543210fedcba"
HEADERS = {"authorization": f"Bearer {TOKEN}"}

Call = Callable[[str], Any]
Opener = Callable[[str, SessionOptions], AbstractAsyncContextManager[Call]]


@asynccontextmanager
async def _session_httpx(url: str, settings: SessionOptions) -> AsyncIterator[Call]:
    async with httpx.AsyncClient(headers=HEADERS) as http, Session(HttpxWire(http, url), url, settings) as session:
        yield lambda name: session.request("tools/call", {"name": name, "arguments": {}})


@asynccontextmanager
async def _session_aiohttp(url: str, settings: SessionOptions) -> AsyncIterator[Call]:
    async with (
        aiohttp.ClientSession(headers=HEADERS) as http,
        Session(AiohttpWire(http, url), url, settings) as session,
    ):
        yield lambda name: session.request("tools/call", {"name": name, "arguments": {}})


@asynccontextmanager
async def _connect(url: str, settings: SessionOptions) -> AsyncIterator[Call]:
    async with connect(url, mode="legacy", headers=HEADERS, options=settings) as client:
        yield lambda name: client.call_tool(name, {})


OPENERS: dict[str, tuple[Opener, tuple[str, ...]]] = {
    "session-httpx": (_session_httpx, ("asyncio", "trio")),
    "session-aiohttp": (_session_aiohttp, ("asyncio",)),
    "connect": (_connect, ("asyncio", "trio")),
}
CASES = [
    pytest.param(backend, name, id=f"{name}-{backend}")
    for name, (_, backends) in OPENERS.items()
    for backend in backends
]

#: Error answers the server builds around the echoed secrets.
ECHOING = {
    "json-rpc-error": None,  # an unknown tool: the server's own JSON-RPC error, with the echo appended
    "plain-500": CannedAnswer(500, "text/plain", "boom for {{mcp-session-id}} with {{authorization}}"),
    "json-error-string": CannedAnswer(
        400, "application/json", '{"error": "bad session {{mcp-session-id}}, token {{authorization}}"}'
    ),
}


def _assert_clean(text: str, where: str) -> None:
    assert SESSION_ID not in text, f"the session id leaked into {where}: {text[:300]!r}"
    assert TOKEN not in text, f"the credential leaked into {where}: {text[:300]!r}"


@pytest.mark.parametrize("answer", list(ECHOING))
@pytest.mark.parametrize(("anyio_backend", "opener"), CASES)
async def test_echoed_secrets_are_redacted_from_errors_and_logs(
    anyio_backend: str, opener: str, answer: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    behaviour = Behaviour(issued_session_id=SESSION_ID, echo_secrets=True)
    async with serve(behaviour) as server, OPENERS[opener][0](server.url, options()) as call:
        assert (await call("peek")) is not None
        canned = ECHOING[answer]
        if canned is not None:
            server.configure(answer_rules=(AnswerRule(canned, frozenset({"tools/call"}), times=1),))
        # connect() gives a server's JSON-RPC error as the SDK's MCPError, built from the library's RemoteError.
        with pytest.raises((McpSessionError, MCPError)) as caught:
            await call("no-such-tool" if canned is None else "peek")
        error = caught.value
        assert isinstance(error, (RemoteError, UnexpectedAnswer, MCPError)), repr(error)
        for where, text in (
            ("the message", str(error)),
            ("the repr", repr(error)),
            ("the attributes", str(vars(error))),
        ):
            _assert_clean(text, where)
        assert REDACTED in str(error), "the server's words are kept, the secrets replaced"
    for record in caplog.records:
        if not record.name.startswith("mcp_session_recovery"):
            continue  # httpcore's DEBUG trace prints raw headers by design
        _assert_clean(record.getMessage(), f"a log record ({record.name})")
        if record.exc_info and record.exc_info[1] is not None:
            _assert_clean(str(record.exc_info[1]), f"a logged exception ({record.name})")
