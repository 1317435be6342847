"""The SQLite file: its schema, a connection per thread, write transactions, backups and the
expiry that DynamoDB's TTL and S3's lifecycle rules do in AWS."""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.errors import StoreError

SCHEMA_VERSION = 1
DATABASE_FILE = "cronhook.db"
WATCH_KEEP_S = 7 * 86400  # as the DynamoDB watch lists' TTL
BUCKET_KEEP_S = 3600  # an idle rate-limit bucket is full again long before this

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    account_id TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    spec TEXT NOT NULL,
    secrets TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    disabled_reason TEXT,
    shard INTEGER NOT NULL,
    next_run_at INTEGER,
    last_status INTEGER NOT NULL DEFAULT 0,
    last_duration INTEGER NOT NULL DEFAULT 0,
    last_execution INTEGER NOT NULL DEFAULT 0,
    ssl_cert_expiry INTEGER,
    failure_streak INTEGER NOT NULL DEFAULT 0,
    success_count INTEGER NOT NULL DEFAULT 0,
    failure_count INTEGER NOT NULL DEFAULT 0,
    running INTEGER NOT NULL DEFAULT 0,
    state_version INTEGER NOT NULL DEFAULT 0,
    last_run TEXT,
    PRIMARY KEY (account_id, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (shard, next_run_at) WHERE next_run_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS keys (
    key_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    ip_allowlist TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER,
    rate_limit_per_s REAL,
    rate_limit_burst REAL,
    strict INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS keys_by_account ON keys (account_id, key_id);
CREATE TABLE IF NOT EXISTS runs (
    account_id TEXT NOT NULL,
    job_id INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    deadline INTEGER,
    expires_at INTEGER,
    claim TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, job_id, run_id)
);
CREATE INDEX IF NOT EXISTS runs_by_account ON runs (account_id, run_id);
CREATE INDEX IF NOT EXISTS runs_expiry ON runs (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS watches (
    minute INTEGER NOT NULL,
    token TEXT NOT NULL,
    entries TEXT NOT NULL,
    PRIMARY KEY (minute, token)
);
CREATE TABLE IF NOT EXISTS wakes (
    shard INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    token TEXT NOT NULL,
    jobs TEXT NOT NULL,
    PRIMARY KEY (shard, minute, token)
);
CREATE TABLE IF NOT EXISTS marks (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS scheduler (account_id TEXT PRIMARY KEY, enabled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    bucket TEXT PRIMARY KEY, tokens REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS folders (
    account_id TEXT PRIMARY KEY, folders TEXT NOT NULL, version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    visible_at REAL NOT NULL,
    sent_at REAL NOT NULL,
    receives INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS queue_visible ON queue (visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, body TEXT NOT NULL, sent_at REAL NOT NULL, dead_at REAL NOT NULL,
    receives INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    key TEXT PRIMARY KEY, data TEXT NOT NULL, retention_days INTEGER NOT NULL,
    stored_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS users_by_account ON users (account_id, username);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    account_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    renew_s INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sent_at REAL NOT NULL, message TEXT NOT NULL
);
"""

# Monitors (heartbeats): the monitor, its token's hash (unique), and its pings.
_SCHEMA += """
CREATE TABLE IF NOT EXISTS monitors (
    account_id TEXT NOT NULL,
    monitor_id INTEGER NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    alert_at INTEGER,
    state TEXT NOT NULL,
    PRIMARY KEY (account_id, monitor_id)
);
CREATE INDEX IF NOT EXISTS monitors_overdue ON monitors (shard, alert_at)
    WHERE alert_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS pings (
    account_id TEXT NOT NULL,
    monitor_id INTEGER NOT NULL,
    ping_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (account_id, monitor_id, ping_id)
);
CREATE INDEX IF NOT EXISTS pings_expiry ON pings (expires_at) WHERE expires_at IS NOT NULL;
"""


# Columns added since a table was first made: (table, column, declaration). A file made before
# gains them here; CREATE TABLE above has them for a new file. Old rows take the default.
_ADDED_COLUMNS = (("keys", "strict", "INTEGER NOT NULL DEFAULT 0"),)


def _add_columns(conn: sqlite3.Connection) -> None:
    """Add the columns of `_ADDED_COLUMNS` a table lacks; idempotent (PRAGMA table_info says
    what it has), so every open of an existing file can run it."""
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Database:
    """One SQLite file, opened (and its schema made) once. Writes go through one connection
    under this process's write lock; reads borrow a connection from a pool (WAL lets them run
    beside the writer), so a burst of short-lived threads reuses a few connections."""

    def __init__(self, path: Path | str, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._writer = threading.Lock()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._connections: list[sqlite3.Connection] = []
        self._write_conn: sqlite3.Connection | None = None
        self.arrived = threading.Condition()  # notified when queue messages are sent
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Owner only: SQLite gives the -wal and -shm files the database file's mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot open {self.path}: {exc.strerror}") from exc
        try:
            with self._writer:
                conn = self._writing()
                conn.execute("PRAGMA journal_mode=WAL")  # kept in the file from then on
                conn.executescript(_SCHEMA)  # idempotent: every statement is IF NOT EXISTS
                _add_columns(conn)
            with self.write() as conn:
                found = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                if found is None:
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                    )
                elif int(found[0]) > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path} was written by a newer cronhook (schema {found[0]}, this "
                        f"one reads up to {SCHEMA_VERSION})"
                    )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        with self._lock:
            self._connections.append(conn)
        return conn

    def _writing(self) -> sqlite3.Connection:
        """The write connection (the caller holds `_writer`)."""
        if self._write_conn is None:
            self._write_conn = self._connect()
        return self._write_conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._readers.put(conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything in the block commits together or not at all.

        This process's writers queue on a lock of its own before SQLite's: SQLite makes a
        writer that finds the database locked sleep and retry (1 ms, then up to 100 ms), which
        under a burst of runs costs seconds; a thread waiting on the lock starts as soon as the
        writer before it commits. Other processes (an admin command) still meet SQLite's lock."""
        with self._writer:
            conn = self._writing()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write {self.path}: {exc}") from exc
            try:
                yield conn
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"cannot write {self.path}: {exc}") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StoreError(f"cannot write {self.path}: {exc}") from exc

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._reading() as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read {self.path}: {exc}") from exc

    def check(self) -> str:
        """'ok', or what SQLite's quick check found wrong with the file."""
        rows = self.read("PRAGMA quick_check")
        return "; ".join(str(r[0]) for r in rows[:5])

    def backup(self, target: Path) -> None:
        """A consistent copy of the database at `target`, taken while others read and write."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            copy = sqlite3.connect(partial)
            try:
                with self._reading() as conn:
                    conn.backup(copy)
            finally:
                copy.close()
            partial.chmod(0o600)
            partial.replace(target)
        except sqlite3.Error as exc:
            partial.unlink(missing_ok=True)
            raise StoreError(f"cannot back {self.path} up to {target}: {exc}") from exc

    def housekeep(self, now: float) -> dict[str, int]:
        """Delete what DynamoDB's TTL and S3's lifecycle rules delete in AWS: expired runs,
        old watch and wake lists and message marks, idle rate buckets, saved responses past their
        retention."""
        with self.write() as conn:
            counts = {
                "runs": conn.execute(
                    "DELETE FROM runs WHERE expires_at IS NOT NULL AND expires_at < ?", (int(now),)
                ).rowcount,
                "pings": conn.execute(
                    "DELETE FROM pings WHERE expires_at IS NOT NULL AND expires_at < ?", (int(now),)
                ).rowcount,
                "watches": conn.execute(
                    "DELETE FROM watches WHERE minute * 60 + ? < ?", (WATCH_KEEP_S, int(now))
                ).rowcount,
                "wakes": conn.execute(
                    "DELETE FROM wakes WHERE minute * 60 + ? < ?", (WATCH_KEEP_S, int(now))
                ).rowcount,
                "marks": conn.execute(
                    "DELETE FROM marks WHERE expires_at < ?", (int(now),)
                ).rowcount,
                "buckets": conn.execute(
                    "DELETE FROM buckets WHERE updated < ?", (now - BUCKET_KEEP_S,)
                ).rowcount,
                "sessions": conn.execute(
                    "DELETE FROM sessions WHERE expires_at < ?", (int(now),)
                ).rowcount,
                "responses": conn.execute(
                    "DELETE FROM blobs WHERE stored_at + retention_days * 86400 < ?", (int(now),)
                ).rowcount,
            }
        return counts

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._write_conn = None
        self._readers = queue.SimpleQueue()
