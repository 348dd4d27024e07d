"""mcp-session-recovery: keep MCP clients working across server restarts, lost sessions and
protocol-era changes.

The package root re-exports the sans-IO model (:mod:`mcp_session_recovery.model`), and the three
entry points most users need: :func:`recovering_client_factory` (for the SDK and the frameworks that
take an httpx client factory), :class:`RecoveringTransport` and :func:`connect`. Those three are
loaded on first use (PEP 562), so importing the package loads no I/O library.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .model import *  # noqa: F403 - the root's public API is exactly the model's
from .model import __all__ as _model_all

__version__ = "0.1.0"

# A library logs, the application decides what is shown: without this, Python would print the
# library's warnings to stderr when the application configured no logging. To see them:
# ``logging.basicConfig(level=logging.INFO)``.
logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .adapters.client_factory import RecoveringClientFactory, recovering_client_factory
    from .adapters.httpx_transport import RecoveringTransport
    from .adapters.mcp_sdk import connect

#: The adapters' names at the root → the module each lives in (imported when first asked for).
_LAZY = {
    "RecoveringClientFactory": ".adapters.client_factory",
    "recovering_client_factory": ".adapters.client_factory",
    "RecoveringTransport": ".adapters.httpx_transport",
    "connect": ".adapters.mcp_sdk",
}

__all__ = [
    "RecoveringClientFactory",
    "RecoveringTransport",
    "__version__",
    "connect",
    "recovering_client_factory",
    *_model_all,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # asked once: later lookups find it without this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
