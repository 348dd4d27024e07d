"""Run the installed wheel's ``stdio`` bridge against a test server: ``python .ci/check_wheel_stdio.py VENV``.

The bridge runs from the venv's own console script, outside the clone (another working directory,
no PYTHONPATH), so it can only import what the wheel installed. The test server comes from the clone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from mcp_session_recovery.testing import ServedEra, ServerProcess

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "wheel-check", "version": "1"},
    },
}


def main(venv: Path) -> int:
    script = venv / "bin" / "mcp-session-recovery"
    with tempfile.TemporaryDirectory() as elsewhere:
        env = {"PATH": "/usr/bin:/bin", "HOME": elsewhere}
        where = subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import mcp_session_recovery as m; print(m.__file__)"],
            capture_output=True,
            text=True,
            cwd=elsewhere,
            env=env,
            check=True,
            timeout=60,
        ).stdout.strip()
        if not where.startswith(str(venv)):
            print(f"error: the venv imported the package from {where}, not from the wheel", file=sys.stderr)
            return 1
        with ServerProcess(eras=[ServedEra.LEGACY]) as server:
            done = subprocess.run(
                [str(script), "stdio", server.url, "--quiet"],
                input=json.dumps(INITIALIZE).encode() + b"\n",
                capture_output=True,
                cwd=elsewhere,
                env=env,
                timeout=60,
                check=False,
            )
    if done.returncode != 0:
        print(f"error: stdio exited {done.returncode}: {done.stderr.decode()[-2000:]}", file=sys.stderr)
        return 1
    (line,) = done.stdout.decode().splitlines()
    name = json.loads(line)["result"]["serverInfo"]["name"]
    print(f"the wheel's stdio bridge answered initialize from {name}, imported from {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
