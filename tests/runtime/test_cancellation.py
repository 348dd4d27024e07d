"""Cancellation at every await point of negotiation and recovery leaves a consistent session.

A scripted server holds each exchange until the test answers it, so the test can stop the world at
the k-th exchange of a recovery (initialize, notifications/initialized, the replay) and cancel
there: the caller, or the whole session. Afterwards nothing hangs, the model tracks nothing it
should not, and (when only the caller left) the session goes on serving.
"""

from __future__ import annotations

import anyio
import pytest

from mcp_session_recovery.model import EraMode, SessionClosed, State
from mcp_session_recovery.runtime import Backoff, EraCache, Session, SessionOptions

from .fake_server import ScriptedServer

pytestmark = pytest.mark.anyio

#: The scripted server never answers a DELETE the test does not answer: keep the close bound short.
OPTIONS = SessionOptions(mode=EraMode.LEGACY, backoff=Backoff(base=0.0), era_cache=EraCache(), close_timeout=0.05)
#: Exchanges of one recovery: initialize, notifications/initialized, the replayed call.
RECOVERY_EXCHANGES = 3


async def _answer_all(server: ScriptedServer, limit: int = 50) -> None:
    for _ in range(limit):
        await anyio.wait_all_tasks_blocked()
        if not server.pending:
            return
        server.answer(server.pending[0])
    raise AssertionError("the exchanges never stopped: a loop that does not settle")


async def _answer(server: ScriptedServer, count: int) -> None:
    for _ in range(count):
        await anyio.wait_all_tasks_blocked()
        assert server.pending, "the runtime stopped sending before recovery finished"
        server.answer(server.pending[0])
    await anyio.wait_all_tasks_blocked()


async def _call(session: Session, token: str) -> object:
    return await session.request("tools/call", {"name": "act", "arguments": {"token": token}})


@pytest.mark.parametrize("stop_at", range(RECOVERY_EXCHANGES + 1))
async def test_a_caller_cancelled_mid_recovery_leaves_the_session_usable(stop_at: int) -> None:
    server = ScriptedServer()
    with anyio.fail_after(10):
        async with Session(server, "http://127.0.0.1:9/mcp", OPTIONS) as session, anyio.create_task_group() as tg:
            tg.start_soon(_call, session, "warm")
            await _answer_all(server)
            server.restart()
            caller = anyio.CancelScope()
            tg.start_soon(_cancellable_call, session, caller)
            await anyio.wait_all_tasks_blocked()
            server.answer(server.pending[0])  # the 404 that starts recovery
            await _answer(server, stop_at)
            caller.cancel()
            await _answer_all(server)
            assert session.snapshot.requests == (), "the cancelled call is still tracked"
            assert session.state is State.READY
            assert await _settled_call(session, server, "after") == {"token": "after"}
            tg.start_soon(session.aclose)
            await _answer_all(server)
    assert server.violations == []
    assert server.initializes == 2, "recovery ran once, whatever the caller did"


async def _cancellable_call(session: Session, scope: anyio.CancelScope) -> None:
    with scope:
        await _call(session, "cancelled")


async def _settled_call(session: Session, server: ScriptedServer, token: str) -> object:
    result: list[object] = []

    async def call() -> None:
        result.append(await _call(session, token))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await _answer_all(server)
    return result[0]


@pytest.mark.parametrize("stop_at", range(RECOVERY_EXCHANGES + 1))
async def test_closing_mid_recovery_resolves_every_caller(stop_at: int) -> None:
    server = ScriptedServer()
    errors: list[BaseException] = []

    async def call(token: str) -> None:
        try:
            await _call(session, token)
        except SessionClosed as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        async with Session(server, "http://127.0.0.1:9/mcp", OPTIONS) as session, anyio.create_task_group() as tg:
            tg.start_soon(_call, session, "warm")
            await _answer_all(server)
            server.restart()
            for token in ("a", "b", "c"):
                tg.start_soon(call, token)
            await anyio.wait_all_tasks_blocked()
            server.answer(server.pending[0])  # one 404 starts recovery; the others follow
            await _answer(server, stop_at)
            server.closing = True
            tg.start_soon(session.aclose)
            await _answer_all(server)  # only a DELETE may still be sent
    assert len(errors) + len(server.executions) - 1 == 3, "every caller resolved exactly once"
    assert server.violations == []
    assert session.snapshot.requests == ()


@pytest.mark.parametrize("stop_at", range(RECOVERY_EXCHANGES + 1))
async def test_cancelling_the_owner_mid_recovery_exits_promptly(stop_at: int) -> None:
    server = ScriptedServer()
    with anyio.fail_after(10):
        with anyio.CancelScope() as owner:
            async with Session(server, "http://127.0.0.1:9/mcp", OPTIONS) as session, anyio.create_task_group() as tg:
                tg.start_soon(_call, session, "warm")
                await _answer_all(server)
                server.restart()
                tg.start_soon(_call, session, "lost")
                await anyio.wait_all_tasks_blocked()
                server.answer(server.pending[0])
                await _answer(server, stop_at)
                owner.cancel()
    assert session.state is State.CLOSED
    assert session.snapshot.requests == ()
    assert server.violations == []
