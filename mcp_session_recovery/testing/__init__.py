"""A real, fault-injecting MCP Streamable HTTP server for tests (anyio + h11; asyncio and trio).

It speaks both protocol eras the way the real SDK servers do, byte for byte where it matters
(the stale-session answers, the 400 with a throwaway session id), and it can be told to fail in
the ways that break clients in production: restart and forget every session, stop listening,
switch eras, lose session affinity, cut an answer after the tool ran, answer like a proxy whose
backend is down, stream one SSE event forever, send a JSON body of any size, answer with the
wrong JSON-RPC id; and hostile ones: any 3-digit status with any headers for chosen requests
(``AnswerRule``: a ``503`` with ``Retry-After`` for the first ``tools/call``, a redirect), raw
session ids h11 would refuse, answers echoing the request's secrets, and a record of the headers
every request carried (a second origin's witness). Its ``blob`` tool answers any number of
characters of :func:`blob_text`.
Every fault can be switched while it runs, and the server counts what it did, so a test asserts
on what the *server* saw (a tool ran once, not twice), not on timings.

In-process, inside the test's event loop::

    from mcp_session_recovery.testing import Behaviour, ServedEra, serve

    async with serve(Behaviour(eras=frozenset({ServedEra.LEGACY}))) as server:
        ...                                  # a client talks to server.url
        server.restart()                     # sessions and counters gone
        assert server.stats.tool_executions["bump"] == 0

As a process that can be SIGKILLed (``ServerProcess``; ``ManagedProcess`` does the same for your own
server), or from a shell::

    python -m mcp_session_recovery.testing --port 8123 --eras legacy,modern --stale-style plain_text

Needs the ``testing`` extra (``h11``).
"""

from __future__ import annotations

from .behaviour import (
    LEGACY_PROTOCOL_VERSIONS,
    LEGACY_VERSION_LATEST,
    MODERN_PROTOCOL_VERSION,
    SERVER_NAME,
    AnswerRule,
    Behaviour,
    BehaviourChanges,
    CannedAnswer,
    ResponseStyle,
    ServedEra,
    StaleStyle,
)
from .blob import MAX_BLOB_SIZE, blob_text
from .canned import AUTHORIZATION_PLACEHOLDER, SESSION_ID_PLACEHOLDER
from .process import ManagedProcess, ServerProcess, ServerProcessError
from .server import TestServer, serve
from .stats import RecordedRequest, ServerStats

__all__ = [
    "AUTHORIZATION_PLACEHOLDER",
    "LEGACY_PROTOCOL_VERSIONS",
    "LEGACY_VERSION_LATEST",
    "MAX_BLOB_SIZE",
    "MODERN_PROTOCOL_VERSION",
    "SERVER_NAME",
    "SESSION_ID_PLACEHOLDER",
    "AnswerRule",
    "Behaviour",
    "BehaviourChanges",
    "CannedAnswer",
    "ManagedProcess",
    "RecordedRequest",
    "ResponseStyle",
    "ServedEra",
    "ServerProcess",
    "ServerProcessError",
    "ServerStats",
    "StaleStyle",
    "TestServer",
    "blob_text",
    "serve",
]
