"""What every row shares: the run's scale, timing and interleaving, the servers, the table.

A row is a function ``run(context) -> list[Line]``; each :class:`Line` is one line of the table
(figure, target, measured, anchor, met?). Rows never decide how they are printed, and a row that
raises becomes an ``error: ...`` line (:func:`run_row`), so one broken adapter never ends the run.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from mcp_session_recovery.testing import ManagedProcess, ResponseStyle, ServedEra, ServerProcess
from tests.integration.processes import ManagedServer, sdk_server_argv
from tests.integration.ts_server.setup import ensure_ts_server

__all__ = [
    "NO",
    "Context",
    "Line",
    "Result",
    "Row",
    "Scale",
    "Servers",
    "error_result",
    "interleave",
    "interleave_sync",
    "median",
    "ms",
    "ratio",
    "render_table",
    "run_row",
    "skipped",
    "times",
]

#: The repository root: helper processes run there (``benchmarks`` and ``tests`` import from it).
ROOT = Path(__file__).absolute().parent.parent
#: The "met?" cell of a line without a target.
NO = None
#: How much of an exception's text goes into an ``error:`` cell.
ERROR_CHARS = 90


@dataclass(frozen=True)
class Scale:
    """How big a run is: ``quick`` (a smoke test, under a minute) or full."""

    quick: bool = False

    def pick(self, full: int, quick: int) -> int:
        """``quick`` in a quick run, else ``full``."""
        return quick if self.quick else full


@dataclass
class Result:
    """What a row measured: the table's "measured", "anchor" and "met?" cells, and the raw numbers."""

    measured: str
    anchor: str = "—"
    met: bool | None = NO
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    """One line of the table: a row and its result."""

    row: str
    figure: str
    target: str
    result: Result

    def cells(self) -> tuple[str, str, str, str, str]:
        met = "—" if self.result.met is None else ("yes" if self.result.met else "no")
        return (f"{self.row}: {self.figure}", self.target, self.result.measured, self.result.anchor, met)

    def as_json(self) -> dict[str, object]:
        return {
            "row": self.row,
            "figure": self.figure,
            "target": self.target,
            "measured": self.result.measured,
            "anchor": self.result.anchor,
            "met": self.result.met,
            "values": self.result.values,
        }


class Servers:
    """Server processes on 127.0.0.1, started on first use and SIGKILLed by :meth:`close`.

    Rows share them (the SDK server takes about 1.5 s to start); a row may restart one, since
    every row opens its own clients.
    """

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._running: dict[str, ManagedProcess] = {}

    def sdk(self, *, nodelay: bool = True) -> ManagedServer:
        """The SDK 2.3.0 server (SSE answers, legacy sessions and the sessionless era).

        ``nodelay=False``: its connections without ``TCP_NODELAY`` (a socket made by hand; each
        answer on a kept-alive connection then waits out the client's delayed ACK).
        """
        flags = () if nodelay else ("--no-nodelay",)
        server = self._get(" ".join(("sdk", *flags)), lambda: ManagedServer(sdk_server_argv(*flags)))
        assert isinstance(server, ManagedServer)
        return server

    def testing(self, style: ResponseStyle = ResponseStyle.SSE) -> ServerProcess:
        """This package's test server as a process (legacy sessions), answering in ``style``."""
        eras = frozenset({ServedEra.LEGACY})
        server = self._get(f"testing-{style.value}", lambda: ServerProcess(eras=eras, response_style=style))
        assert isinstance(server, ServerProcess)
        return server

    def typescript(self) -> ManagedServer | str:
        """The TypeScript SDK's server, or why it cannot run ("no node", npm trouble)."""
        argv = ensure_ts_server()
        if isinstance(argv, str):
            return "no node" if "node is not installed" in argv else argv.splitlines()[0][:60]
        server = self._get("typescript", lambda: ManagedServer(lambda port: [*argv, "--port", str(port)]))
        assert isinstance(server, ManagedServer)
        return server

    def spawn(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """A helper process (its stdout and stderr piped, as text), SIGKILLed by :meth:`close` if still alive."""
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self._stack.callback(_kill, child)
        return child

    def _get(self, key: str, make: Callable[[], ManagedProcess]) -> ManagedProcess:
        server = self._running.get(key)
        if server is None or not server.running:
            if server is not None:
                server.kill()
            server = self._stack.enter_context(make())
            self._running[key] = server
        return server

    def close(self) -> None:
        self._running.clear()
        self._stack.close()


def _kill(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.kill()
    child.communicate(timeout=10)


@dataclass
class Context:
    """What a row gets: the scale of the run, the shared servers, the names of the rows selected."""

    scale: Scale
    servers: Servers
    selected: frozenset[str] = frozenset()
    #: Work a row started for a later row of the same run (see ``memory``), by key.
    started: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One named measurement, one line of the table."""

    name: str
    figure: str
    target: str
    run: Callable[[Context], Result]


def skipped(reason: str) -> Result:
    """The result of a row that cannot run here."""
    return Result(f"skipped: {reason}")


def error_result(error: BaseException) -> Result:
    """The result of a row that failed: ``error: <the exception, short>``."""
    leaf = error
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    text = " ".join(f"{type(leaf).__name__}: {leaf}".split())
    if len(text) > ERROR_CHARS:
        text = text[: ERROR_CHARS - 1] + "…"
    return Result(f"error: {text}", met=False, values={"error": text})


def run_row(row: Row, context: Context) -> Line:
    """Run one row; whatever it raises becomes its ``error:`` result. Its duration goes in ``values``."""
    started = time.monotonic()
    try:
        result = row.run(context)
    except Exception as error:
        result = error_result(error)
    result.values["row_seconds"] = round(time.monotonic() - started, 1)
    return Line(row.name, row.figure, row.target, result)


# -- timing ------------------------------------------------------------------------------------------


async def interleave(
    subjects: Mapping[str, Callable[[], Awaitable[object]]], rounds: int, *, budget: float, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each subject, one call of each per round, the order rotating.

    Interleaving puts every subject under the same noise; the rotation gives none of them a fixed
    place after another. Stops after ``rounds`` or once ``budget`` seconds passed (at least one
    round runs).
    """
    names = list(subjects)
    for _ in range(warmup):
        for name in names:
            await subjects[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.monotonic() + budget
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            await subjects[name]()
            samples[name].append(time.perf_counter() - started)
        if time.monotonic() > deadline:
            break
    return samples


def interleave_sync(
    subjects: Mapping[str, Callable[[], object]], rounds: int, *, budget: float, warmup: int = 3
) -> dict[str, list[float]]:
    """:func:`interleave` for blocking calls."""
    names = list(subjects)
    for _ in range(warmup):
        for name in names:
            subjects[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.monotonic() + budget
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            subjects[name]()
            samples[name].append(time.perf_counter() - started)
        if time.monotonic() > deadline:
            break
    return samples


async def times(call: Callable[[], Awaitable[object]]) -> float:
    """Seconds one awaited call took."""
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def ratio(measured: float, anchor: float) -> float:
    return measured / anchor if anchor > 0 else math.nan


def ms(seconds: float) -> str:
    """``1.234 ms`` below 10 ms, ``12.3 ms`` below a second, ``1.23 s`` above."""
    value = seconds * 1000
    if value < 10:
        return f"{value:.3f} ms"
    return f"{value:.1f} ms" if value < 1000 else f"{seconds:.2f} s"


# -- the table ---------------------------------------------------------------------------------------

HEADER = ("figure", "target", "measured", "anchor (same run)", "met?")


def render_table(lines: Sequence[Line]) -> str:
    """One plain-text table with aligned columns."""
    cells = [HEADER, *(line.cells() for line in lines)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(HEADER))]
    rendered = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)
