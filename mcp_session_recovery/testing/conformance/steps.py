"""The vocabulary of a conformance story: the faults a check may apply and the steps they make.

A story is a short sequence of steps, chosen by Hypothesis, that a client lives through against
the fault-injecting test server: calls (alone or several at once) and the faults between them.
Steps are frozen values with a one-line description, so the shortest failing story reads as a
numbered list in a report.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from mcp_session_recovery.testing.behaviour import ResponseStyle, ServedEra, StaleStyle

__all__ = [
    "DEFAULT_FAULTS",
    "DEFAULT_STALE_STYLES",
    "Call",
    "CutStream",
    "Expire",
    "Fault",
    "GatewayWindow",
    "Outage",
    "Restart",
    "Step",
    "Story",
    "SwitchEra",
]


class Fault(enum.Enum):
    """A kind of trouble a check may put the client through; choose them with ``faults=``."""

    #: The server restarts (a redeploy): every session and counter is gone.
    RESTART = "restart"
    #: The server forgets every session without restarting (an idle-session reaper).
    EXPIRE = "expire"
    #: The server process dies and comes back on the same port; a call is made while it is down.
    OUTAGE = "outage"
    #: The server restarts behind a gateway that answers 502 meanwhile; a call is made in the window.
    GATEWAY_502 = "gateway_502"
    #: As :attr:`GATEWAY_502`, with a reverse proxy's plain-text 404 instead.
    GATEWAY_404 = "gateway_404"
    #: The answer to a ``tools/call`` is cut after the tool ran (the outcome is unknown).
    CUT_STREAM = "cut_stream"
    #: Several callers at once (a herd after a restart must share one recovery).
    CONCURRENT = "concurrent"
    #: The server changes protocol era (legacy ↔ sessionless) across a restart. Only for clients
    #: that claim to follow an era change (``connect(mode="auto")`` does; a transport cannot).
    ERA_SWITCH = "era_switch"


#: Every fault but the era switch, which only some clients can survive.
DEFAULT_FAULTS: frozenset[Fault] = frozenset(Fault) - {Fault.ERA_SWITCH}
#: The stale-session answers a spec-following client recovers from: every 404 style. The older
#: servers' ``400 No valid session ID`` (:attr:`StaleStyle.LEGACY_400`) needs an opt-in
#: (``ClassifierOptions(session_gone_on_400=True)`` in this library), so it is not a default.
DEFAULT_STALE_STYLES: frozenset[StaleStyle] = frozenset(StaleStyle) - {StaleStyle.LEGACY_400}


@dataclass(frozen=True)
class Call:
    """``callers`` concurrent calls of ``tool`` (``bump`` has a side effect, ``add`` is read-only)."""

    tool: str = "bump"
    callers: int = 1

    def describe(self) -> str:
        if self.callers == 1:
            return f"a call of {self.tool}"
        return f"{self.callers} concurrent calls of {self.tool}"


def _then(callers: int) -> str:
    return "then a call of bump" if callers == 1 else f"then {callers} concurrent calls of bump"


@dataclass(frozen=True)
class Restart:
    """The server restarts, a stale session id then answered in ``style``; then ``callers`` calls at once."""

    style: StaleStyle = StaleStyle.SDK_PYTHON
    callers: int = 1

    def describe(self) -> str:
        return f"the server restarts (stale sessions answered {self.style.value}); {_then(self.callers)}"


@dataclass(frozen=True)
class Expire:
    """The server forgets every session (idle timeout) and keeps running; then ``callers`` calls at once."""

    callers: int = 1

    def describe(self) -> str:
        return f"the server expires every session; {_then(self.callers)}"


@dataclass(frozen=True)
class Outage:
    """The server process dies; ``seconds`` later a new one listens on the port. A call is made meanwhile."""

    seconds: float

    def describe(self) -> str:
        return f"the server is down for {self.seconds:g} s and restarts; a call of bump is made while it is down"


@dataclass(frozen=True)
class GatewayWindow:
    """The server restarts behind a gateway answering ``status`` for ``seconds``; a call is made in the window."""

    status: int
    seconds: float

    def describe(self) -> str:
        what = "502 Bad Gateway" if self.status == 502 else f"a plain {self.status}"
        return f"the server restarts behind a gateway answering {what} for {self.seconds:g} s; a call of bump is made"


@dataclass(frozen=True)
class CutStream:
    """The answer to the next call of ``tool`` is cut after the tool ran."""

    tool: str = "bump"

    def describe(self) -> str:
        return f"a call of {self.tool} whose answer is cut after the tool ran"


@dataclass(frozen=True)
class SwitchEra:
    """The server restarts speaking ``to`` only; then ``callers`` calls at once."""

    to: ServedEra
    callers: int = 1

    def describe(self) -> str:
        return f"the server restarts speaking the {self.to.value} era only; {_then(self.callers)}"


Step = Call | Restart | Expire | Outage | GatewayWindow | CutStream | SwitchEra


@dataclass(frozen=True)
class Story:
    """What one example does: the answer style, then the steps, then a final call of ``bump``."""

    response_style: ResponseStyle
    steps: tuple[Step, ...]

    def describe(self) -> str:
        """A numbered account, one line per step."""
        lines = [f"(answers as {self.response_style.value})"]
        lines += [f"{number}. {step.describe()}" for number, step in enumerate(self.steps, 1)]
        lines.append(f"{len(self.steps) + 1}. {FINAL_CALL.describe()} (the final call)")
        return "\n".join(lines)

    def all_steps(self) -> Sequence[Step]:
        """The steps with the final call."""
        return (*self.steps, FINAL_CALL)


#: Every story ends with it, so a fault in the last step is still put to the test.
FINAL_CALL = Call("bump")
