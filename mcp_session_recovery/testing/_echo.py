"""``Behaviour.echo_secrets``: answers that repeat the request's session id and credentials.

Servers do this in the wild (an error message quoting the offending header, a debug tool result
listing the request), and a client that copies error bodies into its own messages then leaks
them. Applied to the finished reply in one place, so every answer the server builds is covered
without each builder knowing about it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ._wire import JSON, Answer, Fixed, HttpRequest, Reply, dumps

__all__ = ["echo_line", "echo_secrets"]


def echo_line(request: HttpRequest) -> str:
    """``Mcp-Session-Id: <value>; Authorization: <value>`` (``<none>`` for an absent header)."""
    session_id = request.header("mcp-session-id")
    authorization = request.header("authorization")
    return f"Mcp-Session-Id: {_or_none(session_id)}; Authorization: {_or_none(authorization)}"


def echo_secrets(reply: Reply, request: HttpRequest) -> Reply:
    """``reply`` with the echo added to its error message or tool result; others unchanged."""
    if isinstance(reply, Answer) and not reply.cut:
        payload = _echo_json(reply.payload, request)
        return reply if payload is None else dataclasses.replace(reply, payload=payload)
    if not isinstance(reply, Fixed) or not reply.body or reply.status < 400:
        return reply
    content_type = next((value for name, value in reply.headers if name == "content-type"), "")
    if content_type.startswith(JSON):
        body = _echo_json(reply.body, request)
        return reply if body is None else dataclasses.replace(reply, body=body)
    if content_type.startswith("text/"):
        text = reply.body.decode("utf-8", errors="replace").rstrip("\n")
        return dataclasses.replace(reply, body=f"{text}\n{echo_line(request)}\n".encode())
    return reply


def _echo_json(payload: bytes, request: HttpRequest) -> bytes | None:
    try:
        message: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    line = echo_line(request)
    error = message.get("error")
    result = message.get("result")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        error["message"] = f"{error['message']} ({line})"
    elif isinstance(error, str):
        message["error"] = f"{error} ({line})"
    elif isinstance(result, dict) and isinstance(result.get("content"), list):
        result["content"] = [*result["content"], {"type": "text", "text": line}]
    else:
        return None
    return dumps(message)


def _or_none(value: str | None) -> str:
    return "<none>" if value is None else value
