"""``connect()``: a client with the MCP SDK's call surface that survives what a transport cannot fix.

::

    async with connect("http://127.0.0.1:8000/mcp") as client:
        tools = await client.list_tools()
        result = await client.call_tool("add", {"a": 1, "b": 2})   # mcp_types.CallToolResult

The adapter owns negotiation: the runtime probes, negotiates and re-negotiates itself,
so a server that changes era in either direction on the same URL (a deploy, a rollback) is followed
without the caller noticing; a legacy session that is re-initialized gets its subscriptions and log
level back; when the server's terms change, the tool list is fetched again and ``on_tools_changed``
is told. A server's requests (elicitation, sampling, roots) and notifications reach the SDK's own
callbacks (:mod:`.sdk_callbacks`), whose capabilities are declared on every negotiation. Results
are the SDK's own ``mcp_types`` models and a server's JSON-RPC error is the SDK's
``MCPError``; what the library gives up on is one of its typed errors
(:class:`~mcp_session_recovery.model.McpSessionError`), never a dead client.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx2
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.client.auth import OAuthFlowError
from mcp.client.session import ElicitationFnT, ListRootsFnT, LoggingFnT, MessageHandlerFnT, SamplingFnT
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from mcp_session_recovery.model import (
    MODERN_PROTOCOL_VERSIONS,
    ClientIdentity,
    EraMode,
    McpSessionError,
    RemoteError,
)
from mcp_session_recovery.runtime import BindingChange, Session, SessionOptions, TransitionRecord
from mcp_session_recovery.runtime.groups import ungrouped
from mcp_session_recovery.runtime.observe import EventHook
from mcp_session_recovery.runtime.reading import MessageHandler

from .httpx_wire import HttpxWire
from .sdk_callbacks import INPUT_METHODS, Callbacks, ServerMessages, is_input_required

__all__ = ["RecoveringClient", "connect"]

_Model = TypeVar("_Model", bound=BaseModel)

logger = logging.getLogger("mcp_session_recovery.adapters.mcp_sdk")


def _era_mode(mode: str) -> EraMode:
    if mode == "auto":
        return EraMode.AUTO
    if mode == "legacy":
        return EraMode.LEGACY
    if mode in MODERN_PROTOCOL_VERSIONS:
        return EraMode.MODERN
    raise ValueError(f"mode must be 'auto', 'legacy' or one of {list(MODERN_PROTOCOL_VERSIONS)}, not {mode!r}")


class RecoveringClient:
    """The SDK's client calls, over a :class:`~mcp_session_recovery.runtime.Session` that recovers."""

    def __init__(
        self,
        session: Session,
        on_tools_changed: Callable[[types.ListToolsResult], Awaitable[None]] | None,
        server_messages: ServerMessages | None = None,
    ):
        self._session = session
        self._on_tools_changed = on_tools_changed
        #: Answers what a sessionless server asks for in a result (``None``: its result is an error).
        self._server_messages = server_messages
        #: The latest tool list (``None`` until one was fetched).
        self.tools: types.ListToolsResult | None = None

    @property
    def session(self) -> Session:
        """The runtime session underneath (state, binding, ``repr``)."""
        return self._session

    async def _call(self, method: str, params: Mapping[str, Any] | None, model: type[_Model], **kwargs: Any) -> _Model:
        result = await self._request(method, params, **kwargs)
        if method in INPUT_METHODS and self._server_messages is not None and is_input_required(result):
            # A sessionless server asks in its result; each round is a request of its own.
            async def resend(retried: Mapping[str, Any]) -> Any:
                return await self._request(method, retried, **kwargs)

            result = await self._server_messages.complete_input(method, params, result, resend)
        return model.model_validate(result)

    async def _request(self, method: str, params: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        try:
            return await self._session.request(method, params, **kwargs)
        except RemoteError as exc:
            raise MCPError(exc.code, exc.message, exc.data) from exc

    # -- the SDK's call surface ---------------------------------------------------------------------

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any] | None = None, *, read_timeout_seconds: float | None = None
    ) -> types.CallToolResult:
        """``tools/call``; the runtime feeds the tool's annotations from ``tools/list`` to the replay policy."""
        params = {"name": name, "arguments": dict(arguments or {})}
        return await self._call("tools/call", params, types.CallToolResult, timeout=read_timeout_seconds)

    async def list_tools(self, *, cursor: str | None = None) -> types.ListToolsResult:
        """``tools/list`` (kept in :attr:`tools`)."""
        self.tools = await self._call("tools/list", _page(cursor), types.ListToolsResult)
        return self.tools

    async def list_resources(self, *, cursor: str | None = None) -> types.ListResourcesResult:
        return await self._call("resources/list", _page(cursor), types.ListResourcesResult)

    async def list_resource_templates(self, *, cursor: str | None = None) -> types.ListResourceTemplatesResult:
        return await self._call("resources/templates/list", _page(cursor), types.ListResourceTemplatesResult)

    async def read_resource(self, uri: str) -> types.ReadResourceResult:
        return await self._call("resources/read", {"uri": str(uri)}, types.ReadResourceResult)

    async def subscribe_resource(self, uri: str) -> types.EmptyResult:
        """``resources/subscribe``; restored on every new legacy session until unsubscribed."""
        return await self._call("resources/subscribe", {"uri": str(uri)}, types.EmptyResult)

    async def unsubscribe_resource(self, uri: str) -> types.EmptyResult:
        return await self._call("resources/unsubscribe", {"uri": str(uri)}, types.EmptyResult)

    async def list_prompts(self, *, cursor: str | None = None) -> types.ListPromptsResult:
        return await self._call("prompts/list", _page(cursor), types.ListPromptsResult)

    async def get_prompt(self, name: str, arguments: Mapping[str, str] | None = None) -> types.GetPromptResult:
        return await self._call(
            "prompts/get", {"name": name, "arguments": dict(arguments or {})}, types.GetPromptResult
        )

    async def set_logging_level(self, level: str) -> types.EmptyResult:
        """``logging/setLevel``; restored on every new legacy session."""
        return await self._call("logging/setLevel", {"level": level}, types.EmptyResult)

    async def send_ping(self) -> types.EmptyResult:
        return await self._call("ping", None, types.EmptyResult)

    async def complete(self, ref: Mapping[str, Any], argument: Mapping[str, str]) -> types.CompleteResult:
        params = {"ref": dict(ref), "argument": dict(argument)}
        return await self._call("completion/complete", params, types.CompleteResult)

    # -- what the runtime tells us --------------------------------------------------------------------

    async def _refresh_tools(self) -> None:
        tools = await self.list_tools()
        if self._on_tools_changed is not None:
            await self._on_tools_changed(tools)


def _page(cursor: str | None) -> dict[str, Any] | None:
    return {"cursor": cursor} if cursor is not None else None


@asynccontextmanager
async def connect(
    url: str,
    *,
    mode: str = "auto",
    headers: Mapping[str, str] | None = None,
    auth: httpx2.Auth | None = None,
    options: SessionOptions | None = None,
    identity: ClientIdentity | None = None,
    on_event: EventHook | None = None,
    on_message: MessageHandler | None = None,
    on_tools_changed: Callable[[types.ListToolsResult], Awaitable[None]] | None = None,
    http_client: httpx2.AsyncClient | None = None,
    sampling_callback: SamplingFnT | None = None,
    elicitation_callback: ElicitationFnT | None = None,
    list_roots_callback: ListRootsFnT | None = None,
    logging_callback: LoggingFnT | None = None,
    message_handler: MessageHandlerFnT | None = None,
    sampling_capabilities: types.SamplingCapability | None = None,
) -> AsyncIterator[RecoveringClient]:
    """Connect to the MCP endpoint ``url`` and keep the connection alive until the block ends.

    ``mode``: ``"auto"`` (probe the sessionless era, fall back to the handshake, follow the server
    when it changes), ``"legacy"``, or a pinned modern version such as ``"2026-07-28"``.
    ``headers`` and ``auth`` go on every request (or pass your own ``http_client``). ``options``
    tunes the runtime (timeouts, attempts, backoff, replay ``policy``); ``on_event`` sees every
    state change, ``on_message`` every server notification, ``on_tools_changed`` every tool list
    fetched again after the server's terms changed. Connects eagerly: errors surface here. An
    ``auth`` flow that fails (the SDK's ``OAuthClientProvider`` refused a registration or a token)
    raises ``AuthFlowFailed`` (a ``CredentialsRejected``), the flow's exception its ``__cause__``.

    The SDK's callbacks, with its signatures (``mcp.client.session``): ``sampling_callback``,
    ``elicitation_callback`` and ``list_roots_callback`` answer the server's requests, on a call's
    stream or on the server's own stream, once, under the session that asked; one not given gets
    the SDK's default error (the server's own stream, which carries requests tied to no call, is
    opened when a callback or ``on_message`` is given). ``logging_callback`` gets
    ``notifications/message``, ``message_handler`` every server notification (typed). Their
    context's ``session`` is the ``RecoveringClient``. The capabilities they imply (``sampling``,
    as ``sampling_capabilities`` says; ``elicitation`` form and url; ``roots`` with ``listChanged``)
    are declared, beside those of ``identity``, in every negotiation, re-negotiations included.
    See :mod:`.sdk_callbacks`.
    """
    base = options or SessionOptions()
    callbacks = Callbacks(
        sampling=sampling_callback,
        elicitation=elicitation_callback,
        list_roots=list_roots_callback,
        logging=logging_callback,
        message_handler=message_handler,
        sampling_capabilities=sampling_capabilities,
    )
    declared = identity or base.identity
    # What the caller's identity declares itself wins over what the callbacks imply.
    declared = dataclasses.replace(declared, capabilities={**callbacks.capabilities(), **declared.capabilities})
    session_options = dataclasses.replace(
        base, mode=_era_mode(mode), identity=declared, listen=on_message is not None or callbacks.any
    )
    changes, changed = anyio.create_memory_object_stream[BindingChange](max_buffer_size=math.inf)

    def observe(record: TransitionRecord) -> None:
        if record.binding_change is not None:
            changes.send_nowait(record.binding_change)
        if on_event is not None:
            on_event(record)

    server_messages: ServerMessages | None = None

    def receive(message: Mapping[str, Any]) -> None:
        if on_message is not None:
            on_message(message)
        if server_messages is not None:  # set before the session can read anything
            server_messages.receive(message)

    with ungrouped():
        async with _http(http_client, headers, auth) as http:
            # The SDK's OAuth flow failing is a refusal of credentials (AuthFlowFailed), not a bug.
            wire = HttpxWire(http, url, auth_failures=(OAuthFlowError,))
            session = Session(wire, url, session_options, on_event=observe, on_message=receive)
            # Always: a server's request is answered even without its callback (the SDK's refusal).
            server_messages = ServerMessages(callbacks, session)
            # The watchers' task group ends before the streams they read are closed.
            async with session, changes, changed, server_messages, anyio.create_task_group() as watchers:
                client = RecoveringClient(session, on_tools_changed, server_messages)
                server_messages.client = client
                watchers.start_soon(_refresh_on_change, client, changed)
                watchers.start_soon(server_messages.serve)
                try:
                    await session.connect()
                    yield client
                finally:
                    watchers.cancel_scope.cancel()


async def _refresh_on_change(client: RecoveringClient, changed: MemoryObjectReceiveStream[BindingChange]) -> None:
    """Fetch the tool list again whenever a re-negotiation changed the server's terms."""
    async for _ in changed:
        try:
            await client._refresh_tools()
        except (McpSessionError, MCPError) as exc:
            logger.warning("%s: refreshing the tool list failed: %s", client.session.origin, exc)


@asynccontextmanager
async def _http(
    given: httpx2.AsyncClient | None, headers: Mapping[str, str] | None, auth: httpx2.Auth | None
) -> AsyncIterator[httpx2.AsyncClient]:
    if given is not None:
        yield given
        return
    async with httpx2.AsyncClient(headers=dict(headers or {}), auth=auth, timeout=httpx2.Timeout(30, read=300)) as http:
        yield http
