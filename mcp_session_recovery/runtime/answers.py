"""The answers the runtime gives a client above in a server's place: their shape, and the events
that carry them on a stream."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_session_recovery.model import CredentialsRejected, McpSessionError

from .wire import WireResponse

__all__ = [
    "CUT_EVENT_TYPE",
    "LIBRARY_ERROR_CODE",
    "Forwarded",
    "as_event",
    "closing_cut_event",
    "error_answer",
    "event",
    "json_rpc_error",
]

#: The JSON-RPC code of the errors the library answers in the server's place (implementation-defined
#: server error range of JSON-RPC 2.0).
LIBRARY_ERROR_CODE = -32000


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The answer for the client above: status, headers, and a body or a live stream.

    A ``stream`` must be closed by its consumer (``aclose``) when it stops reading early.
    ``source`` is the wire response whose status and headers these are, for an adapter that can
    hand that very response on with ``stream`` (or ``body``) in place of its body. ``error`` is the
    library's error this answer carries (the JSON-RPC error of :func:`error_answer`).
    """

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    stream: AsyncGenerator[bytes, None] | None = None
    source: WireResponse | None = None
    error: McpSessionError | None = None


def json_rpc_error(client_id: Any, error: McpSessionError) -> dict[str, Any]:
    """The JSON-RPC error message that tells one client request what the library gave up on."""
    data: dict[str, Any] = {"error": type(error).__name__}
    for name in ("hint", "advice"):  # the likely cause, and what to try
        value = getattr(error, name, None)
        if isinstance(value, str):
            data[name] = value
    return {
        "jsonrpc": "2.0",
        "id": client_id,
        "error": {"code": LIBRARY_ERROR_CODE, "message": str(error), "data": data},
    }


def error_answer(client_id: Any, error: McpSessionError) -> Forwarded:
    """A whole HTTP answer carrying :func:`json_rpc_error` (the SDK hands it to that caller alone).

    Refused credentials are the exception: the client gets the server's refusal as it came (status,
    ``WWW-Authenticate``, body), as if it had sent the negotiation itself, so that its auth flow
    (an ``httpx.Auth``) renews them and sends the request again.
    """
    if isinstance(error, CredentialsRejected):
        return Forwarded(error.status, error.headers, error.body)
    body = json.dumps(json_rpc_error(client_id, error)).encode()
    return Forwarded(200, {"content-type": "application/json"}, body, error=error)


def as_event(body: bytes) -> bytes:
    """``body`` as one SSE ``message`` event (one ``data`` line per line of it)."""
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"event: message\n" + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def event(message: Mapping[str, Any]) -> bytes:
    return as_event(json.dumps(message).encode())


#: The type that closes an event cut after part of it was handed on. A client dispatches it, but
#: as no ``message`` (what the MCP clients read; the SSE standard hands an event only to handlers
#: of its type), so the half event never reaches a caller, and the re-sent request's answer follows
#: as an event of its own.
CUT_EVENT_TYPE = "mcp-session-recovery-cut"


def closing_cut_event(handed: bytes) -> bytes:
    """What ends the cut event whose handed-on bytes end with ``handed`` (an unfinished line first)."""
    line_ended = handed.endswith((b"\n", b"\r"))
    return (b"" if line_ended else b"\n") + b"event: " + CUT_EVENT_TYPE.encode() + b"\n\n"
