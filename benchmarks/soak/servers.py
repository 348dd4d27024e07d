"""One episode's server processes: the server (and a gateway in front), restarts, and what they counted.

Every process life ends with a read of its counters (``/_stats`` or ``/_control/stats``) just
before the SIGKILL and once at the end of the episode, so each life's initializes and tool
executions are known (the read before a kill races with calls still in flight: it can only count
too few, never too many). The test server also writes a ledger (``--ledger``) that a SIGKILL
cannot lose.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mcp_session_recovery.testing import ManagedProcess, ResponseStyle, ServedEra, ServerProcess, StaleStyle
from tests.integration.processes import ManagedServer, proxy_argv, sdk_server_argv

from .plan import Disruption, Episode

__all__ = ["Life", "Target", "running"]

#: The tools whose executions must never repeat (no annotations: the library treats them as unsafe).
NON_IDEMPOTENT = ("bump", "slow")


@dataclass(frozen=True)
class Life:
    """What one server process counted over its life."""

    #: Started by a SIGKILL restart (not the episode's first process).
    restarted: bool
    initializes: int
    #: ``server/discover`` requests (the sessionless era: no session, so no initialize to count).
    discovers: int
    executions: Mapping[str, int]


@dataclass
class Target:
    """The episode's server, the gateway in front of it (if any), and their counters so far."""

    kind: str
    process: ManagedProcess
    proxy: ManagedServer | None
    ledger: Path | None
    lives: list[Life] = field(default_factory=list)
    _restarted: bool = False

    @property
    def url(self) -> str:
        """Where the client goes: the gateway, or the server itself."""
        return self.proxy.url if self.proxy is not None else self.process.url

    def end_life(self) -> None:
        """Read the running process's counters and record its life."""
        if isinstance(self.process, ServerProcess):
            stats = self.process.stats()
            initializes, discovers, executions = stats.initializes, stats.discovers, dict(stats.tool_executions)
        else:
            assert isinstance(self.process, ManagedServer)
            document = self.process.stats()
            initializes = int(document.get("initializes", 0))
            discovers = int(document.get("requests_by_method", {}).get("server/discover", 0))
            executions = {str(name): int(count) for name, count in document.get("tool_executions", {}).items()}
        self.lives.append(Life(self._restarted, initializes, discovers, executions))

    def disrupt(self, disruption: Disruption) -> None:
        """Do ``disruption`` (blocking: run it in a thread)."""
        if disruption.kills:
            self.end_life()
            self.process.kill()
            if disruption.seconds:
                time.sleep(disruption.seconds)  # the outage is the scenario, not a synchronisation
            self.process.start()
            self._restarted = True
        elif disruption.kind == "era":
            assert isinstance(self.process, ServerProcess)
            self.process.configure(eras=[ServedEra(name) for name in disruption.eras])
        elif disruption.kind == "cut":
            assert isinstance(self.process, ServerProcess)
            self.process.configure(cut_tool_responses=disruption.cuts)
        else:
            raise ValueError(f"unknown disruption {disruption.kind!r}")

    def executions(self, tool: str) -> int:
        return sum(life.executions.get(tool, 0) for life in self.lives)

    def ledger_counts(self) -> Counter[str]:
        """Token → how many times ``bump`` ran with it (empty without a ledger)."""
        if self.ledger is None or not self.ledger.exists():
            return Counter()
        return Counter(line for line in self.ledger.read_text(encoding="utf-8").splitlines() if line)


@contextmanager
def running(episode: Episode, workdir: Path, typescript_argv: list[str] | None) -> Iterator[Target]:
    """The episode's processes, started; SIGKILLed when the block ends (counters read first)."""
    with ExitStack() as stack:
        ledger: Path | None = None
        process: ManagedProcess
        if episode.server.startswith("testing:"):
            ledger = workdir / f"ledger-{episode.index}.txt"
            process = ServerProcess(
                eras=[ServedEra.LEGACY],
                stale_style=StaleStyle(episode.server.partition(":")[2]),
                response_style=ResponseStyle(episode.response),
                slow_seconds=0.1,
                extra_args=("--ledger", str(ledger)),
            )
        elif episode.server == "sdk":
            process = ManagedServer(sdk_server_argv())
        elif episode.server == "typescript" and typescript_argv is not None:
            argv = typescript_argv
            process = ManagedServer(lambda port: [*argv, "--port", str(port)])
        else:
            raise ValueError(f"cannot run server {episode.server!r}")
        stack.enter_context(process)
        proxy = None
        if episode.gateway is not None:
            proxy = stack.enter_context(ManagedServer(proxy_argv(process.port, down_answer=episode.gateway)))
        target = Target(episode.server, process, proxy, ledger)
        yield target
        target.end_life()
