"""What SQS, S3 and SES do in AWS, on SQLite: the dispatch queue, saved responses and the
outbox of notification e-mails."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.store.blobs import retention_class
from chalicelib.store.queue import MAX_DELAY_S
from chalicelib.store.sqlite.database import Database, dumps

# ---- the dispatch queue, saved responses, the outbox -------------------------------------------


@dataclass(frozen=True)
class Received:
    """A message taken off the queue: hidden from other readers until `delete` or its
    visibility timeout."""

    receipt: str
    body: str


class SqliteQueue:
    """SQS's semantics where cronhook relies on them: a delay per message (0-900 s), a
    visibility timeout after a receive (the message comes back if not deleted in time), and a
    dead-letter table after `max_receives` receives (the queue's redrive policy)."""

    def __init__(
        self,
        db: Database,
        visibility_s: float = 2880,
        max_receives: int = 5,
        clock: Any = time.time,
    ) -> None:
        self.db = db
        self.visibility_s = visibility_s
        self.max_receives = max_receives
        self.clock = clock

    def send(self, messages: Sequence[tuple[str, int]]) -> None:
        now = self.clock()
        self.send_at([(body, now + max(0, min(MAX_DELAY_S, int(d)))) for body, d in messages])

    def send_at(self, messages: Sequence[tuple[str, float]]) -> None:
        """Put messages in with the time each becomes visible (`send`, and a restore)."""
        now = self.clock()
        with self.db.write() as conn:
            conn.executemany(
                "INSERT INTO queue (body, visible_at, sent_at) VALUES (?, ?, ?)",
                [(body, float(at), now) for body, at in messages],
            )
        with self.db.arrived:
            self.db.arrived.notify_all()

    def receive(self, limit: int = 10) -> list[Received]:
        """Up to `limit` visible messages, oldest first, hidden for the visibility timeout."""
        now = self.clock()
        out: list[Received] = []
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT id, body, receives, sent_at FROM queue WHERE visible_at <= ? "
                "ORDER BY visible_at, id LIMIT ?",
                (now, limit),
            ).fetchall()
            for id_, body, receives, sent_at in rows:
                if receives >= self.max_receives:
                    conn.execute("DELETE FROM queue WHERE id = ?", (id_,))
                    conn.execute(
                        "INSERT INTO dead_letters (id, body, sent_at, dead_at, receives) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (id_, body, sent_at, now, receives),
                    )
                    continue
                receipt = f"{id_}:{secrets.token_hex(8)}"
                conn.execute(
                    "UPDATE queue SET visible_at = ?, receives = receives + 1, receipt = ? "
                    "WHERE id = ?",
                    (now + self.visibility_s, receipt, id_),
                )
                out.append(Received(receipt, body))
        return out

    def delete(self, receipts: Sequence[str]) -> None:
        """Delete received messages; a receipt from before a later receive deletes nothing."""
        with self.db.write() as conn:
            conn.executemany("DELETE FROM queue WHERE receipt = ?", [(r,) for r in receipts])

    def wait(self, timeout: float) -> None:
        """Sleep until a message may be visible (the earliest delay ends, or one is sent), at
        most `timeout` seconds."""
        rows = self.db.read("SELECT MIN(visible_at) FROM queue")
        earliest = rows[0][0] if rows and rows[0][0] is not None else None
        pause = timeout if earliest is None else max(0.0, min(timeout, earliest - self.clock()))
        if pause > 0:
            with self.db.arrived:
                self.db.arrived.wait(pause)

    def redrive(self) -> int:
        """Put every dead letter back in the queue, visible at once; how many."""
        now = self.clock()
        with self.db.write() as conn:
            moved = conn.execute(
                "INSERT INTO queue (body, visible_at, sent_at) "
                "SELECT body, ?, ? FROM dead_letters ORDER BY id",
                (now, now),
            ).rowcount
            conn.execute("DELETE FROM dead_letters")
        return int(moved)

    def pending(self) -> int:
        return int(self.db.read("SELECT COUNT(*) FROM queue")[0][0])

    def dead(self) -> int:
        return int(self.db.read("SELECT COUNT(*) FROM dead_letters")[0][0])


class SqliteBlobs:
    """Saved responses as rows; expired by `Database.housekeep` after their retention class."""

    def __init__(self, db: Database, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    def put(self, key: str, data: dict[str, Any], retention_days: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO blobs (key, data, retention_days, stored_at) "
                "VALUES (?, ?, ?, ?)",
                (key, dumps(data), retention_class(retention_days), int(self.clock())),
            )

    def get(self, key: str) -> dict[str, Any] | None:
        rows = self.db.read("SELECT data FROM blobs WHERE key = ?", (key,))
        if not rows:
            return None
        data: dict[str, Any] = json.loads(rows[0][0])
        return data


class SqliteOutbox:
    """Where `make run` puts the notification e-mails SES would send: one row each, with the
    same arguments as SES's `send_email` (read them with `sqlite3 .cronhook/cronhook.db
    'select message from outbox'`)."""

    def __init__(self, db: Database, clock: Any = time.time) -> None:
        self.db = db
        self.clock = clock

    def send_email(self, **message: Any) -> dict[str, str]:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO outbox (sent_at, message) VALUES (?, ?)",
                (self.clock(), dumps(message)),
            )
        return {"MessageId": f"local-{cursor.lastrowid}"}

    def messages(self) -> list[dict[str, Any]]:
        rows = self.db.read("SELECT message FROM outbox ORDER BY id")
        return [json.loads(row[0]) for row in rows]
