"""What the soak counted, and its report: the figures, the targets, met or not."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally", "rss_bytes"]

#: The full run's counts (the issue's targets); a shorter run reports against its own plan.
MIN_CALLS = 10_000
MIN_RESTARTS = 50


def rss_bytes() -> int:
    """This process's resident set size now (Linux ``/proc``; 0 where it is not available)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Tally:
    """Every call's outcome and every server's evidence, summed over the run."""

    calls: int = 0
    ok: int = 0
    #: The library's typed errors by class name (allowed outcomes).
    typed: Counter[str] = field(default_factory=Counter)
    #: The servers' own errors (JSON-RPC errors and ``isError`` results), by text.
    server_errors: Counter[str] = field(default_factory=Counter)
    #: Neither a result nor a typed error, or a hang past the deadline: what happened, by kind.
    lost: Counter[str] = field(default_factory=Counter)
    #: Calls that ended later than their deadline (plus the grace), whatever the outcome.
    past_deadline: int = 0
    #: A result whose text was wrong (``add`` not the sum, ``bump`` not a number).
    wrong_answers: int = 0
    restarts: int = 0
    #: Initializes counted by each restarted process over its life.
    initializes_after_restart: list[int] = field(default_factory=list)
    #: Restarted processes that served the sessionless era only (no session, no initialize).
    sessionless_restarts: int = 0
    #: Executions that ran twice: by the test server's ledger (exact), and the lower bound on the
    #: servers that only count executions.
    ledger_doubles: int = 0
    ledger_tokens: int = 0
    #: ``bump`` calls that got a result although the ledger never saw their token.
    ledger_missing: int = 0
    counted_doubles: int = 0
    by_client: Counter[str] = field(default_factory=Counter)
    by_server: Counter[str] = field(default_factory=Counter)
    by_concurrency: Counter[int] = field(default_factory=Counter)
    gateway_episodes: int = 0
    era_switches: int = 0
    cut_windows: int = 0
    episodes: int = 0
    slowest_call_s: float = 0.0
    rss_start: int = 0
    rss_end: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())

    @property
    def doubles(self) -> int:
        return self.ledger_doubles + self.counted_doubles

    def initializes_per_restart(self) -> float:
        counts = self.initializes_after_restart
        return sum(counts) / len(counts) if counts else 0.0

    def targets(self, calls: int, restarts: int) -> dict[str, bool]:
        """Each target: met or not (``calls``/``restarts``: what the plan asked for)."""
        return {
            "calls": self.calls >= calls,
            "restarts": self.restarts >= restarts,
            "lost": self.lost_total == 0,
            "run twice": self.doubles == 0,
            "past deadline": self.past_deadline == 0,
            "episodes ran": not self.errors,
        }

    def as_json(self, calls: int, restarts: int) -> dict[str, Any]:
        counts = self.initializes_after_restart
        return {
            "calls": self.calls,
            "ok": self.ok,
            "typed_errors": dict(self.typed),
            "server_errors": dict(self.server_errors),
            "lost": self.lost_total,
            "lost_by_kind": dict(self.lost),
            "past_deadline": self.past_deadline,
            "wrong_answers": self.wrong_answers,
            "restarts": self.restarts,
            "run_twice": self.doubles,
            "ledger_doubles": self.ledger_doubles,
            "ledger_tokens": self.ledger_tokens,
            "ledger_missing": self.ledger_missing,
            "counted_doubles": self.counted_doubles,
            "initializes_per_restart": self.initializes_per_restart(),
            "initializes_per_restart_max": max(counts, default=0),
            "sessionless_restarts": self.sessionless_restarts,
            "by_client": dict(self.by_client),
            "by_server": dict(self.by_server),
            "by_concurrency": {str(key): value for key, value in sorted(self.by_concurrency.items())},
            "gateway_episodes": self.gateway_episodes,
            "era_switches": self.era_switches,
            "cut_windows": self.cut_windows,
            "episodes": self.episodes,
            "slowest_call_s": round(self.slowest_call_s, 3),
            "rss_start": self.rss_start,
            "rss_end": self.rss_end,
            "seconds": round(self.seconds, 1),
            "errors": self.errors,
            "targets": self.targets(calls, restarts),
        }

    def report(self, calls: int, restarts: int) -> str:
        """The plain-text report: one figure a line, its target, met or not."""
        met = self.targets(calls, restarts)
        counts = self.initializes_after_restart
        typed = ", ".join(f"{name} {count}" for name, count in self.typed.most_common()) or "none"
        lost = ", ".join(f"{kind} {count}" for kind, count in self.lost.most_common()) or "none"
        servers = ", ".join(f"{name} {count}" for name, count in sorted(self.by_server.items()))
        clients = ", ".join(f"{name} {count}" for name, count in sorted(self.by_client.items()))
        workers = ", ".join(f"x{key} {value}" for key, value in sorted(self.by_concurrency.items()))

        def line(figure: str, value: str, target: str = "", name: str = "") -> str:
            verdict = "" if not name else ("met" if met[name] else "NOT MET")
            return f"{figure:<26} {value:<44} {target:<14} {verdict}".rstrip()

        lines = [
            line(
                "calls", f"{self.calls} (ok {self.ok}, typed errors {sum(self.typed.values())})", f">= {calls}", "calls"
            ),
            line("restarts (SIGKILL)", str(self.restarts), f">= {restarts}", "restarts"),
            line("lost", f"{self.lost_total} ({lost})", "0", "lost"),
            line(
                "run twice",
                f"{self.doubles} (ledger {self.ledger_doubles} of {self.ledger_tokens} tokens, "
                f"counted {self.counted_doubles})",
                "0",
                "run twice",
            ),
            line(
                "past deadline",
                f"{self.past_deadline} (slowest call {self.slowest_call_s:.2f} s)",
                "0",
                "past deadline",
            ),
            line(
                "initializes per restart",
                f"{self.initializes_per_restart():.2f} (min {min(counts, default=0)}, max {max(counts, default=0)}; "
                f"{self.sessionless_restarts} sessionless restarts not counted)",
            ),
            line("RSS", f"{self.rss_start / 2**20:.1f} MiB at start, {self.rss_end / 2**20:.1f} MiB at end"),
            line("typed errors", typed),
            line("server errors", f"{sum(self.server_errors.values())}, wrong answers {self.wrong_answers}"),
            line("clients", clients),
            line("servers", servers),
            line("concurrency", workers),
            line(
                "disruptions",
                f"{self.gateway_episodes} episodes behind a gateway, {self.era_switches} era switches, "
                f"{self.cut_windows} cut windows",
            ),
            line("episodes", f"{self.episodes} in {self.seconds:.0f} s", "all ran", "episodes ran"),
        ]
        lines += [f"  error: {error}" for error in self.errors]
        if self.server_errors:
            lines += [f"  server error x{count}: {text[:100]}" for text, count in self.server_errors.most_common(5)]
        return "\n".join(lines)
