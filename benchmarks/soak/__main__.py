"""``python -m benchmarks.soak``: run the plan, print the report; exit 1 when a target is not met."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.integration.ts_server.setup import ensure_ts_server

from .episode import run_episode
from .plan import make_plan, server_kinds
from .tally import MIN_CALLS, MIN_RESTARTS, Tally, rss_bytes

#: The full run's default counts (a little above the targets) and the short run's.
FULL = (12_000, 60)
SHORT = (600, 8)
#: The short run's servers: two stale styles of the test server and the SDK server (the
#: TypeScript server's first start may need ``npm ci``, which the test suite must not wait for).
SHORT_SERVERS = ["testing:sdk_python", "testing:plain_text", "sdk"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="the plan's RNG seed (default 1)")
    parser.add_argument("--calls", type=int, help=f"calls in all (default {FULL[0]}; --short {SHORT[0]})")
    parser.add_argument("--restarts", type=int, help=f"SIGKILL restarts in all (default {FULL[1]}; --short {SHORT[1]})")
    parser.add_argument("--minutes", type=float, help="start no episode after this many minutes (default: no limit)")
    parser.add_argument("--short", action="store_true", help="a run of about a minute (the test suite's)")
    parser.add_argument("--no-typescript", action="store_true", help="leave the TypeScript SDK server out")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--verbose", action="store_true", help="print each episode as it starts")
    args = parser.parse_args(argv)
    default_calls, default_restarts = SHORT if args.short else FULL
    calls = args.calls if args.calls is not None else default_calls
    restarts = args.restarts if args.restarts is not None else default_restarts
    if calls < 1 or restarts < 0:
        parser.error("--calls must be positive and --restarts not negative")
    # Losing a session is a warning by design; here it happens on purpose, hundreds of times.
    logging.getLogger("mcp_session_recovery").addHandler(logging.NullHandler())
    logging.getLogger("mcp_session_recovery").propagate = False

    typescript: list[str] | None = None
    if args.short:
        servers = list(SHORT_SERVERS)
    else:
        found = None if args.no_typescript else ensure_ts_server()
        typescript = found if isinstance(found, list) else None
        if isinstance(found, str):
            print(f"TypeScript SDK server left out: {found.splitlines()[0]}", file=sys.stderr)
        servers = server_kinds(typescript=typescript is not None)
    plan = make_plan(args.seed, calls=calls, restarts=restarts, servers=servers, trio=True)

    tally = Tally(rss_start=rss_bytes())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        for episode in plan:
            if args.minutes is not None and time.monotonic() - started > args.minutes * 60:
                tally.errors.append(f"stopped after {args.minutes} minutes, before episode #{episode.index}")
                break
            if args.verbose:
                print(episode.describe(), file=sys.stderr, flush=True)
            try:
                seen = run_episode(episode, tally, args.seed, Path(workdir), typescript)
                if args.verbose:
                    print(seen, file=sys.stderr, flush=True)
            except Exception as error:  # one broken episode is reported, the run goes on
                tally.errors.append(f"episode #{episode.index} ({episode.describe()}): {type(error).__name__}: {error}")
    tally.seconds = time.monotonic() - started
    tally.rss_end = rss_bytes()

    full = not args.short and args.calls is None and args.restarts is None
    wanted_calls, wanted_restarts = (MIN_CALLS, MIN_RESTARTS) if full else (calls, restarts)
    print(f"soak: seed {args.seed}, {len(plan)} episodes planned, {'short' if args.short else 'full'} run")
    print(tally.report(wanted_calls, wanted_restarts))
    if args.json is not None:
        document = {"seed": args.seed, "short": args.short, **tally.as_json(wanted_calls, wanted_restarts)}
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0 if all(tally.targets(wanted_calls, wanted_restarts).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
