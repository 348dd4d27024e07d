"""Errors a caller meets through the runtime name its method, its own JSON-RPC id (when a client
above gave one), how long it waited and why, over a real socket nobody listens on; the library's
request numbers and state names stay attributes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.model import DeadlineExceeded, EraMode, RecoveryFailed, SessionClosed, Signal, State
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions
from tests.integration.processes import free_port

pytestmark = pytest.mark.anyio

INSIDES = re.compile(r"\brequest \d|" + "|".join(state.name for state in State))


@asynccontextmanager
async def _nowhere(**changes: object) -> AsyncIterator[Session]:
    """A session with an endpoint on 127.0.0.1 where nothing listens (every connect is refused)."""
    url = f"http://127.0.0.1:{free_port()}/mcp"
    settings: dict[str, object] = {
        "mode": EraMode.LEGACY,
        "backoff": Backoff(base=0.01, cap=0.05),
        "max_attempts": 1000,
        "era_cache": EraCache(),
    }
    settings.update(changes)
    options = SessionOptions(**settings)  # type: ignore[arg-type]
    async with httpx.AsyncClient() as client, Session(HttpxWire(client, url), url, options) as session:
        yield session


async def test_a_request_past_its_deadline_says_how_long_and_why() -> None:
    async with _nowhere() as session:
        with pytest.raises(DeadlineExceeded) as caught:
            await session.request("tools/call", {"name": "bump", "arguments": {}}, timeout=0.3)
    error = caught.value
    text = str(error)
    assert text.startswith("tools/call: no answer within 0.3 s while the session was being (re)established"), text
    assert "(server unreachable: connection refused)" in text
    assert "check that it is running and reachable, or allow a longer timeout" in text
    assert not INSIDES.search(text), text
    assert error.request_id == 0, "the library's own number is an attribute"
    assert error.state in (State.INITIALIZING, State.INVALIDATED, State.RECOVERING)
    assert (error.timeout, error.cause) == (0.3, "server unreachable: connection refused")


async def test_a_client_messages_error_names_the_clients_own_id() -> None:
    message = {"jsonrpc": "2.0", "id": "call-7", "method": "tools/list"}
    async with _nowhere() as session:
        forwarded = await session.forward(message, json.dumps(message).encode(), timeout=0.3)
    assert isinstance(forwarded.error, DeadlineExceeded)
    answer = json.loads(forwarded.body)
    assert answer["id"] == "call-7"
    text = answer["error"]["message"]
    assert text.startswith('tools/list (id "call-7"): no answer within 0.3 s'), text
    assert "connection refused" in text
    assert not INSIDES.search(text), text
    assert forwarded.error.client_id == "call-7"


async def test_a_round_that_gave_up_names_the_request_the_cause_and_what_to_try() -> None:
    async with _nowhere(max_attempts=2) as session:
        with pytest.raises(RecoveryFailed) as caught:
            await session.request("resources/list", timeout=10)
    text = str(caught.value)
    assert text.startswith("resources/list: the session could not be recovered: 2 attempt(s) failed"), text
    assert "(last: server unreachable: connection refused)" in text
    assert "check that the server is running and reachable at its URL" in text
    assert caught.value.last_signal is Signal.UNREACHABLE
    assert not INSIDES.search(text), text


async def test_a_request_after_close_names_its_method() -> None:
    async with _nowhere() as session:
        await session.aclose()
        with pytest.raises(SessionClosed) as caught:
            await session.request("ping")
    assert str(caught.value) == "ping: the session is closed; open a new one to send more"
