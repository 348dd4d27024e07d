"""The protocol era each origin spoke last, so a new session tries that era first.

The 2026-07-28 versioning rules tell dual-era clients to cache the era per origin and re-probe when
the cached assumption fails; the model does the re-probing, this cache only remembers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp_session_recovery.model import Era

__all__ = ["DEFAULT_ERA_CACHE", "EraCache", "origin_of"]


def origin_of(url: str) -> str:
    """``scheme://host:port`` of ``url``, without credentials or path."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


class EraCache:
    """A process-local map from origin to the era it spoke."""

    def __init__(self) -> None:
        self._eras: dict[str, Era] = {}

    def get(self, origin: str) -> Era | None:
        """The era ``origin`` spoke last, if known."""
        return self._eras.get(origin)

    def remember(self, origin: str, era: Era) -> None:
        """Record that ``origin`` spoke ``era``."""
        self._eras[origin] = era

    def forget(self, origin: str) -> None:
        """Drop what is known about ``origin``."""
        self._eras.pop(origin, None)


#: The cache sessions share unless given their own.
DEFAULT_ERA_CACHE = EraCache()
