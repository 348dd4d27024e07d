"""State diagrams drawn from the transition table with graphviz (the ``diagrams`` extra).

The output is stable: nodes in :class:`State` order, edges sorted, no current-state highlighting,
so the committed files change only when the table does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .rules import ignore
from .states import TERMINAL_STATES, State
from .table import LATE_REPORTS, TABLE, Row

if TYPE_CHECKING:
    import graphviz

__all__ = ["DIAGRAMS", "full_diagram", "overview_diagram"]

_FONT = "Helvetica"


def _base(name: str, comment: str) -> graphviz.Digraph:
    import graphviz  # optional dependency, imported only when drawing

    graph = graphviz.Digraph(name=name, comment=comment)
    graph.attr(rankdir="TB", fontname=_FONT, nodesep="0.6", ranksep="0.7")
    graph.attr("node", fontname=_FONT, shape="box", style="rounded")
    graph.attr("edge", fontname=_FONT, fontsize="10")
    graph.node("start", label="", shape="point")
    for state in State:
        shape = "doubleoctagon" if state in TERMINAL_STATES else "box"
        graph.node(state.name, label=state.value, shape=shape)
    graph.edge("start", State.UNINITIALIZED.name)
    return graph


def _edge(graph: graphviz.Digraph, source: State, target: State, label: str) -> None:
    # Closing is possible from everywhere; drawing it quietly keeps the recovery paths readable.
    quiet = {"style": "dashed", "color": "gray50", "fontcolor": "gray40"} if target is State.CLOSED else {}
    graph.edge(source.name, target.name, label=label, **quiet)


def _is_late_report(row: Row) -> bool:
    return row.source in TERMINAL_STATES and row.action is ignore and row.event in LATE_REPORTS


def full_diagram(table: Sequence[Row] = TABLE) -> graphviz.Digraph:
    """Every row: one edge per (source, target), labelled ``Event [guard] / action`` per line."""
    graph = _base("session", "Generated from mcp_session_recovery.model.table.TABLE; do not edit.")
    labels: dict[tuple[State, State], set[str]] = defaultdict(set)
    for row in table:
        if _is_late_report(row):
            labels[(row.source, row.target)].add("late negotiation reports / ignore")
            continue
        guard = f" [{row.guard.__name__}]" if row.guard else ""
        labels[(row.source, row.target)].add(f"{row.event.__name__}{guard} / {row.action.__name__}")
    order = {state: index for index, state in enumerate(State)}
    for source, target in sorted(labels, key=lambda pair: (order[pair[0]], order[pair[1]])):
        label = "".join(f"{line}\\l" for line in sorted(labels[(source, target)]))
        _edge(graph, source, target, label)
    return graph


def overview_diagram(table: Sequence[Row] = TABLE) -> graphviz.Digraph:
    """State changes only (no self-loops), labelled with the events that cause them."""
    graph = _base("session_overview", "Generated from mcp_session_recovery.model.table.TABLE; do not edit.")
    events: dict[tuple[State, State], set[str]] = defaultdict(set)
    for row in table:
        if row.source is not row.target:
            events[(row.source, row.target)].add(row.event.__name__)
    order = {state: index for index, state in enumerate(State)}
    for source, target in sorted(events, key=lambda pair: (order[pair[0]], order[pair[1]])):
        _edge(graph, source, target, "\\n".join(sorted(events[(source, target)])))
    return graph


#: The committed diagrams: file stem -> how to draw it.
DIAGRAMS = {"session": full_diagram, "session-overview": overview_diagram}
