"""What the edge tests share: options, the server's own answer as a reference, short comparisons."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from mcp_session_recovery.model import EraMode
from mcp_session_recovery.runtime import Backoff, EraCache, ReadLimits, SessionOptions

from .clients import ACCEPT, RawAnswer, tool_call_body

MIB = 1 << 20


def options(*, mode: EraMode = EraMode.LEGACY, limits: ReadLimits | None = None, **changes: Any) -> SessionOptions:
    """Quick recovery, a 20 s deadline, a private era cache; ``limits`` when given."""
    settings: dict[str, Any] = {
        "mode": mode,
        "backoff": Backoff(base=0.05, cap=0.5),
        "max_attempts": 10,
        "request_timeout": 20.0,
        "era_cache": EraCache(),
    }
    if limits is not None:
        settings["limits"] = limits
    settings.update(changes)
    return SessionOptions(**settings)


def assert_same(got: object, expected: bytes | str) -> None:
    """Fail with a short account (lengths, first differing offset) unless equal: never a 1 MiB diff."""
    problem = _mismatch(got, expected)
    if problem:
        raise AssertionError(problem)


def _mismatch(got: object, expected: bytes | str) -> str:
    if got == expected:
        return ""
    if not isinstance(got, bytes | str) or type(got) is not type(expected):
        return f"expected {type(expected).__name__} of {len(expected)}, got {str(got)[:300]!r}"
    assert isinstance(got, bytes | str)
    offset = next(
        (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), min(len(got), len(expected))
    )
    return (
        f"{len(got)} units, expected {len(expected)}; first difference at {offset}: "
        f"got {got[offset : offset + 40]!r}, expected {expected[offset : offset + 40]!r}"
    )


async def reference_answer(url: str, request_id: int, name: str, arguments: dict[str, Any]) -> RawAnswer:
    """What the server itself answers to this ``tools/call``, over a plain httpx client and a session of its own."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "reference", "version": "1"},
        },
    }
    async with httpx.AsyncClient(timeout=30) as client:
        opened = await client.post(url, json=init, headers=ACCEPT)
        assert opened.status_code == 200, opened.text
        headers = {
            **ACCEPT,
            "content-type": "application/json",
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        notified = await client.post(
            url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        )
        assert notified.status_code == 202
        answer = await client.post(url, content=tool_call_body(request_id, name, arguments), headers=headers)
        await client.delete(url, headers=headers)
        return RawAnswer(answer.status_code, answer.headers.get("content-type", ""), answer.content)


class Traced:
    """The peak of traced Python memory inside a ``with traced()`` block (``tracemalloc``)."""

    peak: int = 0


@contextmanager
def traced() -> Iterator[Traced]:
    """Trace allocations in the block (every thread); ``.peak`` is its high-water mark in bytes."""
    result = Traced()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        yield result
        _, peak = tracemalloc.get_traced_memory()
        result.peak = peak - base
    finally:
        tracemalloc.stop()
