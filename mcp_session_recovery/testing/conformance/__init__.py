"""A conformance kit: prove a transport or a client upholds the recovery invariants.

Run it from any pytest, against the fault-injecting test server it serves itself::

    from mcp_session_recovery.testing.conformance import check_client

    report = await check_client(open_my_client)      # open_my_client(url) -> async CM with call_tool
    assert report.passed, report

:func:`check_client` drives a client through restarts, expired sessions, outages, gateway
windows, every stale-session style, cut streams, concurrent callers and (if asked) era changes,
in orders Hypothesis chooses, and judges from the server's side and from what each call
returned; a failure is reported with the shortest story that shows it. :func:`check_wire`
checks an implementation of the runtime's ``Wire``. The pytest plugin
(:mod:`.plugin`) offers both as a ``conformance`` fixture for synchronous tests.

Needs the ``conformance`` extra (``h11`` and ``hypothesis``).
"""

from __future__ import annotations

from .client_check import check_client
from .options import CheckOptions, EraName
from .report import ConformanceReport, Counters, Invariant, Violation
from .steps import DEFAULT_FAULTS, DEFAULT_STALE_STYLES, Fault
from .story import OpenClient, ToolCaller
from .wire_check import MakeWire, WireCheck, check_wire

__all__ = [
    "DEFAULT_FAULTS",
    "DEFAULT_STALE_STYLES",
    "CheckOptions",
    "ConformanceReport",
    "Counters",
    "EraName",
    "Fault",
    "Invariant",
    "MakeWire",
    "OpenClient",
    "ToolCaller",
    "Violation",
    "WireCheck",
    "check_client",
    "check_wire",
]
