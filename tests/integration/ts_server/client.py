"""The TypeScript SDK client (``client.mjs``) as a process, driven by JSON lines from Python.

``ts_client_argv()`` is the command that starts it, or a string saying why it cannot run (no node,
npm trouble), for ``pytest.skip(reason)``. :class:`TsClient` writes requests to its stdin and
matches the answers by id, so a test can send a call, restart the server, then wait for the
answer; every wait has a deadline::

    async with TsClient.running(argv) as ts:
        await ts.request("connect", client="host", url=server.url)
        answer = await ts.request("call", client="host", tool="add", arguments={"a": 1, "b": 2})
        assert answer["text"] == "3"
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from .setup import HERE, ensure_ts_server

__all__ = ["CLIENT", "TsClient", "TsRequestFailed", "ts_client_argv"]

#: The client program.
CLIENT = HERE / "client.mjs"
#: The longest line the client may write (a 1 MiB answer, JSON-escaped, fits many times over).
MAX_LINE_BYTES = 64 << 20
#: How long a request may take unless the caller says otherwise.
REQUEST_SECONDS = 60.0
#: How long the client may take to close its clients and exit once its stdin ends.
EXIT_SECONDS = 10.0


def ts_client_argv() -> list[str] | str:
    """``[node, /abs/path/client.mjs]``, or why the TypeScript SDK client cannot run here."""
    argv = ensure_ts_server()
    if isinstance(argv, str):
        return argv
    return [argv[0], os.fspath(CLIENT)]


class TsRequestFailed(AssertionError):
    """The client answered a request with ``ok: false`` (its message and JSON-RPC code attached)."""

    def __init__(self, op: str, answer: dict[str, Any]) -> None:
        super().__init__(f"TypeScript client: {op} failed: {answer.get('error')} (code {answer.get('code')})")
        self.answer = answer


class TsClient:
    """One running ``client.mjs``; see the module's docstring."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self._process = process
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._stderr: dict[str, list[str]] = {}
        self._own_stderr: list[str] = []
        self._changed = anyio.Condition()
        self._ended = False

    @classmethod
    @asynccontextmanager
    async def running(cls, argv: Sequence[str]) -> AsyncIterator[TsClient]:
        """Start the client; on leaving, end its stdin (it closes its clients) and wait, then kill."""
        process = await anyio.open_process(list(argv), cwd=HERE, stderr=subprocess.PIPE)
        client = cls(process)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(client._read_answers)
                group.start_soon(client._read_own_stderr)
                try:
                    yield client
                finally:
                    with anyio.CancelScope(shield=True):
                        await client._stop()
        except BaseExceptionGroup as group:
            # The readers end quietly, so a group holds the caller's own failure: show it as raised.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await process.aclose()

    async def _stop(self) -> None:
        if self._process.stdin is not None:
            await self._process.stdin.aclose()
        with anyio.move_on_after(EXIT_SECONDS):
            await self._process.wait()
        if self._process.returncode is None:
            self._process.kill()
            await self._process.wait()

    async def _read_answers(self) -> None:
        assert self._process.stdout is not None
        stream = BufferedByteReceiveStream(self._process.stdout)
        try:
            while True:
                line = await stream.receive_until(b"\n", MAX_LINE_BYTES)
                document: dict[str, Any] = json.loads(line)
                async with self._changed:
                    if "event" in document:
                        self._stderr.setdefault(document["client"], []).append(document["line"])
                    else:
                        self._answers[document["id"]] = document
                    self._changed.notify_all()
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError):
            pass
        finally:
            async with self._changed:
                self._ended = True
                self._changed.notify_all()

    async def _read_own_stderr(self) -> None:
        assert self._process.stderr is not None
        stream = BufferedByteReceiveStream(self._process.stderr)
        try:
            while True:
                line = await stream.receive_until(b"\n", MAX_LINE_BYTES)
                self._own_stderr.append(line.decode("utf-8", "replace"))
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError):
            pass

    async def send(self, op: str, **fields: Any) -> int:
        """Write one request; its id (for :meth:`answer`)."""
        assert self._process.stdin is not None
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "op": op, **fields}) + "\n"
        await self._process.stdin.send(line.encode())
        return self._next_id

    async def answer(self, request_id: int, *, op: str = "request", timeout: float = REQUEST_SECONDS) -> dict[str, Any]:
        """The answer to request ``request_id``; :class:`TsRequestFailed` if it says ``ok: false``."""
        with anyio.fail_after(timeout):
            async with self._changed:
                while request_id not in self._answers:
                    if self._ended:
                        raise AssertionError(f"the TypeScript client exited before answering {op}: {self.stderr}")
                    await self._changed.wait()
                answer = self._answers.pop(request_id)
        if not answer["ok"]:
            raise TsRequestFailed(op, answer)
        return answer

    async def request(self, op: str, *, timeout: float = REQUEST_SECONDS, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer."""
        return await self.answer(await self.send(op, **fields), op=op, timeout=timeout)

    async def call(self, client: str, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """``tools/call`` on ``client``: the answer's ``text``, ``is_error`` and ``progress``."""
        return await self.request("call", client=client, tool=tool, arguments=arguments or {})

    def bridge_stderr(self, client: str) -> list[str]:
        """What the stdio server of ``client`` (a bridge) wrote to its stderr so far."""
        return list(self._stderr.get(client, ()))

    async def wait_for_bridge_line(
        self, client: str, text: str, *, after: int = 0, timeout: float = REQUEST_SECONDS
    ) -> str:
        """The first stderr line of ``client``'s stdio server, from index ``after`` on, containing ``text``."""
        with anyio.fail_after(timeout):
            async with self._changed:
                while True:
                    for line in self._stderr.get(client, [])[after:]:
                        if text in line:
                            return line
                    if self._ended:
                        raise AssertionError(f"the TypeScript client exited; no line with {text!r}")
                    await self._changed.wait()

    @property
    def stderr(self) -> str:
        """The client's own stderr so far (node's warnings and crashes)."""
        return "".join(self._own_stderr)
