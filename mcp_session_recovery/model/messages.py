"""How a message looks on the wire in each protocol era: headers and a JSON-RPC body.

Pure functions. The legacy era carries the negotiated version in ``MCP-Protocol-Version`` and the
session id in ``Mcp-Session-Id``; the sessionless era (2026-07-28) carries the version, the
client's capabilities and its info in every request's ``params._meta`` and repeats the routing
facts in headers (``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``). A message never mixes
the two (invariant 10): building a modern message with a session id raises.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

from .binding import Binding
from .states import Era

__all__ = [
    "LEGACY_PROTOCOL_VERSIONS",
    "MODERN_PROTOCOL_VERSIONS",
    "OWN_HEADERS",
    "RUNTIME_HEADERS",
    "ClientIdentity",
    "Outgoing",
    "answer_message",
    "delete_request",
    "discover_request",
    "initialize_request",
    "initialized_notification",
    "listen_request",
    "relayed_message",
    "session_message",
    "with_runtime_headers",
]

#: Handshake-era versions this library speaks, newest first.
LEGACY_PROTOCOL_VERSIONS: tuple[str, ...] = ("2025-11-25", "2025-06-18", "2025-03-26")
#: Sessionless-era versions this library speaks, newest first.
MODERN_PROTOCOL_VERSIONS: tuple[str, ...] = ("2026-07-28",)
#: The request headers that carry a binding (lower-case): only the runtime sets them, from the live
#: binding; an adapter replaces or drops a client's own.
RUNTIME_HEADERS = frozenset({"mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name"})
#: The request headers the library or the HTTP client below it sets (the binding's, the message's
#: type, and those that describe one hop): never taken from a client's request onto the runtime's
#: own, nor from a user.
OWN_HEADERS = RUNTIME_HEADERS | {
    "content-type",
    "accept",
    "last-event-id",
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "accept-encoding",
}


def with_runtime_headers(items: Iterable[tuple[str, str]], runtime: Mapping[str, str]) -> list[tuple[str, str]]:
    """A client's request headers ``items`` with the runtime's headers in their place.

    The one rule every adapter follows: a runtime header the client sent gets the runtime's value
    where it stood (once, if repeated); one the runtime does not send now (a stale session id,
    ``Mcp-Method`` of another era) is dropped; one the client lacks is added at the end. Every
    other header stays as it is, in its order.
    """
    wanted = {name.lower(): value for name, value in runtime.items()}
    headers: list[tuple[str, str]] = []
    placed: set[str] = set()
    for name, value in items:
        key = name.lower()
        if key in wanted:
            if key not in placed:
                placed.add(key)
                headers.append((name, wanted[key]))
        elif key not in RUNTIME_HEADERS:
            headers.append((name, value))
    headers.extend(item for item in wanted.items() if item[0] not in placed)
    return headers


_META_VERSION = "io.modelcontextprotocol/protocolVersion"
_META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
_META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
#: Methods whose main parameter the sessionless era repeats in the ``Mcp-Name`` header.
_NAME_PARAMETER = MappingProxyType({"tools/call": "name", "prompts/get": "name", "resources/read": "uri"})
#: Header values that survive an HTTP field unchanged; anything else is base64-wrapped.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")

_ACCEPT_BOTH = "application/json, text/event-stream"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientIdentity:
    """What the client declares about itself: the same on every (re)negotiation."""

    client_info: Mapping[str, Any] = field(
        default_factory=lambda: _frozen({"name": "mcp-session-recovery", "version": "0.1.0"})
    )
    capabilities: Mapping[str, Any] = field(default_factory=lambda: _frozen({}))
    #: The handshake version offered in ``initialize``.
    legacy_version: str = LEGACY_PROTOCOL_VERSIONS[0]

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_info", _frozen(self.client_info))
        object.__setattr__(self, "capabilities", _frozen(self.capabilities))


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One HTTP request: method, headers (lower-case names), body, and where it goes.

    ``url`` is ``None`` for the endpoint itself (what the runtime builds); the runtime sets it only
    on the re-send of a redirect it follows (``runtime/redirects.py``), to a URL of the endpoint's
    own origin. A wire sends to ``url`` when it is set and follows no redirect itself.
    """

    http_method: str
    headers: Mapping[str, str]
    body: bytes = b""
    #: Where to send it: ``None``, the endpoint.
    url: str | None = None

    def __repr__(self) -> str:
        # Header values may hold a session id or a credential: never shown.
        return f"Outgoing({self.http_method}, headers={sorted(self.headers)}, {len(self.body)} body bytes)"


#: One encoder for every message (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

# ``JSONEncoder.encode`` builds a new C encoder (and a circular-reference memo) on every call: a
# third of the cost of encoding a small request. This one is built once, from the same settings,
# without the memo (it would outlive a failed call); a circular document then exhausts the
# recursion limit instead, and is encoded again by ``_ENCODER`` to raise what it always raised.
# ``c_make_encoder`` is CPython's accelerator; without it ``_ENCODER`` does all the work.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_FAST_ENCODER = (
    None
    if _c_make_encoder is None
    else _c_make_encoder(
        None,  # no circular-reference memo
        _ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # no indent
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        _ENCODER.sort_keys,
        _ENCODER.skipkeys,
        _ENCODER.allow_nan,
    )
)


def _encode(document: Mapping[str, Any]) -> bytes:
    if _FAST_ENCODER is not None:
        try:
            return "".join(_FAST_ENCODER(document, 0)).encode("utf-8")
        except RecursionError:
            pass  # circular (or absurdly deep): let the standard encoder say which
    return _ENCODER.encode(document).encode("utf-8")


def _jsonrpc(method: str, params: Mapping[str, Any] | None, wire_id: int | str | None) -> dict[str, Any]:
    document: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if wire_id is not None:
        document["id"] = wire_id
    if params is not None:
        # The encoder needs a dict; the document is encoded at once and dropped, so one is not copied.
        document["params"] = params if type(params) is dict else dict(params)
    return document


def _header_value(value: str) -> str:
    if _HEADER_SAFE.fullmatch(value) and not value.startswith("=?base64?"):
        return value
    return f"=?base64?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="


def _post_headers(extra: Mapping[str, str]) -> dict[str, str]:
    return {"content-type": "application/json", "accept": _ACCEPT_BOTH, **extra}


def initialize_request(wire_id: int | str, identity: ClientIdentity) -> Outgoing:
    """The legacy ``initialize``: never carries a session id (a stale one would get 404)."""
    params = {
        "protocolVersion": identity.legacy_version,
        "capabilities": dict(identity.capabilities),
        "clientInfo": dict(identity.client_info),
    }
    return Outgoing("POST", _post_headers({}), _encode(_jsonrpc("initialize", params, wire_id)))


def initialized_notification(pending: Binding) -> Outgoing:
    """``notifications/initialized`` for the session ``pending`` opened."""
    return session_message(pending, "notifications/initialized", None, None, ClientIdentity())


def discover_request(
    wire_id: int | str, identity: ClientIdentity, version: str = MODERN_PROTOCOL_VERSIONS[0]
) -> Outgoing:
    """The sessionless era's ``server/discover``, which is also the era probe."""
    return _modern("server/discover", {}, wire_id, version, identity)


def session_message(
    binding: Binding,
    method: str,
    params: Mapping[str, Any] | None,
    wire_id: int | str | None,
    identity: ClientIdentity,
) -> Outgoing:
    """A request (``wire_id`` set) or notification (``None``) sent under ``binding``."""
    if binding.era is Era.MODERN:
        return _modern(method, params or {}, wire_id, binding.protocol_version, identity)
    return Outgoing("POST", _legacy_post_headers(binding), _encode(_jsonrpc(method, params, wire_id)))


def relayed_message(binding: Binding, message: Mapping[str, Any], body: bytes) -> Outgoing | None:
    """A client's own request, its ``body`` unchanged, sent under ``binding``; ``None`` when the body
    does not fit the binding's era (it must then be rebuilt with :func:`session_message`).

    A legacy body fits a legacy binding (its session id and version travel in headers); a modern
    body fits a modern binding whose version its ``_meta`` already names.
    """
    params = message.get("params")
    meta = params.get("_meta") if _is_mapping(params) else None
    version = meta.get(_META_VERSION) if _is_mapping(meta) else None
    if binding.era is Era.LEGACY:
        return None if version is not None else Outgoing("POST", _legacy_post_headers(binding), body)
    if version != binding.protocol_version:
        return None
    method = message.get("method")
    assert isinstance(method, str)
    return Outgoing("POST", _post_headers(_modern_headers(method, params, version)), body)


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # Parsed JSON is a dict or nothing: answered without the ABC machinery (this runs on every call).
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


def answer_message(binding: Binding, body: bytes) -> Outgoing:
    """A client's answer to a server's request (a JSON-RPC response, ``body`` unchanged) under ``binding``.

    It belongs to the session the server's request came from: never rebuilt for another era.
    """
    if binding.era is Era.MODERN:
        return Outgoing("POST", _post_headers({"mcp-protocol-version": binding.protocol_version}), body)
    return Outgoing("POST", _legacy_post_headers(binding), body)


def listen_request(binding: Binding) -> Outgoing:
    """The legacy GET that opens the server-to-client stream of ``binding``'s session."""
    if binding.era is not Era.LEGACY:
        raise ValueError("only a legacy session has a GET stream")
    return Outgoing("GET", {"accept": "text/event-stream", **_legacy_headers(binding)})


def resume_request(binding: Binding, last_event_id: str) -> Outgoing:
    """The legacy GET that resumes a paused response stream of ``binding``'s session from the event
    ``last_event_id`` (SEP-1699: resumption is always by GET, whether the stream began as a POST)."""
    if binding.era is not Era.LEGACY:
        raise ValueError("only a legacy session resumes streams")
    return Outgoing("GET", {"accept": "text/event-stream", "last-event-id": last_event_id, **_legacy_headers(binding)})


def delete_request(binding: Binding) -> Outgoing:
    """The DELETE that ends ``binding``'s legacy session."""
    if binding.session_id is None:
        raise ValueError("only a session with an id can be deleted")
    return Outgoing("DELETE", _legacy_headers(binding))


def _legacy_post_headers(binding: Binding) -> dict[str, str]:
    """``_post_headers(_legacy_headers(binding))`` built at once: every legacy request needs it."""
    headers = {
        "content-type": "application/json",
        "accept": _ACCEPT_BOTH,
        "mcp-protocol-version": binding.protocol_version,
    }
    if binding.session_id is not None:
        headers["mcp-session-id"] = binding.session_id.header_value
    return headers


def _legacy_headers(binding: Binding) -> dict[str, str]:
    headers = {"mcp-protocol-version": binding.protocol_version}
    if binding.session_id is not None:
        headers["mcp-session-id"] = binding.session_id.header_value
    return headers


def _modern(
    method: str, params: Mapping[str, Any], wire_id: int | str | None, version: str, identity: ClientIdentity
) -> Outgoing:
    meta = dict(params.get("_meta") or {})
    meta.update(
        {
            _META_VERSION: version,
            _META_CAPABILITIES: dict(identity.capabilities),
            _META_CLIENT_INFO: dict(identity.client_info),
        }
    )
    stamped = {**params, "_meta": meta}
    headers = _modern_headers(method, params, version)
    return Outgoing("POST", _post_headers(headers), _encode(_jsonrpc(method, stamped, wire_id)))


def _modern_headers(method: str, params: object, version: str) -> dict[str, str]:
    headers = {"mcp-protocol-version": version, "mcp-method": method}
    name_parameter = _NAME_PARAMETER.get(method)
    if name_parameter is not None and isinstance(params, Mapping) and isinstance(params.get(name_parameter), str):
        headers["mcp-name"] = _header_value(params[name_parameter])
    return headers
