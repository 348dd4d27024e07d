"""How each message looks on the wire, in each era (DESIGN §2; invariants 9 and 10 of §3)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.model import (
    LEGACY_PROTOCOL_VERSIONS,
    MODERN_PROTOCOL_VERSIONS,
    Binding,
    ClientIdentity,
    Era,
    Outgoing,
    SessionId,
)
from mcp_session_recovery.model.messages import (
    delete_request,
    discover_request,
    initialize_request,
    initialized_notification,
    listen_request,
    session_message,
)

VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
ENVELOPE_KEYS = frozenset({VERSION_KEY, CAPABILITIES_KEY, CLIENT_INFO_KEY})
LEGACY_HEADERS = frozenset({"content-type", "accept", "mcp-protocol-version", "mcp-session-id"})
BASE64_SENTINEL = re.compile(r"=\?base64\?([A-Za-z0-9+/=]*)\?=")

SECRET_ID = "s3cr3t-session-0123456789"
IDENTITY = ClientIdentity(
    client_info={"name": "tester", "version": "9.9"},
    capabilities={"roots": {"listChanged": True}, "sampling": {}},
    legacy_version="2025-06-18",
)


def legacy(session_id: str | None = SECRET_ID, version: str = "2025-11-25", generation: int = 1) -> Binding:
    return Binding(
        era=Era.LEGACY,
        protocol_version=version,
        generation=generation,
        session_id=SessionId(session_id) if session_id is not None else None,
    )


def modern(version: str = "2026-07-28", generation: int = 1) -> Binding:
    return Binding(era=Era.MODERN, protocol_version=version, generation=generation)


def document(outgoing: Outgoing) -> dict[str, Any]:
    decoded = json.loads(outgoing.body)
    assert isinstance(decoded, dict)
    return decoded


def envelope(identity: ClientIdentity, version: str) -> dict[str, Any]:
    return {
        VERSION_KEY: version,
        CAPABILITIES_KEY: dict(identity.capabilities),
        CLIENT_INFO_KEY: dict(identity.client_info),
    }


# --- initialize and notifications/initialized ---------------------------------------------------


def test_initialize_carries_the_identity_and_no_session_id() -> None:
    outgoing = initialize_request(7, IDENTITY)

    assert outgoing.http_method == "POST"
    assert dict(outgoing.headers) == {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
    }
    assert document(outgoing) == {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"roots": {"listChanged": True}, "sampling": {}},
            "clientInfo": {"name": "tester", "version": "9.9"},
        },
    }


def test_the_default_identity_offers_the_newest_handshake_version() -> None:
    params = document(initialize_request(0, ClientIdentity()))["params"]

    assert params["protocolVersion"] == LEGACY_PROTOCOL_VERSIONS[0]
    assert params["capabilities"] == {}
    assert params["clientInfo"]["name"] == "mcp-session-recovery"


def test_an_identity_does_not_follow_later_changes_to_the_mappings_it_was_built_from() -> None:
    info: dict[str, Any] = {"name": "a", "version": "1"}
    capabilities: dict[str, Any] = {"roots": {}}
    identity = ClientIdentity(client_info=info, capabilities=capabilities)
    info["name"] = "changed"
    capabilities["sampling"] = {}

    params = document(initialize_request(1, identity))["params"]

    assert params["clientInfo"] == {"name": "a", "version": "1"}
    assert params["capabilities"] == {"roots": {}}


@pytest.mark.parametrize("version", LEGACY_PROTOCOL_VERSIONS)
def test_initialized_goes_with_the_new_session_id_and_version_and_has_no_id(version: str) -> None:
    outgoing = initialized_notification(legacy(version=version))

    assert outgoing.http_method == "POST"
    assert outgoing.headers["mcp-session-id"] == SECRET_ID
    assert outgoing.headers["mcp-protocol-version"] == version
    assert document(outgoing) == {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_initialized_without_a_session_id_sends_no_id_header() -> None:
    outgoing = initialized_notification(legacy(session_id=None))

    assert "mcp-session-id" not in outgoing.headers
    assert outgoing.headers["mcp-protocol-version"] == "2025-11-25"


# --- server/discover --------------------------------------------------------------------------


def test_discover_carries_the_modern_envelope_in_meta_and_headers() -> None:
    outgoing = discover_request(3, IDENTITY)

    assert outgoing.http_method == "POST"
    assert outgoing.headers["mcp-protocol-version"] == MODERN_PROTOCOL_VERSIONS[0]
    assert outgoing.headers["mcp-method"] == "server/discover"
    assert "mcp-session-id" not in outgoing.headers
    assert "mcp-name" not in outgoing.headers
    assert document(outgoing) == {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "server/discover",
        "params": {"_meta": envelope(IDENTITY, MODERN_PROTOCOL_VERSIONS[0])},
    }


def test_discover_can_offer_another_version() -> None:
    outgoing = discover_request(1, IDENTITY, version="2027-01-01")

    assert outgoing.headers["mcp-protocol-version"] == "2027-01-01"
    assert document(outgoing)["params"]["_meta"][VERSION_KEY] == "2027-01-01"


# --- session messages: legacy -------------------------------------------------------------------


def test_a_legacy_request_carries_the_session_id_and_version_and_no_envelope() -> None:
    params = {"name": "add", "arguments": {"a": 1, "b": 2}}
    outgoing = session_message(legacy(), "tools/call", params, 11, IDENTITY)

    assert outgoing.http_method == "POST"
    assert outgoing.headers["mcp-session-id"] == SECRET_ID
    assert outgoing.headers["mcp-protocol-version"] == "2025-11-25"
    assert set(outgoing.headers) <= LEGACY_HEADERS
    assert document(outgoing) == {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": params}


def test_a_legacy_request_keeps_the_callers_meta_as_it_is() -> None:
    params = {"name": "add", "_meta": {"progressToken": 4}}
    outgoing = session_message(legacy(), "tools/call", params, 1, IDENTITY)

    assert document(outgoing)["params"] == {"name": "add", "_meta": {"progressToken": 4}}


def test_a_legacy_notification_has_no_id_and_no_params_when_given_none() -> None:
    outgoing = session_message(legacy(), "notifications/roots/list_changed", None, None, IDENTITY)

    assert document(outgoing) == {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}
    assert outgoing.headers["mcp-session-id"] == SECRET_ID


def test_a_legacy_request_without_a_session_id_sends_no_id_header() -> None:
    outgoing = session_message(legacy(session_id=None), "tools/list", {}, 2, IDENTITY)

    assert "mcp-session-id" not in outgoing.headers
    assert document(outgoing) == {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


# --- session messages: modern -------------------------------------------------------------------


def test_a_modern_request_merges_the_envelope_into_the_callers_meta() -> None:
    params = {"name": "add", "arguments": {"a": 1}, "_meta": {"progressToken": "p-1"}}
    outgoing = session_message(modern(), "tools/call", params, 5, IDENTITY)

    assert "mcp-session-id" not in outgoing.headers
    assert outgoing.headers["mcp-protocol-version"] == "2026-07-28"
    assert outgoing.headers["mcp-method"] == "tools/call"
    assert outgoing.headers["mcp-name"] == "add"
    assert document(outgoing) == {
        "jsonrpc": "2.0",
        "id": 5,
        "method": "tools/call",
        "params": {
            "name": "add",
            "arguments": {"a": 1},
            "_meta": {"progressToken": "p-1", **envelope(IDENTITY, "2026-07-28")},
        },
    }


def test_a_modern_request_does_not_change_the_callers_params() -> None:
    params: dict[str, Any] = {"name": "add", "_meta": {"progressToken": 1}}
    session_message(modern(), "tools/call", params, 5, IDENTITY)

    assert params == {"name": "add", "_meta": {"progressToken": 1}}


def test_a_modern_envelope_states_the_bindings_version_over_the_callers() -> None:
    params = {"_meta": {VERSION_KEY: "1999-01-01"}}
    outgoing = session_message(modern(version="2026-07-28"), "ping", params, 1, IDENTITY)

    assert document(outgoing)["params"]["_meta"][VERSION_KEY] == "2026-07-28"


def test_a_modern_notification_has_no_id_but_carries_the_envelope() -> None:
    outgoing = session_message(modern(), "notifications/cancelled", None, None, IDENTITY)

    assert document(outgoing) == {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"_meta": envelope(IDENTITY, "2026-07-28")},
    }
    assert outgoing.headers["mcp-method"] == "notifications/cancelled"


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("tools/call", {"name": "add"}, "add"),
        ("prompts/get", {"name": "greeting"}, "greeting"),
        ("resources/read", {"uri": "file:///notes/a b.txt"}, "file:///notes/a b.txt"),
        ("tools/call", {"name": "héllo"}, "=?base64?aMOpbGxv?="),
        ("tools/call", {"name": " lead"}, "=?base64?IGxlYWQ=?="),
        ("tools/call", {"name": "trail "}, "=?base64?dHJhaWwg?="),
        ("prompts/get", {"name": "tab\tinside"}, "=?base64?dGFiCWluc2lkZQ==?="),
        # A name that looks like the sentinel is wrapped too, so the header stays unambiguous.
        ("tools/call", {"name": "=?base64?eA==?="}, "=?base64?PT9iYXNlNjQ/ZUE9PT89?="),
    ],
)
def test_mcp_name_repeats_the_named_parameter(method: str, params: dict[str, Any], expected: str) -> None:
    outgoing = session_message(modern(), method, params, 1, IDENTITY)

    assert outgoing.headers["mcp-name"] == expected


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/list", {"name": "add"}),
        ("resources/read", {"name": "not-the-uri"}),
        ("tools/call", {"name": 42}),
        ("tools/call", {}),
        ("prompts/get", None),
    ],
)
def test_no_mcp_name_without_a_string_named_parameter(method: str, params: dict[str, Any] | None) -> None:
    outgoing = session_message(modern(), method, params, 1, IDENTITY)

    assert "mcp-name" not in outgoing.headers


def test_legacy_requests_never_carry_the_modern_routing_headers() -> None:
    outgoing = session_message(legacy(), "tools/call", {"name": "add"}, 1, IDENTITY)

    assert "mcp-name" not in outgoing.headers
    assert "mcp-method" not in outgoing.headers


def _decode_name(header: str) -> str:
    wrapped = BASE64_SENTINEL.fullmatch(header)
    if wrapped is None:
        return header
    return base64.b64decode(wrapped.group(1), validate=True).decode("utf-8")


@given(name=st.text())
def test_any_name_survives_the_mcp_name_header(name: str) -> None:
    header = session_message(modern(), "tools/call", {"name": name}, 1, IDENTITY).headers["mcp-name"]

    assert re.fullmatch(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?", header)
    assert _decode_name(header) == name


# --- GET and DELETE -----------------------------------------------------------------------------


def test_listen_is_a_get_with_the_session_id() -> None:
    outgoing = listen_request(legacy())

    assert outgoing.http_method == "GET"
    assert outgoing.body == b""
    assert dict(outgoing.headers) == {
        "accept": "text/event-stream",
        "mcp-protocol-version": "2025-11-25",
        "mcp-session-id": SECRET_ID,
    }


def test_a_modern_binding_has_no_get_stream() -> None:
    with pytest.raises(ValueError, match="legacy"):
        listen_request(modern())


def test_delete_ends_the_legacy_session() -> None:
    outgoing = delete_request(legacy())

    assert outgoing.http_method == "DELETE"
    assert outgoing.body == b""
    assert dict(outgoing.headers) == {"mcp-protocol-version": "2025-11-25", "mcp-session-id": SECRET_ID}


@pytest.mark.parametrize("binding", [modern(), legacy(session_id=None)], ids=["modern", "legacy-without-id"])
def test_a_binding_without_a_session_id_cannot_be_deleted(binding: Binding) -> None:
    with pytest.raises(ValueError, match="id"):
        delete_request(binding)


# --- invariant 9: reprs never show header values ------------------------------------------------


@pytest.mark.parametrize(
    "outgoing",
    [
        session_message(legacy(), "tools/call", {"name": "add"}, 1, IDENTITY),
        initialized_notification(legacy()),
        listen_request(legacy()),
        delete_request(legacy()),
    ],
    ids=["request", "initialized", "listen", "delete"],
)
def test_the_repr_of_a_message_never_shows_the_session_id(outgoing: Outgoing) -> None:
    shown = repr(outgoing)

    assert SECRET_ID not in shown
    assert "mcp-session-id" in shown  # the header's name is shown, its value is not


def test_the_repr_of_a_message_never_shows_credentials_or_the_body() -> None:
    outgoing = Outgoing("POST", {"authorization": "Bearer tok-123456", "x-api-key": "key-987654"}, b'{"secret":1}')
    shown = repr(outgoing)

    assert "tok-123456" not in shown
    assert "key-987654" not in shown
    assert "secret" not in shown
    assert shown == "Outgoing(POST, headers=['authorization', 'x-api-key'], 12 body bytes)"


# --- invariant 10: a message never mixes eras ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
meta_keys = st.sampled_from([*sorted(ENVELOPE_KEYS), "progressToken", "other/key"]) | st.text(max_size=10)
params_strategy = st.none() | st.dictionaries(
    st.sampled_from(["name", "uri", "arguments", "level", "cursor"]) | st.text(max_size=8),
    json_values,
    max_size=4,
).flatmap(
    lambda base: st.one_of(
        st.just(base),
        st.dictionaries(meta_keys, json_values, max_size=4).map(lambda meta: {**base, "_meta": meta}),
    )
)
bindings = st.one_of(
    st.builds(
        legacy,
        session_id=st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
        version=st.sampled_from(LEGACY_PROTOCOL_VERSIONS),
        generation=st.integers(1, 1000),
    ),
    st.builds(modern, version=st.sampled_from(MODERN_PROTOCOL_VERSIONS), generation=st.integers(1, 1000)),
)
methods = st.sampled_from(["tools/call", "prompts/get", "resources/read", "tools/list", "ping"]) | st.text(min_size=1)


@given(
    binding=bindings,
    method=methods,
    params=params_strategy,
    wire_id=st.none() | st.integers(0, 2**53),
)
def test_a_message_never_mixes_eras(
    binding: Binding, method: str, params: Mapping[str, Any] | None, wire_id: int | None
) -> None:
    outgoing = session_message(binding, method, params, wire_id, IDENTITY)
    sent = document(outgoing)
    caller_meta = params.get("_meta") if params is not None else None

    assert sent["method"] == method
    assert ("id" in sent) is (wire_id is not None)
    assert sent.get("id") == wire_id
    assert outgoing.headers["mcp-protocol-version"] == binding.protocol_version
    if binding.era is Era.MODERN:
        assert "mcp-session-id" not in outgoing.headers
        assert outgoing.headers["mcp-method"] == method
        meta = sent["params"]["_meta"]
        assert {key: meta[key] for key in ENVELOPE_KEYS} == envelope(IDENTITY, binding.protocol_version)
        for key, value in (caller_meta or {}).items():
            if key not in ENVELOPE_KEYS:
                assert meta[key] == value
    else:
        assert set(outgoing.headers) <= LEGACY_HEADERS
        assert ("mcp-session-id" in outgoing.headers) is (binding.session_id is not None)
        sent_params = sent.get("params")
        assert sent_params == (None if params is None else json.loads(json.dumps(params)))
        meta = sent_params.get("_meta") if isinstance(sent_params, dict) else None
        for key in ENVELOPE_KEYS & set(meta or {}):
            assert caller_meta is not None
            assert key in caller_meta
