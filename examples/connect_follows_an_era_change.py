"""``connect()`` follows one URL from the legacy era to the sessionless one and back.

The test server is redeployed twice with another protocol era (a deploy, then a rollback); the
client keeps calling and is told each time that the server's terms changed, with the new tool list.

    python examples/connect_follows_an_era_change.py
"""

from __future__ import annotations

import math

import anyio
import mcp_types as types

from mcp_session_recovery.adapters.mcp_sdk import connect
from mcp_session_recovery.testing import Behaviour, ServedEra, serve

LEGACY, MODERN = frozenset({ServedEra.LEGACY}), frozenset({ServedEra.MODERN})


async def main() -> None:
    told, tool_lists = anyio.create_memory_object_stream[types.ListToolsResult](max_buffer_size=math.inf)

    async def on_tools_changed(tools: types.ListToolsResult) -> None:
        await told.send(tools)

    server_cm = serve(Behaviour(eras=LEGACY))
    async with server_cm as server, connect(server.url, on_tools_changed=on_tools_changed) as client:
        for step, eras in enumerate((LEGACY, MODERN, LEGACY)):
            if step:  # a redeploy that speaks another era
                server.configure(eras=eras)
                server.restart()
            result = await client.call_tool("bump", {})
            binding = client.session.binding
            assert binding is not None
            print(f"{binding.era.value} era: bump -> {result.content[0].text}")  # type: ignore[union-attr]
            if step:  # the tool list is fetched again beside the call
                with anyio.fail_after(10):
                    tools = await tool_lists.receive()
                print("  terms changed; tools:", ", ".join(sorted(tool.name for tool in tools.tools)))


if __name__ == "__main__":
    anyio.run(main)
