"""Hypothesis drives the model through the simulated world with random configurations.

The world checks DESIGN §3's invariants 1-8 after every step (tests/model/world.py). Alongside,
two ``SessionMachine`` facades, one per engine (the compiled one the runtime runs and the
``transitions`` one), are fed the same events and must both agree with the pure ``step`` at every
point.
"""

from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mcp_session_recovery.model import Engine, Era, EraMode, ModelConfig, Replayability, SessionMachine

from .world import Limits, Trace, World, apply, possible_actions, start

METHODS = {
    Replayability.ALWAYS: "resources/read",
    Replayability.IF_UNPROCESSED: "tools/call",
    Replayability.NEVER: "notifications/cancelled",
}


class ModelInTheWorld(RuleBasedStateMachine):
    world: World
    limits: Limits
    facades: tuple[SessionMachine, ...]

    @initialize(
        mode=st.sampled_from(EraMode),
        server_era=st.sampled_from(Era),
        max_attempts=st.integers(1, 4),
        max_replays=st.integers(0, 3),
        kinds=st.lists(st.sampled_from(Replayability), min_size=1, max_size=5),
        streamless=st.booleans(),
    )
    def begin(
        self,
        mode: EraMode,
        server_era: Era,
        max_attempts: int,
        max_replays: int,
        kinds: list[Replayability],
        streamless: bool,
    ) -> None:
        config = ModelConfig(mode=mode, max_attempts=max_attempts, max_replays=max_replays)
        self.limits = Limits(
            requests=tuple((METHODS[kind], kind) for kind in kinds),
            faults=4,
            abandons=2,
            connects=2,
            closes=2,
            refusals=3,
            streamless_server=streamless,
        )
        self.world = start(config, self.limits, server_era)
        # Both engines, fed the same events: the compiled one the runtime runs, and `transitions`.
        self.facades = tuple(SessionMachine(config, engine=engine) for engine in Engine)
        stream = "no GET stream" if streamless else "a GET stream"
        note(f"{config}, server {server_era.value} with {stream}, requests {[k.name for k in kinds]}")

    @precondition(lambda self: hasattr(self, "world") and bool(possible_actions(self.world, self.limits)))
    @rule(data=st.data())
    def something_happens(self, data: st.DataObject) -> None:
        action = data.draw(st.sampled_from(possible_actions(self.world, self.limits)))
        trace = Trace()
        self.world = apply(self.world, action, self.limits, trace=trace)
        for event in trace.events:
            for facade in self.facades:
                facade.handle(event)
        note(f"{action.name}: {[type(e).__name__ for e in trace.events]} -> {self.world.snap.state.name}")

    @rule()
    def nothing_happens(self) -> None:
        """Always possible, so a run whose world has nothing left to do can still end cleanly."""

    @invariant()
    def both_engines_agree_with_step(self) -> None:
        if hasattr(self, "world"):
            for facade in self.facades:
                assert facade.snapshot == self.world.snap, facade.engine
                assert facade.state is self.world.snap.state, facade.engine


TestModelInTheWorld = ModelInTheWorld.TestCase
