"""The SDK's client callbacks under ``connect()``: a server's requests answered, its notifications handed on.

A server may ask the client something while it serves (``elicitation/create``,
``sampling/createMessage``, ``roots/list``, ``ping``) and tell it things (``notifications/message``
and the rest). They reach the runtime on a POST's SSE stream or on the GET stream, and the runtime
hands each to one synchronous hook (``on_message``) from the task that read it. This module takes
them from there to the callbacks the caller gave ``connect()``, with the SDK's own signatures
(``mcp.client.session``: ``SamplingFnT``, ``ElicitationFnT``, ``ListRootsFnT``, ``LoggingFnT``,
``MessageHandlerFnT``), and does what the SDK's ``ClientSession`` does with them:

- each request is answered in a task of its own (a callback may wait for a person), once, under
  the session that asked (:meth:`~mcp_session_recovery.runtime.Session.relay_answer` with that
  session's generation: a session that was replaced meanwhile never gets it);
- a request whose callback was not given gets the SDK's default answer (``-32600``, "Elicitation not
  supported" and the like), an unknown method ``-32601`` "Method not found", ``ping`` an empty
  result; a callback's ``ErrorData`` is sent as the error; a callback that raises is logged and
  answered ``-32603`` (its message is not sent: it may hold what the server should not see);
- ``notifications/cancelled`` naming a request being answered cancels its callback (no answer is
  sent); other notifications go, in the order they came, to ``logging_callback`` (only
  ``notifications/message``) and then to ``message_handler``, as typed ``mcp_types`` models.

The sessionless era (2026-07-28) has no server-to-client requests: a server that needs input
answers ``tools/call``, ``prompts/get`` or ``resources/read`` with an ``InputRequiredResult``, and
the client asks the same callbacks and sends the request again with their answers
(:meth:`ServerMessages.complete_input`, what the SDK's ``Client`` does: at most
:data:`MAX_INPUT_ROUNDS` rounds, a round without questions after a short backoff).

The capabilities the callbacks imply are declared the way the SDK declares them
(:meth:`Callbacks.capabilities`): the runtime sends them in every ``initialize`` and every modern
request, re-negotiations included.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import anyio
import anyio.abc
import mcp_types as types
from mcp.client.session import (
    ClientRequestContext,
    ClientSession,
    ElicitationFnT,
    ListRootsFnT,
    LoggingFnT,
    MessageHandlerFnT,
    SamplingFnT,
)
from mcp.shared.exceptions import MCPError
from mcp_types import methods as sdk_methods
from pydantic import ValidationError

from mcp_session_recovery.model import McpSessionError
from mcp_session_recovery.runtime import Session

__all__ = ["MAX_INPUT_ROUNDS", "Callbacks", "InputRoundsExceeded", "ServerMessages"]

logger = logging.getLogger("mcp_session_recovery.adapters.mcp_sdk")

#: The version a message is read under when no session is live (the SDK's own fallback).
FALLBACK_VERSION = "2025-11-25"

#: The most rounds of input one request gets (the SDK's ``DEFAULT_INPUT_REQUIRED_MAX_ROUNDS``).
MAX_INPUT_ROUNDS = 10
#: The backoff before re-sending a request whose server asked nothing yet (the SDK's: 50 ms doubling
#: to 250 ms, reset by a round with questions).
_STATE_ONLY_DELAY = (0.05, 0.25)
#: The methods whose result may be an ``InputRequiredResult``.
INPUT_METHODS = frozenset({"tools/call", "prompts/get", "resources/read"})

#: What the SDK answers when a callback was not given (``mcp.client.session``'s defaults).
_NOT_SUPPORTED = {
    "sampling/createMessage": "Sampling not supported",
    "elicitation/create": "Elicitation not supported",
    "roots/list": "List roots not supported",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Callbacks:
    """The SDK's client callbacks given to ``connect()`` (``None``: not given)."""

    sampling: SamplingFnT | None = None
    elicitation: ElicitationFnT | None = None
    list_roots: ListRootsFnT | None = None
    logging: LoggingFnT | None = None
    message_handler: MessageHandlerFnT | None = None
    #: The sampling capability to declare (the SDK's ``sampling_capabilities``); ``{}`` when not given.
    sampling_capabilities: types.SamplingCapability | None = None

    @property
    def any(self) -> bool:
        """Whether any callback was given (then the server's stream must be listened to)."""
        given = (self.sampling, self.elicitation, self.list_roots, self.logging, self.message_handler)
        return any(callback is not None for callback in given)

    def capabilities(self) -> dict[str, Any]:
        """The client capabilities the callbacks imply, as the SDK declares them (JSON)."""
        declared = types.ClientCapabilities(
            sampling=(self.sampling_capabilities or types.SamplingCapability()) if self.sampling else None,
            elicitation=(
                types.ElicitationCapability(
                    form=types.FormElicitationCapability(), url=types.UrlElicitationCapability()
                )
                if self.elicitation
                else None
            ),
            roots=types.RootsCapability(list_changed=True) if self.list_roots else None,
        )
        return declared.model_dump(by_alias=True, mode="json", exclude_none=True)


class InputRoundsExceeded(McpSessionError):
    """The server asked for input more than :data:`MAX_INPUT_ROUNDS` times for one request."""

    def __init__(self, method: str, rounds: int) -> None:
        self.method = method
        self.rounds = rounds
        super().__init__(f"{method}: the server still asked for input after {rounds} rounds of answers")


def is_input_required(result: object) -> bool:
    """Whether a request's ``result`` is an ``InputRequiredResult`` (the server asks before it answers)."""
    return isinstance(result, Mapping) and result.get("resultType") == "input_required"


@dataclass(frozen=True, slots=True)
class _Received:
    """A server message, and the session it came under (its binding's generation and version)."""

    message: Mapping[str, Any]
    generation: int | None
    version: str


class ServerMessages:
    """A server's requests and notifications, from the runtime's hook to the callbacks.

    :meth:`receive` is the runtime's ``on_message`` hook; :meth:`serve` does the work, in the task
    group of ``connect()``, until cancelled. Use it as an async context manager around that task
    group: leaving closes its inbox, whether ``serve`` ever ran or not. ``client`` is what a
    callback's context names as its ``session`` (the object with the SDK's call surface).
    """

    def __init__(self, callbacks: Callbacks, session: Session, client: object = None) -> None:
        self._callbacks = callbacks
        self._session = session
        #: What a callback's context names as its ``session`` (set once the client exists).
        self.client = client
        self._send, self._inbox = anyio.create_memory_object_stream[_Received](max_buffer_size=math.inf)
        #: The requests being answered, by (generation, request id): cancelled by the server's notice.
        self._answering: dict[tuple[int | None, Any], anyio.CancelScope] = {}

    async def __aenter__(self) -> ServerMessages:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._send.close()
        self._inbox.close()

    def receive(self, message: Mapping[str, Any]) -> None:
        """Take one server message (called by the task that read it: never blocks)."""
        binding = self._session.binding
        if binding is None:
            received = _Received(message, None, FALLBACK_VERSION)
        else:
            received = _Received(message, binding.generation, binding.protocol_version)
        # Closed: the client is closing, and nobody answers any more.
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._send.send_nowait(received)

    async def serve(self) -> None:
        """Answer each request in a task of its own; hand notifications on in the order they came."""
        async with anyio.create_task_group() as answering:
            async for received in self._inbox:
                message = received.message
                if not isinstance(message.get("method"), str):
                    continue  # a response: the runtime matches those itself
                if "id" in message:
                    scope = anyio.CancelScope()
                    self._answering[(received.generation, message["id"])] = scope
                    answering.start_soon(self._answer, received, scope)
                else:
                    await self._notify(received)

    # -- a server's requests ---------------------------------------------------------------------

    async def _answer(self, received: _Received, scope: anyio.CancelScope) -> None:
        request_id = received.message["id"]
        try:
            with scope:
                response = await self._response(received)
        finally:
            self._answering.pop((received.generation, request_id), None)
        if scope.cancel_called:
            return  # the server cancelled it: a cancelled request is never answered
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, **response}).encode()
        await self._session.relay_answer(body, generation=received.generation)

    async def _response(self, received: _Received) -> dict[str, Any]:
        """The ``result`` or ``error`` member of the answer to one server request."""
        message, version = received.message, received.version
        method = message["method"]
        params = message.get("params")
        try:
            request = sdk_methods.parse_server_request(method, version, params if isinstance(params, Mapping) else None)
        except KeyError:
            return _error(types.ErrorData(code=types.METHOD_NOT_FOUND, message="Method not found", data=method))
        except ValidationError:
            return _error(types.ErrorData(code=types.INVALID_PARAMS, message="Invalid request parameters", data=""))
        if isinstance(request, types.PingRequest):
            return {"result": {}}
        context = ClientRequestContext(
            # The context's ``session`` is the RecoveringClient: the SDK's call surface, over a
            # session that recovers, not a ``ClientSession`` (there is none).
            session=cast(ClientSession, self.client),
            request_id=message["id"],
            meta=request.params.meta if request.params is not None else None,
        )
        try:
            answer = await self._dispatch(context, request)
        except MCPError as exc:
            return _error(exc.error)
        except Exception:
            logger.exception("%s: the callback for a server's %s raised", self._session.origin, method)
            return _error(types.ErrorData(code=types.INTERNAL_ERROR, message="the client's callback failed"))
        if isinstance(answer, types.ErrorData):
            return _error(answer)
        result = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
        try:
            sdk_methods.validate_client_result(method, version, result)
        except (KeyError, ValidationError):
            logger.error("%s: the callback for a server's %s returned an invalid result", self._session.origin, method)
            return _error(
                types.ErrorData(code=types.INTERNAL_ERROR, message="Client callback returned an invalid result")
            )
        return {"result": result}

    async def _dispatch(
        self, context: ClientRequestContext, request: types.Request[Any, Any]
    ) -> types.Result | types.ErrorData:
        callbacks = self._callbacks
        if isinstance(request, types.CreateMessageRequest) and callbacks.sampling is not None:
            return await callbacks.sampling(context, request.params)
        if isinstance(request, types.ElicitRequest) and callbacks.elicitation is not None:
            return await callbacks.elicitation(context, request.params)
        if isinstance(request, types.ListRootsRequest) and callbacks.list_roots is not None:
            return await callbacks.list_roots(context)
        missing = _NOT_SUPPORTED.get(request.method, "Method not found")
        code = types.INVALID_REQUEST if request.method in _NOT_SUPPORTED else types.METHOD_NOT_FOUND
        return types.ErrorData(code=code, message=missing)

    # -- the sessionless era: input asked for in a result -----------------------------------------

    async def complete_input(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        result: Mapping[str, Any],
        resend: Callable[[Mapping[str, Any]], Awaitable[Any]],
    ) -> Any:
        """The final result of ``method``, whose ``result`` asked for input: the callbacks answer each
        round's questions and ``resend`` sends the request again with the answers and the server's
        state, until the server answers. Raises the SDK's ``MCPError`` for a callback's
        ``ErrorData`` (no callback: the SDK's refusal), :class:`InputRoundsExceeded` after
        :data:`MAX_INPUT_ROUNDS` rounds, and what a callback raised."""
        delay, cap = _STATE_ONLY_DELAY
        for _ in range(MAX_INPUT_ROUNDS):
            asked = types.InputRequiredResult.model_validate(result)
            retried: dict[str, Any] = {key: value for key, value in (params or {}).items()}
            retried.pop("inputResponses", None)
            retried.pop("requestState", None)
            if asked.input_requests:
                delay = _STATE_ONLY_DELAY[0]
                retried["inputResponses"] = await self._answer_all(asked.input_requests)
            else:
                await anyio.sleep(delay)  # the server is not ready to ask: the SDK's backoff
                delay = min(delay * 2, cap)
            if asked.request_state is not None:
                retried["requestState"] = asked.request_state  # opaque: passed back byte for byte
            result = await resend(retried)
            if not is_input_required(result):
                return result
        raise InputRoundsExceeded(method, MAX_INPUT_ROUNDS)

    async def _answer_all(self, requests: Mapping[str, types.InputRequest]) -> dict[str, Any]:
        """Every question of one round answered at once; the first refusal or failure ends the round."""
        answers: dict[str, Any] = {}
        failures: list[BaseException] = []

        async def answer(key: str, request: types.InputRequest) -> None:
            context = ClientRequestContext(
                session=cast(ClientSession, self.client),
                request_id=key,
                meta=request.params.meta if request.params is not None else None,
            )
            try:
                response = await self._dispatch(context, request)
                if isinstance(response, types.ErrorData):
                    raise MCPError.from_error_data(response)
            except Exception as exc:  # one error out, never a group: the others are cancelled
                failures.append(exc)
                group.cancel_scope.cancel()
                return
            answers[key] = response.model_dump(by_alias=True, mode="json", exclude_none=True)

        async with anyio.create_task_group() as group:
            for key, request in requests.items():
                group.start_soon(answer, key, request)
        if failures:
            raise failures[0]
        return answers

    # -- a server's notifications ----------------------------------------------------------------

    async def _notify(self, received: _Received) -> None:
        message = received.message
        method = message["method"]
        params = message.get("params")
        try:
            notification = sdk_methods.parse_server_notification(
                method, received.version, params if isinstance(params, Mapping) else None
            )
        except KeyError:
            logger.debug("%s: dropped %r: not defined at %s", self._session.origin, method, received.version)
            return
        except ValidationError:
            logger.warning("%s: a server's %s did not validate", self._session.origin, method)
            return
        if isinstance(notification, types.CancelledNotification):
            scope = self._answering.get((received.generation, notification.params.request_id))
            if scope is not None:
                scope.cancel()
            return  # never surfaced, as in the SDK
        callbacks = self._callbacks
        try:
            if isinstance(notification, types.LoggingMessageNotification) and callbacks.logging is not None:
                await callbacks.logging(notification.params)
            if callbacks.message_handler is not None:
                await callbacks.message_handler(cast(types.ServerNotification, notification))
        except Exception:
            # As the SDK: a raising callback is logged, and never ends the client.
            logger.exception("%s: the callback for a server's %s raised", self._session.origin, method)


def _error(error: types.ErrorData) -> dict[str, Any]:
    return {"error": error.model_dump(by_alias=True, mode="json", exclude_none=True)}
