"""``python -m mcp_session_recovery.testing``: run the test server as its own process.

A test that must SIGKILL a real process (see :class:`~.process.ServerProcess`) starts this. Once
the server listens it prints exactly one line, ``READY <port>``, to stdout and flushes it; nothing
else is ever written to stdout. Logs go to stderr. Faults are switched at run time through
``/_control/configure``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence

import anyio

from .behaviour import Behaviour, ResponseStyle, ServedEra, StaleStyle
from .server import serve

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line (flags mirror :class:`~.behaviour.Behaviour`'s fields)."""
    parser = argparse.ArgumentParser(
        prog="python -m mcp_session_recovery.testing",
        description="A fault-injecting MCP Streamable HTTP server for tests. Prints 'READY <port>' once listening.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--path", default="/mcp", help="the MCP endpoint's path (default /mcp)")
    parser.add_argument(
        "--eras", default="legacy", help="comma-separated eras to serve: legacy, modern, or both (default legacy)"
    )
    parser.add_argument(
        "--stale-style",
        choices=[style.value for style in StaleStyle],
        default=StaleStyle.SDK_PYTHON.value,
        help="how an unknown session id is answered (default sdk_python)",
    )
    parser.add_argument(
        "--response",
        choices=[style.value for style in ResponseStyle],
        default=ResponseStyle.SSE.value,
        help="answer POSTs with JSON or one SSE event (default sse)",
    )
    parser.add_argument(
        "--forget-sessions-after-initialize",
        action="store_true",
        help="act as a load balancer without session affinity",
    )
    parser.add_argument("--cut-tool-responses", type=int, default=0, metavar="N", help="cut the next N tool answers")
    parser.add_argument("--slow-seconds", type=float, default=1.0, help="the slow tool's default duration")
    parser.add_argument(
        "--bind-timeout", type=float, default=5.0, help="how long to retry a fixed port that is taken (default 5)"
    )
    parser.add_argument("--no-control", action="store_true", help="disable the /_control/ endpoints")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio", help="anyio backend")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until killed; returns the exit status (2 for bad arguments or a port that stays taken)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        behaviour = Behaviour(
            eras=frozenset(ServedEra(name.strip().lower()) for name in args.eras.split(",") if name.strip()),
            stale_style=StaleStyle(args.stale_style),
            response_style=ResponseStyle(args.response),
            forget_sessions_after_initialize=args.forget_sessions_after_initialize,
            cut_tool_responses=args.cut_tool_responses,
            slow_seconds=args.slow_seconds,
        )
    except ValueError as error:
        parser.error(str(error))
    run = functools.partial(_run, behaviour, args.host, args.port, args.path, not args.no_control, args.bind_timeout)
    try:
        anyio.run(run, backend=args.backend)
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr, flush=True)
        return 2
    return 0


async def _run(behaviour: Behaviour, host: str, port: int, path: str, control: bool, bind_timeout: float) -> None:
    async with serve(behaviour, host=host, port=port, path=path, control=control, bind_timeout=bind_timeout) as server:
        print(f"READY {server.port}", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    sys.exit(main())
