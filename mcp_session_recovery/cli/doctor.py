"""``doctor URL``: a short, harmless probe of a server's session behaviour, and what a client needs.

It reports which eras and protocol versions the server speaks, whether it issues session ids,
what it answers to a session id it does not know (the specification's 404, which clients can
recover from, or something else, and the setting of this library that handles it), whether an
``initialize`` still carrying such an id is refused, and whether the GET stream and DELETE
work. It opens at most one session per handshake version and deletes every one before it exits.

Exit 0 when the probe ran, whatever it found; 1 with one line when the server could not be
reached; 2 for bad arguments. Header values (credentials) are never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ._output import Painter, format_table
from .headers import add_header_arguments, upstream_headers

if TYPE_CHECKING:
    from ._probe import Findings

__all__ = ["add_arguments", "run", "verdict"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    add_header_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request (default 5)")


def shown_url(url: str) -> str:
    """``url`` without credentials or a query (either may hold a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def run(args: argparse.Namespace) -> int:
    import anyio

    from ._probe import Unreachable, probe

    prog = "mcp-session-recovery doctor"
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        print(
            f"{prog}: error: URL must be an http:// or https:// address, got {shown_url(args.url)!r}", file=sys.stderr
        )
        return 2
    try:
        headers = upstream_headers(args.header, args.header_env)
    except ValueError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    try:
        findings = anyio.run(lambda: probe(args.url, headers, timeout=args.timeout))
    except Unreachable as error:
        print(f"{prog}: cannot reach {shown_url(args.url)}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(as_json(findings, shown_url(args.url)), indent=2))
    else:
        print(report(findings, shown_url(args.url)))
    return 0


def verdict(findings: Findings) -> str:
    """One sentence: can a client recover from what this server does?"""
    if not findings.eras:
        return (
            "No MCP server answered here: neither server/discover nor initialize succeeded (check the URL and headers)."
        )
    stale = findings.stale
    parts: list[str] = []
    if "legacy" in findings.eras:
        if not findings.session_ids:
            parts.append("It speaks the handshake era without session ids, so a restart loses no session.")
        elif stale is None:
            parts.append("It issues session ids, but the answer to an unknown one could not be read.")
        elif stale.signal.name == "SESSION_GONE" and stale.spec_404:
            parts.append(
                "It answers an unknown session id with the spec's 404: spec-following clients "
                "(and this library, by default) re-initialize after a restart."
            )
        elif stale.setting is not None:
            parts.append(
                f"It answers an unknown session id with {stale.status}, not the spec's 404: spec-following "
                f"clients cannot recover; this library can, with {stale.setting} ({stale.flag} for proxy "
                "and stdio)."
            )
        else:
            parts.append(
                f"It answers an unknown session id with {stale.status}, not the spec's 404: clients cannot tell a "
                "lost session from other errors, and this library does not take it for one either."
            )
    if "modern" in findings.eras:
        parts.append(
            "It speaks the sessionless 2026-07-28 era, where a restart loses nothing; a client only needs to "
            "wait out the downtime."
        )
    return " ".join(parts)


def as_json(findings: Findings, url: str) -> dict[str, Any]:
    """The ``--json`` document."""
    stale = findings.stale
    return {
        "url": url,
        "eras": findings.eras,
        "versions": findings.versions,
        "session_ids": bool(findings.session_ids),
        "stale_session": None
        if stale is None
        else {
            "status": stale.status,
            "spec_404": stale.spec_404,
            "body_excerpt": stale.excerpt,
            "signal": stale.signal.name,
            "setting": stale.setting,
            "flag": stale.flag,
        },
        "stale_initialize": None
        if findings.stale_initialize is None
        else {"status": findings.stale_initialize[0], "refused": findings.stale_initialize[1]},
        "get_stream": findings.get_stream,
        "delete": findings.delete,
        "sessions_created": findings.sessions_created,
        "sessions_deleted": findings.sessions_deleted,
        "notes": findings.notes,
        "verdict": verdict(findings),
    }


def _yes(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "-" if value is None else (yes if value else no)


def report(findings: Findings, url: str) -> str:
    """The readable verdict table."""
    paint = Painter()
    stale = findings.stale
    versions = "; ".join(f"{era}: {', '.join(found)}" for era, found in findings.versions.items())
    if stale is None:
        stale_row = "-"
        handled = "-"
    else:
        stale_row = f"{stale.status} {stale.excerpt!r}" if stale.excerpt else str(stale.status)
        if stale.signal.name == "SESSION_GONE":
            handled = "spec's 404: recovered by default" if stale.spec_404 else "recovered by default"
        elif stale.setting is not None:
            handled = f"not the spec's 404: needs {stale.setting} (proxy and stdio: {stale.flag})"
        else:
            handled = f"not the spec's 404, and no setting helps ({stale.signal.name})"
    stale_init = findings.stale_initialize
    rows = [
        ("eras", ", ".join(findings.eras) or "none"),
        ("protocol versions", versions or "-"),
        ("issues session ids", _yes(findings.session_ids)),
        ("answer to an unknown session id", stale_row),
        ("  what a client can do", handled),
        (
            "initialize carrying a stale id",
            "-" if stale_init is None else f"{stale_init[0]}, " + _yes(stale_init[1], "refused", "accepted"),
        ),
        ("GET stream", _yes(findings.get_stream, "opens", "no")),
        ("DELETE ends the session", _yes(findings.delete)),
        ("sessions opened / deleted", f"{findings.sessions_created} / {findings.sessions_deleted}"),
    ]
    rows.extend(("note", note) for note in findings.notes)
    return "\n".join(
        [
            paint(f"doctor: {url}", "bold"),
            "",
            format_table(("check", "finding"), rows),
            "",
            paint("verdict: ", "bold") + verdict(findings),
        ]
    )
