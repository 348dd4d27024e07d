"""The bridges' own OAuth against a real OAuth-protected server process, restarted with SIGKILL.

The server is the SDK 2.3.0 server behind the SDK's own authorization server
(``tests/integration/servers/oauth_server.py``), its access tokens valid for a few seconds. The
unmodified SDK client reaches it through ``stdio`` (OAuth starts by itself on the server's 401) and
through ``proxy --oauth``. The browser is ``$BROWSER``: a script that follows the authorization
URL to the bridge's loopback callback and counts its runs. Each test checks that every call was
answered, that the user was asked to authorize once, that the tokens were refreshed (counted by the
server), and that no token or client secret the server ever issued appears in anything the bridge
wrote (stderr, stdout) or in the store's file modes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.integration.processes import REPO_ROOT, ManagedServer, oauth_server_argv
from tests.integration.servers.oauth_server import AUTH_PATH, expire_access_tokens
from tests.integration.ts_server.client import TsClient, ts_client_argv
from tests.integration.ts_server.setup import ensure_ts_server

from .bridges import BridgeProcess, host_session, proxy_process, read_line, send_line

pytestmark = pytest.mark.anyio

#: Access tokens live this long: the runs below outlast several.
TOKEN_SECONDS = 3
#: One call's bound (a restart takes a second or two).
CALL_SECONDS = 30.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the SDK's client runs on asyncio


@dataclass
class Run:
    """One bridge run's files and the server."""

    server: ManagedServer
    state: Path
    store: Path
    browser_log: Path
    stderr_file: Path
    stdout_file: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "BROWSER": f"{sys.executable} -m tests.cli.fake_browser %s",
            "FAKE_BROWSER_LOG": str(self.browser_log),
        }

    def authorizations_asked(self) -> int:
        return len(self.browser_log.read_text().splitlines()) if self.browser_log.exists() else 0

    def secrets_issued(self) -> list[str]:
        state = json.loads(self.state.read_text())
        found = list(state.get("issued", []))
        found += [client["client_secret"] for client in state["clients"].values() if client.get("client_secret")]
        return found

    def counts(self) -> dict[str, Any]:
        return self.server.request_json("GET", AUTH_PATH)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    state = tmp_path / "oauth.json"
    with ManagedServer(oauth_server_argv(state, "--token-seconds", str(TOKEN_SECONDS))) as server:
        yield Run(server, state, tmp_path / "store", tmp_path / "browser.log", tmp_path / "stderr", tmp_path / "stdout")


@asynccontextmanager
async def through_stdio(run: Run) -> AsyncIterator[ClientSession]:
    """The SDK's stdio client on ``stdio URL`` (its stdout copied to a file by a tee)."""
    bridge = [sys.executable, "-m", "mcp_session_recovery.cli", "stdio", run.server.url]
    bridge += ["--oauth-store", str(run.store), "--timeout", str(CALL_SECONDS)]
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tests.cli.tee_stdout", str(run.stdout_file), *bridge],
        env=run.env(),
        cwd=REPO_ROOT,
    )
    with run.stderr_file.open("w", encoding="utf-8") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            with anyio.fail_after(CALL_SECONDS):
                await session.initialize()
            yield session


@asynccontextmanager
async def through_proxy(run: Run) -> AsyncIterator[ClientSession]:
    """The SDK's HTTP client on ``proxy URL --oauth``."""
    flags = ("--oauth", "--oauth-store", str(run.store), "--timeout", str(CALL_SECONDS))
    bridge, local = proxy_process(run.server.url, *flags, env=run.env())
    try:
        async with host_session(local) as session:
            yield session
    finally:
        bridge.stop()
        run.stderr_file.write_text(bridge.stderr)
        run.stdout_file.write_text("")  # the proxy's stdout is not read by anyone
        _close(bridge)


def _close(bridge: BridgeProcess) -> None:
    bridge.__exit__(None, None, None)


BRIDGES = {"stdio": through_stdio, "proxy": through_proxy}


async def _call(session: ClientSession, tool: str) -> str:
    with anyio.fail_after(CALL_SECONDS):
        result = await session.call_tool(tool, {})
    assert not result.is_error, result
    return str(result.content[0].text)  # type: ignore[union-attr]


async def _call_into(session: ClientSession, outcome: list[str]) -> None:
    outcome.append(await _call(session, "bump"))


async def _restart(server: ManagedServer) -> None:
    await anyio.to_thread.run_sync(server.restart)


@pytest.mark.parametrize("bridge", sorted(BRIDGES))
async def test_three_restarts_and_expired_tokens_one_authorization_refreshes_and_no_secret_written(
    run: Run, bridge: str
) -> None:
    answered = 0
    async with BRIDGES[bridge](run) as session:
        assert await _call(session, "bump") == "1"
        answered += 1
        for restart in range(3):
            if restart == 1:
                # The server dies, comes back refusing every access token it issued (the refresh
                # tokens stay good), while a call waits: the recovery's 401 gets one refresh.
                await anyio.to_thread.run_sync(run.server.kill)
                expire_access_tokens(run.state)
                outcome: list[str] = []
                async with anyio.create_task_group() as group:
                    group.start_soon(_call_into, session, outcome)
                    await anyio.to_thread.run_sync(run.server.start)
                assert outcome == ["1"], "a new process: the call ran there, once"
            else:
                await _restart(run.server)
                assert await _call(session, "bump") == "1"
            answered += 1
            assert await _call(session, "bump") == "2"
            answered += 1
        # Outlive the access token's lifetime: the next call goes with a refreshed one.
        refreshes = run.counts()["refreshes"]
        await anyio.sleep(TOKEN_SECONDS + 0.5)  # the token's own clock, not a synchronisation
        assert await _call(session, "peek") == "2"
        answered += 1
        assert run.counts()["refreshes"] > refreshes
    counts = run.counts()
    assert answered == 8
    assert run.authorizations_asked() == 1, "the user was asked to authorize once"
    assert counts["authorizations"] == 1
    assert counts["refreshes"] >= 2, counts
    written = run.stderr_file.read_text() + run.stdout_file.read_text()
    assert "oauth: authorized with" in run.stderr_file.read_text()
    leaked = [secret for secret in run.secrets_issued() if secret in written]
    print(  # the figures of one run, for the report (pytest -s shows them)
        f"\nMEASURED {bridge}: {answered}/8 calls answered, 3 restarts, one expiry during an outage; "
        f"authorizations asked {run.authorizations_asked()}, refreshes {counts['refreshes']}, "
        f"tokens or secrets found in outputs {len(leaked)} (of {len(run.secrets_issued())} issued)"
    )
    assert leaked == [], "a token or secret the server issued was written by the bridge"
    stored = list(run.store.iterdir())
    assert len(stored) == 1
    assert stat.S_IMODE(stored[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(run.store.stat().st_mode) == 0o700


async def test_a_second_stdio_bridge_uses_the_stored_tokens_without_asking(run: Run) -> None:
    async with through_stdio(run) as session:
        assert await _call(session, "bump") == "1"
    await anyio.sleep(TOKEN_SECONDS + 0.5)  # the stored access token expires meanwhile
    async with through_stdio(run) as session:
        assert await _call(session, "bump") == "2"
    assert run.authorizations_asked() == 1
    assert run.counts()["refreshes"] >= 1


async def test_tokens_the_server_stops_taking_are_refreshed_not_authorized_again(run: Run) -> None:
    async with through_stdio(run) as session:
        assert await _call(session, "bump") == "1"
        # The server stops taking the access token it issued (a revocation, a key rotation).
        run.server.request_json("POST", AUTH_PATH, {"expire": True})
        state_before = run.counts()
        with anyio.fail_after(CALL_SECONDS):
            result = await session.call_tool("bump", {})
        # Its 401 got one refresh, not a new authorization (the SDK's own answer to a 401).
        assert str(result.content[0].text) == "2"  # type: ignore[union-attr]
        assert run.counts()["refreshes"] == state_before["refreshes"] + 1
    assert run.authorizations_asked() == 1


def test_an_oauth_refusal_body_reaches_the_stdio_host_as_a_json_rpc_error(run: Run) -> None:
    # The server forbids every request with an OAuth error body ({"error": "access_denied", ...}).
    run.server.request_json("POST", AUTH_PATH, {"forbid": True})
    args = ["stdio", run.server.url, "--no-oauth", "--timeout", "10"]
    with BridgeProcess(args, env=run.env(), stdio=True) as bridge:
        initialize = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        send_line(bridge, {"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": initialize})
        answer = read_line(bridge)
    assert answer["id"] == 7
    assert isinstance(answer["error"], dict), answer
    assert "refused the request's credentials (HTTP 403)" in answer["error"]["message"]


TS_CLIENT = REPO_ROOT / "tests" / "integration" / "ts_server" / "stdio_client.mjs"


def test_the_typescript_sdk_client_through_stdio_oauth_across_a_restart_and_an_expiry(run: Run) -> None:
    # The TypeScript SDK is installed on demand (npm ci); only a machine without node skips.
    ready = ensure_ts_server()
    if isinstance(ready, str):
        pytest.skip(ready)
    node = ready[0]
    bridge = [sys.executable, "-m", "mcp_session_recovery.cli", "stdio", run.server.url]
    bridge += ["--oauth-store", str(run.store), "--timeout", str(CALL_SECONDS)]
    with (
        run.stderr_file.open("w", encoding="utf-8") as errlog,
        subprocess.Popen(
            [node, str(TS_CLIENT), *bridge],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errlog,
            cwd=TS_CLIENT.parent,
            env=run.env(),
        ) as host,
    ):
        assert host.stdin is not None
        assert host.stdout is not None

        def answer(line: str | None = None) -> dict[str, Any]:
            assert host.stdin is not None
            assert host.stdout is not None
            if line is not None:
                host.stdin.write(line.encode() + b"\n")
                host.stdin.flush()
            document: dict[str, Any] = json.loads(host.stdout.readline())
            return document

        try:
            assert answer() == {"ready": True}
            texts = [answer("call bump")["text"]]
            run.server.kill()
            expire_access_tokens(run.state)
            run.server.start()
            texts.append(answer("call bump")["text"])
            run.server.restart()
            texts.append(answer("call bump")["text"])
        finally:
            host.stdin.close()
            host.wait(timeout=CALL_SECONDS)
    assert texts == ["1", "1", "1"], "each call answered, by the process that ran it"
    assert run.authorizations_asked() == 1
    assert run.counts()["refreshes"] >= 1
    written = run.stderr_file.read_text()
    assert [secret for secret in run.secrets_issued() if secret in written] == []


async def test_the_typescript_sdk_client_through_the_proxys_oauth_across_a_restart_and_an_expiry(run: Run) -> None:
    argv = ts_client_argv()  # the TypeScript SDK is installed on demand; only a machine without node skips
    if isinstance(argv, str):
        pytest.skip(argv)
    flags = ("--oauth", "--oauth-store", str(run.store), "--timeout", str(CALL_SECONDS))
    bridge, local = proxy_process(run.server.url, *flags, env=run.env())
    try:
        with anyio.fail_after(4 * CALL_SECONDS):
            async with TsClient.running(argv) as host:
                await host.request("connect", client="host", url=local)
                texts = [(await host.call("host", "bump"))["text"]]
                await anyio.to_thread.run_sync(run.server.kill)
                expire_access_tokens(run.state)  # the tokens run out while the server is down
                await anyio.to_thread.run_sync(run.server.start)
                texts.append((await host.call("host", "bump"))["text"])
                await _restart(run.server)
                texts.append((await host.call("host", "bump"))["text"])
                await host.request("close", client="host")
    finally:
        bridge.stop()
        written = bridge.stderr
        _close(bridge)
    assert texts == ["1", "1", "1"], "each call answered, by the process that ran it"
    assert run.authorizations_asked() == 1
    assert run.counts()["refreshes"] >= 1
    assert [secret for secret in run.secrets_issued() if secret in written] == []
