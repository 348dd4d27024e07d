"""What a READY session holds: the binding to one negotiated server, and its session id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import MAX_SESSION_ID_LENGTH, MalformedSessionId
from .states import Era

__all__ = ["MAX_SESSION_ID_LENGTH", "Binding", "SessionId"]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SessionId:
    """A legacy ``Mcp-Session-Id`` value, checked and never shown.

    Only visible ASCII (0x21-0x7E) is allowed (Streamable HTTP, Session Management item 1), at most
    :data:`MAX_SESSION_ID_LENGTH` characters (it is sent again with every request); anything else
    raises :class:`MalformedSessionId` at construction. ``repr`` and ``str`` are redacted so
    the id cannot leak into logs or error messages; :attr:`header_value` is the one way to read it.
    """

    header_value: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.header_value, str):
            raise MalformedSessionId(0, None)
        if not self.header_value:
            raise MalformedSessionId(0, None)
        if len(self.header_value) > MAX_SESSION_ID_LENGTH:
            raise MalformedSessionId(len(self.header_value), None)
        for position, char in enumerate(self.header_value):
            if not 0x21 <= ord(char) <= 0x7E:
                raise MalformedSessionId(len(self.header_value), position)

    def __repr__(self) -> str:
        return "SessionId(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """The result of one successful negotiation.

    ``generation`` grows with every negotiation; requests are stamped with the generation they were
    sent under, so a failure reported for an older generation can be told apart from one that
    concerns the live binding.
    """

    era: Era
    protocol_version: str
    generation: int
    session_id: SessionId | None = None
    # Capabilities and server info are compared but not hashed: they are plain JSON mappings.
    server_capabilities: Mapping[str, Any] = field(default_factory=_empty, hash=False)
    server_info: Mapping[str, Any] = field(default_factory=_empty, hash=False)

    def __post_init__(self) -> None:
        if not self.protocol_version:
            raise ValueError("a binding needs a protocol version")
        if self.generation < 1:
            raise ValueError("generations start at 1")
        if self.era is Era.MODERN and self.session_id is not None:
            raise ValueError("the sessionless era has no session id")
        object.__setattr__(self, "server_capabilities", MappingProxyType(dict(self.server_capabilities)))
        object.__setattr__(self, "server_info", MappingProxyType(dict(self.server_info)))

    def same_terms(self, other: Binding) -> bool:
        """True when ``other`` offers what this binding offered (era, version, capabilities)."""
        return (
            self.era is other.era
            and self.protocol_version == other.protocol_version
            and dict(self.server_capabilities) == dict(other.server_capabilities)
        )
