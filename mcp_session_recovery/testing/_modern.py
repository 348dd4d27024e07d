"""The sessionless era (2026-07-28): every POST stands alone and says who it is in ``_meta``.

The checks run in a fixed order (parse, ``initialize`` refused as an unsupported version,
``_meta`` keys, version, headers, method) so a client test gets one predictable error per
mistake. Any ``mcp-session-id`` header is ignored, as the SDK's modern handler does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._faults import tool_answer
from ._methods import LEGACY_ONLY_METHODS, Host, serve_method
from ._wire import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    UNSUPPORTED_VERSION,
    Answer,
    Fixed,
    HttpRequest,
    Message,
    Reply,
    RpcError,
    error_body,
    fixed_error,
    parse_message,
    result_body,
)
from .behaviour import MODERN_PROTOCOL_VERSION, SERVER_NAME

__all__ = ["CAPABILITIES_KEY", "VERSION_KEY", "handle_modern", "unsupported_version"]

#: The ``params._meta`` keys every modern request must carry.
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"

#: Methods whose results carry ``ttlMs`` and ``cacheScope`` in the 2026-07-28 era.
_CACHEABLE = frozenset({"tools/list", "resources/list", "resources/templates/list", "prompts/list", "resources/read"})
#: Methods whose ``mcp-name`` header must repeat a parameter, and which parameter.
_NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


async def handle_modern(host: Host, request: HttpRequest) -> Reply:
    """Answer one request the way a 2026-07-28 server does."""
    if request.method != "POST":
        return Fixed(405, (("allow", "POST"), ("content-type", "application/json")), _not_allowed())
    try:
        message = parse_message(request.body)
    except RpcError as error:
        return fixed_error(error.status, error.code, error.message)
    if message.method is not None:
        host.state.requests_by_method[message.method] += 1
    if message.kind != "request" or message.method is None:
        return Fixed(202, ())
    refusal = _check(request, message)
    if refusal is not None:
        return refusal
    style = host.behaviour.response_style
    if message.method == "server/discover":
        host.state.discovers += 1
        return Answer(result_body(message.id, _discover_result()), style)
    if message.method in LEGACY_ONLY_METHODS:
        return fixed_error(404, METHOD_NOT_FOUND, "Method not found", request_id=message.id)
    assert message.id is not None  # parse_message refuses a request with a null id
    outcome: object | RpcError
    try:
        outcome = await serve_method(host, message.method, message.params, None)
    except RpcError as error:
        if error.code == METHOD_NOT_FOUND:
            return fixed_error(404, METHOD_NOT_FOUND, error.message, request_id=message.id, data=error.data)
        outcome = error
    if isinstance(outcome, dict):
        # The 2026-07-28 schema requires ``resultType`` on every result, and a cache lifetime on
        # the cacheable ones; SDK 2.3.0 clients refuse results without them.
        outcome = {**outcome, "resultType": "complete"}
        if message.method in _CACHEABLE:
            outcome = {"ttlMs": 0, "cacheScope": "private", **outcome}
    if message.method == "tools/call":
        return tool_answer(host, message.id, outcome)
    if isinstance(outcome, RpcError):
        return Answer(error_body(message.id, outcome.code, outcome.message, outcome.data), style)
    return Answer(result_body(message.id, outcome), style)


def unsupported_version(request_id: str | int | None, requested: object) -> Fixed:
    """The -32022 answer: the client's version is not one this server speaks."""
    data = {"supported": [MODERN_PROTOCOL_VERSION], "requested": requested}
    return fixed_error(400, UNSUPPORTED_VERSION, "Unsupported protocol version", request_id=request_id, data=data)


def _check(request: HttpRequest, message: Message) -> Fixed | None:
    if message.method == "initialize":
        return unsupported_version(message.id, message.params.get("protocolVersion"))
    meta = message.params.get("_meta")
    meta = meta if isinstance(meta, Mapping) else {}
    missing = [key for key in (VERSION_KEY, CAPABILITIES_KEY) if key not in meta]
    if missing:
        text = f"Invalid params: params._meta must carry {' and '.join(missing)}"
        return fixed_error(400, INVALID_PARAMS, text, request_id=message.id, data={"missing": missing})
    version = meta[VERSION_KEY]
    if version != MODERN_PROTOCOL_VERSION:
        return unsupported_version(message.id, version)
    mismatch = _header_mismatch(request, message, version)
    if mismatch is not None:
        return fixed_error(400, HEADER_MISMATCH, "header mismatch", request_id=message.id, data=mismatch)
    return None


def _header_mismatch(request: HttpRequest, message: Message, version: str) -> dict[str, Any] | None:
    expected: list[tuple[str, object]] = [("mcp-protocol-version", version), ("mcp-method", message.method)]
    named = _NAMED.get(message.method or "")
    if named is not None and isinstance(message.params.get(named), str):
        expected.append(("mcp-name", message.params[named]))
    for header, value in expected:
        received = request.header(header)
        if received != value:
            return {"header": header, "expected": value, "received": received}
    return None


def _discover_result() -> dict[str, Any]:
    return {
        "supportedVersions": [MODERN_PROTOCOL_VERSION],
        "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": SERVER_NAME, "version": "1"}},
    }


def _not_allowed() -> bytes:
    return error_body(None, INVALID_REQUEST, "Method Not Allowed: the 2026-07-28 transport accepts POST only")
