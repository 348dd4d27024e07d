"""What the site shows from the code itself, made at build time: never pasted, so never stale.

- the state diagrams, drawn from the transition table by graphviz's ``dot`` (``_generated/*.svg``);
- ``.. transition-table::``: the table, one row per transition, in table order;
- ``.. benchmark-table::`` and ``_generated/benchmark-ratios.svg``: one committed benchmark run
  (``docs/benchmarks.json``, written by ``python -m benchmarks --json``), its table and a plot of its
  ratios, drawn here as plain SVG so no plotting library is needed;
- ``.. command-help:: NAME``: a command's ``--help``, from the command line's own argparse parser.
"""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.application import Sphinx

GENERATED = "_generated"
BENCHMARKS = "benchmarks.json"
#: A measured cell that opens with a ratio, e.g. "1.071x (3.605 ms)".
RATIO = re.compile(r"^(\d+(?:\.\d+)?)x\b")


def _table(header: list[str], rows: list[list[str]], classes: list[str]) -> nodes.table:
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    group.extend(nodes.colspec(colwidth=1) for _ in header)

    def line(cells: list[str]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=cell)
            row += entry
        return row

    head = nodes.thead()
    head += line(header)
    body = nodes.tbody()
    body.extend(line(cells) for cells in rows)
    group += head
    group += body
    return table


class TransitionTable(Directive):
    """Every row of ``model/table.py``'s ``TABLE``: state, event, guard, next state, action."""

    def run(self) -> list[nodes.Node]:
        from mcp_session_recovery.model.table import TABLE

        rows = [
            [
                row.source.name,
                row.event.__name__,
                row.guard.__name__ if row.guard else "",
                row.target.name,
                row.action.__name__,
            ]
            for row in TABLE
        ]
        table = _table(["state", "event", "guard", "next state", "action"], rows, ["transition-table"])
        count = nodes.paragraph(text=f"{len(TABLE)} rows, generated from the model when this page was built.")
        return [table, count]


def _benchmarks(app: Sphinx) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((Path(app.srcdir) / BENCHMARKS).read_text(encoding="utf-8"))
    return loaded


def ratio_rows(document: dict[str, Any]) -> list[tuple[str, float]]:
    """``(row, ratio)`` for each row that compares a client with its bare twin."""
    found = []
    for row in document["rows"]:
        match = RATIO.match(row["measured"])
        if match and "/" in row["figure"]:
            found.append((row["row"], float(match.group(1))))
    return found


class BenchmarkTable(Directive):
    """The committed run's table, as ``python -m benchmarks`` prints it."""

    def run(self) -> list[nodes.Node]:
        app = self.state.document.settings.env.app
        document = _benchmarks(app)
        rows = []
        for row in document["rows"]:
            met = "—" if row["met"] is None else ("yes" if row["met"] else "no")
            rows.append([f"{row['row']}: {row['figure']}", row["target"], row["measured"], row["anchor"], met])
        table = _table(["figure", "target", "measured", "anchor (same run)", "met?"], rows, ["benchmark-table"])
        kind = "quick" if document["quick"] else "full"
        note = nodes.paragraph(
            text=f"One {kind} run: {len(rows)} rows in {document['seconds']:.0f} s, "
            f"Python {document['python']}, {document['cores']} cores."
        )
        return [note, table]


def ratios_svg(pairs: list[tuple[str, float]]) -> str:
    """A horizontal bar per row, a line at 1.0x (as fast as the bare client)."""
    label_width, plot_width, bar, gap, top = 220, 420, 16, 6, 30
    most = max([1.25, *(ratio for _, ratio in pairs)])
    scale = plot_width / most
    height = top + len(pairs) * (bar + gap) + 30
    width = label_width + plot_width + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">',
        "<title>Each client's time per call over its bare twin's (lower is faster; 1.0x is as fast)</title>",
        f'<text x="{label_width}" y="18" font-weight="bold">time / bare twin\'s time</text>',
    ]
    for index, (name, ratio) in enumerate(pairs):
        y = top + index * (bar + gap)
        colour = "#3572a5" if ratio <= 1.05 else "#d08c2c"
        parts.append(f'<text x="{label_width - 8}" y="{y + bar - 4}" text-anchor="end">{escape(name)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{ratio * scale:.1f}" height="{bar}" fill="{colour}"/>')
        parts.append(f'<text x="{label_width + ratio * scale + 4:.1f}" y="{y + bar - 4}">{ratio:.2f}x</text>')
    one = label_width + scale
    bottom = top + len(pairs) * (bar + gap)
    parts.append(
        f'<line x1="{one:.1f}" y1="{top - 4}" x2="{one:.1f}" y2="{bottom}" stroke="#222" stroke-dasharray="4 3"/>'
    )
    parts.append(f'<text x="{one:.1f}" y="{bottom + 16}" text-anchor="middle">1.0x</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


class CommandHelp(Directive):
    """``mcp-session-recovery NAME --help``, from the parser the command line builds."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        from mcp_session_recovery.cli import build_parser

        name = self.arguments[0]
        argv = [name] if name != "-" else []
        os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page wants one width
        parser, _ = build_parser(argv)
        if name == "-":
            text = parser.format_help()
        else:
            (subparsers,) = [
                action for action in parser._actions if action.choices and isinstance(action.choices, dict)
            ]
            choices: dict[str, Any] = subparsers.choices  # type: ignore[assignment]
            text = choices[name].format_help()
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def _generate(app: Sphinx) -> None:
    from mcp_session_recovery.model.render import DIAGRAMS
    from mcp_session_recovery.model.table import TABLE

    out = Path(app.srcdir) / GENERATED
    out.mkdir(exist_ok=True)
    for stem, draw in DIAGRAMS.items():
        # graphviz's dot is required: a site without its diagrams is not built (no stand-in image).
        (out / f"{stem}.svg").write_bytes(draw(TABLE).pipe(format="svg"))
    (out / "benchmark-ratios.svg").write_text(ratios_svg(ratio_rows(_benchmarks(app))), encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("transition-table", TransitionTable)
    app.add_directive("benchmark-table", BenchmarkTable)
    app.add_directive("command-help", CommandHelp)
    app.connect("builder-inited", _generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
