"""The hostile behaviours on the in-process server, both backends: canned answers with any status
and headers for chosen requests, raw session ids, redirects and a second origin that records what
reached it, echoed secrets, a refused GET stream, and the counters that go with them.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from mcp_session_recovery.testing import (
    AUTHORIZATION_PLACEHOLDER,
    SESSION_ID_PLACEHOLDER,
    AnswerRule,
    Behaviour,
    CannedAnswer,
    ResponseStyle,
    ServedEra,
    StaleStyle,
    serve,
)

from .helpers import (
    ACCEPT,
    RawHttp,
    body_of,
    call_tool,
    header,
    modern_headers,
    modern_params,
    open_session,
    raw_exchange,
    request_bytes,
    rpc,
    session_headers,
    split_answer,
    tool_text,
)

pytestmark = pytest.mark.anyio

INITIALIZE = json.dumps(rpc("initialize", {"protocolVersion": "2025-11-25"})).encode()
SECRET = "Bearer s3cret-token"


# -- 1. canned answers: headers, any 3-digit status, chosen methods, the next N ---------------------


async def test_a_canned_answer_carries_its_headers_and_keeps_the_connection() -> None:
    answer = CannedAnswer(503, "text/plain", "busy", (("Retry-After", "2"), ("x-gateway", "edge-1")))
    async with serve(Behaviour(answer_status_for_all=answer)) as server, RawHttp.connect(server.port) as raw:
        for _ in range(2):  # an answer h11 can write leaves the connection usable
            head = await raw.send_request("POST", "/mcp", ACCEPT, INITIALIZE)
            assert (head.status_code, header(head, "retry-after"), header(head, "x-gateway")) == (503, "2", "edge-1")
            assert await raw.next_data() == b"busy"
            assert await raw.next_data() == b""
            raw.h11.start_next_cycle()
        assert server.stats.canned_answers == 2


async def test_a_content_encoding_the_body_does_not_match() -> None:
    answer = CannedAnswer(200, "application/json", b"{not gzip}", (("content-encoding", "gzip"),))
    async with serve(Behaviour(answer_status_for_all=answer)) as server, httpx.AsyncClient() as client:
        with pytest.raises(httpx.DecodingError):
            await client.post(server.url, json=rpc("initialize", {}), headers=ACCEPT)
        _, lines, body = split_answer(await raw_exchange(server.port, request_bytes("POST", "/mcp", ACCEPT)))
        assert b"content-encoding: gzip" in lines
        assert body == b"{not gzip}"


@pytest.mark.parametrize(("status", "line"), [(0, b"000 "), (99, b"099 "), (100, b"100 Continue"), (199, b"199 ")])
async def test_statuses_h11_refuses_are_written_raw(status: int, line: bytes) -> None:
    answer = CannedAnswer(status, "application/json", '{"jsonrpc":"2.0","id":1,"result":{}}', (("x-odd", "1"),))
    async with serve(Behaviour(answer_status_for_all=answer)) as server:
        data = await raw_exchange(server.port, request_bytes("POST", "/mcp", ACCEPT, INITIALIZE))
    status_line, lines, body = split_answer(data)
    assert status_line == b"HTTP/1.1 " + line
    assert b"x-odd: 1" in lines
    assert b"content-type: application/json" in lines
    assert b"connection: close" in lines, "after a raw answer the server closes"
    assert body == b'{"jsonrpc":"2.0","id":1,"result":{}}'


@pytest.mark.parametrize("status", [204, 304, 600, 999])
async def test_odd_but_writable_statuses_and_a_body_where_none_belongs(status: int) -> None:
    async with serve(Behaviour(answer_status_for_all=CannedAnswer(status, "text/plain", "odd"))) as server:
        data = await raw_exchange(server.port, request_bytes("GET", "/mcp", ACCEPT))
    status_line, lines, body = split_answer(data)
    assert status_line.startswith(b"HTTP/1.1 %d" % status)
    assert (b"content-length: 3" in lines, body) == (True, b"odd")


async def test_no_content_type_at_all() -> None:
    async with serve(Behaviour(answer_status_for_all=CannedAnswer(502, "", "x"))) as server:
        _, lines, _ = split_answer(await raw_exchange(server.port, request_bytes("GET", "/mcp", {})))
    assert not [line for line in lines if line.lower().startswith(b"content-type")]


@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_the_first_tool_call_gets_503_retry_after_later_ones_succeed(style: ResponseStyle) -> None:
    rule = AnswerRule(CannedAnswer(503, "text/plain", "busy", (("retry-after", "2"),)), frozenset({"tools/call"}), 1)
    async with serve(Behaviour(response_style=style, answer_rules=(rule,))) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)  # initialize is not selected
        first = await call_tool(client, server.url, session_id, "bump")
        assert (first.status_code, first.headers["retry-after"], first.text) == (503, "2", "busy")
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "2"
        stats = server.stats
        assert (stats.tool_executions["bump"], stats.canned_answers) == (2, 1), "the 503 ran nothing"
        assert server.behaviour.answer_rules[0].times == 0, "the rule is spent"


async def test_rules_by_method_first_match_wins_and_apply_in_the_modern_era_too() -> None:
    rules = (
        AnswerRule(CannedAnswer(429, "text/plain", "slow down", (("retry-after", "1"),)), frozenset({"initialize"}), 2),
        AnswerRule(CannedAnswer(500, "text/plain", "never"), frozenset({"initialize"})),
        AnswerRule(CannedAnswer(401, "text/plain", "who?"), frozenset({"server/discover"})),
    )
    behaviour = Behaviour(eras=frozenset(ServedEra), answer_rules=rules)
    async with serve(behaviour) as server, httpx.AsyncClient() as client:
        statuses = [
            (await client.post(server.url, json=rpc("initialize", {}), headers=ACCEPT)).status_code for _ in range(3)
        ]
        assert statuses == [429, 429, 500]
        discover = await client.post(
            server.url, json=rpc("server/discover", modern_params()), headers=modern_headers("server/discover")
        )
        assert discover.status_code == 401
        assert server.stats.canned_answers == 4
        assert len(server.stats.initialize_times) == 3, "each initialize timed, though none was served"


DROPPED = {
    "initialize": rpc("initialize", {}),
    "notifications/initialized": rpc("notifications/initialized", request_id=None),
    "tools/call": rpc("tools/call", {"name": "bump"}),
}


@pytest.mark.parametrize("method", list(DROPPED))
async def test_a_rule_without_an_answer_drops_the_connection_at_that_stage(method: str) -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        server.configure(answer_rules=[AnswerRule(None, frozenset({method}), times=1)])
        headers = ACCEPT if method == "initialize" else session_headers(session_id)
        with pytest.raises(httpx.RemoteProtocolError):  # no answer: the connection closed
            await client.post(server.url, json=DROPPED[method], headers=headers)
        answer = await client.post(server.url, json=DROPPED[method], headers=headers)
        assert answer.status_code in (200, 202), "only the next one was dropped"
        stats = server.stats
        assert (stats.dropped_requests, stats.canned_answers, stats.tool_executions.get("bump", 0)) == (
            1,
            0,
            1 if method == "tools/call" else 0,
        )


async def test_the_get_stream_answered_404_500_or_an_empty_200() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        stream_headers = {**session_headers(session_id), "accept": "text/event-stream"}
        for answer in (
            CannedAnswer(404, "text/plain", "Not Found"),
            CannedAnswer(500, "application/json", '{"error":"boom"}'),
            CannedAnswer(200, "text/event-stream", ""),
        ):
            server.configure(answer_rules=[AnswerRule(answer, frozenset({"GET"}))])
            response = await client.get(server.url, headers=stream_headers)
            assert (response.status_code, response.headers["content-type"]) == (answer.status, answer.content_type)
            assert response.content == answer.body_bytes()  # an empty 200 stream ends at once
            assert tool_text(await call_tool(client, server.url, session_id, "peek")) == "0", "POSTs still served"
        stats = server.stats
        assert (stats.get_requests, stats.get_streams_opened, stats.canned_answers) == (3, 0, 3)


async def test_get_and_delete_requests_and_sessions_left_open_are_counted() -> None:
    async with serve(Behaviour(response_style=ResponseStyle.JSON)) as server, httpx.AsyncClient() as client:
        ids = [await open_session(client, server.url) for _ in range(3)]
        assert (await client.delete(server.url, headers=session_headers(ids[0]))).status_code == 200
        assert (await client.delete(server.url, headers=session_headers(ids[0]))).status_code == 404  # stale
        assert (await client.get(server.url, headers=ACCEPT)).status_code == 400  # no session id
        server.expire_sessions()  # forgotten, never deleted: still left open by the clients
        stats = server.stats
        assert (stats.get_requests, stats.delete_requests, stats.sessions_deleted) == (1, 2, 1)
        assert (stats.sessions_open, stats.live_sessions) == (2, 0)


async def test_initialize_times_are_monotonic_server_side_during_a_gateway_window() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        before = time.monotonic()
        await open_session(client, server.url)
        server.configure(answer_status_for_all=CannedAnswer(502, "text/plain", "Bad Gateway"))
        for _ in range(3):
            response = await client.post(server.url, json=rpc("initialize", {}), headers=ACCEPT)
            assert response.status_code == 502
        after = time.monotonic()
        times = server.stats.initialize_times
        assert len(times) == 4
        assert before <= times[0] <= times[1] <= times[2] <= times[3] <= after
        assert server.stats.initializes == 1


# -- 2. hostile session ids -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc\rdef", "abc\ndef", "abc\x00def", "  padded  "])
async def test_a_session_id_h11_refuses_goes_out_as_raw_bytes(value: str) -> None:
    async with serve(Behaviour(issued_session_id=value)) as server:
        data = await raw_exchange(server.port, request_bytes("POST", "/mcp", ACCEPT, INITIALIZE))
        assert b"mcp-session-id: " + value.encode() + b"\r\n" in data
        status_line, lines, body = split_answer(data)
        assert status_line == b"HTTP/1.1 200 OK"
        assert b"transfer-encoding: chunked" in lines
        assert body.endswith(b"\r\n0\r\n\r\n"), "the SSE body is chunked by hand, and ends"
        assert b'"protocolVersion":"2025-11-25"' in body
        assert server.stats.initializes == 1
        server.configure(issued_session_id=None)
        async with httpx.AsyncClient() as client:  # the server is otherwise normal
            session_id = await open_session(client, server.url)
            assert re.fullmatch("[0-9a-f]{32}", session_id)
            assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"


@pytest.mark.parametrize("size", [2048, 60 * 1024])
@pytest.mark.parametrize("style", list(ResponseStyle))
async def test_a_very_long_session_id_is_issued_and_works_when_sent_back(size: int, style: ResponseStyle) -> None:
    long_id = ("0123456789abcdef" * (size // 16 + 1))[:size]
    behaviour = Behaviour(issued_session_id=long_id, response_style=style)
    async with serve(behaviour) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        assert session_id == long_id
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        answer = await call_tool(client, server.url, session_id, "peek")
        assert answer.headers["mcp-session-id"] == long_id
        assert server.stats.live_sessions == 1


# -- 3. redirects, a second path, a second origin that records -------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_every_redirect_code_for_the_next_post_only(status: int) -> None:
    rule = AnswerRule(CannedAnswer.redirect(status, "/moved"), frozenset({"POST"}), times=1)
    behaviour = Behaviour(answer_rules=(rule,), path_aliases=frozenset({"/moved"}))
    async with serve(behaviour) as server, httpx.AsyncClient() as client:
        redirected = await client.post(server.url, json=rpc("initialize", {}), headers=ACCEPT)
        assert (redirected.status_code, redirected.headers["location"]) == (status, "/moved")
        session_id = await open_session(client, server.url)  # the next POST is served
        moved = await call_tool(client, server.base_url + "/moved", session_id, "bump")  # same sessions there
        assert tool_text(moved) == "1"


async def test_a_same_origin_307_is_followed_to_the_alias() -> None:
    rule = AnswerRule(CannedAnswer.redirect(307, "/mcp/"), frozenset({"POST"}))
    behaviour = Behaviour(answer_rules=(rule,), path_aliases=frozenset({"/mcp/"}), response_style=ResponseStyle.JSON)
    async with serve(behaviour) as server, httpx.AsyncClient(follow_redirects=True) as client:
        session_id = await open_session(client, server.url)
        assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        stats = server.stats
        assert stats.canned_answers == 3, "every POST to /mcp was redirected, none served there"
        assert (stats.initializes, stats.tool_executions["bump"]) == (1, 1)


async def test_a_second_origin_records_what_a_cross_origin_redirect_carried_there() -> None:
    async with serve(Behaviour(record_requests=10, answer_status_for_all=CannedAnswer(200, "", ""))) as other:
        location = other.base_url + "/elsewhere"
        rule = AnswerRule(CannedAnswer.redirect(307, location), frozenset({"tools/call"}))
        async with serve(Behaviour(answer_rules=(rule,))) as server:
            async with httpx.AsyncClient(follow_redirects=True) as client:  # the caller's own client
                session_id = await open_session(client, server.url)
                headers = {**session_headers(session_id), "authorization": SECRET}
                params = {"name": "bump", "arguments": {}}
                await client.post(server.url, json=rpc("tools/call", params), headers=headers)
            assert server.stats.tool_executions == {}
        (seen,) = other.stats.recorded_requests
        assert (seen.method, seen.path) == ("POST", "/elsewhere")
        # What the recorder is for: it shows what crossed. Plain httpx strips only Authorization.
        assert seen.headers.get("mcp-session-id") == session_id
        assert seen.headers.get("mcp-protocol-version") == "2025-11-25"
        assert "authorization" not in seen.headers
        assert other.stats.initialize_times == (), "the recorder's own counters: no MCP request reached it"


async def test_recording_is_off_by_default_and_skips_control_requests() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        await client.get(server.url)
        before = server.stats
        assert not before.recorded_requests
        server.configure(record_requests=3)
        await client.get(server.base_url + "/_control/stats")
        await client.get(server.base_url + "/other", headers={"authorization": SECRET})
        (seen,) = server.stats.recorded_requests
        assert (seen.method, seen.path, seen.headers["authorization"]) == ("GET", "/other", SECRET)


# -- 4. echoed secrets ----------------------------------------------------------------------------


def echoed(session_id: str | None, authorization: str | None) -> str:
    return f"Mcp-Session-Id: {session_id or '<none>'}; Authorization: {authorization or '<none>'}"


@pytest.mark.parametrize("style", list(StaleStyle))
async def test_stale_answers_echo_the_session_id_and_credentials(style: StaleStyle) -> None:
    async with serve(Behaviour(stale_style=style, echo_secrets=True)) as server, httpx.AsyncClient() as client:
        headers = {**session_headers("stale-0123"), "authorization": SECRET}
        response = await client.post(server.url, json=rpc("ping"), headers=headers)
        assert response.status_code in (400, 404)
        assert echoed("stale-0123", SECRET) in response.text
        if response.headers["content-type"].startswith("application/json"):
            error = response.json()["error"]
            assert echoed("stale-0123", SECRET) in (error if isinstance(error, str) else error["message"])


async def test_errors_and_tool_results_echo_secrets_in_both_eras() -> None:
    behaviour = Behaviour(eras=frozenset(ServedEra), echo_secrets=True)
    async with serve(behaviour) as server, httpx.AsyncClient() as client:
        secret = {"authorization": SECRET}
        missing = await client.post(server.url, json=rpc("ping"), headers={**ACCEPT, **secret})
        assert (missing.status_code, missing.json()["error"]["message"]) == (
            400,
            f"Bad Request: Missing session ID ({echoed(None, SECRET)})",
        )
        session_id = await open_session(client, server.url)
        headers = {**session_headers(session_id), **secret}
        bump = await client.post(server.url, json=rpc("tools/call", {"name": "bump"}), headers=headers)
        content = body_of(bump)["result"]["content"]
        assert content == [{"type": "text", "text": "1"}, {"type": "text", "text": echoed(session_id, SECRET)}]
        unknown = await client.post(server.url, json=rpc("tools/call", {"name": "nope"}), headers=headers)
        assert echoed(session_id, SECRET) in body_of(unknown)["error"]["message"]
        plain = await client.get(server.base_url + "/nowhere", headers=headers)
        assert plain.text == f"Not Found\n{echoed(session_id, SECRET)}\n"
        modern = await client.post(
            server.url,
            json=rpc("tools/call", modern_params({"name": "nope"})),
            headers={**modern_headers("tools/call", "nope"), **secret},
        )
        assert echoed(None, SECRET) in body_of(modern)["error"]["message"]
        listed = await client.post(server.url, json=rpc("tools/list"), headers=headers)
        assert SECRET not in listed.text, "only errors and tool results echo"


async def test_canned_bodies_fill_in_the_request_secrets() -> None:
    body = (
        '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error for session '
        + SESSION_ID_PLACEHOLDER
        + " with "
        + AUTHORIZATION_PLACEHOLDER
        + '"}}'
    )
    rule = AnswerRule(CannedAnswer(500, "application/json", body), frozenset({"tools/call"}))
    async with serve(Behaviour(answer_rules=(rule,))) as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        headers = {**session_headers(session_id), "authorization": SECRET}
        response = await client.post(server.url, json=rpc("tools/call", {"name": "bump"}), headers=headers)
        assert response.status_code == 500
        assert response.json()["error"]["message"] == f"internal error for session {session_id} with {SECRET}"
