"""``connect()`` answers the SDK 2.3.0 server's requests through the SDK's callbacks, across restarts.

The server's tools (``tests/integration/servers/sdk_server.py``) elicit, sample, list roots and log
while they run, and say in their result what the client declared in its negotiation and what it
answered; the server process is SIGKILLed and started again between calls, so the declaration and
the answers are checked on a session the runtime negotiated on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import FileUrl

from mcp_session_recovery.adapters.mcp_sdk import RecoveringClient, connect
from mcp_session_recovery.model import Era
from mcp_session_recovery.runtime import Backoff, EraCache, SessionOptions

from .processes import ManagedServer, sdk_server_argv

pytestmark = pytest.mark.anyio

OPTIONS = SessionOptions(backoff=Backoff(base=0.05, cap=0.5), max_attempts=40, request_timeout=20, era_cache=EraCache())


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server() -> Iterator[ManagedServer]:
    with ManagedServer(sdk_server_argv()) as managed:
        yield managed


def _text(result: types.CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, types.TextContent)
    return content.text


async def _restart(server: ManagedServer) -> None:
    await anyio.to_thread.run_sync(server.restart)


class Asked:
    """Callbacks that answer, and remember what they were given."""

    def __init__(self) -> None:
        self.contexts: list[ClientRequestContext] = []
        self.elicited: list[types.ElicitRequestParams] = []
        self.sampled: list[types.CreateMessageRequestParams] = []
        self.logged: list[types.LoggingMessageNotificationParams] = []
        self.handled: list[types.ServerNotification | Exception] = []
        self.all_logged = anyio.Event()
        self.expected_logs = 0

    async def elicit(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.contexts.append(context)
        self.elicited.append(params)
        return types.ElicitResult(action="accept", content={"name": f"Ada {len(self.elicited)}"})

    async def sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.contexts.append(context)
        self.sampled.append(params)
        content = params.messages[0].content
        prompt = content.text if isinstance(content, types.TextContent) else "?"
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=prompt.upper()), model="echo-model"
        )

    async def roots(self, context: ClientRequestContext) -> types.ListRootsResult:
        self.contexts.append(context)
        return types.ListRootsResult(
            roots=[types.Root(uri=FileUrl("file:///work/one")), types.Root(uri=FileUrl("file:///work/two"))]
        )

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logged.append(params)

    async def handle(self, message: types.ServerNotification | Exception) -> None:
        self.handled.append(message)
        if sum(isinstance(m, types.LoggingMessageNotification) for m in self.handled) >= self.expected_logs:
            self.all_logged.set()

    def callbacks(self) -> dict[str, Any]:
        return {
            "elicitation_callback": self.elicit,
            "sampling_callback": self.sample,
            "list_roots_callback": self.roots,
            "logging_callback": self.log,
            "message_handler": self.handle,
        }


async def test_elicitation_is_answered_by_the_callback_also_after_a_sigkill_restart(server: ManagedServer) -> None:
    asked = Asked()
    async with connect(server.url, mode="legacy", options=OPTIONS, elicitation_callback=asked.elicit) as client:
        first = await client.call_tool("elicit_name", {"question": "Your name?"})
        assert _text(first) == "declared elicitation; accept: Ada 1"
        assert asked.elicited[0].message == "Your name?"
        # The context's ``session`` is the RecoveringClient (typed as the SDK's ClientSession).
        assert cast(object, asked.contexts[0].session) is client, "the context names the client it came through"
        await _restart(server)
        again = await client.call_tool("elicit_name", {"question": "Again?"})
        assert _text(again) == "declared elicitation; accept: Ada 2", "declared again on the new session"
        binding = client.session.binding
        assert binding is not None
        assert binding.generation == 2, "the answer went to the new session"
    stats: dict[str, Any] = await anyio.to_thread.run_sync(server.stats)
    assert stats["tool_executions"] == {"elicit_name": 1}, "the restarted server ran the second call once"
    assert stats["initializes"] == 1


async def test_sampling_and_roots_are_answered_by_the_callbacks_also_after_a_sigkill_restart(
    server: ManagedServer,
) -> None:
    asked = Asked()
    async with connect(server.url, mode="legacy", options=OPTIONS, **asked.callbacks()) as client:
        for round_ in range(2):
            if round_:
                await _restart(server)
            sampled = await client.call_tool("sample_text", {"prompt": "hello"})
            assert _text(sampled) == "declared sampling; echo-model: HELLO"
            rooted = await client.call_tool("client_roots", {})
            assert _text(rooted) == "declared roots; file:///work/one file:///work/two"
        assert len(asked.sampled) == 2
        assert asked.sampled[0].max_tokens == 32


async def test_a_roots_request_on_the_get_stream_is_answered_also_after_a_sigkill_restart(
    server: ManagedServer,
) -> None:
    asked = Asked()
    async with connect(server.url, mode="legacy", options=OPTIONS, list_roots_callback=asked.roots) as client:
        for round_ in range(2):
            if round_:
                await _restart(server)  # the GET stream is opened again for the new session
            await _wait_for_get_stream(client, server)
            rooted = await client.call_tool("client_roots", {"standalone": True})
            assert _text(rooted) == "declared roots; file:///work/one file:///work/two"
        assert len(asked.contexts) == 2


async def test_log_messages_reach_the_logging_callback_and_the_message_handler(server: ManagedServer) -> None:
    asked = Asked()
    asked.expected_logs = 3
    async with connect(server.url, mode="legacy", options=OPTIONS, **asked.callbacks()) as client:
        assert _text(await client.call_tool("log_lines", {"count": 3})) == "logged 3"
        with anyio.fail_after(10):
            await asked.all_logged.wait()
        assert [params.data for params in asked.logged] == ["line 0", "line 1", "line 2"]
        assert all(params.level == "info" for params in asked.logged)
        logs = [m for m in asked.handled if isinstance(m, types.LoggingMessageNotification)]
        assert [m.params.data for m in logs] == ["line 0", "line 1", "line 2"], "the handler gets them too, in order"


async def test_without_callbacks_the_server_gets_the_sdks_refusal_and_the_result_says_so(
    server: ManagedServer,
) -> None:
    async with connect(server.url, mode="legacy", options=OPTIONS) as client:
        assert _text(await client.call_tool("elicit_name", {"question": "?"})) == (
            "undeclared elicitation; error -32600: Elicitation not supported"
        )
        assert _text(await client.call_tool("sample_text", {"prompt": "?"})) == (
            "undeclared sampling; error -32600: Sampling not supported"
        )
        assert (
            _text(await client.call_tool("client_roots", {}))
            == "undeclared roots; error -32600: List roots not supported"
        )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_sdks_resolvers_are_answered_in_both_eras_also_after_a_sigkill_restart(
    server: ManagedServer, mode: str
) -> None:
    """Auto mode speaks the sessionless era to this server: it asks in an InputRequiredResult, and the
    call is sent again with the callbacks' answers; a legacy session gets the same questions mid-call."""
    asked = Asked()
    async with connect(server.url, mode=mode, options=OPTIONS, **asked.callbacks()) as client:
        for round_ in range(2):
            if round_:
                await _restart(server)
            result = await client.call_tool("survey", {})
            assert _text(result) == f"Ada {round_ + 1}; file:///work/one file:///work/two; echo-model: HELLO"
        binding = client.session.binding
        assert binding is not None
        assert binding.era is (Era.MODERN if mode == "auto" else Era.LEGACY)
        assert len(asked.elicited) == 2
        assert len(asked.sampled) == 2
        assert {type(context.request_id) for context in asked.contexts} == {str if mode == "auto" else int}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_without_callbacks_the_sdks_resolvers_refuse_for_want_of_the_capability(
    server: ManagedServer, mode: str
) -> None:
    async with connect(server.url, mode=mode, options=OPTIONS) as client:
        with pytest.raises(MCPError, match="did not declare the form elicitation capability"):
            await client.call_tool("survey", {})


async def test_a_callback_that_raises_gets_the_server_an_internal_error(server: ManagedServer) -> None:
    async def broken(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        raise RuntimeError("secret detail")

    async with connect(server.url, mode="legacy", options=OPTIONS, elicitation_callback=broken) as client:
        text = _text(await client.call_tool("elicit_name", {"question": "?"}))
        assert text == "declared elicitation; error -32603: the client's callback failed"
        assert "secret" not in text


async def test_a_callbacks_error_data_is_sent_as_the_error(server: ManagedServer) -> None:
    async def declining(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ErrorData:
        return types.ErrorData(code=-32042, message="not now")

    async with connect(server.url, mode="legacy", options=OPTIONS, elicitation_callback=declining) as client:
        assert (
            _text(await client.call_tool("elicit_name", {"question": "?"}))
            == "declared elicitation; error -32042: not now"
        )


async def _wait_for_get_stream(client: RecoveringClient, server: ManagedServer) -> None:
    """Until the server has the GET stream open: a request tied to no call, sent before, is lost.

    The SDK starts the stream's writer beside the 200 it answers; a ping's round trip after that
    200 was counted lets it run."""
    with anyio.fail_after(10):
        while True:  # bounded by the deadline above; each turn waits on the server
            stats: dict[str, Any] = await anyio.to_thread.run_sync(server.stats)
            await client.send_ping()
            if stats["get_streams_opened"] >= 1:
                return
