"""The ways the conformance client reaches a scenario's server, and what each way cannot carry today.

Shared by the client (which builds the connection) and the runner (which prints the gaps beside the
results), so the two can never disagree about what a mode was given.
"""

from __future__ import annotations

import inspect

__all__ = [
    "CONNECT_CALLBACKS",
    "MODES",
    "MODE_DESCRIPTIONS",
    "PENDING",
    "SDK1_MODES",
    "YARDSTICKS",
    "connect_accepts",
    "gaps",
]

#: Every mode, in table order; ``plain`` first: it is the yardstick the 2.x modes are held to, and
#: ``plain-sdk1`` the one ``sdk1`` is held to (the 1.x client's own result decides where it applies).
MODES: tuple[str, ...] = ("plain", "transport", "connect", "stdio", "proxy", "plain-sdk1", "sdk1")
#: The modes run by the SDK 1.x line's client, with the 1.x environment's interpreter (``nox -s sdk1``).
SDK1_MODES: tuple[str, ...] = ("plain-sdk1", "sdk1")
#: Each judged mode -> the plain mode whose passes it must match.
YARDSTICKS: dict[str, str] = {
    **{mode: "plain" for mode in ("transport", "connect", "stdio", "proxy")},
    "sdk1": "plain-sdk1",
}

MODE_DESCRIPTIONS: dict[str, str] = {
    "plain": "the SDK's ClientSession over streamable_http_client with a plain httpx2 client",
    "transport": "the same, with RecoveringTransport(httpx2.AsyncHTTPTransport()) under the AsyncClient",
    "connect": "mcp_session_recovery.adapters.mcp_sdk.connect(url, ...)",
    "stdio": "the unmodified SDK client over stdio to `mcp-session-recovery stdio URL`",
    "proxy": "the unmodified SDK client over HTTP to `mcp-session-recovery proxy URL`",
    "plain-sdk1": "the SDK 1.x ClientSession over streamable_http_client with a plain httpx client",
    "sdk1": "the same, with RecoveringTransport(httpx.AsyncHTTPTransport()) under the AsyncClient",
}

#: Cells known to fail a scenario the plain SDK passes, (scenario pattern, mode) -> the reason and the
#: issue that fixes it. The runner still runs them: it fails on any other such cell, and on a listed
#: cell that passes (the entry is stale: remove it).
PENDING: dict[tuple[str, str], str] = {}

#: The SDK callbacks the client logic uses, by the keyword ``ClientSession`` takes them under.
CONNECT_CALLBACKS: tuple[str, ...] = ("elicitation_callback",)


def connect_accepts(keyword: str) -> bool:
    """Whether today's ``connect()`` takes ``keyword`` (another branch adds the SDK's callbacks)."""
    from mcp_session_recovery.adapters.mcp_sdk import connect

    return keyword in inspect.signature(connect).parameters


def gaps(mode: str) -> tuple[str, ...]:
    """What the client logic wants to hand ``mode`` and cannot: it runs without it and says so."""
    if mode == "connect":
        wanted = ("auth", *CONNECT_CALLBACKS)
        return tuple(f"connect() takes no {keyword}" for keyword in wanted if not connect_accepts(keyword))
    # stdio: a stdio host has no HTTP layer to put an httpx2.Auth on; the bridge runs the SDK's
    # providers itself, given the scenario's credentials as flags (client.stdio_oauth_arguments).
    if mode in SDK1_MODES:
        # tests_sdk1/suite_client.py UNSUPPORTED says the same to the suite, per scenario.
        return ("the 1.x SDK has no IdentityAssertionOAuthProvider: auth/cross-app-access-complete-flow",)
    return ()
