"""What a client check applies and how long it may take: one frozen, validated value."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from mcp_session_recovery.testing.behaviour import ResponseStyle, ServedEra, StaleStyle

from .steps import DEFAULT_FAULTS, DEFAULT_STALE_STYLES, Fault

__all__ = ["CheckOptions", "EraName"]

#: Which era(s) the server speaks when a story starts.
EraName = Literal["legacy", "modern", "dual"]

_ERAS: dict[str, frozenset[ServedEra]] = {
    "legacy": frozenset({ServedEra.LEGACY}),
    "modern": frozenset({ServedEra.MODERN}),
    "dual": frozenset({ServedEra.LEGACY, ServedEra.MODERN}),
}


@dataclass(frozen=True, kw_only=True)
class CheckOptions:
    """The knobs of :func:`~.client_check.check_client` (see its docstring for each)."""

    era: EraName = "legacy"
    faults: frozenset[Fault] = DEFAULT_FAULTS
    stale_styles: frozenset[StaleStyle] = DEFAULT_STALE_STYLES
    response_styles: frozenset[ResponseStyle] = frozenset(ResponseStyle)
    examples: int = 8
    max_steps: int = 4
    max_callers: int = 4
    call_timeout: float = 15.0
    open_timeout: float = 15.0
    window_seconds: float = 0.3
    shrink_runs: int = 24
    time_limit: float = 120.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.era not in _ERAS:
            raise ValueError(f"era must be one of {sorted(_ERAS)}, got {self.era!r}")
        for name, kind in (("faults", Fault), ("stale_styles", StaleStyle), ("response_styles", ResponseStyle)):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Collection):
                raise ValueError(f"{name} must be a collection of {kind.__name__}")
            values = frozenset(value)
            if not all(isinstance(item, kind) for item in values):
                raise ValueError(f"{name} must hold {kind.__name__} values only, got {sorted(map(str, values))}")
            object.__setattr__(self, name, values)
        if not self.stale_styles:
            raise ValueError("stale_styles must not be empty")
        if not self.response_styles:
            raise ValueError("response_styles must not be empty")
        for name in ("examples", "max_steps", "max_callers", "shrink_runs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "shrink_runs" else 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("call_timeout", "open_timeout", "window_seconds", "time_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 3600:
                raise ValueError(f"{name} must be a number of seconds in (0, 3600), got {value!r}")

    @property
    def served_eras(self) -> frozenset[ServedEra]:
        """The server's eras at the start of every story."""
        return _ERAS[self.era]

    @property
    def legacy(self) -> bool:
        """Whether sessions exist at the start (the legacy or dual era)."""
        return ServedEra.LEGACY in self.served_eras
