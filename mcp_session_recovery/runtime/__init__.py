"""The anyio runtime that performs the model's effects (one ``Session`` per endpoint).

Not built yet: it is the next piece of work (see the README's status section). It will import
anyio; the model never does.
"""

from __future__ import annotations

__all__: list[str] = []
