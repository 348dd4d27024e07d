"""Bad input and rude clients never take the server down; the control endpoints; the context manager."""

from __future__ import annotations

import anyio
import h11
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketListener

from mcp_session_recovery.testing import serve
from mcp_session_recovery.testing._http import Connection
from mcp_session_recovery.testing._wire import HttpRequest, Reply

from .helpers import RawHttp, call_tool, open_session, rpc, tool_text

pytestmark = pytest.mark.anyio


async def test_garbage_bytes_get_a_400_and_the_server_keeps_serving() -> None:
    async with serve() as server:
        stream = await anyio.connect_tcp("127.0.0.1", server.port)
        async with stream:
            await stream.send(b"NOT HTTP AT ALL\r\n\r\n")
            with anyio.fail_after(5):
                answer = await stream.receive()
        assert answer.startswith(b"HTTP/1.1 400 ")
        async with httpx.AsyncClient() as client:
            assert (await client.post(server.url, json=rpc("initialize", {}))).status_code == 200
        assert server.errors == ()


async def test_clients_that_vanish_mid_request_or_mid_answer_do_no_harm() -> None:
    async with serve() as server:
        # headers promising a body that never comes
        async with await anyio.connect_tcp("127.0.0.1", server.port) as stream:
            await stream.send(b'POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"jsonrpc"')
        # a request whose answer nobody reads
        async with RawHttp.connect(server.port) as raw:
            await raw.send("POST", "/mcp", {}, b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}')
        async with httpx.AsyncClient() as client:
            session_id = await open_session(client, server.url)
            assert tool_text(await call_tool(client, server.url, session_id, "bump")) == "1"
        assert server.errors == ()


async def test_an_oversized_body_is_refused() -> None:
    async with serve() as server, RawHttp.connect(server.port) as raw:
        head = h11.Request(method="POST", target="/mcp", headers=[("host", "x"), ("content-length", str(2 << 20))])
        # send a little more than the limit, not all of it: the server answers as soon as it is over
        await raw.stream.send(raw.h11.send(head) + raw.h11.send(h11.Data(data=b"x" * ((1 << 20) + 10))))
        with anyio.fail_after(5):
            response = await raw.next_event()
        assert isinstance(response, h11.Response)
        assert response.status_code == 413


async def test_many_requests_on_one_keep_alive_connection() -> None:
    async with serve() as server:
        async with RawHttp.connect(server.port) as raw:
            for request_id in range(20):
                body = f'{{"jsonrpc":"2.0","id":{request_id},"method":"initialize","params":{{}}}}'.encode()
                response = await raw.send_request("POST", "/mcp", {}, body)
                assert response.status_code == 200
                for _ in range(3):
                    if await raw.next_data() == b"":
                        break
                raw.h11.start_next_cycle()
        assert server.stats.initializes == 20


async def test_control_endpoints() -> None:
    async with serve() as server, httpx.AsyncClient() as client:
        session_id = await open_session(client, server.url)
        stats = (await client.get(server.base_url + "/_control/stats")).json()
        assert stats["initializes"] == 1
        assert stats["live_sessions"] == 1
        configured = await client.post(
            server.base_url + "/_control/configure", json={"stale_style": "plain_text", "cut_tool_responses": 1}
        )
        assert configured.status_code == 200
        assert configured.json()["stale_style"] == "plain_text"
        assert server.behaviour.cut_tool_responses == 1
        bad = await client.post(server.base_url + "/_control/configure", json={"stale_style": "nope"})
        assert bad.status_code == 400
        assert "stale_style" in bad.json()["error"]
        assert (await client.post(server.base_url + "/_control/configure", content=b"{")).status_code == 400
        assert (await client.post(server.base_url + "/_control/configure", json={"colour": 1})).status_code == 400
        behaviour = (await client.get(server.base_url + "/_control/behaviour")).json()
        assert behaviour["cut_tool_responses"] == 1
        restarted = (await client.post(server.base_url + "/_control/restart")).json()
        assert (restarted["restarts"], restarted["initializes"]) == (1, 0)
        stale = await call_tool(client, server.url, session_id, "peek")
        assert (stale.status_code, stale.text) == (404, "session not found\n")
        assert (await client.get(server.base_url + "/_control/nothing")).status_code == 404
        assert server.stats.requests_by_method == {"tools/call": 1}  # control requests are not counted


async def test_control_can_be_disabled() -> None:
    async with serve(control=False) as server, httpx.AsyncClient() as client:
        assert (await client.get(server.base_url + "/_control/stats")).status_code == 404


async def test_a_custom_path() -> None:
    async with serve(path="/custom/mcp") as server, httpx.AsyncClient() as client:
        assert server.url.endswith("/custom/mcp")
        assert (await client.post(server.url, json=rpc("initialize", {}))).status_code == 200
        assert (await client.post(server.base_url + "/mcp", json=rpc("initialize", {}))).status_code == 404
    with pytest.raises(ValueError, match="path"):
        async with serve(path="no-slash"):
            pass


async def test_an_exception_in_the_block_comes_out_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with serve():
            raise KeyError("mine")


async def test_a_taken_port_raises_oserror() -> None:
    async with serve() as server:
        with anyio.fail_after(10), pytest.raises(OSError, match="in use"):
            async with serve(port=server.port, bind_timeout=0.2):
                pass


async def test_closing_with_an_idle_keep_alive_connection_is_prompt() -> None:
    with anyio.fail_after(5):
        async with serve() as server:
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            raw = RawHttp(stream, "x")
            await raw.send_request("POST", "/mcp", {}, b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}')
        async with stream:
            for _ in range(3):
                if isinstance(await raw.next_event(), h11.EndOfMessage):
                    break
            raw.h11.start_next_cycle()
            assert isinstance(await raw.next_event(), h11.ConnectionClosed)


async def test_a_bug_in_a_handler_is_a_500_and_is_reported() -> None:
    errors: list[BaseException] = []

    async def broken(request: HttpRequest) -> Reply:
        raise RuntimeError(f"boom on {request.path}")

    multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with multi, anyio.create_task_group() as group:
        listener = multi.listeners[0]
        assert isinstance(listener, SocketListener)
        port = listener.extra(SocketAttribute.local_port)

        async def serve_one() -> None:
            await Connection(await listener.accept(), broken, on_error=errors.append).run()

        group.start_soon(serve_one)
        async with RawHttp.connect(port) as raw:
            response = await raw.send_request("GET", "/x", {})
            assert response.status_code == 500
            assert b"boom on /x" in (await raw.next_data() or b"")
    assert [str(error) for error in errors] == ["boom on /x"]
