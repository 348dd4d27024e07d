"""``check_client``: Hypothesis chooses the stories, the test server lives them, the judge rules.

Hypothesis is synchronous and the client is not, so the search runs in a worker thread and each
story is run back in the caller's event loop (``anyio.from_thread.run``), where the in-process
server and the client live. Every story's verdict is remembered, so Hypothesis' replays (and its
final re-run of the shortest failing story) see the same verdict without running it again, and
shrinking stops after ``shrink_runs`` new stories: the story reported is the shortest found
within that budget.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
from hypothesis import seed as hypothesis_seed

from mcp_session_recovery.testing.behaviour import ResponseStyle, StaleStyle
from mcp_session_recovery.testing.server import TestServer, serve

from .invariants import counters_of, judge
from .options import CheckOptions, EraName
from .report import ConformanceReport, Counters, Invariant, Violation
from .steps import DEFAULT_FAULTS, DEFAULT_STALE_STYLES, Fault, Story
from .story import OpenClient, run_story
from .strategies import stories

__all__ = ["check_client"]


async def check_client(
    open_client: OpenClient,
    *,
    era: EraName = "legacy",
    faults: Collection[Fault] = DEFAULT_FAULTS,
    stale_styles: Collection[StaleStyle] = DEFAULT_STALE_STYLES,
    response_styles: Collection[ResponseStyle] = frozenset(ResponseStyle),
    examples: int = 8,
    max_steps: int = 4,
    max_callers: int = 4,
    call_timeout: float = 15.0,
    open_timeout: float = 15.0,
    window_seconds: float = 0.3,
    shrink_runs: int = 24,
    time_limit: float = 120.0,
    seed: int | None = None,
) -> ConformanceReport:
    """Prove that the client ``open_client`` makes upholds the recovery invariants, or show how it does not.

    ``open_client(url)`` returns an async context manager yielding an object with
    ``async call_tool(name, arguments)`` connected to the MCP endpoint ``url`` (a fresh client
    per story; it must not share state between stories). The check serves its own
    fault-injecting test server on 127.0.0.1 and runs ``examples`` stories of up to
    ``max_steps`` steps, drawn by Hypothesis from calls of ``bump`` (a side effect) and ``add``
    (read-only), up to ``max_callers`` at once, and the ``faults`` chosen (:class:`Fault`;
    leave out :attr:`Fault.ERA_SWITCH`, the default, unless the client follows era changes).
    Stale sessions are answered in each of ``stale_styles``, answers come as each of
    ``response_styles``; outages and gateway windows last ``window_seconds``. ``era`` is what
    the server speaks when a story starts (``"legacy"``, ``"modern"`` or ``"dual"``).

    A call may take ``call_timeout`` seconds, opening the client ``open_timeout``. When a story
    breaks an invariant, Hypothesis shrinks it (at most ``shrink_runs`` more stories) and the
    report names each invariant the shortest failing story broke. The whole check stops
    starting stories after ``time_limit`` seconds. Stories are the same on every run unless a
    ``seed`` is given. Call it inside a running event loop (asyncio or trio).
    """
    options = CheckOptions(
        era=era,
        faults=frozenset(faults),
        stale_styles=frozenset(stale_styles),
        response_styles=frozenset(response_styles),
        examples=examples,
        max_steps=max_steps,
        max_callers=max_callers,
        call_timeout=call_timeout,
        open_timeout=open_timeout,
        window_seconds=window_seconds,
        shrink_runs=shrink_runs,
        time_limit=time_limit,
        seed=seed,
    )
    started = time.monotonic()
    async with serve() as server:
        search = _Search(server, open_client, options)
        await anyio.to_thread.run_sync(search.explore)
    subject = f"client ({options.era} era)"
    counters = search.counters + Counters(seconds=time.monotonic() - started)
    return ConformanceReport(subject, search.violations(), counters, search.examples_run, search.shrink_runs)


def _size(story: Story) -> tuple[int, int]:
    """Shorter first; among equals, fewer concurrent callers."""
    return len(story.steps), sum(getattr(step, "callers", 1) for step in story.steps)


class _StoryFailed(Exception):
    """Raised to Hypothesis for a story that broke an invariant (it then shrinks the story)."""

    def __init__(self, story: Story, broken: tuple[tuple[Invariant, str], ...]) -> None:
        super().__init__(f"{len(broken)} invariants broken")
        self.story = story
        self.broken = broken


class _Search:
    """The Hypothesis search, run in a worker thread; stories are run in the event loop."""

    def __init__(self, server: TestServer, open_client: OpenClient, options: CheckOptions) -> None:
        self.server = server
        self.open_client = open_client
        self.options = options
        self.verdicts: dict[Story, tuple[tuple[Invariant, str], ...]] = {}
        self.counters = Counters()
        self.examples_run = 0
        self.shrink_runs = 0
        self.found = False
        self.deadline = time.monotonic() + options.time_limit

    def explore(self) -> None:
        options = self.options
        configured = settings(
            max_examples=options.examples,
            deadline=None,
            database=None,
            derandomize=options.seed is None,
            phases=(Phase.generate, Phase.shrink),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        )
        test: Any = given(stories(options))(self.verdict)
        if options.seed is not None:
            test = hypothesis_seed(options.seed)(test)
        # The verdicts remembered say what broke, each with its shortest story.
        with contextlib.suppress(_StoryFailed):
            configured(test)()

    def verdict(self, story: Story) -> None:
        """Hypothesis' test: run ``story`` (or recall its verdict) and raise if it broke anything."""
        broken = self.verdicts.get(story)
        if broken is None:
            if self.found and self.shrink_runs >= self.options.shrink_runs:
                reject()  # the shrinking budget is spent: the shortest failure so far stands
            if time.monotonic() > self.deadline:
                reject()
            broken = anyio.from_thread.run(self.run, story)
            self.verdicts[story] = broken
            if self.found:
                self.shrink_runs += 1
            else:
                self.examples_run += 1
        if broken:
            self.found = True
            raise _StoryFailed(story, broken)

    def violations(self) -> tuple[Violation, ...]:
        """Each invariant broken, with the shortest story that broke it among all those run.

        Hypothesis shrinks towards the shortest story breaking *anything*; every story it tried
        on the way is remembered, so each invariant gets its own shortest witness.
        """
        shortest: dict[Invariant, tuple[Story, str]] = {}
        for story, broken in self.verdicts.items():
            for invariant, detail in broken:
                known = shortest.get(invariant)
                if known is None or _size(story) < _size(known[0]):
                    shortest[invariant] = (story, detail)
        return tuple(
            Violation(invariant, detail, story.describe())
            for invariant in Invariant
            if invariant in shortest
            for story, detail in (shortest[invariant],)
        )

    async def run(self, story: Story) -> tuple[tuple[Invariant, str], ...]:
        ledger = await run_story(self.server, self.open_client, story, self.options)
        self.counters = self.counters + counters_of(ledger)
        return tuple(judge(ledger))
