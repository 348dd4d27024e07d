"""The integration tests' SDK 2.3.0 server with three more tools, for the proxy and stdio bridge tests.

What a bridge must carry besides calls: progress notifications on a streaming answer, a server's
request answered by the host (elicitation), and the credential the bridge was given. The SDK
server of ``tests/integration/servers/sdk_server.py`` serves unchanged (its counters at
``/_stats`` included); this script only adds the tools before it starts::

    python tests/cli/servers/bridge_server.py --port 8123

``credential`` compares the request's ``Authorization`` with ``Bearer $BRIDGE_TEST_TOKEN`` and
answers only ``match`` or ``mismatch``: the secret itself is never echoed.
"""

from __future__ import annotations

import hmac
import os
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

from tests.integration.servers import sdk_server

__all__ = ["build_server"]

_base_build_server = sdk_server.build_server


class Answer(BaseModel):
    """What ``ask`` asks the host for."""

    answer: str


def build_server(**settings: Any) -> MCPServer[Any]:
    """The SDK integration server plus ``count_to``, ``ask`` and ``credential``."""
    server = _base_build_server(**settings)

    @server.tool(description="Report progress 1..n (with a pause between), then answer 'counted n'.")
    async def count_to(n: int, ctx: Context) -> str:
        for step in range(1, n + 1):
            await ctx.report_progress(step, n, f"step {step}")
            await anyio.sleep(0.05)
        return f"counted {n}"

    @server.tool(description="Ask the host a question (elicitation) and repeat its answer.")
    async def ask(question: str, ctx: Context) -> str:
        result = await ctx.elicit(question, Answer)
        if result.action == "accept" and result.data is not None:
            return f"you said {result.data.answer}"
        return f"no answer ({result.action})"

    @server.tool(description="'match' if the request carried Authorization: Bearer $BRIDGE_TEST_TOKEN.")
    def credential(ctx: Context) -> str:
        expected = f"Bearer {os.environ.get('BRIDGE_TEST_TOKEN', '')}"
        got = (ctx.headers or {}).get("authorization", "")
        return "match" if hmac.compare_digest(got.encode(), expected.encode()) else "mismatch"

    return server


# build_app() looks build_server up in its module when the process starts.
sdk_server.build_server = build_server

if __name__ == "__main__":
    sys.exit(sdk_server.main())
