"""``python -m mcp_session_recovery.testing``: run the test server as its own process.

A test that must SIGKILL a real process (see :class:`~.process.ServerProcess`) starts this. Once
the server listens it prints exactly one line, ``READY <port>``, to stdout and flushes it; nothing
else is ever written to stdout. Logs go to stderr. Faults are switched at run time through
``/_control/configure``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._methods import record_bumps_to
from ._serving import command_line, run_until_killed
from .behaviour import Behaviour, ResponseStyle, ServedEra, StaleStyle
from .server import serve

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line (flags mirror :class:`~.behaviour.Behaviour`'s fields)."""
    parser = command_line(
        "python -m mcp_session_recovery.testing",
        "A fault-injecting MCP Streamable HTTP server for tests. Prints 'READY <port>' once listening.",
    )
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
        "--endless-sse-event", action="store_true", help="answer tool calls with one SSE event that never ends"
    )
    parser.add_argument(
        "--oversized-json-bytes",
        type=int,
        default=0,
        metavar="N",
        help="answer tool calls with an N-byte JSON body (0: off)",
    )
    parser.add_argument(
        "--mismatched-response-id", action="store_true", help="answer tool calls with a JSON-RPC id not the request's"
    )
    parser.add_argument(
        "--path-alias", action="append", default=[], metavar="PATH", help="also serve MCP at PATH (repeatable)"
    )
    parser.add_argument(
        "--echo-secrets", action="store_true", help="errors and tool results repeat the session id and Authorization"
    )
    parser.add_argument(
        "--record-requests", type=int, default=0, metavar="N", help="keep the headers of the last N requests (0: off)"
    )
    parser.add_argument(
        "--ledger", metavar="FILE", help="append the token of every bump execution to FILE (survives a SIGKILL)"
    )
    parser.add_argument("--no-control", action="store_true", help="disable the /_control/ endpoints")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until killed; returns the exit status (2 for bad arguments or a port that stays taken)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        behaviour = Behaviour(
            eras=frozenset(ServedEra(name.strip().lower()) for name in args.eras.split(",") if name.strip()),
            stale_style=StaleStyle(args.stale_style),
            response_style=ResponseStyle(args.response),
            forget_sessions_after_initialize=args.forget_sessions_after_initialize,
            cut_tool_responses=args.cut_tool_responses,
            slow_seconds=args.slow_seconds,
            endless_sse_event=args.endless_sse_event,
            oversized_json_bytes=args.oversized_json_bytes,
            mismatched_response_id=args.mismatched_response_id,
            path_aliases=frozenset(args.path_alias),
            echo_secrets=args.echo_secrets,
            record_requests=args.record_requests,
        )
    except ValueError as error:
        parser.error(str(error))
    if args.ledger:
        record_bumps_to(args.ledger)
    return run_until_killed(
        args,
        lambda: serve(
            behaviour,
            host=args.host,
            port=args.port,
            path=args.path,
            control=not args.no_control,
            bind_timeout=args.bind_timeout,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
