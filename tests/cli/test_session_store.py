"""The proxy's store of host sessions: kept across restarts, bounded, private, and never holding an id."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mcp_session_recovery.cli.session_store import SqliteSessionStore, StoreUnavailable

SESSION_ID = "recovering-0123456789abcdef0123456789abcdef"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "claude-code", "version": "2.1"},
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_put_is_found_by_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sessions.sqlite3"
    first = SqliteSessionStore(path)
    first.put(SESSION_ID, INITIALIZE)
    first.close()
    found = SqliteSessionStore(path).get(SESSION_ID)  # a restarted proxy
    assert found is not None
    assert found.initialize == INITIALIZE
    assert found.protocol_version == "2025-11-25"
    assert found.client_info == {"name": "claude-code", "version": "2.1"}
    assert found.capabilities == {"elicitation": {}}
    assert SqliteSessionStore(path).get("recovering-another") is None


def test_the_file_is_the_users_alone_and_never_holds_a_session_id(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    store = SqliteSessionStore(path)
    store.put(SESSION_ID, INITIALIZE)
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"claude-code" in written  # the entry is there ...
    assert SESSION_ID.encode() not in written  # ... found by the id's hash, never by the id


def test_removed_and_expired_sessions_are_gone(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteSessionStore(tmp_path / "s.sqlite3", max_age=100.0, clock=clock)
    store.put("a", INITIALIZE)
    store.put("b", INITIALIZE)
    store.remove("a")
    assert store.get("a") is None
    clock.now += 99.0
    assert store.get("b") is not None
    clock.now += 2.0
    assert store.get("b") is None
    store.put("c", INITIALIZE)  # a write prunes what expired
    assert SqliteSessionStore(tmp_path / "s.sqlite3", max_age=1e9, clock=clock).get("b") is None


def test_the_least_recently_used_go_past_the_bound(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteSessionStore(tmp_path / "s.sqlite3", max_entries=3, clock=clock)
    for name in "abcde":
        clock.now += 1.0
        store.put(name, INITIALIZE)
    assert [name for name in "abcde" if store.get(name) is not None] == ["c", "d", "e"]


def test_a_corrupt_file_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="session store"):
        SqliteSessionStore(path)


def test_a_store_that_cannot_be_made_is_refused_at_open(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreUnavailable, match="cannot open the session store"):
        SqliteSessionStore(blocker / "sessions.sqlite3")  # its directory would be a file
