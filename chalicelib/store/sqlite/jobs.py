"""Jobs on SQLite: one row each, the definition and the run state side by side."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.crypto import PlainSealer, Sealer
from chalicelib.store.base import JobIds, JobKeys, JobRecord, Jobs, Outcome, job_key
from chalicelib.store.sqlite.database import Database, dumps

_JOB_COLUMNS = (
    "account_id, job_id, spec, secrets, version, created_at, updated_at, disabled_reason, "
    "next_run_at, last_status, last_duration, last_execution, ssl_cert_expiry, failure_streak, "
    "success_count, failure_count, running, state_version"
)


class SqliteJobStore:
    """Jobs, one row each; `next_run_at` is kept only while the job is due (enabled, with a
    next run), so the partial index `jobs_due` holds exactly the jobs a tick looks for."""

    def __init__(self, db: Database, shards: int, sealer: Sealer | None = None) -> None:
        self.db = db
        self.shards = shards
        self.sealer: Sealer = sealer or PlainSealer()

    def _record(self, row: Any) -> JobRecord:
        account_id, job_id = row[0], int(row[1])
        return JobRecord(
            account_id=account_id,
            job_id=job_id,
            spec=json.loads(row[2]),
            secrets=self.sealer.open(row[3], job_key(account_id, job_id)),
            version=row[4],
            created_at=row[5],
            updated_at=row[6],
            disabled_reason=row[7],
            next_run_at=row[8],
            last_status=row[9],
            last_duration=row[10],
            last_execution=row[11],
            ssl_cert_expiry=row[12],
            failure_streak=row[13],
            success_count=row[14],
            failure_count=row[15],
            running=row[16],
            state_version=row[17],
        )

    def create(self, job: JobRecord) -> bool:
        sealed = self.sealer.seal(job.secrets, job_key(job.account_id, job.job_id))
        with self.db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO jobs ({_JOB_COLUMNS}, shard) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.account_id,
                    job.job_id,
                    dumps(job.spec),
                    sealed,
                    job.version,
                    job.created_at,
                    job.updated_at,
                    job.disabled_reason,
                    job.next_run_at if job.due else None,
                    job.last_status,
                    job.last_duration,
                    job.last_execution,
                    job.ssl_cert_expiry,
                    job.failure_streak,
                    job.success_count,
                    job.failure_count,
                    job.running,
                    job.state_version,
                    job.job_id % self.shards,
                ),
            )
            return cursor.rowcount == 1

    def get(self, account_id: str, job_id: int) -> JobRecord | None:
        rows = self.db.read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account_id = ? AND job_id = ?",
            (account_id, job_id),
        )
        return self._record(rows[0]) if rows else None

    def get_many(self, keys: JobKeys, consistent: bool = False) -> Jobs:
        out: Jobs = []
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 400):  # SQLite binds at most 32,766 parameters
            chunk = wanted[start : start + 400]
            condition = " OR ".join(["(account_id = ? AND job_id = ?)"] * len(chunk))
            params = [value for key in chunk for value in key]
            rows = self.db.read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE {condition}", params)
            out.extend(self._record(row) for row in rows)
        return out

    def list(self, account_id: str) -> list[JobRecord]:
        rows = self.db.read(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE account_id = ? ORDER BY job_id", (account_id,)
        )
        return [self._record(row) for row in rows]

    def ids(self, account_id: str) -> JobIds:
        rows = self.db.read(
            "SELECT job_id FROM jobs WHERE account_id = ? ORDER BY job_id", (account_id,)
        )
        return [int(row[0]) for row in rows]

    def replace(self, job: JobRecord, expected_version: int) -> bool:
        # The definition and the schedule position; the run counters belong to advance() and
        # record(). Both versions must be as read, or nothing is written.
        sealed = self.sealer.seal(job.secrets, job_key(job.account_id, job.job_id))
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET spec = ?, secrets = ?, version = ?, updated_at = ?, "
                "next_run_at = ?, disabled_reason = ?, failure_streak = ?, "
                "state_version = state_version + 1 "
                "WHERE account_id = ? AND job_id = ? AND version = ? AND state_version = ?",
                (
                    dumps(job.spec),
                    sealed,
                    job.version,
                    job.updated_at,
                    job.next_run_at if job.due else None,
                    job.disabled_reason,
                    job.failure_streak,
                    job.account_id,
                    job.job_id,
                    expected_version,
                    job.state_version,
                ),
            )
            return cursor.rowcount == 1

    def delete(self, account_id: str, job_id: int) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM jobs WHERE account_id = ? AND job_id = ?", (account_id, job_id)
            )
            return cursor.rowcount == 1

    def due(self, shard: int, until: int, limit: int) -> JobKeys:
        rows = self.db.read(
            "SELECT account_id, job_id FROM jobs WHERE shard = ? AND next_run_at IS NOT NULL "
            "AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
            (shard, until, limit),
        )
        return [(row[0], int(row[1])) for row in rows]

    def advance(
        self,
        account_id: str,
        job_id: int,
        slot: int,
        next_run_at: int | None,
        max_running: int,
        stay_until: int = 0,
        woken: bool = False,
    ) -> str:
        # Every job stays where `due` finds it: SQLite's index costs nothing per move.
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT running FROM jobs WHERE account_id = ? AND job_id = ? AND next_run_at = ?",
                (account_id, job_id, slot),
            ).fetchone()
            if row is None:
                return "moved"
            start = row[0] < max_running
            conn.execute(
                "UPDATE jobs SET next_run_at = ?, state_version = state_version + 1, "
                "running = running + ? WHERE account_id = ? AND job_id = ?",
                (next_run_at, 1 if start else 0, account_id, job_id),
            )
            return "started" if start else "busy"

    def record(
        self,
        account_id: str,
        job_id: int,
        *,
        ok: bool,
        status: int,
        duration_ms: int,
        executed_at: int,
        ssl_cert_expiry: int | None,
        release: bool,
        run_id: str,
    ) -> Outcome | None:
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT failure_streak, running, last_run FROM jobs "
                "WHERE account_id = ? AND job_id = ?",
                (account_id, job_id),
            ).fetchone()
            if row is None:
                return None  # deleted while running
            if row[2] == run_id:
                return Outcome(row[0], row[1])  # a repeated write of the same run adds nothing
            streak = 0 if ok else row[0] + 1
            running = max(0, row[1] - 1) if release else row[1]
            conn.execute(
                "UPDATE jobs SET last_status = ?, last_duration = ?, last_execution = ?, "
                "ssl_cert_expiry = COALESCE(?, ssl_cert_expiry), failure_streak = ?, "
                "success_count = success_count + ?, failure_count = failure_count + ?, "
                "running = ?, last_run = ? WHERE account_id = ? AND job_id = ?",
                (
                    status,
                    duration_ms,
                    executed_at,
                    ssl_cert_expiry,
                    streak,
                    1 if ok else 0,
                    0 if ok else 1,
                    running,
                    run_id,
                    account_id,
                    job_id,
                ),
            )
            return Outcome(streak, running)

    def acquire(self, account_id: str, job_id: int, max_running: int) -> bool:
        with self.db.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET running = running + 1 "
                "WHERE account_id = ? AND job_id = ? AND running < ?",
                (account_id, job_id, max_running),
            )
            return cursor.rowcount == 1

    def release(self, account_id: str, job_id: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE jobs SET running = running - 1 "
                "WHERE account_id = ? AND job_id = ? AND running > 0",
                (account_id, job_id),
            )
