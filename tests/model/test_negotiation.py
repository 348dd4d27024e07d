"""What each negotiation answer means: the event ``read_discover`` / ``read_initialize`` / ``read_initialized`` report.

Written from the protocol (DESIGN §2, spec-rules.md) and the answers real servers send, not from the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.model import (
    LEGACY_PROTOCOL_VERSIONS,
    MODERN_PROTOCOL_VERSIONS,
    Binding,
    CredentialsRefused,
    CredentialsRejected,
    DiscoverSucceeded,
    Era,
    Event,
    HttpAnswer,
    InitializedDelivered,
    InitializeRejected,
    InitializeSucceeded,
    NegotiationDisrupted,
    NegotiationRejected,
    NoCommonProtocolVersion,
    Progress,
    ProtocolViolation,
    SessionId,
    Signal,
    TransportFailure,
    TransportFailureKind,
)
from mcp_session_recovery.model.negotiation import (
    declared_identity,
    handshake_result,
    read_discover,
    read_initialize,
    read_initialized,
)

Reader = Callable[[int, HttpAnswer | TransportFailure], Event]
READERS: list[Reader] = [read_discover, read_initialize, read_initialized]
READER_IDS = ["discover", "initialize", "initialized"]

MODERN = MODERN_PROTOCOL_VERSIONS[0]
UNKNOWN_VERSION = "2099-12-31"
CONNECT_PHASE = frozenset(
    {TransportFailureKind.CONNECT_REFUSED, TransportFailureKind.NAME_RESOLUTION, TransportFailureKind.CONNECT_TIMEOUT}
)


def result(value: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> HttpAnswer:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": value}).encode()
    return HttpAnswer(status=status, headers=dict(headers or {"content-type": "application/json"}), body=body)


def error(code: int, message: str, data: object = None, *, status: int = 200) -> HttpAnswer:
    fields: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        fields["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "error": fields}).encode()
    return HttpAnswer(status=status, headers={"content-type": "application/json"}, body=body)


def unsupported_version(*supported: object, status: int) -> HttpAnswer:
    return error(
        -32022, "Unsupported protocol version", {"supported": list(supported), "requested": "x"}, status=status
    )


def disrupted(generation: int, signal: Signal) -> NegotiationDisrupted:
    return NegotiationDisrupted(generation=generation, signal=signal)


def rejection(event: Event) -> Exception:
    assert isinstance(event, NegotiationRejected), event
    return event.error


def discover_result(versions: object = (MODERN,)) -> dict[str, Any]:
    return {
        "supportedVersions": list(versions) if isinstance(versions, tuple) else versions,
        "capabilities": {"tools": {"listChanged": True}},
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "srv", "version": "2"}},
    }


def initialize_result(version: object = "2025-11-25") -> dict[str, Any]:
    return {"protocolVersion": version, "capabilities": {"logging": {}}, "serverInfo": {"name": "srv", "version": "1"}}


# --- success ------------------------------------------------------------------------------------


def test_a_discover_result_sharing_a_modern_version_proves_a_modern_server() -> None:
    event = read_discover(4, result(discover_result((UNKNOWN_VERSION, MODERN))))

    assert isinstance(event, DiscoverSucceeded)
    assert event.generation == 4
    assert event.protocol_version == MODERN
    assert dict(event.server_capabilities) == {"tools": {"listChanged": True}}
    assert dict(event.server_info) == {"name": "srv", "version": "2"}


def test_a_discover_result_without_capabilities_or_info_still_succeeds() -> None:
    event = read_discover(1, result({"supportedVersions": [MODERN]}))

    assert event == DiscoverSucceeded(generation=1, protocol_version=MODERN)


def test_an_initialize_result_opens_a_session_with_the_id_from_the_header() -> None:
    answer = result(initialize_result(), headers={"Content-Type": "application/json", "Mcp-Session-Id": "abc-123"})
    event = read_initialize(2, answer)

    assert isinstance(event, InitializeSucceeded)
    assert event.generation == 2
    assert event.protocol_version == "2025-11-25"
    assert event.session_id == SessionId("abc-123")
    assert dict(event.server_capabilities) == {"logging": {}}
    assert dict(event.server_info) == {"name": "srv", "version": "1"}


@pytest.mark.parametrize("version", LEGACY_PROTOCOL_VERSIONS)
def test_an_initialize_result_without_a_session_id_opens_a_sessionless_legacy_binding(version: str) -> None:
    event = read_initialize(1, result(initialize_result(version)))

    assert isinstance(event, InitializeSucceeded)
    assert event.protocol_version == version
    assert event.session_id is None


@pytest.mark.parametrize("status", [200, 202, 204])
def test_initialized_accepted_is_delivered(status: int) -> None:
    assert read_initialized(6, HttpAnswer(status=status)) == InitializedDelivered(generation=6)


# --- transport failures -------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("progress", list(Progress))
def test_an_answer_that_is_not_http_ends_negotiation_at_once(reader: Reader, progress: Progress) -> None:
    # A session id with a bare CR, LF or NUL, say: the same server answers the same way every time.
    event = reader(9, TransportFailure(kind=TransportFailureKind.MALFORMED_ANSWER, progress=progress))
    assert isinstance(event, NegotiationRejected)
    assert isinstance(event.error, ProtocolViolation)
    assert "not valid HTTP" in str(event.error)


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("progress", list(Progress))
@pytest.mark.parametrize("kind", sorted(set(TransportFailureKind) - {TransportFailureKind.MALFORMED_ANSWER}, key=str))
def test_a_transport_failure_disrupts_negotiation(
    reader: Reader, kind: TransportFailureKind, progress: Progress
) -> None:
    # Nothing reached the server when the connection never opened: unreachable. After sending,
    # the answer was lost: the outcome is unknown.
    not_processed = kind in CONNECT_PHASE or progress is Progress.NOT_SENT
    expected = Signal.UNREACHABLE if not_processed else Signal.OUTCOME_UNKNOWN

    assert reader(9, TransportFailure(kind=kind, progress=progress)) == disrupted(9, expected)


# --- HTTP statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_the_clients_to_renew_and_carry_the_servers_answer(reader: Reader, status: int) -> None:
    challenge = {"www-authenticate": 'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"'}
    answer = HttpAnswer(status=status, headers=challenge, body=b"Unauthorized")

    event = reader(3, answer)

    assert event == CredentialsRefused(generation=3, error=CredentialsRejected(status, challenge, b"Unauthorized"))
    assert isinstance(event, CredentialsRefused)
    assert event.error.headers == challenge, "the challenge goes up to the client's auth flow"


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_a_busy_or_broken_server_is_unreachable_for_now(reader: Reader, status: int) -> None:
    assert reader(2, HttpAnswer(status=status, body=b"try later")) == disrupted(2, Signal.UNREACHABLE)


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
def test_a_gateway_timeout_leaves_the_outcome_unknown(reader: Reader) -> None:
    assert reader(2, HttpAnswer(status=504)) == disrupted(2, Signal.OUTCOME_UNKNOWN)


# --- era detection: discover ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        # mcp (Python SDK) legacy server: a POST without a session id that is not initialize.
        error(-32600, "Bad Request: Missing session ID", status=400),
        HttpAnswer(status=400, body=b"Bad Request: Missing session ID"),
        # ... possibly carrying a throwaway session id, which must not matter.
        HttpAnswer(status=400, headers={"mcp-session-id": "throwaway"}, body=b"Bad Request: Missing session ID"),
        # a legacy server that does not know server/discover
        error(-32601, "Method not found", status=404),
        error(-32601, "Method not found", status=200),
        error(-32600, "Invalid Request", status=400),
    ],
    ids=["missing-session-json", "missing-session-text", "throwaway-id", "404-unknown", "200-unknown", "400-invalid"],
)
def test_a_legacy_servers_refusal_of_discover_means_the_era_changed(answer: HttpAnswer) -> None:
    assert read_discover(5, answer) == disrupted(5, Signal.ERA_CHANGED)


@pytest.mark.parametrize(
    "value",
    [
        discover_result(("2025-11-25", UNKNOWN_VERSION)),
        discover_result([]),
        {"capabilities": {}},
        discover_result("2026-07-28"),  # not a list
        "not an object",
        None,
    ],
    ids=["only-legacy-and-unknown", "empty", "no-versions", "versions-not-a-list", "string", "null"],
)
def test_a_discover_result_without_a_shared_modern_version_means_the_era_changed(value: object) -> None:
    assert read_discover(1, result(value)) == disrupted(1, Signal.ERA_CHANGED)


@pytest.mark.parametrize("body", [b"", b"<html>OK</html>", b"\xff\xfe\x00", b"[1, 2]"])
def test_a_discover_answer_that_is_not_json_rpc_is_no_proof_of_a_modern_server(body: bytes) -> None:
    assert read_discover(1, HttpAnswer(status=200, body=body)) == disrupted(1, Signal.ERA_CHANGED)


@pytest.mark.parametrize("status", [200, 400])
def test_discover_refused_for_versions_we_do_not_speak_at_all_fails_the_session(status: int) -> None:
    # spec-rules.md: an unsupported version is answered 400 + -32022 listing the supported ones.
    event = read_discover(2, unsupported_version(UNKNOWN_VERSION, status=status))

    assert event == NegotiationRejected(
        generation=2, error=NoCommonProtocolVersion(MODERN_PROTOCOL_VERSIONS, (UNKNOWN_VERSION,))
    )


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("version", LEGACY_PROTOCOL_VERSIONS)
def test_discover_refused_naming_a_legacy_version_means_the_era_changed(status: int, version: str) -> None:
    assert read_discover(2, unsupported_version(version, status=status)) == disrupted(2, Signal.ERA_CHANGED)


@pytest.mark.parametrize("status", [200, 400])
def test_discover_refused_without_naming_versions_means_the_era_changed(status: int) -> None:
    answer = error(-32022, "Unsupported protocol version", status=status)

    assert read_discover(2, answer) == disrupted(2, Signal.ERA_CHANGED)


# --- era detection and refusals: initialize --------------------------------------------------------


def test_an_initialize_result_with_a_modern_version_means_the_era_changed() -> None:
    assert read_initialize(3, result(initialize_result(MODERN))) == disrupted(3, Signal.ERA_CHANGED)


@pytest.mark.parametrize(
    ("version", "named"), [(UNKNOWN_VERSION, (UNKNOWN_VERSION,)), (None, ()), (20251125, ("20251125",))]
)
def test_an_initialize_result_with_an_unknown_version_fails_the_session(
    version: object, named: tuple[str, ...]
) -> None:
    event = read_initialize(3, result(initialize_result(version)))

    assert event == NegotiationRejected(generation=3, error=NoCommonProtocolVersion(LEGACY_PROTOCOL_VERSIONS, named))


def test_an_initialize_result_without_a_version_fails_the_session() -> None:
    event = read_initialize(3, result({"capabilities": {}}))

    assert event == NegotiationRejected(generation=3, error=NoCommonProtocolVersion(LEGACY_PROTOCOL_VERSIONS, ()))


@pytest.mark.parametrize("status", [200, 400])
def test_initialize_refused_for_versions_we_do_not_speak_at_all_fails_the_session(status: int) -> None:
    event = read_initialize(2, unsupported_version(UNKNOWN_VERSION, "2099-01-01", status=status))

    assert event == NegotiationRejected(
        generation=2, error=NoCommonProtocolVersion(LEGACY_PROTOCOL_VERSIONS, (UNKNOWN_VERSION, "2099-01-01"))
    )


@pytest.mark.parametrize("status", [200, 400])
def test_initialize_refused_by_a_modern_only_server_means_the_era_changed(status: int) -> None:
    # The test server's modern era answers initialize exactly like this.
    assert read_initialize(2, unsupported_version(MODERN, status=status)) == disrupted(2, Signal.ERA_CHANGED)


def test_initialize_unknown_to_the_server_means_the_era_changed() -> None:
    assert read_initialize(2, error(-32601, "Method not found", status=404)) == disrupted(2, Signal.ERA_CHANGED)


def test_a_404_without_json_rpc_to_initialize_is_an_intermediary() -> None:
    assert read_initialize(2, HttpAnswer(status=404, body=b"Not Found")) == disrupted(2, Signal.UNREACHABLE)


@pytest.mark.parametrize(
    "session_id",
    ["has a space", "caf\u00e9-s3cr3t", "tab\there", "s3cr3t\u2028line"],
    ids=["space", "non-ascii", "tab", "line-separator"],
)
def test_a_malformed_session_id_is_a_protocol_violation_that_does_not_repeat_it(session_id: str) -> None:
    event = read_initialize(1, result(initialize_result(), headers={"mcp-session-id": session_id}))

    error = rejection(event)
    assert isinstance(error, ProtocolViolation)
    assert session_id not in str(error)
    assert session_id not in repr(event)
    assert session_id not in error.detail


def test_an_empty_session_id_header_is_a_protocol_violation() -> None:
    event = read_initialize(1, result(initialize_result(), headers={"mcp-session-id": ""}))

    assert isinstance(rejection(event), ProtocolViolation)


@pytest.mark.parametrize(
    "body",
    [b"<html>hello</html>", b"", b"\xff\xfe\xfd", b'"just a string"', b"[]", b'{"jsonrpc": "2.0", "id": 1}'],
    ids=["html", "empty", "not-utf8", "json-string", "json-array", "neither-result-nor-error"],
)
def test_an_initialize_200_without_a_json_rpc_result_is_a_protocol_violation(body: bytes) -> None:
    event = read_initialize(1, HttpAnswer(status=200, body=body))

    assert isinstance(rejection(event), ProtocolViolation)


@pytest.mark.parametrize("status", [200, 400])
def test_a_json_rpc_error_to_initialize_is_a_rejection(status: int) -> None:
    event = read_initialize(7, error(-32602, "Invalid params: capabilities", status=status))

    assert event == NegotiationRejected(generation=7, error=InitializeRejected(-32602, "Invalid params: capabilities"))


def test_a_client_error_without_json_rpc_to_initialize_is_a_rejection() -> None:
    event = read_initialize(7, HttpAnswer(status=400, body=b"Bad Request"))

    assert event == NegotiationRejected(generation=7, error=InitializeRejected(None, "HTTP 400"))


# --- notifications/initialized ----------------------------------------------------------------------


def test_a_session_dropped_before_initialized_arrived_is_gone() -> None:
    answer = error(-32600, "Session not found", status=404)

    assert read_initialized(2, answer) == disrupted(2, Signal.SESSION_GONE)


@pytest.mark.parametrize("status", [200, 400])
def test_a_json_rpc_error_to_initialized_is_a_rejection(status: int) -> None:
    event = read_initialized(4, error(-32600, "Invalid Request", status=status))

    assert event == NegotiationRejected(generation=4, error=InitializeRejected(-32600, "Invalid Request"))


# --- hostile answers never make a reader raise ----------------------------------------------------


@pytest.mark.parametrize("reader", [read_discover, read_initialize], ids=["discover", "initialize"])
@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize("odd", [{}, [MODERN], None, 3], ids=["object", "list", "null", "number"])
def test_odd_values_among_the_supported_versions_do_not_make_a_reader_raise(
    reader: Reader, status: int, odd: object
) -> None:
    event = reader(1, unsupported_version(odd, UNKNOWN_VERSION, status=status))

    assert isinstance(event, NegotiationDisrupted | NegotiationRejected)
    assert event.generation == 1


@pytest.mark.parametrize("reader", READERS, ids=READER_IDS)
@pytest.mark.parametrize("body", [b"[" * 5000, b'{"result":' * 5000], ids=["arrays", "objects"])
def test_deeply_nested_json_does_not_make_a_reader_raise(reader: Reader, body: bytes) -> None:
    event = reader(1, HttpAnswer(status=200, body=body))

    assert isinstance(event, Event)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
versions = st.one_of(
    st.sampled_from([*LEGACY_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS, UNKNOWN_VERSION]),
    json_scalars,
    st.lists(json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=4), json_scalars, max_size=2),
)
rpc_errors = st.fixed_dictionaries(
    {"code": st.sampled_from([-32022, -32022, -32601, -32600, -32602, -32001]) | json_values},
    optional={
        "message": st.sampled_from(["Session not found", "Missing session ID", "_meta missing"]) | json_values,
        "data": st.fixed_dictionaries({}, optional={"supported": st.lists(versions, max_size=4) | json_values})
        | json_values,
    },
)
rpc_results = st.fixed_dictionaries(
    {},
    optional={
        "supportedVersions": st.lists(versions, max_size=4) | json_values,
        "protocolVersion": versions,
        "capabilities": json_values,
        "serverInfo": json_values,
        "_meta": st.fixed_dictionaries({}, optional={"io.modelcontextprotocol/serverInfo": json_values}) | json_values,
    },
)
documents = st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": st.just(1) | json_values}).flatmap(
    lambda envelope: st.one_of(
        rpc_errors.map(lambda error: {**envelope, "error": error}),
        (rpc_results | json_values).map(lambda result: {**envelope, "result": result}),
        st.just(envelope),
    )
)
# The answers negotiation cares most about, with odd values where the versions go.
shaped_documents = st.one_of(
    st.lists(versions, max_size=4).map(
        lambda supported: {"error": {"code": -32022, "message": "unsupported", "data": {"supported": supported}}}
    ),
    st.lists(versions, max_size=4).map(lambda supported: {"result": {"supportedVersions": supported}}),
    versions.map(lambda version: {"result": {"protocolVersion": version}}),
)
bodies = st.one_of(
    documents.map(lambda document: json.dumps(document).encode()),
    shaped_documents.map(lambda document: json.dumps({"jsonrpc": "2.0", "id": 1, **document}).encode()),
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.text(max_size=50).map(str.encode),
)
headers = st.dictionaries(
    st.sampled_from(["mcp-session-id", "Mcp-Session-Id", "content-type"]) | st.text(max_size=10),
    st.text(max_size=20),
    max_size=3,
)


@given(
    supported=st.lists(versions, max_size=5),
    status=st.sampled_from([200, 400]),
    reader=st.sampled_from([read_discover, read_initialize]),
)
def test_an_unsupported_version_error_fails_the_session_only_when_no_version_is_shared(
    supported: list[object], status: int, reader: Reader
) -> None:
    ours = {*LEGACY_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS}
    event = reader(1, unsupported_version(*supported, status=status))

    if any(isinstance(version, str) and version in ours for version in supported):
        assert event == disrupted(1, Signal.ERA_CHANGED)
    else:
        assert isinstance(rejection(event), NoCommonProtocolVersion)


@given(
    generation=st.integers(1, 2**40),
    status=st.sampled_from([200, 202, 400, 404, 410, 500]) | st.integers(0, 999),
    answer_headers=headers,
    body=bodies,
    reader=st.sampled_from(READERS),
)
def test_every_answer_becomes_an_event_of_the_given_generation(
    generation: int, status: int, answer_headers: dict[str, str], body: bytes, reader: Reader
) -> None:
    event = reader(generation, HttpAnswer(status=status, headers=answer_headers, body=body))

    assert isinstance(
        event,
        DiscoverSucceeded
        | InitializeSucceeded
        | InitializedDelivered
        | NegotiationDisrupted
        | NegotiationRejected
        | CredentialsRefused,
    )
    assert event.generation == generation


# --- a client above that negotiates itself -------------------------------------------------------


def test_the_identity_a_clients_initialize_declares() -> None:
    message = {
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "clientInfo": {"name": "ide"}, "capabilities": {"roots": {}}},
    }
    identity = declared_identity(message)
    assert (dict(identity.client_info), dict(identity.capabilities)) == ({"name": "ide"}, {"roots": {}})
    assert identity.legacy_version == "2025-06-18"
    unknown = declared_identity({"method": "initialize", "params": {"protocolVersion": "1999-01-01"}})
    assert unknown.legacy_version == LEGACY_PROTOCOL_VERSIONS[0], "an unknown version offers the oldest we speak"


def test_the_identity_a_clients_discover_declares_in_its_meta() -> None:
    meta = {"io.modelcontextprotocol/clientInfo": {"name": "ide"}, "io.modelcontextprotocol/clientCapabilities": {}}
    identity = declared_identity({"method": "server/discover", "params": {"_meta": meta}})
    assert dict(identity.client_info) == {"name": "ide"}


def test_a_handshake_result_is_the_legacy_servers_own_or_translated_from_a_sessionless_one() -> None:
    initialize = {"method": "initialize", "params": {"protocolVersion": "2025-06-18"}}
    legacy = Binding(era=Era.LEGACY, protocol_version="2025-11-25", generation=1)
    assert handshake_result(initialize, legacy, {"protocolVersion": "2025-11-25", "x": 1}) == {
        "protocolVersion": "2025-11-25",
        "x": 1,
    }
    modern = Binding(
        era=Era.MODERN,
        protocol_version="2026-07-28",
        generation=2,
        server_capabilities={"tools": {}},
        server_info={"name": "s"},
    )
    assert handshake_result(initialize, modern, {"ignored": True}) == {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "s"},
    }
