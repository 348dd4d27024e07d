"""How a ``tools/call`` is answered, in either era: normally, or with one of the answer faults.

The faults a client's edges must survive: an answer cut after the tool ran, one SSE
event that never ends, a JSON body larger than any sane limit, and an answer whose JSON-RPC id is
not the request's. The tool has already run (and been counted) when one of these is chosen, as on
a real server whose answer goes wrong on the way out.
"""

from __future__ import annotations

from typing import Any

from ._methods import Host
from ._wire import Answer, Endless, Padded, Reply, RpcError, dumps, result_body

__all__ = ["mismatched_id", "tool_answer"]

#: Stands for the padding in an oversized answer's JSON; split out before sending.
_PADDING_MARK = "@@padding@@"
#: How far a mismatched integer id is from the request's.
MISMATCH_OFFSET = 1000


def mismatched_id(request_id: str | int) -> str | int:
    """An id that is not ``request_id`` (``+ 1000`` for integers, a suffix for strings)."""
    if isinstance(request_id, int):
        return request_id + MISMATCH_OFFSET
    return f"{request_id}-mismatched"


def tool_answer(
    host: Host, request_id: str | int, outcome: object | RpcError, headers: tuple[tuple[str, str], ...] = ()
) -> Reply:
    """The reply to a ``tools/call`` whose tool returned ``outcome`` (a result, or the error it raised)."""
    behaviour, state = host.behaviour, host.state
    style = behaviour.response_style
    failed = isinstance(outcome, RpcError)
    if not failed and host.take_cut():
        return Answer(result_body(request_id, outcome), style, headers, cut=True)
    if behaviour.endless_sse_event:
        return Endless(state.endless_events, headers)
    answer_id = request_id
    if behaviour.mismatched_response_id:
        answer_id = mismatched_id(request_id)
        state.mismatched_answers += 1
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": answer_id}
    if isinstance(outcome, RpcError):
        error: dict[str, Any] = {"code": outcome.code, "message": outcome.message}
        if outcome.data is not None:
            error["data"] = outcome.data
        message["error"] = error
    else:
        message["result"] = outcome
    length = behaviour.oversized_json_bytes
    if length:
        return _padded(message, length, headers, host)
    return Answer(dumps(message), style, headers)


def _padded(message: dict[str, Any], length: int, headers: tuple[tuple[str, str], ...], host: Host) -> Padded:
    if "result" in message:
        result = message["result"]
        result = dict(result) if isinstance(result, dict) else {"value": result}
        meta = result.get("_meta")
        result["_meta"] = {**(meta if isinstance(meta, dict) else {}), "padding": _PADDING_MARK}
        message["result"] = result
    else:
        error = message["error"]
        error["data"] = {**({"data": error["data"]} if "data" in error else {}), "padding": _PADDING_MARK}
    prefix, mark, suffix = dumps(message).rpartition(_PADDING_MARK.encode("ascii"))
    assert mark, "the padding mark is in the answer"
    return Padded(prefix, suffix, max(length, len(prefix) + len(suffix)), host.state.oversized_answers, headers)
