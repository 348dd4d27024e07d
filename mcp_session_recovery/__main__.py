"""Command line: ``python -m mcp_session_recovery diagrams [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .model.structure import format_table, structural_problems
from .model.table import TABLE

__all__ = ["main"]


def write_diagrams(out: Path) -> list[Path]:
    """Draw every diagram into ``out``: DOT always, SVG when graphviz's ``dot`` is installed."""
    import graphviz

    from .model.render import DIAGRAMS

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, draw in DIAGRAMS.items():
        graph = draw(TABLE)
        dot_path = out / f"{stem}.dot"
        dot_path.write_text(graph.source, encoding="utf-8")
        written.append(dot_path)
        try:
            svg = graph.pipe(format="svg")
        except graphviz.ExecutableNotFound:
            print(f"note: graphviz's 'dot' is not installed; wrote {dot_path.name} only", file=sys.stderr)
            continue
        svg_path = out / f"{stem}.svg"
        svg_path.write_bytes(svg)
        written.append(svg_path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcp_session_recovery")
    commands = parser.add_subparsers(dest="command", required=True)
    diagrams = commands.add_parser("diagrams", help="regenerate the state diagrams and print the transition table")
    diagrams.add_argument("--out", type=Path, default=Path("diagrams"), help="where to write (default: ./diagrams)")
    args = parser.parse_args(argv)

    problems = structural_problems(TABLE)
    if problems:
        print("the transition table is unsound:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    for path in write_diagrams(args.out):
        print(f"wrote {path}")
    print()
    print(format_table(TABLE))
    print(f"\n{len(TABLE)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
