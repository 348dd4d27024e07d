"""Public context managers raise one error, never an ``ExceptionGroup``.

anyio's task groups wrap whatever leaves them in an ``ExceptionGroup``; the library's users write
``except McpSessionError``. :func:`ungrouped` turns a group back into the one error that matters:
the library's own typed error if there is one, else the first other error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mcp_session_recovery.model import McpSessionError

__all__ = ["leading_error", "ungrouped"]


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def leading_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error a caller should see for ``group``: its first ``McpSessionError``, else its first error."""
    leaves = list(_leaves(group))
    return next((leaf for leaf in leaves if isinstance(leaf, McpSessionError)), leaves[0])


@contextmanager
def ungrouped() -> Iterator[None]:
    """Re-raise an ``ExceptionGroup`` leaving the block as its :func:`leading_error`."""
    try:
        yield
    except BaseExceptionGroup as group:
        leading = leading_error(group)
        # The others stay visible in the traceback as the cause, unless the leader was alone.
        raise leading from (group if len(list(_leaves(group))) > 1 else None)
