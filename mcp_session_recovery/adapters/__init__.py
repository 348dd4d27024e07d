"""Thin adapters for httpx/httpx2, aiohttp and the MCP SDK, all over the one runtime.

Not built yet: they follow the runtime (see the README's status section).
"""

from __future__ import annotations

__all__: list[str] = []
