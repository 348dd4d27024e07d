"""The ``proxy``'s host sessions: the upstream session of each, by the session id the host was given.

Each host session is kept in a :class:`~.session_store.SessionStore` as well (the host's
``initialize``), so that a restarted proxy still knows it: when a host sends a session id this
process never issued, the store is asked, and a session found there is negotiated upstream again
with the host's own ``initialize``, under the id the host holds. The host never learns the proxy
restarted. A store that fails is dropped with one warning; the proxy serves on without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.to_thread

from .oauth import BridgeAuth, OAuthSettings
from .session_store import SessionStore, StoreUnavailable
from .status import StatusLine
from .upstream import Upstream, close_quietly

__all__ = ["TOUCH_EVERY", "HostSessions"]

#: How often (seconds) a session in use has its "last used" written to the store: not on every request.
TOUCH_EVERY = 3600.0
#: The most bytes of a restored session's handshake answer read (a handshake result is small).
_MAX_HANDSHAKE_ANSWER = 1 << 20
_POST = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
#: The host's headers a restored session's handshake carries: who it is, and its credentials.
_HANDSHAKE_HEADERS = ("authorization", "user-agent")

T = TypeVar("T")


class HostSessions:
    """The upstream session of each host session, by the session id the host was given."""

    def __init__(
        self,
        task_group: anyio.abc.TaskGroup,
        settings: Any,
        status: StatusLine,
        store: SessionStore | None = None,
    ) -> None:
        self._task_group = task_group
        self._settings = settings
        self._status = status
        self._store = store
        self._by_id: dict[str, Upstream] = {}
        #: When each session's "last used" was last written to the store.
        self._touched: dict[str, float] = {}
        self._restoring = anyio.Lock()
        self._sessionless: Upstream | None = None
        self._closing = False
        #: The proxy's own OAuth, shared by every host session (one token per server).
        self.auth: BridgeAuth | None = None
        oauth: OAuthSettings | None = settings.oauth
        if oauth is not None:
            self.auth = BridgeAuth(oauth, settings.url, status)

    async def find(self, session_id: str, headers: Mapping[str, str]) -> Upstream | None:
        """The upstream of the host session ``session_id``: this process's, or one restored from the
        store (negotiated with the host's current ``headers``, its credentials); ``None``: unknown."""
        upstream = self._by_id.get(session_id)
        if upstream is None:
            async with self._restoring:  # one restoration at a time; a second request finds it done
                upstream = self._by_id.get(session_id) or await self._restore(session_id, headers)
        if upstream is not None and time.monotonic() - self._touched.get(session_id, -TOUCH_EVERY) >= TOUCH_EVERY:
            self._touched[session_id] = time.monotonic()
            await self._in_store(lambda store: store.touch(session_id))
        return upstream

    async def open(self, virtual_session_id: str | None = None) -> Upstream:
        """A new upstream session (for a host's ``initialize``, or to restore one)."""
        if self._closing:
            raise RuntimeError("the proxy is stopping")
        upstream = Upstream(
            self._settings.url,
            self._settings.headers,
            status=self._status,
            options=self._settings.options,
            auth=self.auth,
            virtual_session_id=virtual_session_id,
        )
        await self._task_group.start(upstream.run)
        return upstream

    async def sessionless(self) -> Upstream:
        """The one upstream for hosts that send no session id (the sessionless era's requests)."""
        if self._sessionless is None:
            self._sessionless = await self.open()
        return self._sessionless

    async def register(self, session_id: str, upstream: Upstream, initialize: Mapping[str, Any]) -> None:
        """Keep a new host session, here and in the store."""
        self._by_id[session_id] = upstream
        self._touched[session_id] = time.monotonic()
        await self._in_store(lambda store: store.put(session_id, initialize))

    async def end(self, session_id: str) -> None:
        """The host ended its session: so does the upstream one, and the store forgets it."""
        upstream = self._by_id.pop(session_id, None)
        self._touched.pop(session_id, None)
        await self._in_store(lambda store: store.remove(session_id))
        if upstream is not None:
            await upstream.aclose()

    async def close_all(self) -> None:
        """Stop: every upstream session is deleted (concurrently; each is bounded). The store keeps the
        host sessions: a proxy started again serves them."""
        self._closing = True
        upstreams = [*self._by_id.values(), *([self._sessionless] if self._sessionless else [])]
        self._by_id.clear()
        self._sessionless = None
        async with anyio.create_task_group() as group:
            for upstream in upstreams:
                group.start_soon(upstream.aclose)

    async def _restore(self, session_id: str, headers: Mapping[str, str]) -> Upstream | None:
        stored = await self._in_store(lambda store: store.get(session_id))
        if stored is None or self._closing:
            return None
        upstream = await self.open(virtual_session_id=session_id)
        body = json.dumps(dict(stored.initialize)).encode()
        try:
            own = {name: value for name, value in headers.items() if name in _HANDSHAKE_HEADERS}
            response = await upstream.send("POST", body, {**own, **_POST})
            try:
                answer = await _small_json(response)
            finally:
                await close_quietly(response)
        except Exception:  # the host gets its 404 and starts anew, as without the store
            answer = None
        if not isinstance(answer, dict) or "result" not in answer:
            await upstream.aclose()
            return None
        self._by_id[session_id] = upstream
        name = stored.client_info.get("name")
        self._status.note(f"restored a host session{f' of {name}' if isinstance(name, str) else ''} after a restart")
        return upstream

    async def _in_store(self, action: Callable[[SessionStore], T]) -> T | None:
        """``action`` on the store in a worker thread (SQLite blocks); ``None`` without a store. A store
        that fails is dropped, with one warning."""
        store = self._store
        if store is None:
            return None
        try:
            return await anyio.to_thread.run_sync(action, store)
        except StoreUnavailable as exc:
            self._store = None
            self._status.warn(f"{exc}; host sessions will not survive a restart of the proxy")
            return None


async def _small_json(response: Any) -> object:
    """The JSON body of a handshake answer read to at most :data:`_MAX_HANDSHAKE_ANSWER` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > _MAX_HANDSHAKE_ANSWER:
            return None
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        return None
