"""The runtime keeps one session alive across a server restart, on asyncio or trio.

Starts the library's fault-injecting test server in-process, calls a tool, restarts the server (every
session forgotten), and calls again: the runtime re-initializes once and replays the call. Prints
what the session went through and what the server saw.

    python examples/survive_a_restart.py [asyncio|trio]
"""

from __future__ import annotations

import sys

import anyio
import httpx

from mcp_session_recovery.adapters.httpx_wire import HttpxWire
from mcp_session_recovery.runtime import Session, SessionOptions, TransitionRecord
from mcp_session_recovery.testing import Behaviour, serve


async def main() -> None:
    changes: list[str] = []

    def on_event(record: TransitionRecord) -> None:
        if record.old_state is not record.new_state:
            changes.append(f"{record.old_state.name}->{record.new_state.name}")

    async with serve(Behaviour()) as server, httpx.AsyncClient() as client:
        session = Session(HttpxWire(client, server.url), server.url, SessionOptions(), on_event=on_event)
        async with session:
            before = await session.request("tools/call", {"name": "bump", "arguments": {}})
            server.restart()  # a redeploy: the old session id now gets 404
            after = await session.request("tools/call", {"name": "bump", "arguments": {}})
        print("before restart:", before["content"][0]["text"])
        print("after restart:", after["content"][0]["text"])
        print("states:", " ".join(changes))
        print("initializes seen by the new server process:", server.stats.initializes)


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
