"""The command line: ``python -m mcp_session_recovery.cli COMMAND`` (``proxy``, ``stdio``).

Each command is a module with ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import proxy, stdio

__all__ = ["COMMANDS", "main"]

#: Command name → (module, one-line help).
COMMANDS = {
    "proxy": (proxy, "a local Streamable HTTP endpoint at /mcp that forwards to URL and survives its restarts"),
    "stdio": (stdio, "a stdio MCP server that forwards to URL and survives its restarts"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; its exit status (2 for bad arguments)."""
    parser = argparse.ArgumentParser(prog="mcp-session-recovery")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, text) in COMMANDS.items():
        module.add_arguments(commands.add_parser(name, help=text, description=text))
    args = parser.parse_args(argv)
    module = COMMANDS[args.command][0]
    status: int = module.run(args)
    return status
