"""Where the ``proxy`` keeps the host sessions it issued, so that a restarted proxy still knows them.

A host keeps its session id across a restart of the proxy (an upgrade, a crash, a laptop waking);
the new process finds the host's ``initialize`` here and negotiates upstream again with the host's
own identity, instead of answering 404 (which a host like Claude Code does not survive).

:class:`SessionStore` is the interface the proxy uses; :class:`SqliteSessionStore` keeps it in one
SQLite file in the user's state directory. A store shared by several proxies (Redis, say) would
implement the same four methods. The session id itself is never written: an entry is found by the
id's SHA-256, and the file is the user's alone (mode 0600). Entries unused for :data:`MAX_AGE`
seconds are pruned, and there are at most :data:`MAX_ENTRIES` of them (the least recently used go).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "MAX_AGE",
    "MAX_ENTRIES",
    "SessionStore",
    "SqliteSessionStore",
    "StoreUnavailable",
    "StoredSession",
    "default_store_path",
]

#: Seconds an entry is kept after its session was last used.
MAX_AGE = 30 * 24 * 3600.0
#: The most entries the store keeps.
MAX_ENTRIES = 1000


class StoreUnavailable(Exception):
    """The store cannot be opened, read or written (the proxy goes on without it)."""


@dataclass(frozen=True)
class StoredSession:
    """A host session the proxy issued: the host's ``initialize`` request, as the host sent it."""

    initialize: Mapping[str, Any]
    last_used: float

    @property
    def protocol_version(self) -> str | None:
        version = self.initialize.get("params", {}).get("protocolVersion")
        return version if isinstance(version, str) else None

    @property
    def client_info(self) -> Mapping[str, Any]:
        info = self.initialize.get("params", {}).get("clientInfo")
        return info if isinstance(info, dict) else {}

    @property
    def capabilities(self) -> Mapping[str, Any]:
        capabilities = self.initialize.get("params", {}).get("capabilities")
        return capabilities if isinstance(capabilities, dict) else {}


class SessionStore(Protocol):
    """The host sessions a proxy issued, by session id; every method may raise :class:`StoreUnavailable`."""

    def get(self, session_id: str) -> StoredSession | None: ...

    def put(self, session_id: str, initialize: Mapping[str, Any]) -> None: ...

    def touch(self, session_id: str) -> None: ...

    def remove(self, session_id: str) -> None: ...


def default_store_path() -> Path:
    """``proxy-sessions.sqlite3`` in the user's state directory."""
    import platformdirs  # the cli extra

    return Path(platformdirs.user_state_dir("mcp-session-recovery")) / "proxy-sessions.sqlite3"


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS host_sessions (
    key TEXT PRIMARY KEY,
    initialize TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL NOT NULL
)
"""


class SqliteSessionStore:
    """:class:`SessionStore` in one SQLite file (made with mode 0600, its directory with 0700).

    Opening checks the file (a corrupt one raises :class:`StoreUnavailable`) and prunes it. Calls
    are serialized: the proxy makes them from worker threads.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_entries: int = MAX_ENTRIES,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                path.touch(mode=0o600)
            os.chmod(path, 0o600)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the session store {path}: {_why(exc)}") from exc
        try:
            self._run(lambda db: db.execute("PRAGMA journal_mode=WAL"))
            self._run(lambda db: db.execute(_SCHEMA))
            self._run(lambda db: db.execute("SELECT count(*) FROM host_sessions").fetchone())
            self._prune()
        except StoreUnavailable:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<SqliteSessionStore {self.path}>"

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def get(self, session_id: str) -> StoredSession | None:
        row = self._run(
            lambda db: db.execute(
                "SELECT initialize, last_used FROM host_sessions WHERE key = ?", (_key(session_id),)
            ).fetchone()
        )
        if row is None or self._clock() - row[1] > self._max_age:
            return None
        try:
            initialize = json.loads(row[0])
        except ValueError:
            return None  # a damaged entry is no session
        return StoredSession(initialize, row[1]) if isinstance(initialize, dict) else None

    def put(self, session_id: str, initialize: Mapping[str, Any]) -> None:
        now = self._clock()
        text = json.dumps(dict(initialize), separators=(",", ":"))
        self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO host_sessions (key, initialize, created, last_used) VALUES (?, ?, ?, ?)",
                (_key(session_id), text, now, now),
            )
        )
        self._prune()

    def touch(self, session_id: str) -> None:
        now = self._clock()
        self._run(
            lambda db: db.execute("UPDATE host_sessions SET last_used = ? WHERE key = ?", (now, _key(session_id)))
        )

    def remove(self, session_id: str) -> None:
        self._run(lambda db: db.execute("DELETE FROM host_sessions WHERE key = ?", (_key(session_id),)))

    def _prune(self) -> None:
        oldest = self._clock() - self._max_age
        self._run(lambda db: db.execute("DELETE FROM host_sessions WHERE last_used < ?", (oldest,)))
        self._run(
            lambda db: db.execute(
                "DELETE FROM host_sessions WHERE key NOT IN "
                "(SELECT key FROM host_sessions ORDER BY last_used DESC LIMIT ?)",
                (self._max_entries,),
            )
        )

    def _run(self, statement: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._lock:
            try:
                return statement(self._db)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"the session store {self.path} failed: {_why(exc)}") from exc


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
