"""Keeping secrets out of what the library writes: session ids and credentials, even when echoed.

A server may repeat what it was sent (the session id, the ``Authorization`` value) in an error
body, and the library builds its error messages, log lines and records partly from such bodies.
:class:`Redactor` knows every secret of one session, the session ids it was given (live and
past) and the credential values its wire sends, and replaces each with ``<redacted>`` in whatever
the library builds from a server's words. Results handed to the caller are data, not messages:
they pass unchanged.

A value shorter than :data:`MIN_SECRET_LENGTH` characters is not looked for (it would blot out
ordinary words); real session ids and tokens are far longer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from mcp_session_recovery.model import CredentialsRefused, Event, McpSessionError, NegotiationRejected

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor", "credential_values", "is_credential_header"]

#: What a secret is replaced with.
REDACTED = "<redacted>"
#: Shorter values are not redacted.
MIN_SECRET_LENGTH = 4
#: Past session ids remembered (the oldest are forgotten first).
MAX_SESSION_IDS = 64
#: How deep into an error's data the redactor looks; deeper data is replaced whole.
MAX_DEPTH = 32

_CREDENTIAL_NAMES = frozenset({"authorization", "proxy-authorization", "cookie"})
_CREDENTIAL_WORDS = ("auth", "token", "secret", "key", "password", "session")

_E = TypeVar("_E", bound=McpSessionError)


def is_credential_header(name: str) -> bool:
    """Whether a request header named ``name`` may carry a credential."""
    lowered = name.lower()
    return lowered in _CREDENTIAL_NAMES or any(word in lowered for word in _CREDENTIAL_WORDS)


def credential_values(headers: Mapping[str, str]) -> list[str]:
    """The credential values in ``headers``; for ``Scheme token`` values, the token alone too."""
    values = []
    for name, value in headers.items():
        if is_credential_header(name):
            values.append(value)
            scheme, _, token = value.partition(" ")
            if scheme and token:
                values.append(token.strip())
    return values


class Redactor:
    """The secrets of one session, and the means to keep them out of text the library builds.

    ``credentials`` is asked, only when something must be redacted, for the credential values the
    wire currently sends (they may change: a refreshed token).
    """

    def __init__(self, credentials: Callable[[], Iterable[str]] = tuple) -> None:
        self._credentials = credentials
        self._session_ids: dict[str, None] = {}  # ordered: the oldest first

    def add_session_id(self, value: str) -> None:
        """Remember a session id the server issued."""
        self._session_ids.pop(value, None)
        self._session_ids[value] = None
        while len(self._session_ids) > MAX_SESSION_IDS:
            del self._session_ids[next(iter(self._session_ids))]

    def secrets(self) -> list[str]:
        """Every secret known now, the longest first (so one that contains another goes whole)."""
        found = {value for value in (*self._session_ids, *self._credentials()) if len(value) >= MIN_SECRET_LENGTH}
        return sorted(found, key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets():
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def error(self, error: _E) -> _E:
        """``error``, or a copy of it whose message and attributes hold no secret."""
        secrets = self.secrets()
        if not secrets or not any(_holds(value, secrets, 0) for value in (*error.args, *vars(error).values())):
            return error
        # A copy built without __init__: the subclasses' signatures differ, their state does not.
        copy = cast(_E, type(error).__new__(type(error)))
        copy.__dict__.update({name: _redacted(value, secrets, 0) for name, value in vars(error).items()})
        copy.args = tuple(_redacted(value, secrets, 0) for value in error.args)
        return copy

    def event(self, event: Event) -> Event:
        """``event``, with the error it carries redacted (a refused negotiation quotes the server)."""
        if isinstance(event, NegotiationRejected):
            return dataclasses.replace(event, error=self.error(event.error))
        if isinstance(event, CredentialsRefused):
            return dataclasses.replace(event, error=self.error(event.error))
        return event


def _redacted(value: Any, secrets: list[str], depth: int) -> Any:
    if depth > MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {_redacted(k, secrets, depth + 1): _redacted(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(item, secrets, depth + 1) for item in value)
    return value


def _holds(value: Any, secrets: list[str], depth: int) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(value, str):
        return any(secret in value for secret in secrets)
    if isinstance(value, Mapping):
        return any(_holds(k, secrets, depth + 1) or _holds(v, secrets, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds(item, secrets, depth + 1) for item in value)
    return False
