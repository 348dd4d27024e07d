"""Drive the pure session model by hand: a legacy session that loses its server and recovers.

Run it: ``python examples/drive_the_model.py``. The README shows the same steps.
"""

from __future__ import annotations

from mcp_session_recovery.model import (
    BackoffElapsed,
    EraMode,
    InitializedDelivered,
    InitializeSucceeded,
    ModelConfig,
    ReplayPolicy,
    ReplayRequest,
    RequestDisrupted,
    RequestSubmitted,
    ResponseReceived,
    RestoreSessionState,
    ScheduleRecovery,
    SendInitialize,
    SendInitialized,
    SendRequest,
    SessionId,
    SessionMachine,
    Signal,
    State,
)


def main() -> None:
    machine = SessionMachine(ModelConfig(mode=EraMode.LEGACY, max_attempts=5, max_replays=2))
    policy = ReplayPolicy()
    kind = policy.replayability("tools/call", tool_name="add")

    assert machine.handle(RequestSubmitted(request_id=0, method="tools/call", replayability=kind)) == (
        SendInitialize(generation=1),
    )
    answer = InitializeSucceeded(generation=1, protocol_version="2025-11-25", session_id=SessionId("abc123"))
    assert machine.handle(answer) == (SendInitialized(generation=1),)
    assert machine.handle(InitializedDelivered(generation=1)) == (SendRequest(request_id=0, generation=1),)

    # The server restarts: the request's 404 means the session is gone and the call never ran.
    assert machine.handle(RequestDisrupted(request_id=0, signal=Signal.SESSION_GONE)) == (ScheduleRecovery(attempt=0),)
    assert machine.state is State.INVALIDATED
    assert machine.handle(BackoffElapsed()) == (SendInitialize(generation=2),)
    answer = InitializeSucceeded(generation=2, protocol_version="2025-11-25", session_id=SessionId("def456"))
    assert machine.handle(answer) == (SendInitialized(generation=2),)
    restore, replay = machine.handle(InitializedDelivered(generation=2))
    assert isinstance(restore, RestoreSessionState)
    assert replay == ReplayRequest(request_id=0, generation=2, replay=1)
    machine.handle(ResponseReceived(request_id=0))
    print(f"recovered: {machine!r}")


if __name__ == "__main__":
    main()
