"""``diagrams``: draw the state diagrams from the transition table and print the table.

DOT files are written always (they need only the ``graphviz`` Python package); SVGs need
graphviz's ``dot`` program. Every SVG records the SHA-256 of the DOT source it was drawn from
(:func:`dot_hash_of`), so a test can tell a stale SVG from its DOT without running ``dot``.
Without ``dot`` the command still writes the DOT files, then exits 1 saying the SVGs were not
written and how to install graphviz.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

__all__ = ["add_arguments", "dot_hash_of", "run", "stamped_svg", "write_diagrams"]

#: The comment each SVG carries, right after its XML declaration.
_STAMP = "<!-- dot-source-sha256: {} -->"
_STAMP_PATTERN = re.compile(r"<!-- dot-source-sha256: ([0-9a-f]{64}) -->")
INSTALL_DOT = "install graphviz (apt-get install graphviz, brew install graphviz, or https://graphviz.org/download/)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("diagrams"), help="where to write (default: ./diagrams)")


def stamped_svg(svg: bytes, dot_source: str) -> bytes:
    """``svg`` with the hash of ``dot_source`` recorded after its XML declaration."""
    stamp = _STAMP.format(hashlib.sha256(dot_source.encode("utf-8")).hexdigest()).encode("ascii")
    head, newline, rest = svg.partition(b"\n")
    if head.startswith(b"<?xml"):
        return head + newline + stamp + b"\n" + rest
    return stamp + b"\n" + svg


def dot_hash_of(svg: str) -> str | None:
    """The DOT source hash an SVG written by this command records, or ``None``."""
    found = _STAMP_PATTERN.search(svg)
    return found.group(1) if found else None


def write_diagrams(out: Path) -> tuple[list[Path], bool]:
    """Draw every diagram into ``out``; the files written, and whether the SVGs were (``dot`` found)."""
    import graphviz

    from mcp_session_recovery.model.render import DIAGRAMS
    from mcp_session_recovery.model.table import TABLE

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    drawn = True
    for stem, draw in DIAGRAMS.items():
        graph = draw(TABLE)
        dot_path = out / f"{stem}.dot"
        dot_path.write_text(graph.source, encoding="utf-8")
        written.append(dot_path)
        if not drawn:
            continue
        try:
            svg = graph.pipe(format="svg")
        except graphviz.ExecutableNotFound:
            drawn = False
            continue
        svg_path = out / f"{stem}.svg"
        svg_path.write_bytes(stamped_svg(svg, graph.source))
        written.append(svg_path)
    return written, drawn


def run(args: argparse.Namespace) -> int:
    from mcp_session_recovery.model.structure import format_table, structural_problems
    from mcp_session_recovery.model.table import TABLE

    problems = structural_problems(TABLE)
    if problems:
        print("the transition table is unsound:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    written, drawn = write_diagrams(args.out)
    for path in written:
        print(f"wrote {path}")
    print()
    print(format_table(TABLE))
    print(f"\n{len(TABLE)} rows")
    if not drawn:
        print(
            f"error: graphviz's 'dot' program is not installed, so the SVG diagrams were NOT written "
            f"(only the .dot files); {INSTALL_DOT}, then run this again",
            file=sys.stderr,
        )
        return 1
    return 0
