"""The client logic's pure parts, shared by both SDK lines' suite clients (``client.py`` for 2.x,
``tests_sdk1/suite_client.py`` for 1.x), so the logic is the same in every mode: no SDK import here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

__all__ = ["InMemoryTokenStorage", "arguments_for", "form_defaults", "say"]

Tokens = TypeVar("Tokens")
ClientInfo = TypeVar("ClientInfo")


def say(message: str) -> None:
    """A line of the client's own on stderr (stdout is the suite's)."""
    print(f"official-suite client: {message}", file=sys.stderr, flush=True)


class InMemoryTokenStorage(Generic[Tokens, ClientInfo]):
    """The SDK's token storage for one run, in memory: tokens and the client's registration (each
    SDK line with its own types)."""

    def __init__(self, client_info: ClientInfo | None = None) -> None:
        self._tokens: Tokens | None = None
        self._client_info = client_info

    async def get_tokens(self) -> Tokens | None:
        return self._tokens

    async def set_tokens(self, tokens: Tokens) -> None:
        self._tokens = tokens

    async def get_client_info(self) -> ClientInfo | None:
        return self._client_info

    async def set_client_info(self, client_info: ClientInfo) -> None:
        self._client_info = client_info


def arguments_for(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments for a tool: each property's default, else a plain value of its type."""
    arguments: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for name, spec in properties.items():
        if not isinstance(spec, dict):
            arguments[name] = "test"
        elif "default" in spec:
            arguments[name] = spec["default"]
        else:
            kind = spec.get("type", "string")
            arguments[name] = {"number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}.get(kind, "test")
    return arguments


def form_defaults(requested_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The content accepting a form elicitation with the defaults its schema gives (SEP-1034)."""
    content: dict[str, Any] = {}
    for name, spec in (requested_schema.get("properties") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            content[name] = spec["default"]
    return content
