"""DynamoDB repositories: each is handed a boto3 `Table` and maps records to items and back.

Library errors are translated once here: a failed condition becomes `False`, anything else a
`StoreError`. Job settings and secrets are stored as JSON strings so that DynamoDB's number and
empty-value rules never reach the domain.
"""

from __future__ import annotations

import base64
import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.crypto import PlainSealer, Sealer
from chalicelib.errors import StoreError, ValidationError
from chalicelib.runs import run_id_bound
from chalicelib.store import listing
from chalicelib.store.base import (
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
    Wake,
    Watch,
    job_key,
    ping_cursor,
    ping_from_cursor,
    watch_minute,
)

T = TypeVar("T")


def _call(
    fn: Callable[[], T],
    *,
    conditional: bool = False,
    recover: Callable[[ClientError], Any] | None = None,
) -> Any:
    """Run one DynamoDB call: a failed condition gives None if `conditional`, errors StoreError.
    `recover` sees a ClientError first; what it returns, unless None, is the call's result."""
    try:
        return fn()
    except ClientError as exc:
        if recover is not None:
            recovered = recover(exc)
            if recovered is not None:
                return recovered
        code = exc.response.get("Error", {}).get("Code", "unknown")
        if conditional and code == "ConditionalCheckFailedException":
            return None
        raise StoreError(f"DynamoDB call failed: {code}") from exc
    except BotoCoreError as exc:
        raise StoreError(f"DynamoDB unreachable: {type(exc).__name__}") from exc


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


def _query_all(table: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    while True:
        response = _call(lambda: table.query(**kwargs))
        assert response is not None
        yield from response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def _batch_get(
    table: Any, keys: list[dict[str, Any]], *, consistent: bool = False
) -> list[dict[str, Any]]:
    """Items for `keys` (in no particular order), 100 per request, unprocessed keys retried."""
    # The resource's client takes and returns plain Python values, like the Table does.
    client, name = table.meta.client, table.name
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        pending = keys[start : start + 100]
        for attempt in range(8):
            if not pending:
                break
            if attempt:
                time.sleep(min(1.0, 0.02 * 2**attempt))
            request = functools.partial(
                client.batch_get_item,
                RequestItems={name: {"Keys": pending, "ConsistentRead": consistent}},
            )
            response = _call(request)
            assert response is not None
            items.extend(response.get("Responses", {}).get(name, []))
            pending = response.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
        if pending:
            raise StoreError("DynamoDB kept keys unprocessed; try again")
    return items


def _split_job_key(key: str) -> tuple[str, int]:
    account, job = key.rsplit("#", 1)
    return account, int(job)


def _encode_cursor(key: dict[str, Any]) -> str:
    plain = {k: (int(v) if isinstance(v, Decimal) else v) for k, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode()


def _decode_cursor(cursor: str, partition: dict[str, Any]) -> dict[str, Any]:
    """A cursor this store issued for the same job, or a 400 naming `cursor`: exactly the keys
    of a run, each a string, as `list_for_job` writes them. Anything else would reach DynamoDB
    as ExclusiveStartKey and come back a 500."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        data = None
    keys = {"job_key", "run_id", *partition}
    if (
        not isinstance(data, dict)
        or set(data) != keys
        or not all(isinstance(data[k], str) and data[k] for k in keys)
        or any(data[k] != v for k, v in partition.items())
    ):
        raise ValidationError("not a cursor of this listing", field="cursor")
    return data


def _plain(value: Any) -> Any:
    """An attribute from an error response's item: wire format (`{"S": "x"}`) or plain."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, data),) = value.items()
        if kind in ("S", "N", "BOOL"):
            return Decimal(data) if kind == "N" else data
    return value


def _conditional_item(exc: ClientError) -> dict[str, Any] | None:
    """The item a failed condition saw (ReturnValuesOnConditionCheckFailure=ALL_OLD), or None
    when the error is another one or the item did not exist."""
    if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
        return None
    item = exc.response.get("Item")
    return {k: _plain(v) for k, v in item.items()} if item else None


def _cancelled(exc: ClientError) -> bool:
    """Whether a transaction was cancelled by a failed condition or a concurrent write (the
    caller's race to lose), rather than by an error."""
    error = exc.response.get("Error", {})
    if error.get("Code") != "TransactionCanceledException":
        return False
    reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
    if not reasons:  # some SDKs only say it in the message
        message = str(error.get("Message", ""))
        return "ConditionalCheckFailed" in message or "TransactionConflict" in message
    return all(r in ("None", "ConditionalCheckFailed", "TransactionConflict") for r in reasons)


# Fields of a job's state item: what runs change. The definition item holds the rest.
_STATE_COUNTERS = (
    "last_status",
    "last_duration",
    "last_execution",
    "failure_streak",
    "success_count",
    "failure_count",
    "running",
)
# Every attribute a state item may carry besides its key and `sv` (persist.py moves these off
# job items written before the split).
STATE_FIELDS = ("due_shard", "next_run_at", "slot", *_STATE_COUNTERS, "ssl_cert_expiry")


class DynamoJobStore:
    """Jobs, two items each in one partition (the account): the definition under `job_id`
    (spec, secrets sealed by `sealer`, version) and a small state item under `-job_id`
    (schedule position, run counters, last outcome). A run writes only the state item, so its
    cost does not grow with the job's URL, headers or body; the sparse `due` index holds state
    items only. An edit writes both items in one transaction.

    The state item's `slot` is the run the job waits on (`JobRecord.next_run_at`); its
    `next_run_at` is the `due` index's key, when a tick should look at the job, never after
    `slot`. The two are equal except while a frequent job stays put in the index: a claim whose
    next slot falls in the next tick's window leaves the index key as it is (the job is due for
    that tick anyway), which saves the index's delete and put (2 of a claim's 3 write units).
    Items written before `slot` existed hold their slot in `next_run_at`."""

    def __init__(self, table: Any, shards: int, sealer: Sealer | None = None) -> None:
        self.table = table
        self.shards = shards
        self.sealer: Sealer = sealer or PlainSealer()

    @staticmethod
    def _key(account_id: str, job_id: int, state: bool = False) -> dict[str, Any]:
        return {"account_id": account_id, "job_id": -job_id if state else job_id}

    def _definition(self, job: JobRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self._key(job.account_id, job.job_id),
            "spec": json.dumps(job.spec, separators=(",", ":")),
            "secrets": self.sealer.seal(job.secrets, job_key(job.account_id, job.job_id)),
            "version": job.version,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
        }
        if job.disabled_reason:
            item["disabled_reason"] = job.disabled_reason
        return item

    def _state(self, job: JobRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self._key(job.account_id, job.job_id, state=True),
            "sv": job.state_version,
            **{name: getattr(job, name) for name in _STATE_COUNTERS},
        }
        item.update(self._due_keys(job))
        if job.ssl_cert_expiry is not None:
            item["ssl_cert_expiry"] = job.ssl_cert_expiry
        return item

    def _due_keys(self, job: JobRecord) -> dict[str, Any]:
        # Sparse index: only jobs that can fire carry the `due` keys.
        if not job.due:
            return {}
        shard = f"s{job.job_id % self.shards}"
        return {"due_shard": shard, "next_run_at": job.next_run_at, "slot": job.next_run_at}

    def _record(self, item: dict[str, Any], state: dict[str, Any] | None) -> JobRecord:
        account_id, job_id = item["account_id"], int(item["job_id"])
        run = state or item  # items written before the split kept their state on the definition
        return JobRecord(
            account_id=account_id,
            job_id=job_id,
            spec=json.loads(item["spec"]),
            secrets=self.sealer.open(item.get("secrets") or "{}", job_key(account_id, job_id)),
            version=int(item["version"]),
            created_at=int(item.get("created_at", 0)),
            updated_at=int(item.get("updated_at", 0)),
            next_run_at=_int(run.get("slot", run.get("next_run_at"))),
            last_status=int(run.get("last_status", 0)),
            last_duration=int(run.get("last_duration", 0)),
            last_execution=int(run.get("last_execution", 0)),
            ssl_cert_expiry=_int(run.get("ssl_cert_expiry")),
            failure_streak=int(run.get("failure_streak", 0)),
            success_count=int(run.get("success_count", 0)),
            failure_count=int(run.get("failure_count", 0)),
            disabled_reason=item.get("disabled_reason"),
            running=int(run.get("running", 0)),
            state_version=int(run.get("sv", 0)),
        )

    def _join(self, items: list[dict[str, Any]]) -> list[JobRecord]:
        """Records from definition and state items in any order; a state without its
        definition (a job being created or deleted) is left out."""
        states = {(i["account_id"], -int(i["job_id"])): i for i in items if int(i["job_id"]) < 0}
        return [
            self._record(i, states.get((i["account_id"], int(i["job_id"]))))
            for i in items
            if int(i["job_id"]) > 0
        ]

    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        client = self.table.meta.client
        write = functools.partial(client.transact_write_items, TransactItems=actions)
        return _call(write, recover=lambda exc: False if _cancelled(exc) else None) is not False

    def create(self, job: JobRecord) -> bool:
        # botocore gives the transaction an idempotency token, so its own retries are safe.
        name = self.table.name
        fresh = "attribute_not_exists(job_id)"
        return self._transact(
            [
                {"Put": {"TableName": name, "Item": item, "ConditionExpression": fresh}}
                for item in (self._definition(job), self._state(job))
            ]
        )

    def get(self, account_id: str, job_id: int) -> JobRecord | None:
        if job_id <= 0:
            return None  # ids start at 1; 0 would name the same item twice
        keys = [self._key(account_id, job_id), self._key(account_id, job_id, state=True)]
        found = self._join(_batch_get(self.table, keys, consistent=True))
        return found[0] if found else None

    def list(self, account_id: str) -> list[JobRecord]:
        items = _query_all(
            self.table,
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": account_id},
            ConsistentRead=True,
        )
        return sorted(self._join(list(items)), key=lambda j: j.job_id)

    def ids(self, account_id: str) -> JobIds:
        # The state items only (job_id < 0): a job has one exactly while it exists.
        items = _query_all(
            self.table,
            KeyConditionExpression="account_id = :a AND job_id < :zero",
            ExpressionAttributeValues={":a": account_id, ":zero": 0},
            ConsistentRead=True,
        )
        return sorted(-int(item["job_id"]) for item in items)

    def get_many(self, keys: JobKeys, consistent: bool = False) -> Jobs:
        wanted = [
            self._key(a, j, state)
            for a, j in dict.fromkeys(keys)
            if j > 0
            for state in (False, True)
        ]
        return self._join(_batch_get(self.table, wanted, consistent=consistent))

    def replace(self, job: JobRecord, expected_version: int) -> bool:
        # The definition, and the schedule position on the state item; the run counters belong
        # to advance() and record(). Both conditions hold or nothing is written.
        definition = self._definition(job)
        sets = ["spec", "secrets", "version", "updated_at"]
        expression = "SET " + ", ".join(f"{n} = :{n}" for n in sets)
        if "disabled_reason" in definition:
            sets.append("disabled_reason")
            expression += ", disabled_reason = :disabled_reason"
        else:
            expression += " REMOVE disabled_reason"
        values = {f":{n}": definition[n] for n in sets}
        values[":expected"] = expected_version
        due = self._due_keys(job)
        state_values: dict[str, Any] = {
            ":streak": job.failure_streak,
            ":sv": job.state_version,
            ":next_sv": job.state_version + 1,
            **{f":{k}": v for k, v in due.items()},
        }
        state_expression = "SET failure_streak = :streak, sv = :next_sv"
        state_expression += "".join(f", {k} = :{k}" for k in due)
        if not due:
            state_expression += " REMOVE due_shard, next_run_at, slot"
        name = self.table.name
        return self._transact(
            [
                {
                    "Update": {
                        "TableName": name,
                        "Key": self._key(job.account_id, job.job_id),
                        "UpdateExpression": expression,
                        "ConditionExpression": "version = :expected",
                        "ExpressionAttributeValues": values,
                    }
                },
                {
                    "Update": {
                        "TableName": name,
                        "Key": self._key(job.account_id, job.job_id, state=True),
                        "UpdateExpression": state_expression,
                        "ConditionExpression": "sv = :sv",
                        "ExpressionAttributeValues": state_values,
                    }
                },
            ]
        )

    def due(self, shard: int, until: int, limit: int) -> JobKeys:
        kwargs: dict[str, Any] = {
            "IndexName": "due",
            "KeyConditionExpression": "due_shard = :s AND next_run_at <= :u",
            "ExpressionAttributeValues": {":s": f"s{shard}", ":u": until},
        }
        found: JobKeys = []
        while len(found) < limit:
            kwargs["Limit"] = limit - len(found)
            response = _call(lambda: self.table.query(**kwargs))
            assert response is not None
            found.extend((i["account_id"], abs(int(i["job_id"]))) for i in response["Items"])
            if not response.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    def _move(
        self,
        account_id: str,
        job_id: int,
        slot: int,
        next_run_at: int | None,
        start: int | None,
        stay_until: int,
        woken: bool,
    ) -> bool:
        values: dict[str, Any] = {":slot": slot, ":one": 1}
        if next_run_at is None:
            expression = "REMOVE next_run_at, due_shard, slot ADD sv :one"
        elif next_run_at <= stay_until:
            expression = "SET slot = :next ADD sv :one"  # the index key stays: no index write
            values[":next"] = next_run_at
        elif woken:
            # On the wake list of its next minute: out of the index (one delete the first time,
            # then no index write at all), instead of a delete and a put every run.
            expression = "SET slot = :next REMOVE next_run_at, due_shard ADD sv :one"
            values[":next"] = next_run_at
        else:
            expression = "SET next_run_at = :next, slot = :next ADD sv :one"
            values[":next"] = next_run_at
        condition = "(slot = :slot OR (attribute_not_exists(slot) AND next_run_at = :slot))"
        if start is not None:
            expression += ", running :one"
            condition += " AND (attribute_not_exists(running) OR running < :max)"
            values[":max"] = start
        done = _call(
            lambda: self.table.update_item(
                Key=self._key(account_id, job_id, state=True),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            ),
            conditional=True,
        )
        return done is not None

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
        if max_running > 0 and self._move(
            account_id, job_id, slot, next_run_at, max_running, stay_until, woken
        ):
            return "started"
        # Either someone moved the job first, or it is at its bound: only the second still
        # needs moving on.
        if self._move(account_id, job_id, slot, next_run_at, None, stay_until, woken):
            return "busy"
        return "moved"

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
        sets = ["last_status = :st", "last_duration = :d", "last_execution = :e", "last_run = :r"]
        adds = ["success_count :one" if ok else "failure_count :one"]
        values: dict[str, Any] = {
            ":st": status,
            ":d": duration_ms,
            ":e": executed_at,
            ":one": 1,
            ":r": run_id,
        }
        if ok:
            sets.append("failure_streak = :zero")
            values[":zero"] = 0
        else:
            adds.append("failure_streak :one")
        if ssl_cert_expiry is not None:
            sets.append("ssl_cert_expiry = :x")
            values[":x"] = ssl_cert_expiry
        if release:
            adds.append("running :minus")
            values[":minus"] = -1

        def recorded_before(exc: ClientError) -> dict[str, Any] | None:
            old = _conditional_item(exc)
            return {"Attributes": old} if old and old.get("last_run") == run_id else None

        write = functools.partial(
            self.table.update_item,
            Key=self._key(account_id, job_id, state=True),
            UpdateExpression="SET " + ", ".join(sets) + " ADD " + ", ".join(adds),
            # The same run twice (a retried write whose first reply was lost) adds nothing.
            ConditionExpression=(
                "attribute_exists(job_id) AND (attribute_not_exists(last_run) OR last_run <> :r)"
            ),
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        response = _call(write, conditional=True, recover=recorded_before)
        if response is None:
            return None  # deleted while running
        new = response["Attributes"]
        return Outcome(int(new.get("failure_streak", 0)), int(new.get("running", 0)))

    def acquire(self, account_id: str, job_id: int, max_running: int) -> bool:
        done = _call(
            lambda: self.table.update_item(
                Key=self._key(account_id, job_id, state=True),
                UpdateExpression="ADD running :one",
                ConditionExpression=(
                    "attribute_exists(job_id) AND (attribute_not_exists(running) OR running < :max)"
                ),
                ExpressionAttributeValues={":one": 1, ":max": max_running},
            ),
            conditional=True,
        )
        return done is not None

    def release(self, account_id: str, job_id: int) -> None:
        _call(
            lambda: self.table.update_item(
                Key=self._key(account_id, job_id, state=True),
                UpdateExpression="ADD running :minus",
                ConditionExpression="running > :zero",
                ExpressionAttributeValues={":minus": -1, ":zero": 0},
            ),
            conditional=True,
        )

    def delete(self, account_id: str, job_id: int) -> bool:
        if job_id <= 0:
            return False  # ids start at 1; 0 would name the same item twice
        name = self.table.name
        return self._transact(
            [
                {
                    "Delete": {
                        "TableName": name,
                        "Key": self._key(account_id, job_id),
                        "ConditionExpression": "attribute_exists(job_id)",
                    }
                },
                {"Delete": {"TableName": name, "Key": self._key(account_id, job_id, True)}},
            ]
        )


class DynamoKeyStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    @staticmethod
    def _item(key: ApiKey) -> dict[str, Any]:
        item: dict[str, Any] = {
            "key_hash": key.key_hash,
            "key_id": key.key_id,
            "account_id": key.account_id,
            "name": key.name,
            "scopes": list(key.scopes),
            "ip_allowlist": list(key.ip_allowlist),
            "created_at": key.created_at,
        }
        if key.strict:  # absent: lenient, as every key stored before the setting existed
            item["strict"] = True
        optional = {
            "last_used_at": key.last_used_at,
            "revoked_at": key.revoked_at,
            "rate_limit_per_s": None
            if key.rate_limit_per_s is None
            else _dec(key.rate_limit_per_s),
            "rate_limit_burst": None
            if key.rate_limit_burst is None
            else _dec(key.rate_limit_burst),
        }
        item.update({k: v for k, v in optional.items() if v is not None})
        return item

    @staticmethod
    def _record(item: dict[str, Any]) -> ApiKey:
        return ApiKey(
            key_hash=item["key_hash"],
            key_id=item["key_id"],
            account_id=item["account_id"],
            name=item.get("name", ""),
            scopes=list(item.get("scopes", [])),
            ip_allowlist=list(item.get("ip_allowlist", [])),
            created_at=int(item.get("created_at", 0)),
            last_used_at=_int(item.get("last_used_at")),
            revoked_at=_int(item.get("revoked_at")),
            rate_limit_per_s=_float(item.get("rate_limit_per_s")),
            rate_limit_burst=_float(item.get("rate_limit_burst")),
            strict=bool(item.get("strict", False)),
        )

    def create(self, key: ApiKey) -> bool:
        done = _call(
            lambda: self.table.put_item(
                Item=self._item(key), ConditionExpression="attribute_not_exists(key_hash)"
            ),
            conditional=True,
        )
        return done is not None

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        response = _call(lambda: self.table.get_item(Key={"key_hash": key_hash}))
        item = (response or {}).get("Item")
        return self._record(item) if item else None

    def get_by_id(self, account_id: str, key_id: str) -> ApiKey | None:
        items = list(
            _query_all(
                self.table,
                IndexName="by_account",
                KeyConditionExpression="account_id = :a AND key_id = :k",
                ExpressionAttributeValues={":a": account_id, ":k": key_id},
            )
        )
        return self._record(items[0]) if items else None

    def list(self, account_id: str) -> list[ApiKey]:
        items = _query_all(
            self.table,
            IndexName="by_account",
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": account_id},
        )
        return [self._record(item) for item in items]

    def revoke(self, account_id: str, key_id: str, when: int) -> bool:
        key = self.get_by_id(account_id, key_id)
        if key is None:
            return False
        _call(
            lambda: self.table.update_item(
                Key={"key_hash": key.key_hash},
                UpdateExpression="SET revoked_at = :t",
                ConditionExpression="attribute_not_exists(revoked_at)",
                ExpressionAttributeValues={":t": when},
            ),
            conditional=True,
        )
        return True

    def touch(self, key_hash: str, when: int) -> None:
        _call(
            lambda: self.table.update_item(
                Key={"key_hash": key_hash},
                UpdateExpression="SET last_used_at = :t",
                ConditionExpression="attribute_exists(key_hash)",
                ExpressionAttributeValues={":t": when},
            ),
            conditional=True,
        )


class DynamoRunStore:
    def __init__(self, table: Any, shards: int) -> None:
        self.table = table
        self.shards = shards

    def _item(self, run: RunRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            "job_key": run.job_key,
            "run_id": run.run_id,
            "account_id": run.account_id,
            "job_id": run.job_id,
            "state": run.state,
            "data": json.dumps(run.data, separators=(",", ":")),
        }
        if run.active_deadline is not None:
            item["deadline"] = run.active_deadline
        if run.expires_at is not None:
            item["expires_at"] = run.expires_at
        if run.claim:
            item["claim"] = run.claim
        return item

    @staticmethod
    def _record(item: dict[str, Any]) -> RunRecord:
        return RunRecord(
            account_id=item["account_id"],
            job_id=int(item["job_id"]),
            run_id=item["run_id"],
            state=item.get("state", "done"),
            data=json.loads(item.get("data") or "{}"),
            active_deadline=_int(item.get("deadline")),
            expires_at=_int(item.get("expires_at")),
            claim=item.get("claim", ""),
        )

    def put(self, run: RunRecord) -> None:
        _call(lambda: self.table.put_item(Item=self._item(run)))

    def create(self, run: RunRecord) -> bool:
        def own_claim(exc: ClientError) -> dict[str, Any] | None:
            # A retried create whose first attempt landed finds its own claim token.
            old = _conditional_item(exc)
            return old if old and run.claim and old.get("claim") == run.claim else None

        write = functools.partial(
            self.table.put_item,
            Item=self._item(run),
            ConditionExpression="attribute_not_exists(run_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return _call(write, conditional=True, recover=own_claim) is not None

    def update(self, run: RunRecord, expected_state: str) -> bool:
        done = _call(
            lambda: self.table.put_item(
                Item=self._item(run),
                ConditionExpression="#state = :expected",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":expected": expected_state},
            ),
            conditional=True,
        )
        return done is not None

    # Watch lists share the runs table under partitions no job has: a job's key never ends in
    # "#".
    WATCH_CHUNK = 250  # entries per item: about 12 KB
    WATCH_KEEP_S = 7 * 86400

    @staticmethod
    def _watch_key(minute: int) -> str:
        return f"watch#{minute}#"

    def _put_list(self, key: str, minute: int, token: str, rows: list[Any], chunk: int) -> None:
        """One list (watch or wake) of `minute` under the partition `key`: `chunk` rows an item,
        the writer's `token` in each item's sort key, gone with the table's TTL."""
        for n in range(0, len(rows), chunk):
            item = {
                "job_key": key,
                "run_id": f"{token}#{n}",
                "entries": json.dumps(rows[n : n + chunk], separators=(",", ":")),
                "expires_at": minute * 60 + self.WATCH_KEEP_S,
            }
            _call(functools.partial(self.table.put_item, Item=item))

    def _read_list(self, key: str, consistent: bool) -> list[Any]:
        """Every row of the lists under the partition `key`, whoever wrote them."""
        items = _query_all(
            self.table,
            KeyConditionExpression="job_key = :k",
            ExpressionAttributeValues={":k": key},
            ConsistentRead=consistent,
        )
        return [row for item in items for row in json.loads(item["entries"])]

    def watch(self, entries: list[Watch], token: str) -> None:
        by_minute: dict[int, list[list[Any]]] = {}
        for entry in entries:
            by_minute.setdefault(watch_minute(entry[3]), []).append(list(entry))
        for minute, rows in sorted(by_minute.items()):
            self._put_list(self._watch_key(minute), minute, token, rows, self.WATCH_CHUNK)

    def watched(self, minute: int) -> list[Watch]:
        rows = self._read_list(self._watch_key(minute), consistent=True)
        return [(str(a), int(j), str(r), int(d)) for a, j, r, d in rows]

    WAKE_CHUNK = 400  # jobs per item: about 12 KB

    def wake(self, entries: list[Wake], token: str) -> None:
        by_slot: dict[tuple[int, int], list[list[Any]]] = {}
        for account, job, shard, minute in entries:
            by_slot.setdefault((shard, minute), []).append([account, job])
        for (shard, minute), rows in sorted(by_slot.items()):
            self._put_list(f"wake#{shard}#{minute}#", minute, token, rows, self.WAKE_CHUNK)

    def woken(self, shard: int, minute: int) -> JobKeys:
        # At half the price: a list is written a minute or more before a tick reads it.
        rows = self._read_list(f"wake#{shard}#{minute}#", consistent=False)
        return [(str(a), int(j)) for a, j in rows]

    def mark(self, key: str, expires_at: int) -> bool:
        # Under a partition no job has (see the watch lists), gone with the table's TTL. A put
        # retried by botocore after its first attempt landed finds its own `by`.
        by = uuid.uuid4().hex

        def own(exc: ClientError) -> dict[str, Any] | None:
            old = _conditional_item(exc)
            return old if old and old.get("by") == by else None

        write = functools.partial(
            self.table.put_item,
            Item={"job_key": f"mark#{key}#", "run_id": "-", "by": by, "expires_at": expires_at},
            ConditionExpression="attribute_not_exists(run_id)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return _call(write, conditional=True, recover=own) is not None

    def get(self, account_id: str, job_id: int, run_id: str) -> RunRecord | None:
        response = _call(
            lambda: self.table.get_item(
                Key={"job_key": job_key(account_id, job_id), "run_id": run_id},
                ConsistentRead=True,
            )
        )
        item = (response or {}).get("Item")
        return self._record(item) if item else None

    def get_many(
        self, keys: list[tuple[str, int, str]], consistent: bool = True
    ) -> list[RunRecord]:
        wanted = [{"job_key": job_key(a, j), "run_id": r} for a, j, r in dict.fromkeys(keys)]
        return [self._record(i) for i in _batch_get(self.table, wanted, consistent=consistent)]

    def list_for_job(
        self,
        account_id: str,
        job_id: int,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
        before: str | None = None,
    ) -> Page:
        key = job_key(account_id, job_id)
        values: dict[str, Any] = {":k": key}
        condition = "job_key = :k"
        bounds = [before] if before is not None else []
        if planned_until is not None:
            bounds.append(run_id_bound(planned_until))
        if bounds:
            condition += " AND run_id < :until"
            values[":until"] = min(bounds)
        # Ask for one more than the page so the cursor is None exactly when nothing follows.
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = _decode_cursor(cursor, {"job_key": key})
        items: list[dict[str, Any]] = []
        while len(items) <= limit:
            response = _call(lambda: self.table.query(**kwargs))
            assert response is not None
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        more = len(items) > limit
        items = items[:limit]
        next_cursor = None
        if more:
            next_cursor = _encode_cursor({k: items[-1][k] for k in ("job_key", "run_id")})
        return Page([self._record(item) for item in items], next_cursor)

    def list_for_account(
        self,
        account_id: str,
        job_ids: JobIds,
        limit: int,
        cursor: str | None = None,
        planned_until: float | None = None,
    ) -> Page:
        # No index over the account (it would cost a write unit a run): the jobs' own listings,
        # merged.
        def of_job(job_id: int, step: int, before: str | None) -> Page:
            return self.list_for_job(account_id, job_id, step, None, planned_until, before)

        return listing.merged(of_job, job_ids, limit, cursor)


class DynamoStateStore:
    """Small per-account and global state, one item each, keyed by a prefixed `pk`."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._busy: dict[str, float] = {}  # bucket -> its `tat` as last seen by this process

    def next_id(self, counter: str) -> int:
        response = _call(
            lambda: self.table.update_item(
                Key={"pk": f"counter#{counter}"},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": 1},
                ReturnValues="UPDATED_NEW",
            )
        )
        assert response is not None
        return int(response["Attributes"]["n"])

    def scheduler_enabled(self, account_id: str, consistent: bool = True) -> bool:
        key = {"pk": f"scheduler#{account_id}"}
        response = _call(lambda: self.table.get_item(Key=key, ConsistentRead=consistent))
        item = (response or {}).get("Item")
        return bool(item["enabled"]) if item else True

    def set_scheduler_enabled(self, account_id: str, enabled: bool) -> None:
        _call(
            lambda: self.table.put_item(Item={"pk": f"scheduler#{account_id}", "enabled": enabled})
        )

    def take_token(self, bucket: str, rate: float, burst: float, now: float) -> tuple[bool, float]:
        """A token bucket kept as its theoretical arrival time (GCRA): `tat` moves on by 1/rate
        per request taken, and a request is refused while `tat` is beyond `now + burst/rate -
        1/rate`. Each step is one conditional write that no concurrent request can spoil (no
        read-modify-write), so parallel requests of one key are never refused for racing."""
        pk, step = f"rate#{bucket}", 1.0 / rate
        latest = now + burst * step - step  # the last `tat` that still lets a request through
        values = {":now": _dec(now), ":e": int(now + burst * step) + 3600}
        busy = functools.partial(
            self.table.update_item,
            Key={"pk": pk},
            UpdateExpression="SET tat = tat + :step, expires_at = :e",
            ConditionExpression="tat BETWEEN :now AND :latest",
            ExpressionAttributeValues={**values, ":step": _dec(step), ":latest": _dec(latest)},
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        idle = functools.partial(
            self.table.update_item,
            Key={"pk": pk},
            UpdateExpression="SET tat = :next, expires_at = :e REMOVE tokens, updated",
            ConditionExpression="attribute_not_exists(tat) OR tat < :now",
            ExpressionAttributeValues={**values, ":next": _dec(now + step)},
            ReturnValues="UPDATED_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        seen: list[dict[str, Any] | None] = []

        def failed(exc: ClientError) -> Any:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                return None
            seen.append(_conditional_item(exc))
            return False

        # Start with the write that fitted this bucket last time in this process.
        order = [busy, idle] if self._busy.get(bucket, 0.0) >= now else [idle, busy]
        for _ in range(4):
            for write in order:
                seen.clear()
                response = _call(write, recover=failed)
                if response is not False:
                    self._busy[bucket] = float(response["Attributes"]["tat"])
                    return True, 0.0
                tat = _float((seen[0] or {}).get("tat")) if seen else None
                if tat is not None and tat > latest:
                    self._busy[bucket] = tat
                    return False, tat - latest
        return False, step  # the bucket kept changing under us: a crowd of this key's requests

    def get_value(self, key: str, consistent: bool = True) -> Any:
        response = _call(
            lambda: self.table.get_item(Key={"pk": f"value#{key}"}, ConsistentRead=consistent)
        )
        item = (response or {}).get("Item")
        return json.loads(item["value"]) if item else None

    def put_value(self, key: str, value: Any) -> None:
        _call(lambda: self.table.put_item(Item={"pk": f"value#{key}", "value": json.dumps(value)}))

    def folders(self, account_id: str) -> tuple[dict[int, str], int]:
        response = _call(
            lambda: self.table.get_item(Key={"pk": f"folders#{account_id}"}, ConsistentRead=True)
        )
        item = (response or {}).get("Item")
        if not item:
            return {}, 0
        return {int(k): v for k, v in item.get("folders", {}).items()}, int(item["version"])

    def put_folders(self, account_id: str, folders: dict[int, str], expected_version: int) -> bool:
        item = {
            "pk": f"folders#{account_id}",
            "folders": {str(k): v for k, v in folders.items()},
            "version": expected_version + 1,
        }
        if expected_version == 0:
            kwargs: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            kwargs = {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": expected_version},
            }
        done = _call(lambda: self.table.put_item(Item=item, **kwargs), conditional=True)
        return done is not None


# ---- monitors -----------------------------------------------------------------------------


class DynamoMonitorStore:
    """Monitors in a table of their own (`pk`, `sk`), three kinds of items:
    - the monitor under `monitor#<account>` / its zero-padded id: its state as one JSON
      document; while it may go down, `overdue_shard` and `alert_at` put it in the sparse
      `overdue` index the tick queries;
    - its token under `token#<sha256>` / "-", naming the monitor (a ping's lookup);
    - its pings under `pings#<account>#<id>` / the ping id, expiring by TTL (`expires_at`).
    """

    def __init__(self, table: Any) -> None:
        self.table = table

    @staticmethod
    def _key(account_id: str, monitor_id: int) -> dict[str, str]:
        return {"pk": f"monitor#{account_id}", "sk": f"{monitor_id:012d}"}

    @staticmethod
    def _token_key(token_hash: str) -> dict[str, str]:
        return {"pk": f"token#{token_hash}", "sk": "-"}

    def _item(self, monitor: MonitorRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self._key(monitor.account_id, monitor.monitor_id),
            "account_id": monitor.account_id,
            "monitor_id": monitor.monitor_id,
            "token_hash": monitor.token_hash,
            "version": monitor.version,
            "state": json.dumps(monitor.state(), separators=(",", ":")),
        }
        if monitor.alert_at is not None:
            item["overdue_shard"] = str(monitor.shard)
            item["alert_at"] = monitor.alert_at
        return item

    def _token_item(self, monitor: MonitorRecord) -> dict[str, Any]:
        return {
            **self._token_key(monitor.token_hash),
            "account_id": monitor.account_id,
            "monitor_id": monitor.monitor_id,
        }

    @staticmethod
    def _record(item: dict[str, Any]) -> MonitorRecord:
        return MonitorRecord.from_state(
            item["account_id"],
            int(item["monitor_id"]),
            item["token_hash"],
            int(item["version"]),
            json.loads(item["state"]),
        )

    def _transact(self, actions: list[dict[str, Any]]) -> bool:
        client = self.table.meta.client
        write = functools.partial(client.transact_write_items, TransactItems=actions)
        return _call(write, recover=lambda exc: False if _cancelled(exc) else None) is not False

    def create(self, monitor: MonitorRecord) -> bool:
        name, fresh = self.table.name, "attribute_not_exists(pk)"
        return self._transact(
            [
                {"Put": {"TableName": name, "Item": item, "ConditionExpression": fresh}}
                for item in (self._item(monitor), self._token_item(monitor))
            ]
        )

    def get(self, account_id: str, monitor_id: int) -> MonitorRecord | None:
        response = _call(
            lambda: self.table.get_item(Key=self._key(account_id, monitor_id), ConsistentRead=True)
        )
        item = (response or {}).get("Item")
        return self._record(item) if item else None

    def by_token(self, token_hash: str) -> MonitorRecord | None:
        response = _call(
            lambda: self.table.get_item(Key=self._token_key(token_hash), ConsistentRead=True)
        )
        item = (response or {}).get("Item")
        if not item:
            return None
        found = self.get(item["account_id"], int(item["monitor_id"]))
        return found if found is not None and found.token_hash == token_hash else None

    def list(self, account_id: str) -> list[MonitorRecord]:
        items = _query_all(
            self.table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": f"monitor#{account_id}"},
            ConsistentRead=True,
        )
        return [self._record(i) for i in items]

    def replace(self, monitor: MonitorRecord, expected_version: int) -> bool:
        name = self.table.name
        put = {
            "TableName": name,
            "Item": self._item(monitor),
            "ConditionExpression": "version = :v AND token_hash = :t",
            "ExpressionAttributeValues": {":v": expected_version, ":t": monitor.token_hash},
        }
        # Most writes (pings, edits) keep the token: one conditional put.
        if _call(functools.partial(self.table.put_item, **put), conditional=True) is not None:
            return True
        current = self.get(monitor.account_id, monitor.monitor_id)
        if current is None or current.version != expected_version:
            return False
        if current.token_hash == monitor.token_hash:
            return False  # changed between the put and the read: a lost race all the same
        put["ConditionExpression"] = "version = :v"
        del put["ExpressionAttributeValues"][":t"]
        return self._transact(
            [
                {"Put": put},
                {"Delete": {"TableName": name, "Key": self._token_key(current.token_hash)}},
                {
                    "Put": {
                        "TableName": name,
                        "Item": self._token_item(monitor),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    def delete(self, account_id: str, monitor_id: int) -> bool:
        current = self.get(account_id, monitor_id)
        if current is None:
            return False
        name = self.table.name
        return self._transact(
            [
                {
                    "Delete": {
                        "TableName": name,
                        "Key": self._key(account_id, monitor_id),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": current.version},
                    }
                },
                {"Delete": {"TableName": name, "Key": self._token_key(current.token_hash)}},
            ]
        )

    def overdue(self, shard: int, until: int, limit: int) -> MonitorKeys:
        kwargs: dict[str, Any] = {
            "IndexName": "overdue",
            "KeyConditionExpression": "overdue_shard = :s AND alert_at <= :u",
            "ExpressionAttributeValues": {":s": str(shard), ":u": until},
            "Limit": limit,
        }
        found: MonitorKeys = []
        for item in _query_all(self.table, **kwargs):
            found.append((item["pk"].split("#", 1)[1], int(item["sk"])))
            if len(found) >= limit:
                break
        return found

    def add_ping(self, ping: PingRecord) -> None:
        item: dict[str, Any] = {
            "pk": f"pings#{ping.account_id}#{ping.monitor_id}",
            "sk": ping.ping_id,
            "data": json.dumps(ping.data, separators=(",", ":")),
        }
        if ping.expires_at is not None:
            item["expires_at"] = ping.expires_at
        _call(lambda: self.table.put_item(Item=item))

    def pings(self, account_id: str, monitor_id: int, limit: int, cursor: str | None) -> Page:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": f"pings#{account_id}#{monitor_id}"},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if cursor:
            kwargs["KeyConditionExpression"] += " AND sk < :before"
            kwargs["ExpressionAttributeValues"][":before"] = ping_from_cursor(cursor)
        response = _call(lambda: self.table.query(**kwargs))
        rows = (response or {}).get("Items", [])
        items = [
            PingRecord(
                account_id, monitor_id, r["sk"], json.loads(r["data"]), _int(r.get("expires_at"))
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return Page(items, ping_cursor(items[-1].ping_id) if more and items else None)
