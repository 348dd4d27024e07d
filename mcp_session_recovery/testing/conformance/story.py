"""Run one story: a fresh client against the shared test server, step by step, gathering evidence.

Faults are applied to the in-process server between calls (``restart``, ``expire_sessions``,
``outage``, ``configure``), so each takes effect before the next request and no step waits on a
guess: a gateway window stays open until the client has knocked on it, then for the window's
length (the fault itself), and a call is given its deadline, never a sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import anyio

from mcp_session_recovery.testing.behaviour import Behaviour, CannedAnswer, ServedEra
from mcp_session_recovery.testing.server import TestServer

from .evidence import RECORDED_REQUESTS, CallRecord, Ending, Ledger
from .options import CheckOptions
from .steps import Call, CutStream, Expire, GatewayWindow, Outage, Restart, Step, Story, SwitchEra

__all__ = ["OpenClient", "ToolCaller", "run_story"]

#: What a gateway answers while the server behind it is down.
GATEWAY_ANSWERS = {
    502: CannedAnswer(502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    404: CannedAnswer(404, "text/plain; charset=utf-8", "404 page not found"),
}
#: How far into an outage the call is made (seconds).
INTO_OUTAGE = 0.05
#: How long a gateway window waits for the client's first knock before it starts counting.
KNOCK_TIMEOUT = 10.0


class ToolCaller(Protocol):
    """What ``open_client`` yields: anything with an async ``call_tool(name, arguments)``."""

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any: ...


#: ``open_client(url)``: an async context manager yielding a :class:`ToolCaller` connected to ``url``.
OpenClient = Callable[[str], AbstractAsyncContextManager[ToolCaller]]


def behaviour_for(options: CheckOptions, story: Story) -> Behaviour:
    """The server's configuration when ``story`` starts."""
    return Behaviour(eras=options.served_eras, response_style=story.response_style, record_requests=RECORDED_REQUESTS)


async def run_story(server: TestServer, open_client: OpenClient, story: Story, options: CheckOptions) -> Ledger:
    """Live ``story`` through with a client of ``open_client``; the evidence, ready to judge."""
    start = behaviour_for(options, story)
    server.configure(
        eras=start.eras,
        stale_style=start.stale_style,
        response_style=start.response_style,
        cut_tool_responses=0,
        answer_status_for_all=None,
        answer_rules=(),
        record_requests=start.record_requests,
    )
    server.restart()  # sessions and counters of the last story gone
    ledger = Ledger(server)
    runner = _Runner(server, ledger, options)
    try:
        with anyio.fail_after(options.open_timeout + options.call_timeout * (len(story.steps) + 2)):
            async with open_client(server.url) as client:
                for index, step in enumerate(story.all_steps()):
                    ledger.steps_run += 1
                    await runner.run(index, step, client)
                    ledger.call_steps_ended.append(ledger.position())  # every step makes calls
    except TimeoutError:
        ledger.client_failure = "the client's async with did not finish within the story's deadline"
    except Exception as error:  # the client died: the story's end, and the verdict's evidence
        ledger.client_failure = ledger.scrub(_describe(error))
    finally:
        with anyio.CancelScope(shield=True):
            await runner.settle()
    ledger.finish()
    return ledger


class _Runner:
    def __init__(self, server: TestServer, ledger: Ledger, options: CheckOptions) -> None:
        self.server = server
        self.ledger = ledger
        self.options = options
        self.back: anyio.Event | None = None
        self.next_sum = 0

    async def run(self, index: int, step: Step, client: ToolCaller) -> None:
        server, ledger = self.server, self.ledger
        if isinstance(step, Restart):
            server.configure(stale_style=step.style)
            self.restart("restarts")
        elif isinstance(step, Expire):
            if ServedEra.LEGACY in server.behaviour.eras:
                ledger.sessions_die()
            server.expire_sessions()
            ledger.count("expiries")
        elif isinstance(step, SwitchEra):
            self.restart("era_switches")  # first: the sessions of the era being left die
            server.configure(eras=frozenset({step.to}))
        elif isinstance(step, Outage):
            self.restart("outages")
            self.back = await server.outage(step.seconds)
            # The call comes a moment into the outage, as it would after a real crash: made in the
            # same instant, in-process, the client could not yet have seen its pooled connections
            # close, and would write into one (a race a real deployment almost never meets).
            await anyio.sleep(INTO_OUTAGE)
            await self.call(index, "bump", client, False)
            return
        elif isinstance(step, GatewayWindow):
            await self.window(index, step, client)
            return
        elif isinstance(step, CutStream):
            server.configure(cut_tool_responses=1)
            ledger.count("cut_streams")
            await self.call(index, step.tool, client, True)
            server.configure(cut_tool_responses=0)  # a client that never called leaves no cut behind
            return
        await self.calls(index, step.tool if isinstance(step, Call) else "bump", step.callers, client)

    async def calls(self, index: int, tool: str, callers: int, client: ToolCaller) -> None:
        """``callers`` calls of ``tool`` at once."""
        self.ledger.max_callers = max(self.ledger.max_callers, callers)
        async with anyio.create_task_group() as group:
            for _ in range(callers):
                group.start_soon(self.call, index, tool, client, False)

    def restart(self, fault: str) -> None:
        """A new server process: the sessions in use die, the old counters are kept.

        Open connections stay up, as a gateway's to the client do while the process behind it
        restarts; an outage closes them (and waits until they are closed, as a killed process's
        are), so no request is ever written into a connection that is going away.
        """
        if ServedEra.LEGACY in self.server.behaviour.eras:
            self.ledger.sessions_die()
        self.ledger.close_part()
        self.server.restart()
        self.ledger.count(fault)

    async def window(self, index: int, step: GatewayWindow, client: ToolCaller) -> None:
        server, ledger = self.server, self.ledger
        self.restart("gateway_windows")
        first = ledger.position()
        server.configure(answer_status_for_all=GATEWAY_ANSWERS[step.status])
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self.call, index, "bump", client, False)
                try:
                    await server.wait_until(lambda stats: stats.canned_answers >= 1, timeout=KNOCK_TIMEOUT)
                except TimeoutError:
                    pass  # the client never knocked (it failed at once): the call's record says so
                else:
                    await anyio.sleep(step.seconds)  # the window's length is the fault, not a wait
                    ledger.window_seconds += step.seconds
                self.close_window(first)
        finally:
            self.close_window(first)  # also when the client died mid-window

    def close_window(self, first: int) -> None:
        """The gateway serves again; requests logged since ``first`` were answered by it."""
        if self.server.behaviour.answer_status_for_all is not None:
            self.ledger.windows.append((first, self.ledger.position()))
            self.server.configure(answer_status_for_all=None)

    async def call(self, index: int, tool: str, client: ToolCaller, in_doubt: bool) -> None:
        arguments: dict[str, Any] = {}
        expected = None
        if tool == "add":
            self.next_sum += 1
            arguments = {"a": self.next_sum, "b": 1000}
            expected = str(self.next_sum + 1000)
        record = CallRecord(index, tool, expected, in_doubt)
        self.ledger.calls.append(record)
        result: Any = None
        with anyio.move_on_after(self.options.call_timeout) as deadline:
            try:
                result = await client.call_tool(tool, arguments)
            except Exception as error:
                record.ending = Ending.EXCEPTION
                record.detail = self.ledger.scrub(_describe(error))
                return
        if deadline.cancelled_caught:
            record.ending = Ending.HANG
            return
        record.ending = Ending.RESULT
        record.text = text_of(result)
        record.detail = "" if record.text is None else self.ledger.scrub(record.text[:200])

    async def settle(self) -> None:
        """Leave the server listening with no window open, whatever happened to the client."""
        if self.back is not None:
            with anyio.move_on_after(self.options.window_seconds + 5):
                await self.back.wait()
        if self.server.behaviour.answer_status_for_all is not None:
            self.server.configure(answer_status_for_all=None)


def text_of(result: object) -> str | None:
    """The text of a tool result in the shapes clients return: an SDK ``CallToolResult``, a dict, a string."""
    if isinstance(result, str):
        return result
    content = result.get("content") if isinstance(result, dict) else getattr(result, "content", None)
    if not isinstance(content, list | tuple) or not content:
        return None
    first = content[0]
    text = first.get("text") if isinstance(first, dict) else getattr(first, "text", None)
    return text if isinstance(text, str) else None


def _describe(error: BaseException) -> str:
    """``Type: message`` of an error, and of the first leaf of an exception group."""
    for _ in range(10):  # bounded: groups nest
        if isinstance(error, BaseExceptionGroup) and error.exceptions:
            error = error.exceptions[0]
        else:
            break
    message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= 300 else text[:300] + "…"
