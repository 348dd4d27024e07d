"""The soak's schedule, chosen by a seeded RNG: episodes, their clients, servers and disruptions."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from mcp_session_recovery.testing import StaleStyle

__all__ = [
    "CLIENTS",
    "CONCURRENCY",
    "Disruption",
    "Episode",
    "make_plan",
    "server_kinds",
    "tools_for",
]

#: The client kinds (see ``clients``).
CLIENTS = ("transport", "connect", "session")
#: Workers per episode: every value appears before any repeats.
CONCURRENCY = (1, 50, 10, 2, 20, 5, 35)
#: The gateway's answers while its backend is down (``testing/proxy.py``'s ``--down-answer``).
GATEWAY_ANSWERS = ("bad_gateway", "not_found")
#: The test server's era sets an era switch picks from.
ERA_SETS = (("modern",), ("legacy", "modern"), ("legacy",))
#: How long an outage lasts (from the SIGKILL to the new process's spawn), in seconds.
OUTAGE_SECONDS = (0.2, 1.5)
#: The tools a call picks from, with weights: two read-only, two with side effects.
TOOL_WEIGHTS = {"add": 5, "bump": 3, "peek": 1, "slow": 1}


def server_kinds(*, typescript: bool) -> list[str]:
    """``testing:<stale style>`` for every style, ``sdk``, and ``typescript`` when it can run."""
    kinds = [f"testing:{style.value}" for style in StaleStyle] + ["sdk"]
    return kinds + (["typescript"] if typescript else [])


@dataclass(frozen=True)
class Disruption:
    """One thing done to the server once ``after`` calls of the episode have ended."""

    #: ``restart`` (SIGKILL, start at once), ``outage`` (SIGKILL, ``seconds`` down, start),
    #: ``era`` (the test server switches to ``eras``), ``cut`` (its next ``cuts`` tool answers are cut).
    kind: str
    after: int
    seconds: float = 0.0
    eras: tuple[str, ...] = ()
    cuts: int = 0

    @property
    def kills(self) -> bool:
        return self.kind in ("restart", "outage")


@dataclass(frozen=True)
class Episode:
    """One client on one fresh server for ``calls`` calls."""

    index: int
    server: str
    client: str
    concurrency: int
    calls: int
    #: The gateway's down answer, or ``None``: the client talks to the server directly.
    gateway: str | None
    #: The test server's answers (``json`` or ``sse``); the other servers ignore it.
    response: str
    #: ``asyncio`` or ``trio`` (the SDK-based clients run on asyncio).
    backend: str
    disruptions: tuple[Disruption, ...] = field(default_factory=tuple)

    @property
    def restarts(self) -> int:
        return sum(1 for item in self.disruptions if item.kills)

    def describe(self) -> str:
        gateway = f" behind a gateway ({self.gateway})" if self.gateway else ""
        kinds = ",".join(item.kind for item in self.disruptions) or "none"
        return (
            f"#{self.index} {self.client} on {self.server}{gateway}, {self.calls} calls x{self.concurrency}, "
            f"{self.backend}, disruptions: {kinds}"
        )


def tools_for(server: str) -> dict[str, int]:
    """The tool weights for a server kind (the TypeScript server has no ``slow``)."""
    return {name: weight for name, weight in TOOL_WEIGHTS.items() if not (server == "typescript" and name == "slow")}


def make_plan(seed: int, *, calls: int, restarts: int, servers: list[str], trio: bool) -> list[Episode]:
    """Episodes covering every (server, client) pair at least once, ``calls`` and ``restarts`` in all."""
    rng = random.Random(seed)
    pairs = [(server, client) for server in servers for client in CLIENTS]
    rng.shuffle(pairs)
    count = max(len(pairs), -(-restarts // 4))
    chosen = [pairs[index % len(pairs)] for index in range(count)]
    concurrency = itertools.cycle(CONCURRENCY)
    episodes = []
    for index, (server, client) in enumerate(chosen):
        share = calls // count + (1 if index < calls % count else 0)
        kills = restarts // count + (1 if index < restarts % count else 0)
        testing = server.startswith("testing:")
        kinds = ["restart" if rng.random() < 0.5 else "outage" for _ in range(kills)]
        if testing and rng.random() < 0.5:
            kinds.append("era")
        if testing and rng.random() < 0.6:
            kinds.append("cut")
        rng.shuffle(kinds)
        disruptions = tuple(
            Disruption(
                kind,
                after=share * (position + 1) // (len(kinds) + 1),
                seconds=round(rng.uniform(*OUTAGE_SECONDS), 2) if kind == "outage" else 0.0,
                eras=rng.choice(ERA_SETS) if kind == "era" else (),
                cuts=rng.randint(1, 3) if kind == "cut" else 0,
            )
            for position, kind in enumerate(kinds)
        )
        episodes.append(
            Episode(
                index=index,
                server=server,
                client=client,
                concurrency=next(concurrency),
                calls=share,
                gateway=rng.choice(GATEWAY_ANSWERS) if rng.random() < 0.35 else None,
                response=rng.choice(("json", "sse")),
                backend="trio" if trio and client == "session" and rng.random() < 0.5 else "asyncio",
                disruptions=disruptions,
            )
        )
    return episodes
