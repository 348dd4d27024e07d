"""The Hypothesis strategy of stories a check draws from, built from its options.

Only the faults the options allow are drawn; lists shrink towards fewer steps and towards the
first alternative of each choice, so a failing story shrinks to the fewest, plainest steps.
"""

from __future__ import annotations

from hypothesis import strategies as st

from mcp_session_recovery.testing.behaviour import ResponseStyle, ServedEra, StaleStyle

from .options import CheckOptions
from .steps import Call, CutStream, Expire, Fault, GatewayWindow, Outage, Restart, Step, Story, SwitchEra

__all__ = ["stories"]


def _sorted_styles(styles: frozenset[StaleStyle]) -> list[StaleStyle]:
    # SDK_PYTHON first, the rest in declaration order: shrinking prefers the commonest server.
    return [style for style in StaleStyle if style in styles]


def steps(options: CheckOptions) -> st.SearchStrategy[Step]:
    """One step: a call, or one of the allowed faults."""
    faults = options.faults
    concurrent = Fault.CONCURRENT in faults and options.max_callers > 1
    callers = st.integers(1, options.max_callers) if concurrent else st.just(1)
    choices: list[st.SearchStrategy[Step]] = [st.builds(Call, st.sampled_from(("bump", "add")), callers)]
    if Fault.RESTART in faults:
        choices.append(st.builds(Restart, st.sampled_from(_sorted_styles(options.stale_styles)), callers))
    if Fault.EXPIRE in faults:
        choices.append(st.builds(Expire, callers))
    if Fault.OUTAGE in faults:
        choices.append(st.just(Outage(options.window_seconds)))
    if Fault.GATEWAY_502 in faults:
        choices.append(st.just(GatewayWindow(502, options.window_seconds)))
    if Fault.GATEWAY_404 in faults:
        choices.append(st.just(GatewayWindow(404, options.window_seconds)))
    if Fault.CUT_STREAM in faults:
        choices.append(st.builds(CutStream, st.sampled_from(("bump", "add"))))
    if Fault.ERA_SWITCH in faults:
        choices.append(st.builds(SwitchEra, st.sampled_from((ServedEra.MODERN, ServedEra.LEGACY)), callers))
    return st.one_of(choices)


def stories(options: CheckOptions) -> st.SearchStrategy[Story]:
    """A response style, then 1 to ``max_steps`` steps (the final call is always added)."""
    styles = [style for style in ResponseStyle if style in options.response_styles]
    return st.builds(
        Story,
        st.sampled_from(styles),
        st.lists(steps(options), min_size=1, max_size=options.max_steps).map(tuple),
    )
