"""Task groups at the public surface: one error out, never an ``ExceptionGroup``; and the group an
adapter owns for its session's background work.

anyio's task groups wrap whatever leaves them in an ``ExceptionGroup``; the library's users write
``except McpSessionError``. :func:`ungrouped` turns a group back into the one error that matters:
the library's own typed error if there is one, else the first other error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import anyio
import anyio.abc

from mcp_session_recovery.model import McpSessionError

__all__ = ["BackgroundGroup", "leading_error", "ungrouped"]


class BackgroundGroup:
    """The task group an adapter (a transport, a middleware) owns for its session's background work:
    opened when the adapter is entered, cancelled when it leaves, after the adapter closed its session."""

    def __init__(self) -> None:
        #: The open group, or ``None`` outside the adapter's ``async with``.
        self.task_group: anyio.abc.TaskGroup | None = None

    async def open(self) -> None:
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self.task_group = task_group

    async def close(self, closing: Callable[[], Awaitable[None]]) -> None:
        """Await ``closing`` (shielded: the session's DELETE must go out), then end the group."""
        try:
            with anyio.CancelScope(shield=True):
                await closing()
        finally:
            if self.task_group is not None:
                self.task_group.cancel_scope.cancel()
                await self.task_group.__aexit__(None, None, None)
                self.task_group = None


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
        if len(list(_leaves(group))) > 1:
            raise leading from group  # the others stay visible in the traceback as the cause
        # Alone: its own cause stays (the exception a typed error stands for); the group is no news.
        leading.__suppress_context__ = True
        raise leading  # noqa: B904 - not ``from``: that would replace the leader's own cause
