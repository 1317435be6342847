"""The store contract on SQLite: keys, runs (with the tick's watch lists) and state; jobs are
in `jobs`."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.crypto import Sealer
from chalicelib.runs import run_id_bound
from chalicelib.store.base import (
    ApiKey,
    JobIds,
    JobKeys,
    Page,
    RunRecord,
    Stores,
    Wake,
    Watch,
    refill,
    run_cursor,
    run_from_cursor,
    watch_minute,
)
from chalicelib.store.sqlite.database import Database, dumps
from chalicelib.store.sqlite.jobs import SqliteJobStore
from chalicelib.store.sqlite.monitors import SqliteMonitorStore
from chalicelib.store.sqlite.users import SqliteUserStore

# ---- keys -------------------------------------------------------------------------------------

_KEY_COLUMNS = (
    "key_hash, key_id, account_id, name, scopes, ip_allowlist, created_at, last_used_at, "
    "revoked_at, rate_limit_per_s, rate_limit_burst, strict"
)


class SqliteKeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _record(row: Any) -> ApiKey:
        return ApiKey(
            key_hash=row[0],
            key_id=row[1],
            account_id=row[2],
            name=row[3],
            scopes=json.loads(row[4]),
            ip_allowlist=json.loads(row[5]),
            created_at=row[6],
            last_used_at=row[7],
            revoked_at=row[8],
            rate_limit_per_s=row[9],
            rate_limit_burst=row[10],
            strict=bool(row[11]),
        )

    def create(self, key: ApiKey) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO keys ({_KEY_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                (
                    key.key_hash,
                    key.key_id,
                    key.account_id,
                    key.name,
                    dumps(list(key.scopes)),
                    dumps(list(key.ip_allowlist)),
                    key.created_at,
                    key.last_used_at,
                    key.revoked_at,
                    key.rate_limit_per_s,
                    key.rate_limit_burst,
                    int(key.strict),
                ),
            )
            return cursor.rowcount == 1

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self.db.read(f"SELECT {_KEY_COLUMNS} FROM keys WHERE key_hash = ?", (key_hash,))
        return self._record(rows[0]) if rows else None

    def get_by_id(self, account_id: str, key_id: str) -> ApiKey | None:
        rows = self.db.read(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE account_id = ? AND key_id = ?",
            (account_id, key_id),
        )
        return self._record(rows[0]) if rows else None

    def list(self, account_id: str) -> list[ApiKey]:
        rows = self.db.read(
            f"SELECT {_KEY_COLUMNS} FROM keys WHERE account_id = ? ORDER BY key_id", (account_id,)
        )
        return [self._record(row) for row in rows]

    def revoke(self, account_id: str, key_id: str, when: int) -> bool:
        with self.db.write() as conn:
            found = conn.execute(
                "SELECT 1 FROM keys WHERE account_id = ? AND key_id = ?", (account_id, key_id)
            ).fetchone()
            conn.execute(
                "UPDATE keys SET revoked_at = ? "
                "WHERE account_id = ? AND key_id = ? AND revoked_at IS NULL",
                (when, account_id, key_id),
            )
            return found is not None

    def touch(self, key_hash: str, when: int) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE keys SET last_used_at = ? WHERE key_hash = ?", (when, key_hash))


# ---- runs -------------------------------------------------------------------------------------

_RUN_COLUMNS = "account_id, job_id, run_id, state, data, deadline, expires_at, claim"


def _run_row(run: RunRecord) -> tuple[Any, ...]:
    return (
        run.account_id,
        run.job_id,
        run.run_id,
        run.state,
        dumps(run.data),
        run.active_deadline,
        run.expires_at,
        run.claim,
    )


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        account_id=row[0],
        job_id=int(row[1]),
        run_id=row[2],
        state=row[3],
        data=json.loads(row[4]),
        active_deadline=row[5],
        expires_at=row[6],
        claim=row[7],
    )


class SqliteRunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, run: RunRecord) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _run_row(run),
            )
            if cursor.rowcount == 1:
                return True
            # A retried create whose first attempt landed finds its own claim token.
            row = conn.execute(
                "SELECT claim FROM runs WHERE account_id = ? AND job_id = ? AND run_id = ?",
                (run.account_id, run.job_id, run.run_id),
            ).fetchone()
            return bool(run.claim) and row is not None and row[0] == run.claim

    def update(self, run: RunRecord, expected_state: str) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE runs SET state = ?, data = ?, deadline = ?, expires_at = ?, claim = ? "
                "WHERE account_id = ? AND job_id = ? AND run_id = ? AND state = ?",
                (
                    run.state,
                    dumps(run.data),
                    run.active_deadline,
                    run.expires_at,
                    run.claim,
                    run.account_id,
                    run.job_id,
                    run.run_id,
                    expected_state,
                ),
            )
            return cursor.rowcount == 1

    def put(self, run: RunRecord) -> None:
        with self.db.write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _run_row(run),
            )

    def watch(self, entries: list[Watch], token: str) -> None:
        by_minute: dict[int, list[list[Any]]] = {}
        for entry in entries:
            by_minute.setdefault(watch_minute(entry[3]), []).append(list(entry))
        with self.db.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO watches (minute, token, entries) VALUES (?, ?, ?)",
                [(minute, token, dumps(group)) for minute, group in by_minute.items()],
            )

    def watched(self, minute: int) -> list[Watch]:
        rows = self.db.read("SELECT entries FROM watches WHERE minute = ?", (minute,))
        return [
            (str(a), int(j), str(r), int(d)) for row in rows for a, j, r, d in json.loads(row[0])
        ]

    def wake(self, entries: list[Wake], token: str) -> None:
        by_slot: dict[tuple[int, int], list[list[Any]]] = {}
        for account, job, shard, minute in entries:
            by_slot.setdefault((shard, minute), []).append([account, job])
        with self.db.write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO wakes (shard, minute, token, jobs) VALUES (?, ?, ?, ?)",
                [(shard, minute, token, dumps(jobs)) for (shard, minute), jobs in by_slot.items()],
            )

    def woken(self, shard: int, minute: int) -> JobKeys:
        rows = self.db.read(
            "SELECT jobs FROM wakes WHERE shard = ? AND minute = ?", (shard, minute)
        )
        return [(str(a), int(j)) for row in rows for a, j in json.loads(row[0])]

    def mark(self, key: str, expires_at: int) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO marks (key, expires_at) VALUES (?, ?)", (key, expires_at)
            )
            return cursor.rowcount == 1

    def get(self, account_id: str, job_id: int, run_id: str) -> RunRecord | None:
        rows = self.db.read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE account_id = ? AND job_id = ? AND run_id = ?",
            (account_id, job_id, run_id),
        )
        return _run_record(rows[0]) if rows else None

    def get_many(
        self, keys: list[tuple[str, int, str]], consistent: bool = True
    ) -> list[RunRecord]:
        out: list[RunRecord] = []
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 300):
            chunk = wanted[start : start + 300]
            condition = " OR ".join(["(account_id = ? AND job_id = ? AND run_id = ?)"] * len(chunk))
            params = [value for key in chunk for value in key]
            rows = self.db.read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE {condition}", params)
            out.extend(_run_record(row) for row in rows)
        return out

    def _page(
        self,
        where: str,
        params: list[Any],
        limit: int,
        cursor: str | None,
        planned_until: float | None,
        before: str | None,
    ) -> Page:
        bounds = [
            run_from_cursor(cursor) if cursor is not None else None,
            run_id_bound(planned_until) if planned_until is not None else None,
            before,
        ]
        for bound in bounds:
            if bound is not None:
                where += " AND run_id < ?"
                params.append(bound)
        rows = self.db.read(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} ORDER BY run_id DESC LIMIT ?",
            [*params, limit + 1],
        )
        items = [_run_record(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, run_cursor(items[-1].run_id) if more and items else None)

    def list_for_job(
        self,
        account_id: str,
        job_id: int,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
        before: str | None = None,
    ) -> Page:
        return self._page(
            "account_id = ? AND job_id = ?",
            [account_id, job_id],
            limit,
            cursor,
            planned_until,
            before,
        )

    def list_for_account(
        self,
        account_id: str,
        job_ids: JobIds,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
    ) -> Page:
        return self._page(
            "account_id = ? AND job_id IN (SELECT value FROM json_each(?))",
            [account_id, dumps(sorted(set(job_ids)))],
            limit,
            cursor,
            planned_until,
            None,
        )


# ---- state ------------------------------------------------------------------------------------


class SqliteStateStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def next_id(self, counter: str) -> int:
        with self.db.write() as conn:
            row = conn.execute(
                "INSERT INTO counters (name, n) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET n = n + 1 RETURNING n",
                (counter,),
            ).fetchone()
            return int(row[0])

    def set_counter(self, counter: str, value: int) -> None:
        """Raise a counter to `value` (an import): ids already given out are never given again."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO counters (name, n) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET n = MAX(n, excluded.n)",
                (counter, value),
            )

    def scheduler_enabled(self, account_id: str, consistent: bool = True) -> bool:
        rows = self.db.read("SELECT enabled FROM scheduler WHERE account_id = ?", (account_id,))
        return bool(rows[0][0]) if rows else True

    def set_scheduler_enabled(self, account_id: str, enabled: bool) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scheduler (account_id, enabled) VALUES (?, ?)",
                (account_id, int(enabled)),
            )

    def take_token(self, bucket: str, rate: float, burst: float, now: float) -> tuple[bool, float]:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT tokens, updated FROM buckets WHERE bucket = ?", (bucket,)
            ).fetchone()
            tokens, updated = (row[0], row[1]) if row else (burst, now)
            level = refill(tokens, updated, rate, burst, now)
            allowed = level >= 1.0
            conn.execute(
                "INSERT OR REPLACE INTO buckets (bucket, tokens, updated) VALUES (?, ?, ?)",
                (bucket, level - 1.0 if allowed else level, max(now, updated)),
            )
        return (True, 0.0) if allowed else (False, (1.0 - level) / rate)

    def get_value(self, key: str, consistent: bool = True) -> Any:
        rows = self.db.read("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def put_value(self, key: str, value: Any) -> None:
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    def folders(self, account_id: str) -> tuple[dict[int, str], int]:
        rows = self.db.read(
            "SELECT folders, version FROM folders WHERE account_id = ?", (account_id,)
        )
        if not rows:
            return {}, 0
        return {int(k): v for k, v in json.loads(rows[0][0]).items()}, int(rows[0][1])

    def put_folders(self, account_id: str, folders: dict[int, str], expected_version: int) -> bool:
        document = dumps({str(k): v for k, v in folders.items()})
        with self.db.write() as conn:
            if expected_version == 0:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO folders (account_id, folders, version) VALUES (?, ?, 1)",
                    (account_id, document),
                )
            else:
                cursor = conn.execute(
                    "UPDATE folders SET folders = ?, version = version + 1 "
                    "WHERE account_id = ? AND version = ?",
                    (document, account_id, expected_version),
                )
            return cursor.rowcount == 1


def sqlite_stores(db: Database, shards: int = 8, sealer: Sealer | None = None) -> Stores:
    return Stores(
        jobs=SqliteJobStore(db, shards, sealer),
        keys=SqliteKeyStore(db),
        runs=SqliteRunStore(db),
        state=SqliteStateStore(db),
        users=SqliteUserStore(db),
        monitors=SqliteMonitorStore(db),
    )
