"""Every row, in table order, and ``--only``'s selection."""

from __future__ import annotations

from collections.abc import Sequence

from . import big_answers, bridges, cpu, herd, hot_path, memory, promptness, restart
from .common import Row

__all__ = ["ROWS", "select"]

ROWS: list[Row] = [
    *hot_path.ROWS,
    *cpu.ROWS,
    *restart.ROWS,
    *promptness.ROWS,
    *herd.ROWS,
    *memory.ROWS,
    *big_answers.ROWS,
    *bridges.ROWS,
]


def select(names: Sequence[str] | None) -> list[Row]:
    """The rows named (``hot`` selects every ``hot-*`` row), in table order; all when ``None``."""
    if not names:
        return list(ROWS)
    unknown = [name for name in names if not any(_matches(row.name, name) for row in ROWS)]
    if unknown:
        raise ValueError(f"no such row: {', '.join(unknown)} (see --list)")
    return [row for row in ROWS if any(_matches(row.name, name) for name in names)]


def _matches(row: str, name: str) -> bool:
    return row == name or row.startswith(name + "-")
