"""``python -m benchmarks``: run the rows, print one table, optionally write JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .common import Context, Line, Scale, Servers, render_table, run_row
from .rows import ROWS, select


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test, under a minute)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these rows (a group name selects its rows)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE")
    parser.add_argument("--list", action="store_true", help="print the rows' names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(f"{row.name:<24} {row.figure}" for row in ROWS))
        return 0
    try:
        rows = select(args.only)
    except ValueError as error:
        parser.error(str(error))
    scale = Scale(quick=args.quick)
    # Losing a session is a warning by design; here it happens on purpose, thousands of times.
    logging.getLogger("mcp_session_recovery").addHandler(logging.NullHandler())
    servers = Servers()
    context = Context(scale, servers, frozenset(row.name for row in rows))
    lines: list[Line] = []
    started = time.monotonic()
    try:
        for row in rows:
            print(f"{row.name} ...", end=" ", file=sys.stderr, flush=True)
            lines.append(run_row(row, context))
            print(f"{lines[-1].result.values['row_seconds']} s", file=sys.stderr, flush=True)
    finally:
        servers.close()
    elapsed = time.monotonic() - started
    print(render_table(lines))
    print(f"\n{len(lines)} rows in {elapsed:.0f} s ({'quick' if scale.quick else 'full'} run, {os.cpu_count()} cores)")
    if args.json is not None:
        document = {
            "quick": scale.quick,
            "seconds": round(elapsed, 1),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "rows": [line.as_json() for line in lines],
        }
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
