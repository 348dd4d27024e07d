"""``python -m mcp_session_recovery``: the same command line as the ``mcp-session-recovery`` script."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m mcp_session_recovery"))
