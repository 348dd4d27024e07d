"""Canned answers: one fixed HTTP answer, and the rule that says which requests get it.

A canned answer is what a gateway, a misconfigured proxy or a hostile server sends instead of
serving the request: any three-digit status (``000`` … ``999``, as HTTP/1.1's syntax allows, also
the ones h11 refuses to write), extra response headers (``Retry-After``, ``Location``, a
``Content-Encoding`` the body does not match) and a body. An :class:`AnswerRule` picks the
requests it answers (by JSON-RPC method or HTTP verb) and, with ``times``, only the next N of
them: "the first ``tools/call`` gets ``503`` with ``Retry-After: 2``, later ones succeed".

Pure values, validated when built, with a JSON form for ``/_control/configure``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "AUTHORIZATION_PLACEHOLDER",
    "HTTP_VERBS",
    "MAX_HEADER_VALUE",
    "MAX_RULES",
    "SESSION_ID_PLACEHOLDER",
    "AnswerRule",
    "CannedAnswer",
    "canned",
    "canned_from_json",
    "canned_to_json",
    "header_value",
    "rule",
    "rule_from_json",
    "rule_to_json",
]

#: In a canned body, replaced by the request's ``Mcp-Session-Id`` / ``Authorization`` value
#: (verbatim; empty when the request had none): a server that echoes secrets into its errors.
SESSION_ID_PLACEHOLDER = "{{mcp-session-id}}"
AUTHORIZATION_PLACEHOLDER = "{{authorization}}"
#: The HTTP verbs a rule can select by (upper case, so never a JSON-RPC method name).
HTTP_VERBS = frozenset({"POST", "GET", "DELETE"})
#: Bounds: rules in one behaviour, headers in one answer, one header value's length (characters).
MAX_RULES = 32
MAX_HEADERS = 64
MAX_HEADER_VALUE = 256 * 1024
#: Bound of one canned body (it is held in memory and sent with a content-length).
MAX_CANNED_BODY = 16 << 20

#: An HTTP token (RFC 9110 §5.6.2): what a header name may be.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class CannedAnswer(NamedTuple):
    """A fixed answer: what a reverse proxy sends when its backend is down, or a hostile server.

    ``status`` is any int in 0..999 (sent as three digits); ``headers`` are extra response
    headers sent as given (values may hold any Latin-1 character, a bare CR, LF or NUL
    included: such answers are written as raw bytes and the connection closes after them).
    A ``content_type`` of ``""`` sends no ``Content-Type`` at all. ``body`` may contain
    :data:`SESSION_ID_PLACEHOLDER` and :data:`AUTHORIZATION_PLACEHOLDER`.
    """

    status: int
    content_type: str
    body: bytes | str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def redirect(cls, status: int, location: str, body: bytes | str = "") -> CannedAnswer:
        """A redirect (301, 302, 303, 307, 308 …) to ``location``, an absolute URL or a path."""
        if isinstance(status, bool) or not isinstance(status, int) or not 300 <= status <= 399:
            raise ValueError(f"a redirect's status must be in 300..399, got {status!r}")
        return canned(cls(status, "text/plain; charset=utf-8", body, (("location", location),)), "redirect")

    def body_bytes(self, session_id: str | None = None, authorization: str | None = None) -> bytes:
        """The body to send, its placeholders filled in from the request's headers."""
        if isinstance(self.body, bytes):
            body = self.body
            marks = (SESSION_ID_PLACEHOLDER.encode(), AUTHORIZATION_PLACEHOLDER.encode())
            if marks[0] in body or marks[1] in body:
                body = body.replace(marks[0], (session_id or "").encode("latin-1", errors="replace"))
                body = body.replace(marks[1], (authorization or "").encode("latin-1", errors="replace"))
            return body
        text = self.body.replace(SESSION_ID_PLACEHOLDER, session_id or "")
        return text.replace(AUTHORIZATION_PLACEHOLDER, authorization or "").encode("utf-8")

    def response_headers(self) -> tuple[tuple[str, str], ...]:
        """``Content-Type`` (unless empty), then the extra headers."""
        kind = (("content-type", self.content_type),) if self.content_type else ()
        return (*kind, *self.headers)


@dataclass(frozen=True)
class AnswerRule:
    """Answer the requests that match with ``answer`` instead of serving them.

    ``answer=None`` answers nothing: the connection closes at once, the request unserved (a
    reset at that stage: before the ``initialize`` answer, the GET stream's head …).

    ``methods`` selects by JSON-RPC method (``"tools/call"``, ``"initialize"``,
    ``"notifications/initialized"`` …) or by HTTP verb (``"POST"`` any POST, ``"GET"`` the GET
    stream, ``"DELETE"``); empty selects every request. ``times`` is how many more matching
    requests get the answer (``None``: all of them); it counts down as they come, and a rule at
    0 is spent. Rules apply on the MCP path only (not on ``Behaviour.path_aliases``), first
    matching rule first.
    """

    answer: CannedAnswer | None
    methods: frozenset[str] = frozenset()
    times: int | None = None

    def __post_init__(self) -> None:
        if self.answer is not None:
            object.__setattr__(self, "answer", canned(self.answer, "answer_rules answer"))
        object.__setattr__(self, "methods", _methods(self.methods))
        times = self.times
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 0):
            raise ValueError(f"answer_rules times must be None or an int >= 0, got {times!r}")

    def matches(self, http_method: str, rpc_method: str | None) -> bool:
        """Whether a request with these methods gets this rule's answer now (ignoring ``times``)."""
        return not self.methods or http_method in self.methods or rpc_method in self.methods

    @property
    def spent(self) -> bool:
        """Whether ``times`` has run out."""
        return self.times == 0


def canned(value: object, field: str = "answer_status_for_all") -> CannedAnswer:
    """``value`` (a :class:`CannedAnswer` or a 3- or 4-tuple) validated, as a :class:`CannedAnswer`."""
    if not isinstance(value, tuple) or len(value) not in (3, 4):
        raise ValueError(f"{field} must be (status, content_type, body[, headers]), got {value!r}")
    status, content_type, body, *rest = value
    if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 999:
        raise ValueError(f"{field} status must be an int in 0..999, got {status!r}")
    if not isinstance(content_type, str) or not content_type.isascii() or "\r" in content_type or "\n" in content_type:
        raise ValueError(f"{field} content_type must be an ASCII string on one line")
    if not isinstance(body, bytes | str):
        raise ValueError(f"{field} body must be bytes or str")
    if len(body) > MAX_CANNED_BODY:
        raise ValueError(f"{field} body must be at most {MAX_CANNED_BODY} long")
    headers = _headers(rest[0] if rest else (), field)
    return CannedAnswer(status, content_type, body, headers)


def canned_to_json(answer: CannedAnswer) -> list[Any] | dict[str, Any]:
    """``[status, content_type, body]`` (plus ``[[name, value], …]`` when there are headers).

    A bytes body that is not UTF-8 goes in the object form, as ``body_base64``.
    """
    headers = [[name, value] for name, value in answer.headers]
    body = answer.body
    if isinstance(body, bytes):
        raw = body
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            encoded = base64.b64encode(raw).decode("ascii")
            return {
                "status": answer.status,
                "content_type": answer.content_type,
                "body_base64": encoded,
                "headers": headers,
            }
    short = [answer.status, answer.content_type, body]
    return [*short, headers] if headers else short


def canned_from_json(value: object, field: str = "answer_status_for_all") -> CannedAnswer:
    """Read a canned answer: a list ``[status, content_type, body[, headers]]`` or an object with
    those keys (``body_base64`` for raw bytes); headers as ``[[name, value], …]`` or an object.
    """
    if isinstance(value, Mapping):
        unknown = set(value) - {"status", "content_type", "body", "body_base64", "headers"}
        if unknown:
            raise ValueError(f"{field} has unknown keys {sorted(unknown)}")
        body: object = value.get("body", "")
        if "body_base64" in value:
            try:
                body = base64.b64decode(str(value["body_base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{field} body_base64 is not base64") from None
        value = [value.get("status"), value.get("content_type"), body, value.get("headers", [])]
    if not isinstance(value, list) or len(value) not in (3, 4):
        raise ValueError(f"{field} must be null, [status, content_type, body, headers?] or an object")
    status, content_type, body, *rest = value
    headers: object = ()
    if rest:
        raw = rest[0]
        if isinstance(raw, Mapping):
            raw = list(raw.items())
        if not isinstance(raw, list) or not all(isinstance(pair, list | tuple) and len(pair) == 2 for pair in raw):
            raise ValueError(f"{field} headers must be [[name, value], …] or an object")
        headers = tuple((pair[0], pair[1]) for pair in raw)
    return canned((status, content_type, body, headers), field)


def rule(value: object) -> AnswerRule:
    """``value`` as an :class:`AnswerRule` (one is accepted as it is; a tuple as its fields)."""
    if isinstance(value, AnswerRule):
        return value
    if isinstance(value, tuple) and 1 <= len(value) <= 3:
        return AnswerRule(*value)
    raise ValueError(f"answer_rules must hold AnswerRule values, got {value!r}")


def rule_to_json(value: AnswerRule) -> dict[str, Any]:
    """``{"answer": … or null, "methods": [...], "times": N or null}``."""
    answer = None if value.answer is None else canned_to_json(value.answer)
    return {"answer": answer, "methods": sorted(value.methods), "times": value.times}


def rule_from_json(value: object) -> AnswerRule:
    """Read one rule's JSON object (``methods`` also as a comma-separated string)."""
    if not isinstance(value, Mapping) or "answer" not in value:
        raise ValueError("answer_rules entries must be objects with an 'answer'")
    unknown = set(value) - {"answer", "methods", "times"}
    if unknown:
        raise ValueError(f"answer_rules entry has unknown keys {sorted(unknown)}")
    methods = value.get("methods", [])
    if isinstance(methods, str):
        methods = [name.strip() for name in methods.split(",") if name.strip()]
    if not isinstance(methods, list):
        raise ValueError("answer_rules methods must be a list of names or a comma-separated string")
    times = value.get("times")
    if isinstance(times, bool) or not isinstance(times, int | None):
        raise ValueError("answer_rules times must be an integer or null")
    answer = value["answer"]
    answer = None if answer is None else canned_from_json(answer, "answer_rules answer")
    return AnswerRule(answer, frozenset(methods), times)


def _methods(value: object) -> frozenset[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, Iterable):
        raise ValueError(f"answer_rules methods must be a set of names, got {value!r}")
    result = frozenset(names)
    if not all(isinstance(name, str) and name and name.strip() == name for name in result):
        raise ValueError(f"answer_rules methods must be non-empty names, got {value!r}")
    return result


def _headers(value: object, field: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, Mapping):
        value = tuple(value.items())
    if not isinstance(value, tuple | list) or len(value) > MAX_HEADERS:
        raise ValueError(f"{field} headers must be at most {MAX_HEADERS} (name, value) pairs")
    headers: list[tuple[str, str]] = []
    for pair in value:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"{field} headers must be (name, value) pairs, got {pair!r}")
        name, text = pair
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"{field} header name must be an HTTP token, got {name!r}")
        if name.lower() in ("content-length", "transfer-encoding"):
            raise ValueError(f"{field} header {name!r} is set by the server (the body's framing)")
        headers.append((name, header_value(text, f"{field} header {name!r}")))
    return tuple(headers)


def header_value(value: object, what: str) -> str:
    """``value`` checked as a raw header value: a Latin-1 string up to :data:`MAX_HEADER_VALUE`."""
    if not isinstance(value, str) or len(value) > MAX_HEADER_VALUE:
        raise ValueError(f"{what} must be a string of at most {MAX_HEADER_VALUE} characters")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{what} must be Latin-1 (one byte per character on the wire)") from None
    return value
