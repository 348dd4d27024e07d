"""The SDK's callbacks under ``connect()``: :mod:`mcp_session_recovery.adapters.sdk_callbacks` alone,
over a stand-in for the session (what it sends, and under which generation), and the runtime's
``relay_answer`` under a session that was replaced."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError

from mcp_session_recovery.adapters.sdk_callbacks import (
    MAX_INPUT_ROUNDS,
    Callbacks,
    InputRoundsExceeded,
    ServerMessages,
)
from mcp_session_recovery.model import Binding, Era, McpSessionError, Outgoing, SessionId
from mcp_session_recovery.runtime import SessionOptions
from mcp_session_recovery.runtime.groups import ungrouped
from mcp_session_recovery.runtime.passthrough import relay_answer

pytestmark = pytest.mark.anyio

LEGACY = "2025-11-25"


def _binding(generation: int) -> Binding:
    return Binding(
        era=Era.LEGACY, protocol_version=LEGACY, generation=generation, session_id=SessionId(f"s{generation}")
    )


@dataclass
class StandInSession:
    """What :class:`ServerMessages` uses of a ``Session``: its binding, origin and ``relay_answer``."""

    binding: Binding | None = field(default_factory=lambda: _binding(1))
    origin: str = "http://127.0.0.1:9"
    answers: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)
    answered: anyio.Event = field(default_factory=anyio.Event)

    async def relay_answer(self, body: bytes, *, generation: int | None = None) -> bool:
        self.answers.append((json.loads(body), generation))
        self.answered.set()
        return True

    async def next_answer(self) -> tuple[dict[str, Any], int | None]:
        with anyio.fail_after(5):
            await self.answered.wait()
        self.answered = anyio.Event()
        return self.answers[-1]


def _messages(callbacks: Callbacks, session: StandInSession, client: object = None) -> ServerMessages:
    return ServerMessages(callbacks, session, client)  # type: ignore[arg-type]


def _request(request_id: Any, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


ELICIT = {"message": "Name?", "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}


def test_capabilities_are_the_sdks_for_the_callbacks_given() -> None:
    async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[])

    async def sample(context: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.ErrorData:
        return types.ErrorData(code=1, message="no")

    async def log(params: types.LoggingMessageNotificationParams) -> None:
        return None

    assert Callbacks().capabilities() == {}
    assert not Callbacks().any
    assert Callbacks(logging=log).capabilities() == {}, "logging implies no client capability"
    assert Callbacks(logging=log).any
    assert Callbacks(elicitation=elicit, list_roots=roots, sampling=sample).capabilities() == {
        "sampling": {},
        "elicitation": {"form": {}, "url": {}},
        "roots": {"listChanged": True},
    }
    with_context = Callbacks(
        sampling=sample, sampling_capabilities=types.SamplingCapability(context=types.SamplingContextCapability())
    )
    assert with_context.capabilities() == {"sampling": {"context": {}}}


async def test_a_request_is_answered_under_the_generation_it_came_under() -> None:
    session = StandInSession()
    asked, release = anyio.Event(), anyio.Event()
    client = object()
    contexts: list[ClientRequestContext] = []

    async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        contexts.append(context)
        asked.set()
        await release.wait()
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    messages = _messages(Callbacks(elicitation=elicit), session, client)
    async with messages, anyio.create_task_group() as group:
        group.start_soon(messages.serve)
        messages.receive(_request(7, "elicitation/create", {**ELICIT, "_meta": {"progressToken": "p"}}))
        with anyio.fail_after(5):
            await asked.wait()
        session.binding = _binding(2)  # the session was replaced while the person thought
        release.set()
        answer, generation = await session.next_answer()
        group.cancel_scope.cancel()
    assert answer == {"jsonrpc": "2.0", "id": 7, "result": {"action": "accept", "content": {"name": "Ada"}}}
    assert generation == 1, "the answer names the session that asked (the runtime drops it for another)"
    assert contexts[0].request_id == 7
    assert contexts[0].session is client
    assert contexts[0].meta is not None
    assert contexts[0].meta.get("progress_token") == "p"


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        ("elicitation/create", ELICIT, {"code": -32600, "message": "Elicitation not supported"}),
        ("roots/list", None, {"code": -32600, "message": "List roots not supported"}),
        ("tools/call", {"name": "x"}, {"code": -32601, "message": "Method not found", "data": "tools/call"}),
        ("elicitation/create", {"message": 3}, {"code": -32602, "message": "Invalid request parameters", "data": ""}),
    ],
)
async def test_what_has_no_callback_gets_the_sdks_error(
    method: str, params: Mapping[str, Any] | None, error: dict[str, Any]
) -> None:
    session = StandInSession()
    messages = _messages(Callbacks(), session)
    async with messages, anyio.create_task_group() as group:
        group.start_soon(messages.serve)
        messages.receive(_request("a", method, params))
        answer, _ = await session.next_answer()
        group.cancel_scope.cancel()
    assert answer == {"jsonrpc": "2.0", "id": "a", "error": error}


async def test_ping_is_answered_and_a_bad_result_is_an_internal_error() -> None:
    session = StandInSession()

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ElicitResult(action="accept")  # type: ignore[return-value]

    messages = _messages(Callbacks(list_roots=roots), session)
    async with messages, anyio.create_task_group() as group:
        group.start_soon(messages.serve)
        messages.receive(_request(1, "ping"))
        assert (await session.next_answer())[0] == {"jsonrpc": "2.0", "id": 1, "result": {}}
        messages.receive(_request(2, "roots/list"))
        answer, _ = await session.next_answer()
        group.cancel_scope.cancel()
    assert answer["error"]["code"] == types.INTERNAL_ERROR


async def test_the_servers_cancellation_cancels_the_callback_and_nothing_is_answered() -> None:
    session = StandInSession()
    started, cancelled = anyio.Event(), anyio.Event()

    async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    messages = _messages(Callbacks(elicitation=elicit), session)
    async with messages, anyio.create_task_group() as group:
        group.start_soon(messages.serve)
        messages.receive(_request(5, "elicitation/create", ELICIT))
        with anyio.fail_after(5):
            await started.wait()
        messages.receive({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}})
        with anyio.fail_after(5):
            await cancelled.wait()
        messages.receive(_request(6, "ping"))  # answered after: the dispatcher is alive, 5 got nothing
        answer, _ = await session.next_answer()
        group.cancel_scope.cancel()
    assert answer["id"] == 6
    assert [a["id"] for a, _ in session.answers] == [6]


async def test_notifications_reach_the_logging_callback_then_the_handler_in_order() -> None:
    session = StandInSession()
    seen: list[str] = []
    done = anyio.Event()

    async def log(params: types.LoggingMessageNotificationParams) -> None:
        seen.append(f"log {params.data}")
        if params.data == "boom":
            raise RuntimeError("a callback's own bug")

    async def handle(message: types.ServerNotification | Exception) -> None:
        assert not isinstance(message, Exception)
        seen.append(f"handler {message.method}")
        if isinstance(message, types.ToolListChangedNotification):
            done.set()

    messages = _messages(Callbacks(logging=log, message_handler=handle), session)

    def note(method: str, params: Mapping[str, Any] | None = None) -> None:
        messages.receive({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    async with messages, anyio.create_task_group() as group:
        group.start_soon(messages.serve)
        note("notifications/message", {"level": "info", "data": "one"})
        note("notifications/message", {"level": "info", "data": "boom"})
        note("notifications/unknown/thing")
        note("notifications/message", {"level": "not-a-level", "data": "x"})
        note("notifications/tools/list_changed")
        with anyio.fail_after(5):
            await done.wait()
        group.cancel_scope.cancel()
    assert seen == [
        "log one",
        "handler notifications/message",
        "log boom",  # raised: logged, the handler skipped for it (as the SDK), the rest go on
        "handler notifications/tools/list_changed",
    ]
    assert session.answers == [], "notifications are never answered"


# -- the runtime's relay, under the session that asked -------------------------------------------


class _Response:
    status = 202
    headers: Mapping[str, str] = {}

    async def iter_bytes(self) -> AsyncGenerator[bytes, None]:
        yield b""

    async def aclose(self) -> None:
        return None


class RecordingWire:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, outgoing: Outgoing) -> _Response:
        self.sent.append(outgoing)
        return _Response()


def _core(binding: Binding | None, wire: RecordingWire) -> Any:
    return SimpleNamespace(
        snapshot=SimpleNamespace(live_binding=binding),
        wire=wire,
        url="http://127.0.0.1:9/mcp",
        origin="http://127.0.0.1:9",
        options=SessionOptions(),
    )


async def test_relay_answer_sends_once_under_the_session_that_asked_and_drops_it_for_another() -> None:
    wire = RecordingWire()
    body = b'{"jsonrpc":"2.0","id":1,"result":{}}'
    assert await relay_answer(_core(_binding(2), wire), body, generation=2)
    assert [o.headers.get("mcp-session-id") for o in wire.sent] == ["s2"]
    assert wire.sent[0].body == body
    assert not await relay_answer(_core(_binding(3), wire), body, generation=2), "the new session never asked"
    assert not await relay_answer(_core(None, wire), body, generation=2)
    assert len(wire.sent) == 1
    assert await relay_answer(_core(_binding(3), wire), body), "without a generation: the live session"
    assert len(wire.sent) == 2


@asynccontextmanager
async def _served(callbacks: Callbacks, session: StandInSession) -> AsyncIterator[ServerMessages]:
    """A dispatcher with its work running (its inbox is closed when the block ends)."""
    messages = _messages(callbacks, session)
    with ungrouped():
        async with messages, anyio.create_task_group() as group:
            group.start_soon(messages.serve)
            try:
                yield messages
            finally:
                group.cancel_scope.cancel()


# -- the sessionless era: questions in a result, answered by sending the request again -------------


def _input_required(requests: Mapping[str, Any] | None, state: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"resultType": "input_required"}
    if requests is not None:
        result["inputRequests"] = requests
    if state is not None:
        result["requestState"] = state
    return result


ELICIT_REQUEST = {"method": "elicitation/create", "params": {"mode": "form", **ELICIT}}


async def test_input_asked_in_a_result_is_answered_and_the_request_sent_again() -> None:
    session = StandInSession()

    async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": str(context.request_id)})

    async def roots(context: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[])

    sent: list[Mapping[str, Any]] = []
    results = [
        _input_required(None, "waiting"),  # nothing to ask yet: sent again after a backoff
        {"content": [], "resultType": "complete"},
    ]

    async def resend(params: Mapping[str, Any]) -> Any:
        sent.append(params)
        return results.pop(0)

    first = _input_required({"who": ELICIT_REQUEST, "where": {"method": "roots/list"}}, "s1")
    params = {"name": "survey", "arguments": {"a": 1}, "inputResponses": {"old": {}}}
    async with _served(Callbacks(elicitation=elicit, list_roots=roots), session) as messages:
        final = await messages.complete_input("tools/call", params, first, resend)
    assert final == {"content": [], "resultType": "complete"}
    assert sent[0] == {
        "name": "survey",
        "arguments": {"a": 1},
        "inputResponses": {"who": {"action": "accept", "content": {"name": "who"}}, "where": {"roots": []}},
        "requestState": "s1",
    }
    assert sent[1] == {"name": "survey", "arguments": {"a": 1}, "requestState": "waiting"}, "no answers: none sent"
    assert session.answers == [], "nothing goes through relay_answer in the sessionless era"


async def test_input_rounds_are_bounded() -> None:
    resends = 0

    async def resend(params: Mapping[str, Any]) -> Any:
        nonlocal resends
        resends += 1
        return _input_required({"r": {"method": "roots/list"}}, None)

    with pytest.raises(InputRoundsExceeded, match="after 10 rounds") as raised:
        async with _served(Callbacks(list_roots=_no_roots), StandInSession()) as messages:
            await messages.complete_input(
                "prompts/get", {"name": "p"}, _input_required({"r": {"method": "roots/list"}}, None), resend
            )
    assert isinstance(raised.value, McpSessionError)
    assert resends == MAX_INPUT_ROUNDS


async def _no_roots(context: ClientRequestContext) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[])


async def test_a_refused_or_failed_question_ends_the_call_with_one_error() -> None:
    async def refuse(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ErrorData:
        return types.ErrorData(code=-32042, message="not now")

    async def fail(context: ClientRequestContext) -> types.ListRootsResult:
        raise LookupError("the callback's own bug")

    async def resend(params: Mapping[str, Any]) -> Any:
        raise AssertionError("nothing is sent after a refusal")

    with pytest.raises(MCPError, match="not now"):
        async with _served(Callbacks(elicitation=refuse, list_roots=_no_roots), StandInSession()) as refused:
            await refused.complete_input("tools/call", {}, _input_required({"who": ELICIT_REQUEST}, None), resend)
    with pytest.raises(LookupError):  # the callback's own exception, not a group
        async with _served(Callbacks(list_roots=fail), StandInSession()) as failing:
            await failing.complete_input(
                "tools/call", {}, _input_required({"r": {"method": "roots/list"}}, None), resend
            )
    with pytest.raises(MCPError, match="Elicitation not supported"):
        async with _served(Callbacks(), StandInSession()) as without:
            await without.complete_input("tools/call", {}, _input_required({"who": ELICIT_REQUEST}, None), resend)
