"""The store contract's users and sessions on SQLite."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.store.base import SessionRecord, UserRecord
from chalicelib.store.sqlite.database import Database, dumps

_USER_COLUMNS = "username, account_id, password_hash, scopes, created_at, password_changed_at"
_SESSION_COLUMNS = "token_hash, username, account_id, created_at, expires_at, renew_s"


def _user(row: Any) -> UserRecord:
    return UserRecord(
        username=row[0],
        account_id=row[1],
        password_hash=row[2],
        scopes=json.loads(row[3]),
        created_at=row[4],
        password_changed_at=row[5],
    )


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        token_hash=row[0],
        username=row[1],
        account_id=row[2],
        created_at=row[3],
        expires_at=row[4],
        renew_s=row[5],
    )


class SqliteUserStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, user: UserRecord) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    user.username,
                    user.account_id,
                    user.password_hash,
                    dumps(list(user.scopes)),
                    user.created_at,
                    user.password_changed_at,
                ),
            )
            return cursor.rowcount == 1

    def get(self, username: str) -> UserRecord | None:
        rows = self.db.read(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return _user(rows[0]) if rows else None

    def list(self, account_id: str) -> list[UserRecord]:
        rows = self.db.read(
            f"SELECT {_USER_COLUMNS} FROM users WHERE account_id = ? ORDER BY username",
            (account_id,),
        )
        return [_user(row) for row in rows]

    def set_password(self, account_id: str, username: str, password_hash: str, when: int) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ? "
                "WHERE username = ? AND account_id = ?",
                (password_hash, when, username, account_id),
            )
            return cursor.rowcount == 1

    def delete(self, account_id: str, username: str) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM users WHERE username = ? AND account_id = ?", (username, account_id)
            )
            if cursor.rowcount != 1:
                return False
            conn.execute("DELETE FROM sessions WHERE username = ?", (username,))
            return True

    def create_session(self, session: SessionRecord) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.token_hash,
                    session.username,
                    session.account_id,
                    session.created_at,
                    session.expires_at,
                    session.renew_s,
                ),
            )
            return cursor.rowcount == 1

    def get_session(self, token_hash: str) -> SessionRecord | None:
        rows = self.db.read(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
        )
        return _session(rows[0]) if rows else None

    def renew_session(self, token_hash: str, expires_at: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE sessions SET expires_at = ? WHERE token_hash = ?", (expires_at, token_hash)
            )

    def end_session(self, token_hash: str) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            return cursor.rowcount == 1

    def end_sessions(self, username: str) -> int:
        with self.db.write() as conn:
            return int(
                conn.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount
            )
