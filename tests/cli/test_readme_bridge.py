"""The README's snippets for a host you cannot change: the Claude Desktop entry runs, the URL is the proxy's."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from mcp_session_recovery.cli.proxy import DEFAULT_PORT
from mcp_session_recovery.testing import ServedEra, ServerProcess
from tests.integration.processes import REPO_ROOT

from .bridges import WAIT_SECONDS


def _section() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### A host you cannot change")
    return text[start : text.index("\n### ", start + 1)]


def _json_blocks() -> list[dict[str, Any]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", _section(), re.DOTALL)]


def test_the_claude_code_url_is_where_the_proxy_listens_by_default() -> None:
    http = [entry for block in _json_blocks() for entry in block["mcpServers"].values() if "url" in entry]
    assert http == [{"type": "http", "url": f"http://127.0.0.1:{DEFAULT_PORT}/mcp"}]
    assert f"claude mcp add --transport http example http://127.0.0.1:{DEFAULT_PORT}/mcp" in _section()


def test_the_claude_desktop_entry_runs_as_written_against_a_server() -> None:
    (entry,) = [entry for block in _json_blocks() for entry in block["mcpServers"].values() if "command" in entry]
    # A GUI host does not see the shell's PATH: the entry names the venv's script by its absolute path.
    assert entry["command"].startswith("/")
    assert entry["command"].endswith("/.venv/bin/mcp-session-recovery")
    with ServerProcess(eras=[ServedEra.LEGACY]) as server:
        args = [server.url if arg.startswith("https://") else arg for arg in entry["args"]]
        # The console script is `python -m mcp_session_recovery.cli` in a checkout.
        argv = [sys.executable, "-m", "mcp_session_recovery.cli", *args]
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        done = subprocess.run(
            argv,
            input=json.dumps(initialize).encode() + b"\n",
            capture_output=True,
            cwd=REPO_ROOT,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), **entry["env"]},
            timeout=WAIT_SECONDS,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        (line,) = done.stdout.decode().splitlines()
        assert json.loads(line)["result"]["serverInfo"]["name"] == "mcp-session-recovery-testing"
        assert server.stats().sessions_deleted == 1
    assert entry["env"]["MCP_TOKEN"] not in done.stderr.decode()
