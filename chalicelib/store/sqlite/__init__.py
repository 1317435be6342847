"""SQLite: the whole store contract, the dispatch queue, saved responses and the local outbox in
one database file (WAL mode), for `make run` and the tests.

Every write is one transaction taken with `BEGIN IMMEDIATE`, so a conditional write (a claim, a
versioned replace) reads and writes under the database's write lock: a failed condition changes
nothing, and a committed answer is in the WAL file before the caller hears of it, which survives
the death of every process (SIGKILL, OOM). With `synchronous=FULL` it survives a power cut too;
`NORMAL` (the default) may lose the last transactions to a power cut, never half of one.

Each thread gets a connection of its own; SQLite serialises writers across threads and processes
(an admin command may open the same file while the stack runs).
"""

from chalicelib.store.sqlite.database import DATABASE_FILE, Database
from chalicelib.store.sqlite.delivery import Received, SqliteBlobs, SqliteOutbox, SqliteQueue
from chalicelib.store.sqlite.jobs import SqliteJobStore
from chalicelib.store.sqlite.monitors import SqliteMonitorStore
from chalicelib.store.sqlite.records import (
    SqliteKeyStore,
    SqliteRunStore,
    SqliteStateStore,
    sqlite_stores,
)
from chalicelib.store.sqlite.users import SqliteUserStore

__all__ = [
    "DATABASE_FILE",
    "Database",
    "Received",
    "SqliteBlobs",
    "SqliteJobStore",
    "SqliteKeyStore",
    "SqliteMonitorStore",
    "SqliteOutbox",
    "SqliteQueue",
    "SqliteRunStore",
    "SqliteStateStore",
    "SqliteUserStore",
    "sqlite_stores",
]
