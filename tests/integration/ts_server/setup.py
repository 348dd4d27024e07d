"""Locate node and install the TypeScript SDK test server's dependencies on demand.

`ensure_ts_server()` returns the argv prefix that starts `server.mjs` (append `--port N`), or a string
saying why the server cannot run, so callers can `pytest.skip(reason)`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.mjs"
NPM_CI_TIMEOUT_S = 180.0
_OUTPUT_TAIL_LINES = 20

_lock = threading.Lock()


def _tail(text: str, lines: int = _OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _deps_installed() -> bool:
    return (HERE / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").is_file() and (
        HERE / "node_modules" / "zod" / "package.json"
    ).is_file()


def _npm_ci(npm: str) -> str | None:
    """Run `npm ci` in this directory; return None on success, else why it failed."""
    try:
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=NPM_CI_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output
        text = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
        return f"`npm ci` in {HERE} timed out after {NPM_CI_TIMEOUT_S:.0f} s:\n{_tail(text)}"
    except OSError as exc:
        return f"cannot run `{npm} ci` in {HERE}: {exc}"
    if proc.returncode != 0:
        return f"`npm ci` in {HERE} failed with exit code {proc.returncode}:\n{_tail(proc.stdout)}"
    if not _deps_installed():
        return f"`npm ci` in {HERE} succeeded but node_modules lacks @modelcontextprotocol/sdk or zod"
    return None


def ensure_ts_server() -> list[str] | str:
    """Return `[node, /abs/path/server.mjs]` once dependencies are installed, or a reason it cannot run.

    Runs `npm ci --no-audit --no-fund` (bounded by NPM_CI_TIMEOUT_S) in this directory when
    `node_modules` is missing. The caller appends `--port N` (and optionally `--exit-on-stdin-close`).
    """
    node = shutil.which("node")
    if node is None:
        return "node is not installed (not on PATH); the TypeScript SDK interop server needs Node >= 20"
    if not SERVER.is_file():
        return f"{SERVER} is missing"
    # A lock between processes too: test workers (pytest-xdist) may all ask at once, and two
    # `npm ci` in one directory remove each other's node_modules.
    with _lock, (HERE / ".npm-ci.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if not _deps_installed():
            npm = shutil.which("npm")
            if npm is None:
                return f"npm is not installed (not on PATH) and {HERE / 'node_modules'} is missing"
            if not (HERE / "package-lock.json").is_file():
                return f"{HERE / 'package-lock.json'} is missing; `npm ci` needs it"
            reason = _npm_ci(npm)
            if reason is not None:
                return reason
    return [os.fspath(node), os.fspath(SERVER)]
