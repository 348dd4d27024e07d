"""Running the command line as a user does: a subprocess, bounded in time."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ROOT", "SCRIPT_WRAPPER", "pids_gone", "run_cli"]

ROOT = Path(__file__).resolve().parents[2]
#: What pip writes for a ``[project.scripts]`` entry ``mcp-session-recovery = "mcp_session_recovery.cli:main"``.
SCRIPT_WRAPPER = (
    "import sys\nfrom mcp_session_recovery.cli import main\nsys.argv[0] = 'mcp-session-recovery'\nsys.exit(main())\n"
)


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("NO_COLOR", None)
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    *,
    script: bool = False,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m mcp_session_recovery ARGS`` (or the console script's code), its output captured."""
    command = [sys.executable, "-c", SCRIPT_WRAPPER] if script else [sys.executable, "-m", "mcp_session_recovery"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, env=_env(env), cwd=cwd or ROOT
    )


def pids_gone(pids: Sequence[int]) -> list[int]:
    """The pids among ``pids`` that still name a live process (empty: all gone)."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:  # a live process of another user: not ours, so ours is gone
            continue
        alive.append(pid)
    return alive
