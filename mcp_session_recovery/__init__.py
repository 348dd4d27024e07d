"""mcp-session-recovery: keep MCP clients working across server restarts, lost sessions and
protocol-era changes.

The package root re-exports the sans-IO model (:mod:`mcp_session_recovery.model`). The anyio
runtime and the transport adapters live in :mod:`.runtime` and :mod:`.adapters` and are imported
explicitly, so importing the package loads no I/O library.
"""

from __future__ import annotations

import logging

from .model import *  # noqa: F403 - the root's public API is exactly the model's
from .model import __all__ as _model_all

__version__ = "0.1.0"

# A library logs, the application decides what is shown: without this, Python would print the
# library's warnings to stderr when the application configured no logging. To see them:
# ``logging.basicConfig(level=logging.INFO)``.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__", *_model_all]
