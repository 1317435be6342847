"""The monitors store on SQLite: one row per monitor (its state as one JSON document, the
`overdue` index on shard and alert_at), its token's hash unique, pings in a table of their own."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from chalicelib.store.base import (
    MonitorKeys,
    MonitorRecord,
    Page,
    PingRecord,
    ping_cursor,
    ping_from_cursor,
)
from chalicelib.store.sqlite.database import Database, dumps

_COLUMNS = "account_id, monitor_id, token_hash, version, state"


class SqliteMonitorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _record(row: Any) -> MonitorRecord:
        return MonitorRecord.from_state(
            row[0], int(row[1]), row[2], int(row[3]), json.loads(row[4])
        )

    def create(self, monitor: MonitorRecord) -> bool:
        with self.db.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO monitors (account_id, monitor_id, token_hash, version, shard, "
                    "alert_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        monitor.account_id,
                        monitor.monitor_id,
                        monitor.token_hash,
                        monitor.version,
                        monitor.shard,
                        monitor.alert_at,
                        dumps(monitor.state()),
                    ),
                )
            except sqlite3.IntegrityError:
                return False  # the id or the token is taken
            return True

    def get(self, account_id: str, monitor_id: int) -> MonitorRecord | None:
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM monitors WHERE account_id = ? AND monitor_id = ?",
            (account_id, monitor_id),
        )
        return self._record(rows[0]) if rows else None

    def by_token(self, token_hash: str) -> MonitorRecord | None:
        rows = self.db.read(f"SELECT {_COLUMNS} FROM monitors WHERE token_hash = ?", (token_hash,))
        return self._record(rows[0]) if rows else None

    def list(self, account_id: str) -> list[MonitorRecord]:
        rows = self.db.read(
            f"SELECT {_COLUMNS} FROM monitors WHERE account_id = ? ORDER BY monitor_id",
            (account_id,),
        )
        return [self._record(r) for r in rows]

    def replace(self, monitor: MonitorRecord, expected_version: int) -> bool:
        with self.db.write() as conn:
            try:
                cursor = conn.execute(
                    "UPDATE monitors SET token_hash = ?, version = ?, alert_at = ?, state = ? "
                    "WHERE account_id = ? AND monitor_id = ? AND version = ?",
                    (
                        monitor.token_hash,
                        monitor.version,
                        monitor.alert_at,
                        dumps(monitor.state()),
                        monitor.account_id,
                        monitor.monitor_id,
                        expected_version,
                    ),
                )
            except sqlite3.IntegrityError:
                return False  # the new token is another monitor's
            return cursor.rowcount == 1

    def delete(self, account_id: str, monitor_id: int) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM monitors WHERE account_id = ? AND monitor_id = ?",
                (account_id, monitor_id),
            )
            return cursor.rowcount == 1

    def overdue(self, shard: int, until: int, limit: int) -> MonitorKeys:
        rows = self.db.read(
            "SELECT account_id, monitor_id FROM monitors WHERE shard = ? AND alert_at IS NOT NULL "
            "AND alert_at <= ? ORDER BY alert_at LIMIT ?",
            (shard, until, limit),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    def add_ping(self, ping: PingRecord) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO pings (account_id, monitor_id, ping_id, data, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (ping.account_id, ping.monitor_id, ping.ping_id, dumps(ping.data), ping.expires_at),
            )

    def pings(self, account_id: str, monitor_id: int, limit: int, cursor: str | None) -> Page:
        before = ping_from_cursor(cursor) if cursor else "~"
        rows = self.db.read(
            "SELECT ping_id, data, expires_at FROM pings WHERE account_id = ? AND monitor_id = ? "
            "AND ping_id < ? ORDER BY ping_id DESC LIMIT ?",
            (account_id, monitor_id, before, limit + 1),
        )
        items = [
            PingRecord(account_id, monitor_id, r[0], json.loads(r[1]), r[2]) for r in rows[:limit]
        ]
        more = len(rows) > limit
        return Page(items, ping_cursor(items[-1].ping_id) if more and items else None)
