"""``--header 'Name: value'`` and ``--header-env 'Name=ENV_VAR'``: extra headers for the upstream.

Their values are credentials more often than not, so nothing here ever shows one: an error names
the option, the header's name or the environment variable, never a value. ``--header-env`` keeps
the secret out of the command line (and so out of ``ps`` and shell history).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Mapping

from mcp_session_recovery.model.messages import OWN_HEADERS

__all__ = ["HeaderError", "add_header_arguments", "upstream_headers"]

#: An HTTP field name (RFC 9110 ``token``).
_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class HeaderError(ValueError):
    """A ``--header`` or ``--header-env`` option that cannot be used (the message holds no value)."""


def add_header_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--header`` and ``--header-env`` (both repeatable) to ``parser``."""
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header sent with every upstream request (repeatable); prefer --header-env for secrets",
    )
    parser.add_argument(
        "--header-env",
        action="append",
        default=[],
        metavar="NAME=ENV_VAR",
        help="a header whose value is read from the environment variable ENV_VAR (repeatable)",
    )


def upstream_headers(
    headers: Iterable[str], header_envs: Iterable[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The headers the options name, lower-case names; raises :class:`HeaderError`."""
    env = os.environ if environ is None else environ
    result: dict[str, str] = {}
    for option in headers:
        name, colon, value = option.partition(":")
        if not colon:
            raise HeaderError("--header takes 'Name: value' (a colon between name and value)")
        result[_name(name, "--header")] = _value(value.strip(), f"--header {name.strip()}")
    for option in header_envs:
        name, equals, variable = option.partition("=")
        variable = variable.strip()
        if not equals or not variable:
            raise HeaderError("--header-env takes 'Name=ENV_VAR'")
        checked = _name(name, "--header-env")
        if variable not in env:
            raise HeaderError(f"--header-env {name.strip()}: the environment variable {variable} is not set")
        result[checked] = _value(env[variable].strip(), f"--header-env {name.strip()} (from {variable})")
    return result


def _name(name: str, option: str) -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise HeaderError(f"{option}: that is not a valid header name (the value is not shown)")
    lowered = name.lower()
    if lowered in OWN_HEADERS:  # the bridge and the runtime set these: a user-given one would break the session
        raise HeaderError(f"{option}: {name} is set by the bridge itself")
    return lowered


def _value(value: str, where: str) -> str:
    # No control characters: a CR or LF would smuggle another header (or a request) in.
    if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in value):
        raise HeaderError(f"{where}: the value holds a control character")
    if not value:
        raise HeaderError(f"{where}: the value is empty")
    return value
