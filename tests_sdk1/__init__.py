"""The SDK 1.x line (mcp<2) over RecoveringTransport: run in its own environment with ``nox -s sdk1``."""
