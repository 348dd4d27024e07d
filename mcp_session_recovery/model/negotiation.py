"""What the answer to each negotiation step means: the event to report to the model.

Pure. The runtime sends ``server/discover``, ``initialize`` or ``notifications/initialized``, and
hands the answer here: a :class:`TransportFailure`, or an :class:`HttpAnswer` whose body is the
JSON-RPC response (taken out of the SSE stream when the server streamed it). Out comes the one
event that says what happened, so the era probe, the fallback and the give-up rules live in one
pure place:

- a discover answer that is not positive evidence of a modern server we share a version with is
  ``ERA_CHANGED`` (fall back to ``initialize`` in auto mode), unless the server names only
  versions we cannot speak in either era (``NoCommonProtocolVersion``);
- a refused connection, 502/503, 5xx, 408 or 429 is ``UNREACHABLE``: wait and try again;
- 401/403 is ``CredentialsRefused``: the credentials are the client's to renew (no retry of ours);
- a broken answer is ``ProtocolViolation``: no retry helps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .binding import Binding, SessionId
from .classify import (
    ClassifierOptions,
    Exchange,
    HttpAnswer,
    TransportFailure,
    TransportFailureKind,
    classify,
    refuses_credentials,
)
from .errors import (
    CredentialsRejected,
    InitializeRejected,
    MalformedSessionId,
    NoCommonProtocolVersion,
    ProtocolViolation,
    SessionUnusable,
)
from .events import (
    CredentialsRefused,
    DiscoverSucceeded,
    Event,
    InitializedDelivered,
    InitializeSucceeded,
    NegotiationDisrupted,
    NegotiationRejected,
)
from .messages import LEGACY_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS, ClientIdentity
from .states import Era, Signal

__all__ = ["declared_identity", "handshake_result", "read_discover", "read_initialize", "read_initialized"]

_UNSUPPORTED_PROTOCOL_VERSION = -32022
_DEFAULT_OPTIONS = ClassifierOptions()
_SERVER_INFO_META = "io.modelcontextprotocol/serverInfo"


def read_discover(
    generation: int, answer: HttpAnswer | TransportFailure, options: ClassifierOptions = _DEFAULT_OPTIONS
) -> Event:
    """The event for the answer to ``server/discover`` of negotiation ``generation``."""
    exchange = Exchange(era=Era.MODERN, method="server/discover")
    trouble = _trouble(generation, exchange, answer, options)
    if trouble is not None:
        return trouble
    assert isinstance(answer, HttpAnswer)
    result, error = _response(answer.body)
    if error is not None:
        rejected = _no_common_version(generation, error, offered=MODERN_PROTOCOL_VERSIONS)
        return rejected or _not_modern(generation, answer.status)
    supported = result.get("supportedVersions") if result is not None else None
    common = [v for v in MODERN_PROTOCOL_VERSIONS if isinstance(supported, list) and v in supported]
    if result is None or not common:
        # Not positive evidence of a modern server we can talk to: fall back to the handshake.
        return _not_modern(generation, answer.status)
    meta = result.get("_meta")
    server_info = meta.get(_SERVER_INFO_META) if isinstance(meta, dict) else None
    return DiscoverSucceeded(
        generation=generation,
        protocol_version=common[0],
        server_capabilities=_mapping(result.get("capabilities")),
        server_info=_mapping(server_info),
    )


def read_initialize(
    generation: int, answer: HttpAnswer | TransportFailure, options: ClassifierOptions = _DEFAULT_OPTIONS
) -> Event:
    """The event for the answer to ``initialize`` of negotiation ``generation``.

    The session id is read from this answer's ``mcp-session-id`` header and from nowhere else.
    """
    exchange = Exchange(era=Era.LEGACY, method="initialize")
    trouble = _trouble(generation, exchange, answer, options)
    if trouble is not None:
        return trouble
    assert isinstance(answer, HttpAnswer)
    result, error = _response(answer.body)
    if error is not None:
        rejected = _no_common_version(generation, error, offered=LEGACY_PROTOCOL_VERSIONS)
        if rejected is not None:
            return rejected
        if error.get("code") == _UNSUPPORTED_PROTOCOL_VERSION:
            detail = "the server no longer speaks the handshake era (initialize: unsupported protocol version)"
            return NegotiationDisrupted(generation=generation, signal=Signal.ERA_CHANGED, detail=detail)
        return _reject(generation, InitializeRejected(_code(error), str(error.get("message", ""))))
    if result is None:
        return _reject(generation, ProtocolViolation("the initialize answer holds no JSON-RPC result"))
    version = result.get("protocolVersion")
    if version in MODERN_PROTOCOL_VERSIONS:
        detail = "the server answered initialize with a sessionless-era version"
        return NegotiationDisrupted(generation=generation, signal=Signal.ERA_CHANGED, detail=detail)
    if version not in LEGACY_PROTOCOL_VERSIONS:
        offered = (str(version),) if version is not None else ()
        return _reject(generation, NoCommonProtocolVersion(LEGACY_PROTOCOL_VERSIONS, offered))
    header = _header(answer.headers, "mcp-session-id")
    try:
        session_id = SessionId(header) if header is not None else None
    except MalformedSessionId as exc:
        return _reject(generation, ProtocolViolation(str(exc)))
    return InitializeSucceeded(
        generation=generation,
        protocol_version=str(version),
        session_id=session_id,
        server_capabilities=_mapping(result.get("capabilities")),
        server_info=_mapping(result.get("serverInfo")),
    )


def read_initialized(
    generation: int, answer: HttpAnswer | TransportFailure, options: ClassifierOptions = _DEFAULT_OPTIONS
) -> Event:
    """The event for the answer to ``notifications/initialized`` of negotiation ``generation``."""
    exchange = Exchange(era=Era.LEGACY, method="notifications/initialized", carried_session_id=True)
    trouble = _trouble(generation, exchange, answer, options)
    if trouble is not None:
        return trouble
    assert isinstance(answer, HttpAnswer)
    _, error = _response(answer.body)
    if error is not None:
        return _reject(generation, InitializeRejected(_code(error), str(error.get("message", ""))))
    return InitializedDelivered(generation=generation)


def _not_modern(generation: int, status: int) -> NegotiationDisrupted:
    """The discover answer is no proof of a sessionless server: fall back to the handshake."""
    detail = f"the server does not speak the sessionless era (HTTP {status} to server/discover)"
    return NegotiationDisrupted(generation=generation, signal=Signal.ERA_CHANGED, detail=detail)


def _trouble(
    generation: int, exchange: Exchange, answer: HttpAnswer | TransportFailure, options: ClassifierOptions
) -> Event | None:
    """The event for an answer that is not a success; ``None`` for a 2xx."""
    if isinstance(answer, TransportFailure) and answer.kind is TransportFailureKind.MALFORMED_ANSWER:
        # Retrying cannot help: the same server answers the same way (a session id with a CR, say).
        return _reject(generation, ProtocolViolation(f"the answer to {exchange.method} is not valid HTTP"))
    classification = classify(exchange, answer, options)
    if classification.signal is not Signal.PASS_THROUGH:
        if isinstance(answer, HttpAnswer) and 200 <= answer.status < 300:
            return None  # a 2xx carrying an error: the caller reads the error itself
        if isinstance(answer, HttpAnswer):
            # -32022 is ERA_CHANGED to the classifier; it is final when we share no version at all.
            _, error = _response(answer.body)
            offered = MODERN_PROTOCOL_VERSIONS if exchange.era is Era.MODERN else LEGACY_PROTOCOL_VERSIONS
            rejected = _no_common_version(generation, error, offered=offered) if error else None
            if rejected is not None:
                return rejected
        return NegotiationDisrupted(generation=generation, signal=classification.signal, detail=classification.reason)
    assert isinstance(answer, HttpAnswer)
    status = answer.status
    if 200 <= status < 300:
        return None
    if refuses_credentials(status):
        # The server's own answer goes with it: a client's auth flow reads its WWW-Authenticate.
        return CredentialsRefused(generation=generation, error=CredentialsRejected(status, answer.headers, answer.body))
    if status >= 500 or status in (408, 429):
        detail = f"server unreachable: HTTP {status} to {exchange.method}"
        return NegotiationDisrupted(generation=generation, signal=Signal.UNREACHABLE, detail=detail)
    _, error = _response(answer.body)
    if exchange.method == "server/discover":
        rejected = _no_common_version(generation, error, offered=MODERN_PROTOCOL_VERSIONS) if error else None
        return rejected or _not_modern(generation, status)
    if error is not None:
        rejected = _no_common_version(generation, error, offered=LEGACY_PROTOCOL_VERSIONS)
        return rejected or _reject(generation, InitializeRejected(_code(error), str(error.get("message", ""))))
    return _reject(generation, InitializeRejected(None, f"HTTP {status}"))


def _no_common_version(generation: int, error: Mapping[str, Any], *, offered: tuple[str, ...]) -> Event | None:
    """A rejection when the server names the versions it speaks and we speak none of them."""
    if error.get("code") != _UNSUPPORTED_PROTOCOL_VERSION:
        return None
    data = error.get("data")
    supported = data.get("supported") if isinstance(data, dict) else None
    if not isinstance(supported, list):
        return None
    named = tuple(v for v in supported if isinstance(v, str))
    if set(named) & (set(LEGACY_PROTOCOL_VERSIONS) | set(MODERN_PROTOCOL_VERSIONS)):
        return None
    return _reject(generation, NoCommonProtocolVersion(offered, named))


def _reject(generation: int, error: SessionUnusable) -> Event:
    return NegotiationRejected(generation=generation, error=error)


def _response(body: bytes) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The JSON-RPC ``result`` and ``error`` objects in ``body`` (either may be ``None``)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None, None
    if not isinstance(document, dict):
        return None, None
    result, error = document.get("result"), document.get("error")
    return (result if isinstance(result, dict) else None, error if isinstance(error, dict) else None)


def _code(error: Mapping[str, Any]) -> int | None:
    code = error.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


# -- a client above that negotiates itself (a transport's, a middleware's) ---------------------------


def declared_identity(message: Mapping[str, Any]) -> ClientIdentity:
    """What a client's own ``initialize`` or ``server/discover`` declares about it, to be declared
    again on every (re)negotiation the library makes in its place."""
    params = _mapping(message.get("params"))
    if message.get("method") == "initialize":
        return ClientIdentity(
            client_info=_mapping(params.get("clientInfo")),
            capabilities=_mapping(params.get("capabilities")),
            legacy_version=_offered_legacy_version(params),
        )
    meta = _mapping(params.get("_meta"))
    return ClientIdentity(
        client_info=_mapping(meta.get("io.modelcontextprotocol/clientInfo")),
        capabilities=_mapping(meta.get("io.modelcontextprotocol/clientCapabilities")),
    )


def handshake_result(initialize: Mapping[str, Any], binding: Binding, negotiated: Mapping[str, Any]) -> dict[str, Any]:
    """The result for a client's own ``initialize`` once the library negotiated ``binding``.

    A legacy server's own result (``negotiated``) goes back as it came. A sessionless server has
    none to give: the client keeps the handshake era it chose, so it gets the version it offered
    and the server's terms; the library translates every later message for it.
    """
    if binding.era is Era.LEGACY:
        return dict(negotiated)
    return {
        "protocolVersion": _offered_legacy_version(_mapping(initialize.get("params"))),
        "capabilities": dict(binding.server_capabilities),
        "serverInfo": dict(binding.server_info),
    }


def _offered_legacy_version(params: Mapping[str, Any]) -> str:
    offered = params.get("protocolVersion")
    return offered if isinstance(offered, str) and offered in LEGACY_PROTOCOL_VERSIONS else LEGACY_PROTOCOL_VERSIONS[0]
