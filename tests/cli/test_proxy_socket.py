"""The proxy's listening socket: each host connection it accepts sends at once (no Nagle).

An answer leaves the proxy in pieces (the head, the body, the end of a chunked body). With Nagle's
algorithm on, a piece waits for the host to acknowledge the one before, and hosts delay that
acknowledgement: about 30 ms added to every call.
"""

from __future__ import annotations

import asyncio  # noqa: TID251 - the proxy serves on asyncio (uvicorn); what asyncio does with its socket is the point
import socket

from mcp_session_recovery.cli.proxy import _bind


def test_connections_accepted_by_the_proxy_have_nagle_off() -> None:
    async def accepted_socket_options() -> tuple[int, int]:
        accepted: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result((sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), sock.proto))
                transport.close()

        listening = _bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            try:
                return await asyncio.wait_for(accepted, 10)
            finally:
                writer.close()

    nodelay, protocol = asyncio.run(accepted_socket_options())
    assert protocol == socket.IPPROTO_TCP
    assert nodelay != 0
