"""Thin adapters over the one runtime; import each from its module (their libraries are extras).

- :mod:`.httpx_transport`: ``RecoveringTransport`` under the unmodified MCP SDK (httpx2 or httpx);
- :mod:`.client_factory`: ``recovering_client_factory()``, clients over that transport for the SDK's
  and the frameworks' ``httpx_client_factory`` seam;
- :mod:`.httpx_sync_transport`: ``RecoveringSyncTransport`` for a blocking ``httpx.Client``;
- :mod:`.mcp_sdk`: ``connect()``, a client with the SDK's call surface that owns its session;
- :mod:`.aiohttp_middleware`: ``RecoveringMiddleware``, the same for a raw JSON-RPC client on aiohttp;
- :mod:`.httpx_wire`: ``HttpxWire``, the runtime's wire over an httpx/httpx2 client;
- :mod:`.aiohttp_wire`: ``AiohttpWire``, the same over an ``aiohttp.ClientSession``.
"""

from __future__ import annotations

__all__: list[str] = []
