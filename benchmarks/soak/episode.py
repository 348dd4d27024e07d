"""One soak episode: workers calling tools on one client while the plan disrupts the server.

Workers take call numbers from a shared counter until the episode's calls are issued; each call
picks its tool from the episode's seeded sequence, runs under a guard of its deadline plus a
grace, and its outcome is sorted (:func:`classify`). A disruptor task waits until the number of
ended calls reaches each disruption's ``after`` and then performs it in a thread (SIGKILLs,
restarts and ``configure`` are blocking), while the workers go on calling.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from mcp_session_recovery.model import McpSessionError, RemoteError

from .clients import DEADLINE, ServerError, ToolError, TypedError, open_client
from .plan import Episode, tools_for
from .servers import NON_IDEMPOTENT, Target, running
from .tally import Tally

__all__ = ["GRACE", "classify", "run_episode"]

#: A call that ends more than this after its deadline is past it; one still running this long
#: after its deadline is a hang (cancelled, counted as lost).
GRACE = 2.0
HANG = 10.0
#: The whole episode's bound, beyond its calls' deadlines (restarts, outages, client start).
EPISODE_SLACK = 120.0


@dataclass
class _Progress:
    """Ended calls, and the events the disruptor waits on."""

    ended: int = 0
    waiters: dict[int, anyio.Event] = field(default_factory=dict)

    def end_one(self) -> None:
        self.ended += 1
        for after, event in list(self.waiters.items()):
            if self.ended >= after:
                event.set()
                del self.waiters[after]

    async def reached(self, after: int) -> None:
        if self.ended >= after:
            return
        event = self.waiters.setdefault(after, anyio.Event())
        await event.wait()


def classify(error: BaseException) -> tuple[str, str]:
    """``("typed", name)``, ``("server", text)`` or ``("lost", kind)`` for what a call raised."""
    if isinstance(error, RemoteError):
        return "server", f"{error.code}: {error.message}"
    if isinstance(error, McpSessionError):
        return "typed", type(error).__name__
    if isinstance(error, TypedError):
        return "typed", error.name
    if isinstance(error, ServerError | ToolError):
        return "server", str(error)
    return "lost", f"{type(error).__name__}: {str(error)[:80]}"


@dataclass
class _Books:
    """One episode's per-tool outcomes, for the execution counts."""

    ok: Counter[str] = field(default_factory=Counter)
    not_ok: Counter[str] = field(default_factory=Counter)
    #: bump tokens whose call got a result.
    answered_tokens: set[str] = field(default_factory=set)


def _arguments(tool: str, server: str, token: str, rng: random.Random) -> tuple[dict[str, Any], str | None]:
    """The call's arguments and the text a correct answer has (``None``: any number)."""
    if tool == "add":
        a, b = rng.randint(0, 1000), rng.randint(0, 1000)
        return {"a": a, "b": b}, str(a + b)
    if tool == "bump":
        return ({"token": token} if server.startswith("testing:") else {}), None
    if tool == "slow":
        return {"seconds": round(rng.uniform(0.02, 0.3), 3)}, ""
    return {}, None


def _correct(tool: str, text: str, expected: str | None) -> bool:
    if tool in ("bump", "peek"):
        return text.strip().isdigit()
    if tool == "slow":
        return bool(text)
    return text.strip() == expected


async def _episode(episode: Episode, target: Target, tally: Tally, seed: int) -> _Books:
    rng = random.Random(seed * 1000 + episode.index)
    weights = tools_for(episode.server)
    tools = rng.choices(list(weights), weights=list(weights.values()), k=episode.calls)
    plans = [
        _arguments(tool, episode.server, f"s{seed}-e{episode.index}-c{number}", rng)
        for number, tool in enumerate(tools)
    ]
    books = _Books()
    progress = _Progress()
    issued = 0

    async with open_client(episode.client, target.url) as call:

        async def one(number: int) -> None:
            tool = tools[number]
            arguments, expected = plans[number]
            started = time.monotonic()
            outcome: tuple[str, str]
            text = ""
            with anyio.move_on_after(DEADLINE + HANG) as guard:
                try:
                    text = await call(tool, arguments)
                    outcome = ("ok", "")
                except Exception as error:
                    outcome = classify(error)
            if guard.cancelled_caught:
                outcome = ("lost", "hang past the deadline")
            took = time.monotonic() - started
            tally.calls += 1
            tally.slowest_call_s = max(tally.slowest_call_s, took)
            if took > DEADLINE + GRACE:
                tally.past_deadline += 1
            kind, detail = outcome
            if kind == "ok":
                tally.ok += 1
                books.ok[tool] += 1
                if tool == "bump" and "token" in arguments:
                    books.answered_tokens.add(arguments["token"])
                if not _correct(tool, text, expected):
                    tally.wrong_answers += 1
            else:
                books.not_ok[tool] += 1
                {"typed": tally.typed, "server": tally.server_errors, "lost": tally.lost}[kind][detail] += 1
            progress.end_one()

        async def worker() -> None:
            nonlocal issued
            while issued < episode.calls:
                number, issued = issued, issued + 1
                await one(number)

        async def disrupt() -> None:
            for disruption in episode.disruptions:
                await progress.reached(disruption.after)
                await anyio.to_thread.run_sync(target.disrupt, disruption)
                tally.restarts += disruption.kills
                tally.era_switches += disruption.kind == "era"
                tally.cut_windows += disruption.kind == "cut"

        with anyio.fail_after(DEADLINE * (episode.calls // max(episode.concurrency, 1) + 2) + EPISODE_SLACK):
            async with anyio.create_task_group() as group:
                group.start_soon(disrupt)
                for _ in range(episode.concurrency):
                    group.start_soon(worker)
    return books


def _account(target: Target, books: _Books, tally: Tally) -> None:
    """The servers' evidence: initializes after restarts, and executions that ran twice."""
    for life in target.lives:
        if life.restarted and life.discovers and not life.initializes:
            tally.sessionless_restarts += 1  # no session to create: nothing to count
        elif life.restarted:
            tally.initializes_after_restart.append(life.initializes)
    ledger = target.ledger_counts()
    if target.ledger is not None:
        tally.ledger_tokens += len(ledger)
        tally.ledger_doubles += sum(count - 1 for count in ledger.values() if count > 1)
        tally.ledger_missing += sum(1 for token in books.answered_tokens if token not in ledger)
    for tool in NON_IDEMPOTENT:
        # Each call ran its tool at most once unless something ran twice: executions beyond the
        # calls that could have run them (all of them, answered or not) are doubles, at least.
        could_have_run = books.ok[tool] + books.not_ok[tool]
        tally.counted_doubles += max(0, target.executions(tool) - could_have_run)


def run_episode(episode: Episode, tally: Tally, seed: int, workdir: Path, typescript: list[str] | None) -> str:
    """Run ``episode`` to its end (servers started and SIGKILLed), adding what it saw to ``tally``.

    Returns one line on what it saw (for ``--verbose``).
    """
    before = (tally.ok, sum(tally.typed.values()), tally.lost_total, tally.doubles, tally.typed.copy())
    with running(episode, workdir, typescript) as target:
        books = anyio.run(_episode, episode, target, tally, seed, backend=episode.backend)
    _account(target, books, tally)
    tally.episodes += 1
    tally.by_client[episode.client] += episode.calls
    tally.by_server[episode.server] += episode.calls
    tally.by_concurrency[episode.concurrency] += episode.calls
    tally.gateway_episodes += episode.gateway is not None
    typed = ", ".join(f"{name} {count}" for name, count in (tally.typed - before[4]).items())
    return (
        f"  ok {tally.ok - before[0]}, typed {sum(tally.typed.values()) - before[1]} ({typed or 'none'}), "
        f"lost {tally.lost_total - before[2]}, run twice {tally.doubles - before[3]}; "
        f"initializes per life {[life.initializes for life in target.lives]}"
    )
