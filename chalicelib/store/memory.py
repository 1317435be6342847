"""In-memory twins of the DynamoDB stores: same contract, for unit tests and benchmarks."""

from __future__ import annotations

import copy
import threading
from typing import Any, TypeVar

from chalicelib.runs import run_id_bound
from chalicelib.store.base import (
    DEFINITION_FIELDS,
    ApiKey,
    JobIds,
    JobKeys,
    JobRecord,
    Jobs,
    MonitorKeys,
    MonitorRecord,
    Outcome,
    Page,
    PingRecord,
    RunRecord,
    SessionRecord,
    Stores,
    UserRecord,
    Wake,
    Watch,
    ping_cursor,
    ping_from_cursor,
    refill,
    watch_minute,
)

R = TypeVar("R", JobRecord, RunRecord)

_ATOMIC = frozenset({str, int, float, bool, bytes, type(None)})


def _clone(value: Any) -> Any:
    """A deep copy of JSON-like data (what the DynamoDB stores can hold): dicts and lists are
    rebuilt, immutable scalars shared; anything else goes through `copy.deepcopy`. Several times
    cheaper than deepcopy, which the tick would otherwise pay on every record it touches."""
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is dict:
        return {k: v if type(v) in _ATOMIC else _clone(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMIC else _clone(v) for v in value]
    return copy.deepcopy(value)


def _copy(record: R) -> R:
    """A copy of a job or run record that shares nothing mutable with it (as `record.copy()`)."""
    clone = object.__new__(type(record))
    clone.__dict__.update({k: _clone(v) for k, v in record.__dict__.items()})
    return clone


class MemoryJobStore:
    def __init__(self, shards: int = 8) -> None:
        self._items: dict[tuple[str, int], JobRecord] = {}
        self._recorded: dict[tuple[str, int], str] = {}  # the last run recorded on each job
        self._lock = threading.Lock()
        self.shards = shards

    def create(self, job: JobRecord) -> bool:
        with self._lock:
            key = (job.account_id, job.job_id)
            if key in self._items:
                return False
            self._items[key] = _copy(job)
            return True

    def get(self, account_id: str, job_id: int) -> JobRecord | None:
        with self._lock:
            job = self._items.get((account_id, job_id))
            return _copy(job) if job else None

    def get_many(self, keys: JobKeys, consistent: bool = False) -> Jobs:
        with self._lock:
            return [_copy(self._items[k]) for k in keys if k in self._items]

    def list(self, account_id: str) -> list[JobRecord]:
        with self._lock:
            return [
                _copy(job)
                for (account, _), job in sorted(self._items.items())
                if account == account_id
            ]

    def ids(self, account_id: str) -> JobIds:
        with self._lock:
            return sorted(job for account, job in self._items if account == account_id)

    def replace(self, job: JobRecord, expected_version: int) -> bool:
        with self._lock:
            key = (job.account_id, job.job_id)
            current = self._items.get(key)
            if (
                current is None
                or current.version != expected_version
                or current.state_version != job.state_version
            ):
                return False
            for name in DEFINITION_FIELDS:
                setattr(current, name, _clone(getattr(job, name)))
            current.state_version += 1
            return True

    def due(self, shard: int, until: int, limit: int) -> JobKeys:
        with self._lock:
            found = [
                (job.next_run_at, key)
                for key, job in self._items.items()
                if job.due
                and job.job_id % self.shards == shard
                and job.next_run_at is not None
                and job.next_run_at <= until
            ]
        return [key for _, key in sorted(found)[:limit]]

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
        # The twin keeps every job where `due` finds it: a scan costs nothing here.
        with self._lock:
            job = self._items.get((account_id, job_id))
            if job is None or not job.due or job.next_run_at != slot:
                return "moved"
            job.next_run_at = next_run_at
            job.state_version += 1
            if job.running < max_running:
                job.running += 1
                return "started"
            return "busy"

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
        with self._lock:
            job = self._items.get((account_id, job_id))
            if job is None:
                return None
            if self._recorded.get((account_id, job_id)) == run_id:
                return Outcome(job.failure_streak, job.running)
            self._recorded[(account_id, job_id)] = run_id
            job.last_status = status
            job.last_duration = duration_ms
            job.last_execution = executed_at
            if ssl_cert_expiry is not None:
                job.ssl_cert_expiry = ssl_cert_expiry
            if ok:
                job.success_count += 1
                job.failure_streak = 0
            else:
                job.failure_count += 1
                job.failure_streak += 1
            if release:
                job.running = max(0, job.running - 1)
            return Outcome(job.failure_streak, job.running)

    def acquire(self, account_id: str, job_id: int, max_running: int) -> bool:
        with self._lock:
            job = self._items.get((account_id, job_id))
            if job is None or job.running >= max_running:
                return False
            job.running += 1
            return True

    def release(self, account_id: str, job_id: int) -> None:
        with self._lock:
            job = self._items.get((account_id, job_id))
            if job is not None:
                job.running = max(0, job.running - 1)

    def delete(self, account_id: str, job_id: int) -> bool:
        with self._lock:
            self._recorded.pop((account_id, job_id), None)
            return self._items.pop((account_id, job_id), None) is not None


class MemoryKeyStore:
    def __init__(self) -> None:
        self._items: dict[str, ApiKey] = {}
        self._lock = threading.Lock()

    def create(self, key: ApiKey) -> bool:
        with self._lock:
            if key.key_hash in self._items:
                return False
            self._items[key.key_hash] = key.copy()
            return True

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._lock:
            key = self._items.get(key_hash)
            return key.copy() if key else None

    def get_by_id(self, account_id: str, key_id: str) -> ApiKey | None:
        with self._lock:
            for key in self._items.values():
                if key.account_id == account_id and key.key_id == key_id:
                    return key.copy()
            return None

    def list(self, account_id: str) -> list[ApiKey]:
        with self._lock:
            keys = [k.copy() for k in self._items.values() if k.account_id == account_id]
        return sorted(keys, key=lambda k: k.key_id)

    def revoke(self, account_id: str, key_id: str, when: int) -> bool:
        with self._lock:
            for key in self._items.values():
                if key.account_id == account_id and key.key_id == key_id:
                    if key.revoked_at is None:
                        key.revoked_at = when
                    return True
            return False

    def touch(self, key_hash: str, when: int) -> None:
        with self._lock:
            key = self._items.get(key_hash)
            if key is not None:
                key.last_used_at = when


class MemoryUserStore:
    def __init__(self) -> None:
        self._users: dict[str, UserRecord] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    def create(self, user: UserRecord) -> bool:
        with self._lock:
            if user.username in self._users:
                return False
            self._users[user.username] = user.copy()
            return True

    def get(self, username: str) -> UserRecord | None:
        with self._lock:
            user = self._users.get(username)
            return user.copy() if user else None

    def list(self, account_id: str) -> list[UserRecord]:
        with self._lock:
            found = [u.copy() for u in self._users.values() if u.account_id == account_id]
        return sorted(found, key=lambda u: u.username)

    def set_password(self, account_id: str, username: str, password_hash: str, when: int) -> bool:
        with self._lock:
            user = self._users.get(username)
            if user is None or user.account_id != account_id:
                return False
            user.password_hash = password_hash
            user.password_changed_at = when
            return True

    def delete(self, account_id: str, username: str) -> bool:
        with self._lock:
            user = self._users.get(username)
            if user is None or user.account_id != account_id:
                return False
            del self._users[username]
            for token_hash in [h for h, s in self._sessions.items() if s.username == username]:
                del self._sessions[token_hash]
            return True

    def create_session(self, session: SessionRecord) -> bool:
        with self._lock:
            if session.token_hash in self._sessions:
                return False
            self._sessions[session.token_hash] = session.copy()
            return True

    def get_session(self, token_hash: str) -> SessionRecord | None:
        with self._lock:
            session = self._sessions.get(token_hash)
            return session.copy() if session else None

    def renew_session(self, token_hash: str, expires_at: int) -> None:
        with self._lock:
            session = self._sessions.get(token_hash)
            if session is not None:
                session.expires_at = expires_at

    def end_session(self, token_hash: str) -> bool:
        with self._lock:
            return self._sessions.pop(token_hash, None) is not None

    def end_sessions(self, username: str) -> int:
        with self._lock:
            ended = [h for h, s in self._sessions.items() if s.username == username]
            for token_hash in ended:
                del self._sessions[token_hash]
            return len(ended)


def _page(
    runs: list[RunRecord],
    limit: int,
    cursor: str | None,
    planned_until: float | None,
    before: str | None,
) -> Page:
    newest_first = sorted(runs, key=lambda r: r.run_id, reverse=True)
    for bound in (cursor, before):
        if bound is not None:
            newest_first = [r for r in newest_first if r.run_id < bound]
    if planned_until is not None:
        bound = run_id_bound(planned_until)
        newest_first = [r for r in newest_first if r.run_id < bound]
    items = newest_first[:limit]
    more = len(newest_first) > limit
    return Page([_copy(r) for r in items], items[-1].run_id if more and items else None)


class MemoryRunStore:
    def __init__(self, shards: int = 8) -> None:
        self._items: dict[tuple[str, int, str], RunRecord] = {}
        self._watched: dict[int, list[Watch]] = {}
        self._marks: dict[str, int] = {}
        self._woken: dict[tuple[int, int], JobKeys] = {}
        self._lock = threading.Lock()
        self.shards = shards

    def create(self, run: RunRecord) -> bool:
        with self._lock:
            key = (run.account_id, run.job_id, run.run_id)
            existing = self._items.get(key)
            if existing is not None:
                return bool(run.claim) and existing.claim == run.claim
            self._items[key] = _copy(run)
            return True

    def update(self, run: RunRecord, expected_state: str) -> bool:
        with self._lock:
            key = (run.account_id, run.job_id, run.run_id)
            current = self._items.get(key)
            if current is None or current.state != expected_state:
                return False
            self._items[key] = _copy(run)
            return True

    def watch(self, entries: list[Watch], token: str) -> None:
        with self._lock:
            for entry in entries:
                self._watched.setdefault(watch_minute(entry[3]), []).append(entry)

    def watched(self, minute: int) -> list[Watch]:
        with self._lock:
            return list(self._watched.get(minute, []))

    def wake(self, entries: list[Wake], token: str) -> None:
        with self._lock:
            for account, job, shard, minute in entries:
                self._woken.setdefault((shard, minute), []).append((account, job))

    def woken(self, shard: int, minute: int) -> JobKeys:
        with self._lock:
            return list(self._woken.get((shard, minute), []))

    def mark(self, key: str, expires_at: int) -> bool:
        with self._lock:
            if key in self._marks:
                return False
            self._marks[key] = expires_at
            return True

    def put(self, run: RunRecord) -> None:
        with self._lock:
            self._items[(run.account_id, run.job_id, run.run_id)] = _copy(run)

    def get(self, account_id: str, job_id: int, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._items.get((account_id, job_id, run_id))
            return _copy(run) if run else None

    def get_many(
        self, keys: list[tuple[str, int, str]], consistent: bool = True
    ) -> list[RunRecord]:
        with self._lock:
            found = (self._items.get(k) for k in dict.fromkeys(keys))
            return [_copy(run) for run in found if run is not None]

    def list_for_job(
        self,
        account_id: str,
        job_id: int,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
        before: str | None = None,
    ) -> Page:
        with self._lock:
            runs = [r for (a, j, _), r in self._items.items() if a == account_id and j == job_id]
        return _page(runs, limit, cursor, planned_until, before)

    def list_for_account(
        self,
        account_id: str,
        job_ids: JobIds,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
    ) -> Page:
        wanted = set(job_ids)
        with self._lock:
            runs = [r for (a, j, _), r in self._items.items() if a == account_id and j in wanted]
        return _page(runs, limit, cursor, planned_until, None)


class MemoryStateStore:
    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._scheduler: dict[str, bool] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._folders: dict[str, tuple[dict[int, str], int]] = {}
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def next_id(self, counter: str) -> int:
        with self._lock:
            self._counters[counter] = self._counters.get(counter, 0) + 1
            return self._counters[counter]

    def scheduler_enabled(self, account_id: str, consistent: bool = True) -> bool:
        with self._lock:
            return self._scheduler.get(account_id, True)

    def set_scheduler_enabled(self, account_id: str, enabled: bool) -> None:
        with self._lock:
            self._scheduler[account_id] = enabled

    def take_token(self, bucket: str, rate: float, burst: float, now: float) -> tuple[bool, float]:
        with self._lock:
            tokens, updated = self._buckets.get(bucket, (burst, now))
            level = refill(tokens, updated, rate, burst, now)
            if level >= 1.0:
                self._buckets[bucket] = (level - 1.0, now)
                return True, 0.0
            self._buckets[bucket] = (level, now)
            return False, (1.0 - level) / rate

    def get_value(self, key: str, consistent: bool = True) -> Any:
        with self._lock:
            return copy.deepcopy(self._values.get(key))

    def put_value(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = copy.deepcopy(value)

    def folders(self, account_id: str) -> tuple[dict[int, str], int]:
        with self._lock:
            folders, version = self._folders.get(account_id, ({}, 0))
            return dict(folders), version

    def put_folders(self, account_id: str, folders: dict[int, str], expected_version: int) -> bool:
        with self._lock:
            _, version = self._folders.get(account_id, ({}, 0))
            if version != expected_version:
                return False
            self._folders[account_id] = (dict(folders), version + 1)
            return True


def memory_stores(shards: int = 8) -> Stores:
    """A fresh, empty set of in-memory stores."""
    return Stores(
        jobs=MemoryJobStore(shards),
        keys=MemoryKeyStore(),
        runs=MemoryRunStore(shards),
        state=MemoryStateStore(),
        users=MemoryUserStore(),
        monitors=MemoryMonitorStore(),
    )


# ---- monitors -----------------------------------------------------------------------------


class MemoryMonitorStore:
    def __init__(self) -> None:
        self._items: dict[tuple[str, int], MonitorRecord] = {}
        self._tokens: dict[str, tuple[str, int]] = {}
        self._pings: dict[tuple[str, int], dict[str, PingRecord]] = {}
        self._lock = threading.Lock()

    def create(self, monitor: MonitorRecord) -> bool:
        with self._lock:
            key = (monitor.account_id, monitor.monitor_id)
            if key in self._items or monitor.token_hash in self._tokens:
                return False
            self._items[key] = monitor.copy()
            self._tokens[monitor.token_hash] = key
            return True

    def get(self, account_id: str, monitor_id: int) -> MonitorRecord | None:
        with self._lock:
            found = self._items.get((account_id, monitor_id))
            return found.copy() if found else None

    def by_token(self, token_hash: str) -> MonitorRecord | None:
        with self._lock:
            key = self._tokens.get(token_hash)
            found = self._items.get(key) if key else None
            return found.copy() if found else None

    def list(self, account_id: str) -> list[MonitorRecord]:
        with self._lock:
            found = [m.copy() for (a, _), m in self._items.items() if a == account_id]
        return sorted(found, key=lambda m: m.monitor_id)

    def replace(self, monitor: MonitorRecord, expected_version: int) -> bool:
        with self._lock:
            key = (monitor.account_id, monitor.monitor_id)
            current = self._items.get(key)
            if current is None or current.version != expected_version:
                return False
            if monitor.token_hash != current.token_hash:
                if monitor.token_hash in self._tokens:
                    return False
                del self._tokens[current.token_hash]
                self._tokens[monitor.token_hash] = key
            self._items[key] = monitor.copy()
            return True

    def delete(self, account_id: str, monitor_id: int) -> bool:
        with self._lock:
            found = self._items.pop((account_id, monitor_id), None)
            if found is None:
                return False
            self._tokens.pop(found.token_hash, None)
            return True

    def overdue(self, shard: int, until: int, limit: int) -> MonitorKeys:
        with self._lock:
            found = [
                (m.alert_at, a, i)
                for (a, i), m in self._items.items()
                if m.shard == shard and m.alert_at is not None and m.alert_at <= until
            ]
        return [(a, i) for _, a, i in sorted(found)[:limit]]

    def add_ping(self, ping: PingRecord) -> None:
        with self._lock:
            pings = self._pings.setdefault((ping.account_id, ping.monitor_id), {})
            pings[ping.ping_id] = ping.copy()

    def pings(self, account_id: str, monitor_id: int, limit: int, cursor: str | None) -> Page:
        before = ping_from_cursor(cursor) if cursor else None
        with self._lock:
            found = list(self._pings.get((account_id, monitor_id), {}).values())
        newest_first = sorted(found, key=lambda p: p.ping_id, reverse=True)
        if before is not None:
            newest_first = [p for p in newest_first if p.ping_id < before]
        items = [p.copy() for p in newest_first[:limit]]
        more = len(newest_first) > limit
        return Page(items, ping_cursor(items[-1].ping_id) if more and items else None)
