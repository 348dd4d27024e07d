"""The command line: ``mcp-session-recovery`` (or ``python -m mcp_session_recovery``).

Each subcommand lives in its own module of this package, which exposes
``add_arguments(parser)`` and ``run(args) -> int`` and imports its heavy dependencies inside
``run``. :data:`COMMANDS` names them; a module is imported only when its command is chosen, so
``--help`` stays fast and a missing optional dependency is one clear line naming the extra to
install, not a traceback.

Exit statuses: 0 the command did its whole job; 1 it could not (the message says why);
2 bad arguments (one line, as argparse's ``error``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol, cast

from mcp_session_recovery import __version__

__all__ = ["COMMANDS", "PROG", "main"]

#: The console script's name.
PROG = "mcp-session-recovery"

#: ``(name, module, help)`` of every subcommand, in the order ``--help`` lists them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("demo", "mcp_session_recovery.cli.demo", "watch a plain SDK client and a recovering one through server restarts"),
    ("doctor", "mcp_session_recovery.cli.doctor", "probe a server's session behaviour and say what a client needs"),
    ("proxy", "mcp_session_recovery.cli.proxy", "a local endpoint at /mcp forwarding to URL, surviving its restarts"),
    ("stdio", "mcp_session_recovery.cli.stdio", "a stdio MCP server forwarding to URL, surviving its restarts"),
    ("diagrams", "mcp_session_recovery.cli.diagrams", "regenerate the state diagrams and print the transition table"),
)

#: The extra that brings everything each command needs (``pip install 'mcp-session-recovery[EXTRA]'``).
EXTRA_FOR_COMMAND = {"demo": "demo", "doctor": "cli", "proxy": "cli", "stdio": "cli", "diagrams": "diagrams"}

#: The optional top-level packages the extras bring: a command missing one of them names its extra;
#: any other missing module is a bug, and shows as one.
OPTIONAL_PACKAGES = frozenset(
    {"graphviz", "h11", "httpx", "httpx2", "httpcore", "httpcore2", "mcp", "mcp_types", "pydantic", "aiohttp"}
    | {"uvicorn", "platformdirs"}
)


class _Command(Protocol):
    """What a subcommand module provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (argparse prints the usage as well)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class MissingExtra(Exception):
    """A subcommand needs an optional package that is not installed."""

    def __init__(self, command: str, package: str) -> None:
        super().__init__(
            f"{PROG} {command}: the optional package {package!r} is not installed; "
            f"install it with: pip install 'mcp-session-recovery[{EXTRA_FOR_COMMAND[command]}]'"
        )


def _load(name: str, module: str) -> _Command:
    try:
        return cast(_Command, importlib.import_module(module))
    except ModuleNotFoundError as error:
        raise _missing(name, error) from error


def _missing(command: str, error: ModuleNotFoundError) -> Exception:
    """The clear error for an optional package that is missing, or ``error`` itself (a real bug)."""
    top = (error.name or "").partition(".")[0]
    return MissingExtra(command, top) if top in OPTIONAL_PACKAGES else error


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: the first word that is not an option (top-level options take no value)."""
    names = {name for name, _, _ in COMMANDS}
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in names else None
    return None


def build_parser(argv: Sequence[str], prog: str = PROG) -> tuple[argparse.ArgumentParser, _Command | None]:
    """The parser, with the arguments of the one subcommand ``argv`` names (and that command's module)."""
    parser = _Parser(
        prog=prog,
        description="Keep MCP clients working across server restarts, lost sessions and protocol-era changes.",
        epilog=f"'{prog} COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    loaded: _Command | None = None
    for name, module, summary in COMMANDS:
        sub = commands.add_parser(name, help=summary, description=summary)
        if name == chosen:
            loaded = _load(name, module)
            loaded.add_arguments(sub)
    return parser, loaded


def main(argv: Sequence[str] | None = None, *, prog: str = PROG) -> int:
    """Run the command line; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        parser, command = build_parser(words, prog)
        args = parser.parse_args(words)
        assert command is not None  # parse_args exits unless a known command was named
        try:
            return command.run(args)
        except ModuleNotFoundError as error:
            raise _missing(args.command, error) from error
    except MissingExtra as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
