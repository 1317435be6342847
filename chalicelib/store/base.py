"""The records cronhook keeps and the contract every store implements (DynamoDB and in-memory).

Contract, shared by both implementations and checked by one test suite:
- "not found" is `None` (or `False` for deletes), never an exception;
- a failed condition (lost race, stale version) returns `False`: the caller decides what it means;
- everything is scoped by account: a store never returns another account's record;
- records handed out are copies: changing one does not change what is stored.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar


@dataclass
class JobRecord:
    """A job as stored: its validated settings (`spec`, API shape), secrets apart, and run state.

    `version` counts edits of the definition; `state_version` counts moves of the schedule
    position (edits and claims), so an edit based on a read taken before a claim cannot put
    `next_run_at` back on the claimed slot.
    """

    account_id: str
    job_id: int
    spec: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    created_at: int = 0
    updated_at: int = 0
    next_run_at: int | None = None
    last_status: int = 0
    last_duration: int = 0
    last_execution: int = 0
    ssl_cert_expiry: int | None = None
    failure_streak: int = 0
    success_count: int = 0
    failure_count: int = 0
    disabled_reason: str | None = None
    running: int = 0
    state_version: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.spec.get("enabled"))

    @property
    def due(self) -> bool:
        """Whether the job belongs in the sparse `due` index (enabled, with a next run)."""
        return self.enabled and self.next_run_at is not None

    def copy(self) -> JobRecord:
        return copy.deepcopy(self)


@dataclass
class ApiKey:
    """An API key as stored: never the secret, only its SHA-256."""

    key_hash: str
    key_id: str
    account_id: str
    name: str = ""
    scopes: list[str] = field(default_factory=list)
    ip_allowlist: list[str] = field(default_factory=list)
    created_at: int = 0
    last_used_at: int | None = None
    revoked_at: int | None = None
    rate_limit_per_s: float | None = None
    rate_limit_burst: float | None = None
    # The cron-job.org job routes answer an unknown field with a 400 (as with ?strict=true)
    # instead of ignoring it as cron-job.org does.
    strict: bool = False

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def copy(self) -> ApiKey:
        return copy.deepcopy(self)


@dataclass
class UserRecord:
    """A person who signs in: a user name unique across the service (sign-in names no account),
    the account it acts in, and an Argon2id hash of the password, never the password."""

    username: str
    account_id: str
    password_hash: str
    scopes: list[str] = field(default_factory=list)
    created_at: int = 0
    password_changed_at: int = 0

    def copy(self) -> UserRecord:
        return copy.deepcopy(self)


@dataclass
class SessionRecord:
    """A signed-in user's session: the SHA-256 of its token (the token itself is never stored)
    and when it ends. A session with `renew_s` moves `expires_at` to `renew_s` after each use."""

    token_hash: str
    username: str
    account_id: str
    created_at: int
    expires_at: int
    renew_s: int = 0

    def copy(self) -> SessionRecord:
        return copy.deepcopy(self)


@dataclass
class RunRecord:
    """One attempt of a job; `state` is the claim's life cycle, `data` the history fields.

    States: queued -> (running ->) done, or lost (its runner vanished), skipped (the job was at
    its `maxConcurrent` bound), waiting (queued behind that bound), cancelled (job deleted). A
    routine run's record stays queued from its claim to its result (runs.calling); `running` is
    written for a run that takes its place at its second, a run-now or chained run, and one
    awaiting a callback.
    `active_deadline` is set while queued or running: past it, the run is an orphan.
    """

    account_id: str
    job_id: int
    run_id: str
    state: str = "queued"
    data: dict[str, Any] = field(default_factory=dict)
    active_deadline: int | None = None
    expires_at: int | None = None
    claim: str = ""  # who created it: a create retried with the same token is the same claim

    @property
    def job_key(self) -> str:
        return job_key(self.account_id, self.job_id)

    def copy(self) -> RunRecord:
        return copy.deepcopy(self)


T = TypeVar("T")
JobKeys = list[tuple[str, int]]
JobIds = list[int]
RunKeys = list[tuple[str, int, str]]
Watch = tuple[str, int, str, int]  # (account, job, run id, deadline) of a run to look at later
Wake = tuple[str, int, int, int]  # (account, job, shard, minute) of a job due in that minute
Jobs = list[JobRecord]

# What `JobStore.replace` writes: the job's definition, never its run-state counters.
DEFINITION_FIELDS = (
    "spec",
    "secrets",
    "version",
    "updated_at",
    "next_run_at",
    "disabled_reason",
    "failure_streak",
)


def job_key(account_id: str, job_id: int) -> str:
    return f"{account_id}#{job_id}"


def existing_jobs(store: JobStore, keys: JobKeys) -> Jobs:
    """The jobs of `keys` that exist, read at half the price of a consistent read; one missing
    from that read (created a moment ago) is read again consistently."""
    if not keys:
        return []
    found = store.get_many(keys)
    seen = {(j.account_id, j.job_id) for j in found}
    missing = [k for k in keys if k not in seen]
    return found + (store.get_many(missing, consistent=True) if missing else [])


EDIT_ATTEMPTS = 5  # optimistic-concurrency attempts of an edit before it reports a conflict


class Unchanged(Exception):
    """Raised by an edit's change that finds nothing to write: `edit_job` then writes nothing
    and returns None."""


def edit_job(
    store: JobStore,
    account_id: str,
    job_id: int,
    change: Callable[[JobRecord], T],
    now: float,
    conflict: str,
) -> tuple[JobRecord, T] | None:
    """Read the job, let `change` edit the copy (and return what the caller wants back), then
    write it under a check of the version read; a lost race reads and changes it again, up to
    EDIT_ATTEMPTS times, then raises Conflict(`conflict`). None when the job is gone or the
    change raised `Unchanged`. `change` may raise any domain error: nothing is written."""
    from chalicelib.errors import Conflict

    for _ in range(EDIT_ATTEMPTS):
        job = store.get(account_id, job_id)
        if job is None:
            return None
        try:
            value = change(job)
        except Unchanged:
            return None
        expected = job.version
        job.version = expected + 1
        job.updated_at = int(now)
        if store.replace(job, expected):
            return job, value
    raise Conflict(conflict)


def watch_minute(deadline: int) -> int:
    """The watch list (epoch minutes) a run with this deadline goes on: the first whole minute
    that starts after the deadline."""
    return deadline // 60 + 1


@dataclass
class Page:
    """One page of a newest-first listing; `cursor` fetches the next page, None at the end."""

    items: list[Any]
    cursor: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a job's result update left behind: the counters the dispatcher decides on."""

    failure_streak: int
    running: int


class JobStore(Protocol):
    """Jobs. `replace` writes the definition (spec, secrets, schedule position) under a check of
    both `version` and `state_version` as read; the run-state counters are only changed by
    `advance`, `record`, `acquire` and `release`, so neither side overwrites the other's fields.
    """

    def create(self, job: JobRecord) -> bool: ...
    def get(self, account_id: str, job_id: int) -> JobRecord | None: ...
    def get_many(self, keys: JobKeys, consistent: bool = False) -> Jobs:
        """The jobs of `keys` that exist, in no particular order; eventually consistent (the
        tick's read) unless `consistent`."""
        ...

    def list(self, account_id: str) -> list[JobRecord]: ...
    def ids(self, account_id: str) -> JobIds:
        """The ids of the account's jobs, in order (cheaper than `list`: on DynamoDB it reads
        the small state items only)."""
        ...

    def replace(self, job: JobRecord, expected_version: int) -> bool: ...
    def delete(self, account_id: str, job_id: int) -> bool: ...
    def due(self, shard: int, until: int, limit: int) -> JobKeys:
        """(account, job) of at most `limit` of the shard's enabled jobs with next_run_at <=
        until, oldest first; it may also name jobs that `advance` let stay (their next run is
        later: the caller checks)."""
        ...

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
        """Move the job past `slot` if it still waits on it (and count one more state_version).
        Returns "started" (and counts one more run in flight), "busy" (moved on, but
        `max_running` runs are already in flight, or `max_running` is 0: count none), or "moved"
        (another tick or an edit moved it first: nothing changed). When `next_run_at <=
        stay_until` (the caller will look at the job again by then anyway), the store may leave
        the job where it was in `due`; later, with `woken` (the caller noted the job for the
        minute of `next_run_at`, RunStore.wake), it may take the job out of `due`."""
        ...

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
        """Store a finished run's outcome on its job (None if the job is gone). Idempotent per
        `run_id`: recording the same run again (a retried write) changes nothing."""
        ...

    def acquire(self, account_id: str, job_id: int, max_running: int) -> bool:
        """Count one more run in flight unless `max_running` already are (or the job is gone)."""
        ...

    def release(self, account_id: str, job_id: int) -> None:
        """One run fewer in flight (a run that ended without an outcome: lost, cancelled)."""
        ...


class KeyStore(Protocol):
    def create(self, key: ApiKey) -> bool: ...
    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...
    def get_by_id(self, account_id: str, key_id: str) -> ApiKey | None: ...
    def list(self, account_id: str) -> list[ApiKey]: ...
    def revoke(self, account_id: str, key_id: str, when: int) -> bool: ...
    def touch(self, key_hash: str, when: int) -> None: ...


class UserStore(Protocol):
    """Users and their sessions. Deleting a user (or changing its password, which ends its
    sessions through `end_sessions`) leaves no session that authenticates."""

    def create(self, user: UserRecord) -> bool:
        """Store a new user unless the user name is taken (in any account)."""
        ...

    def get(self, username: str) -> UserRecord | None: ...
    def list(self, account_id: str) -> list[UserRecord]:
        """The account's users, by user name."""
        ...

    def set_password(self, account_id: str, username: str, password_hash: str, when: int) -> bool:
        """Replace the user's password hash (False: no such user in the account)."""
        ...

    def delete(self, account_id: str, username: str) -> bool:
        """Remove the user and every session of it (False: no such user in the account)."""
        ...

    def create_session(self, session: SessionRecord) -> bool: ...
    def get_session(self, token_hash: str) -> SessionRecord | None:
        """The session, expired or not (the caller compares `expires_at` with its clock)."""
        ...

    def renew_session(self, token_hash: str, expires_at: int) -> None:
        """Move the session's end to `expires_at` (nothing if it is gone)."""
        ...

    def end_session(self, token_hash: str) -> bool: ...
    def end_sessions(self, username: str) -> int:
        """End every session of the user; returns how many there were."""
        ...


class RunStore(Protocol):
    def create(self, run: RunRecord) -> bool:
        """Store a new run unless its id exists: the claim of a slot, at most once. A create
        that finds its own `claim` token already stored (its first attempt landed, the reply
        was lost) is a success too."""
        ...

    def update(self, run: RunRecord, expected_state: str) -> bool:
        """Replace the run if it is still in `expected_state` (a lost race returns False)."""
        ...

    def watch(self, entries: list[Watch], token: str) -> None:
        """Note runs to look at once their deadline has passed: one write per minute of
        deadlines, whatever the number of runs (`token` keeps writers apart)."""
        ...

    def watched(self, minute: int) -> list[Watch]:
        """The runs noted for `minute` (epoch minutes): their deadlines fall before its start."""
        ...

    def wake(self, entries: list[Wake], token: str) -> None:
        """Note jobs that a tick must look at in the minute each names (epoch minutes): the
        timer wheel of jobs not due again soon, which leave the `due` index (JobStore.advance).
        One write per shard and minute, whatever the number of jobs (`token` keeps writers
        apart)."""
        ...

    def woken(self, shard: int, minute: int) -> JobKeys:
        """The jobs of `shard` noted for `minute`, in no particular order (a job may be named
        more than once, or be due elsewhen by now: the caller reads the job). Eventually
        consistent: a list written in the last second may not show yet."""
        ...

    def mark(self, key: str, expires_at: int) -> bool:
        """Note `key` (a queue message's mark) unless it is noted already: True the first time
        only, whoever asks. The note lasts at least until `expires_at`."""
        ...

    def put(self, run: RunRecord) -> None: ...
    def get(self, account_id: str, job_id: int, run_id: str) -> RunRecord | None: ...
    def get_many(
        self, keys: list[tuple[str, int, str]], consistent: bool = True
    ) -> list[RunRecord]:
        """The runs of (account, job, run_id) `keys` that exist, in no particular order; read
        consistently unless told otherwise."""
        ...

    def list_for_job(
        self,
        account_id: str,
        job_id: int,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
        before: str | None = None,
    ) -> Page:
        """The job's runs newest first: those planned up to `planned_until` and with ids below
        `before`, if given; `cursor` (from a previous page) continues."""
        ...

    def list_for_account(
        self,
        account_id: str,
        job_ids: JobIds,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
    ) -> Page:
        """The runs of the account's jobs `job_ids` newest first (planned up to `planned_until`,
        if given); `cursor` (from a previous page) continues. The caller names the jobs (those
        that exist: a deleted job's history goes with it), so that a store needs no index over
        the account's runs (DynamoDB merges the jobs' own listings, chalicelib.store.listing)."""
        ...


class StateStore(Protocol):
    def next_id(self, counter: str) -> int: ...
    def scheduler_enabled(self, account_id: str, consistent: bool = True) -> bool:
        """Whether the account's scheduler is on (it is unless switched off). Not `consistent`:
        half the price on DynamoDB, and a switch of the last second may not show yet."""
        ...

    def set_scheduler_enabled(self, account_id: str, enabled: bool) -> None: ...
    def take_token(
        self, bucket: str, rate: float, burst: float, now: float
    ) -> tuple[bool, float]: ...
    def folders(self, account_id: str) -> tuple[dict[int, str], int]: ...
    def put_folders(
        self, account_id: str, folders: dict[int, str], expected_version: int
    ) -> bool: ...
    def get_value(self, key: str, consistent: bool = True) -> Any:
        """A small JSON value stored under `key` (account settings, markers); None if absent.
        Not `consistent`: half the price on DynamoDB, and a write of the last second may not
        show yet (the other stores always read what was written)."""
        ...

    def put_value(self, key: str, value: Any) -> None: ...


@dataclass
class Stores:
    """The repositories a use case works with."""

    jobs: JobStore
    keys: KeyStore
    runs: RunStore
    state: StateStore
    users: UserStore
    monitors: MonitorStore


def refill(tokens: float, updated: float, rate: float, burst: float, now: float) -> float:
    """Token-bucket level at `now`, given the level `tokens` last written at `updated`."""
    return min(burst, tokens + max(0.0, now - updated) * rate)


# ---- monitors (heartbeats) ----------------------------------------------------------------
# Appended apart from the job contract: monitors and their pings have a store of their own.

MONITOR_SHARDS = 8  # partitions of the `overdue` index; the tick queries each one


@dataclass
class MonitorRecord:
    """A heartbeat monitor as stored: its validated settings (`spec`, API shape), the hash of
    its ping token, and its state. `status` is new, up, down or paused ("late" is derived);
    `alert_at` (when the monitor goes down unless pinged) puts it in the sparse `overdue`
    index, and is set only while it is up (or started) and not paused."""

    account_id: str
    monitor_id: int
    spec: dict[str, Any]
    token_hash: str
    version: int = 1
    created_at: int = 0
    updated_at: int = 0
    status: str = "new"
    last_ping: float | None = None
    last_ping_kind: str = ""
    started_at: float | None = None
    last_duration_ms: int | None = None
    next_expected: int | None = None
    alert_at: int | None = None
    down_since: int | None = None
    pings: int = 0

    @property
    def shard(self) -> int:
        return self.monitor_id % MONITOR_SHARDS

    def state(self) -> dict[str, Any]:
        """Everything but the keys, the token hash and the version: what stores keep as one
        document."""
        return {
            "spec": self.spec,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "status": self.status,
            "last_ping": self.last_ping,
            "last_ping_kind": self.last_ping_kind,
            "started_at": self.started_at,
            "last_duration_ms": self.last_duration_ms,
            "next_expected": self.next_expected,
            "alert_at": self.alert_at,
            "down_since": self.down_since,
            "pings": self.pings,
        }

    @classmethod
    def from_state(
        cls, account_id: str, monitor_id: int, token_hash: str, version: int, state: Any
    ) -> MonitorRecord:
        return cls(account_id, monitor_id, token_hash=token_hash, version=version, **state)

    def copy(self) -> MonitorRecord:
        return copy.deepcopy(self)


@dataclass
class PingRecord:
    """One ping a monitor received: `ping_id` orders them in time (newest sorts last);
    `data` holds its API fields (date, kind, exitStatus, method, remoteAddr, userAgent, body)."""

    account_id: str
    monitor_id: int
    ping_id: str
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: int | None = None

    def copy(self) -> PingRecord:
        return copy.deepcopy(self)


MonitorKeys = list[tuple[str, int]]


class MonitorStore(Protocol):
    """Monitors, their ping tokens and their pings. Writes of a monitor are conditional on its
    `version` as read (each write counts one more); a token names one monitor at most."""

    def create(self, monitor: MonitorRecord) -> bool:
        """Store a new monitor and its token unless the id (or the token) exists."""
        ...

    def get(self, account_id: str, monitor_id: int) -> MonitorRecord | None: ...
    def by_token(self, token_hash: str) -> MonitorRecord | None:
        """The monitor whose ping token hashes to `token_hash`, read consistently."""
        ...

    def list(self, account_id: str) -> list[MonitorRecord]:
        """The account's monitors in id order."""
        ...

    def replace(self, monitor: MonitorRecord, expected_version: int) -> bool:
        """Write the monitor (and move its token when `token_hash` changed) if its stored
        version is still `expected_version`; the caller has counted `version` on."""
        ...

    def delete(self, account_id: str, monitor_id: int) -> bool:
        """Remove the monitor and its token; its pings are left to expire."""
        ...

    def overdue(self, shard: int, until: int, limit: int) -> MonitorKeys:
        """(account, monitor) of at most `limit` of the shard's monitors with alert_at <=
        until, oldest first (through the index, never a scan; eventually consistent)."""
        ...

    def add_ping(self, ping: PingRecord) -> None: ...
    def pings(self, account_id: str, monitor_id: int, limit: int, cursor: str | None) -> Page:
        """The monitor's pings, newest first; `cursor` (from a previous page) continues."""
        ...


def ping_cursor(ping_id: str) -> str:
    return base64.urlsafe_b64encode(ping_id.encode()).decode().rstrip("=")


def ping_from_cursor(cursor: str) -> str:
    """The ping id a cursor of `MonitorStore.pings` stands for, or a 400 naming `cursor`."""
    from chalicelib.errors import ValidationError

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not PING_ID.fullmatch(text):
        raise ValidationError("not a cursor of this listing", field="cursor")
    return text


PING_ID = re.compile(r"[0-9]{13}-[0-9a-f]{8}")

_RUN_CURSOR = "run:"
_RUN_ID_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


def run_cursor(run_id: str) -> str:
    """The cursor of a page of runs that ends at `run_id`: opaque to clients."""
    return base64.urlsafe_b64encode((_RUN_CURSOR + run_id).encode()).decode().rstrip("=")


def run_from_cursor(cursor: str) -> str:
    """The run id a cursor of `run_cursor` stands for, or a 400 naming `cursor`."""
    from chalicelib.errors import ValidationError

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        text = ""
    run_id = text[len(_RUN_CURSOR) :]
    if not text.startswith(_RUN_CURSOR) or not run_id or not set(run_id) <= _RUN_ID_CHARS:
        raise ValidationError("not a cursor of this listing", field="cursor")
    return run_id
