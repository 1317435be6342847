"""What one run costs on AWS: requests and capacity units counted on moto, priced in dollars.

    python bench/bench_cost.py

Routine runs go end to end on moto (tables, bucket, queue and key from infra/resources.json, via
scripts/provision.py) against the loopback `Sink`: the tick claims, executes and records them
inline, as it does for a batch of at most `inline_max` runs; the same jobs then run once more
through SQS (`inline_max=0`, the path of larger batches: tick, queue, worker). Then per run with
a saved response (`saveResponses`), and per API call (`GET /jobs`, `PUT /jobs` through
`chalice.test.Client`). The clock is skewed: real time flows, but the tick's waits for planned
seconds are skipped (their cost is priced below, not slept).

How the units are counted (ReturnConsumedCapacity does not work on moto), by botocore hooks on
the clients the code under test uses:
- every DynamoDB write reads the item before and after it with a second, uncounted client, and
  costs ceil(max(size before, size after) / 1 KB) write units (AWS's rule for PutItem,
  UpdateItem and DeleteItem; twice that for each item of a TransactWriteItems), plus, per
  global secondary index, one unit per index entry put or deleted: an entry appears,
  disappears, or its key changes (= delete + put); KEYS_ONLY entries are far under 1 KB. A
  write that fails its condition costs the item's units and no index write.
- reads: GetItem and BatchGetItem ceil(size / 4 KB) per item (a missing item still costs the
  minimum), Query the sum of the items read rounded up to 4 KB; eventually consistent halves it.
- item sizes follow AWS's published rules (name + value bytes; numbers 1 byte per 2 significant
  digits + 1; maps and lists 3 bytes + 1 per element).
- S3, SQS and KMS: requests by operation; an SQS batch is billed per 64 KB of payload.
- Lambda: invocations and GB-seconds are not observable locally, so they are modelled with the
  memory sizes of .chalice/config.json and the stated assumptions (TICK_WAIT_S and friends).

The headline figures are per schedule kind (KINDS: minutely, hourly, daily), each job with a
URL of URL_CHARS characters (the run records carry it): for each kind and path, KIND_JOBS fresh
jobs run KIND_SLOTS times each, the clock jumping to each slot (an hour or a day on). Counted per
run: the claiming tick, the run itself (inline, or SQS and the worker), and the sweep that reads
the runs' watch lists (SWEEP_AFTER_S after the slot, the reads of its empty minutes taken off as
the idle ticks' own). Each tick's fixed part is an idle tick measured in steady state (after a
tick the minute before: the due-index queries, the monitors' index, the sweep of one minute),
spread over the runs of its minute at the path's load, whatever their kind: INLINE_LOAD runs a
tick inline (the default inline_max, the inline path's cheapest case per run) and QUEUED_LOAD
runs a minute through SQS. So an hourly job's run bears 1/QUEUED_LOAD of a tick's fixed part, as
a minutely one's: 60 ticks an hour over 60 x QUEUED_LOAD runs an hour (60,000 hourly jobs spread
over the hour's minutes); `cost.tick_fixed.steady.rru_per_run_bunched.*` says what it would be
with only QUEUED_LOAD jobs of the kind, all due in one minute of their period. Per kind,
`cost.write_units_per_run.<kind>`, `cost.read_units_per_run.<kind>` and
`cost.usd_per_million_runs_by_kind.<kind>` are each the dearer path for that figure
(`cost.dearer_path.*`: 0 inline, 1 queued); `cost.usd_per_million_runs` (and `_provisioned`,
`_reserved`) is the dearest kind and path; `cost.<kind>.<path>.wru_by` / `rru_by` split the units
by what wrote or read them. The assumptions are printed with the figures of the run.

The older figures, kept: a routine minutely job with a short URL, JOBS jobs (in ACCOUNTS
accounts) over TICKS minutes, with the first tick of the deployment (`cost.tick_fixed.*`) as the
fixed part: `cost.inline.*` the inline path, `cost.queued.*` the SQS path; `usd_lines` split
each total by line and `wru_by` the write units by what wrote them.

Prices are us-east-1 list prices, dated in PRICES_DATE; free tiers are left out. DynamoDB is
priced three ways: on-demand, provisioned capacity at PROVISIONED_UTILISATION (a cron load is
steady, so provisioned capacity fits it), and the same with 1-year reserved capacity. An API
call also pays API Gateway. The last line printed is JSON.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent

# ---- prices (us-east-1, list prices in effect on PRICES_DATE) -----------------------------------
PRICES_DATE = "2024-11-01"  # DynamoDB on-demand was halved that day; the others unchanged since
DYNAMODB_WRU = 0.625 / 1e6  # on-demand, per write request unit
DYNAMODB_RRU = 0.125 / 1e6  # on-demand, per read request unit
DYNAMODB_WCU_HOUR = 0.00065  # provisioned, per write capacity unit-hour
DYNAMODB_RCU_HOUR = 0.00013  # provisioned, per read capacity unit-hour
PROVISIONED_UTILISATION = 0.70  # average use of provisioned capacity (auto scaling's target)
# Reserved capacity, 1-year term, per 100 units: $150 upfront + $0.0128 an hour (writes), $30 +
# $0.0025 (reads); spread over the term's 8,760 hours, per unit-hour (54% under provisioned).
DYNAMODB_WCU_HOUR_RESERVED = (150 / 8760 + 0.0128) / 100
DYNAMODB_RCU_HOUR_RESERVED = (30 / 8760 + 0.0025) / 100
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000  # GET and the rest
SQS_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB chunk of a request
KMS_REQUEST = 0.03 / 10_000  # symmetric key requests
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_GB_S = 0.0000166667  # x86_64 (arm64: 0.0000133334)
API_GATEWAY_REQUEST = 3.50 / 1e6  # REST API, first 333 million a month
S3_PUT_OPS = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2"}

# ---- assumptions for what cannot be observed locally -------------------------------------------
# The tick claims up to the end of the next minute. A small batch (<= inline_max) planned within
# inline_wait_s of the tick waits inside the tick's Lambda; everything else goes to SQS with a
# delay. A Rate(1 minute) rule fires at a fixed but arbitrary second of each minute, so a
# routine minutely job due at :00 takes the inline path only if that second is :55-:59, and the
# SQS path otherwise. The inline figures price the longest wait, inline_wait_s (TICK_WAIT_S);
# `cost.inline.usd_per_million_runs_half_wait` the same with half of it. The headline is the
# dearer of the two paths.
TICK_WAIT_S = float(__import__("chalicelib.config").config.Settings().inline_wait_s)
INLINE_LEAD_S = 1  # the inline scenario ticks this long before the slot (< inline_wait_s)
TARGET_LATENCY_S = 0.2  # a routine HTTPS target's answer, connection included (the sink: ~1 ms)
AWS_LATENCY_S = 0.008  # one DynamoDB / SQS / S3 request from Lambda, same region
WORKER_WAIT_S = 0.5  # SQS delays are whole seconds: the worker waits the rest, on average
WORKER_BATCH = 10  # messages per worker invocation (the SQS event source's batch_size)
RUN_CPU_S = 0.005  # CPU per run on a whole core: TLS handshake (~2-3 ms) and the run's own code
INLINE_LOAD = 50  # runs per tick in the inline figures (the default inline_max: its best case)
QUEUED_LOAD = 1000  # runs per minute in the queued figures
API_DURATION_S = 0.05  # the API Lambda's time per call
# A run's watch list is read by the sweep of the first minute after its deadline (planned second
# + request timeout + the deadline's margin): the bench sweeps this long after a slot.
SWEEP_AFTER_S = (
    __import__("chalicelib.runs").runs.DEADLINE_MARGIN_S
    + __import__("chalicelib.config").config.Settings().default_request_timeout
    + 120
)

JOBS = 50  # routine jobs, due every minute
# The schedule kinds (the headline figures): jobs with a URL_CHARS-character URL, a fresh set of
# KIND_JOBS jobs (JOBS_PER_ACCOUNT to an account, as JOBS / ACCOUNTS above) for each kind and
# path, each run KIND_SLOTS times. A slot a period after the last: the clock jumps there.
KINDS = ("minutely", "hourly", "daily")
PERIOD_S = {"minutely": 60, "hourly": 3600, "daily": 86400}
URL_CHARS = 2000
KIND_JOBS = 20
KIND_SLOTS = 2
JOBS_PER_ACCOUNT = 5
TICKS = 2  # minutes run per scenario (the counts are the same every minute)
ACCOUNTS = 10
API_CALLS = 10  # per route
API_JOBS = 20  # jobs in the account that GET /jobs lists

DYNAMO_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


# ---- moto ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def dummy_aws() -> Iterator[None]:
    """Dummy credentials and no endpoint or profile in this process while the block runs, so that
    nothing can reach real AWS; the previous AWS_* variables come back afterwards."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(saved)


@contextlib.contextmanager
def moto_stack(stage: str = "bench", **env: str) -> Iterator[tuple[Any, Any]]:
    """moto in this process with every resource of the template; yields (settings, stores) and
    leaves them installed in `chalicelib.wiring` while the block runs."""
    import boto3
    from moto import mock_aws

    from chalicelib import wiring
    from chalicelib.config import Settings
    from scripts.provision import environment, provision

    with dummy_aws(), mock_aws():
        outputs = provision(boto3.session.Session(), stage=stage)
        settings = Settings.from_env(
            {
                **environment(outputs),
                "CRONHOOK_STAGE": stage,
                "CRONHOOK_ALLOW_PRIVATE_TARGETS": "true",
                "CRONHOOK_RATE_LIMIT_PER_S": "10000",
                "CRONHOOK_RATE_LIMIT_BURST": "10000",
                **env,
            }
        )
        wiring.configure(settings=settings)
        try:
            yield settings, wiring.stores()
        finally:
            wiring.configure()


def serialize(client: Any) -> None:
    """One DynamoDB call at a time on this client. DynamoDB applies each item write atomically;
    moto, called from the tick's threads, does not (tests/test_runs_api.py does the same)."""
    atomic = threading.RLock()

    def enter(**kw: Any) -> None:  # a before-call handler that returned a value would stub
        atomic.acquire()

    def leave(**kw: Any) -> None:
        atomic.release()

    events = client.meta.events
    events.register_first("before-call.dynamodb", enter)
    events.register_last("after-call.dynamodb", leave)
    events.register_last("after-call-error.dynamodb", leave)


# ---- DynamoDB item sizes and capacity units ----------------------------------------------------


def _number_size(text: str) -> int:
    mantissa = text.lstrip("+-").lower().split("e")[0].replace(".", "")
    significant = len(mantissa.strip("0")) or 1
    return (significant + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's wire format (`{"S": "x"}`), as AWS counts."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return _number_size(str(data))
    if kind == "B":
        return len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(_number_size(n) for n in data)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in data)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY, INCLUDE or ALL
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schema:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def entry(self, index: Index, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The item's entry in a global secondary index, None when it has none (sparse)."""
        if item is None or any(k not in item for k in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        names = set(self.keys) | set(index.keys) | set(index.include)
        return {k: v for k, v in item.items() if k in names}


def write_units(
    schema: Schema,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    ok: bool,
    transactional: bool = False,
) -> tuple[int, int]:
    """(table units, index units) of one item write that turned `old` into `new`."""
    size = max(item_size(old) if old else 0, item_size(new) if new else 0)
    table = max(1, math.ceil(size / 1024)) * (2 if transactional else 1)
    if not ok:
        return table, 0
    index = 0
    for gsi in schema.indexes:
        before, after = schema.entry(gsi, old), schema.entry(gsi, new)
        if before is None and after is None:
            continue
        if before is None or after is None:
            index += _units(before or after)
        elif any(before[k] != after[k] for k in gsi.keys):
            index += _units(before) + _units(after)  # a key change: delete + put
        elif before != after:
            index += _units(after)
    return table, index


def _units(entry: Mapping[str, Any] | None) -> int:
    return max(1, math.ceil(item_size(entry or {}) / 1024))


def _read_units(items: list[Mapping[str, Any]], consistent: bool, whole: bool) -> float:
    """A query's items are summed then rounded up to 4 KB; a get's items one by one."""
    factor = 1.0 if consistent else 0.5
    if whole:
        return max(1, math.ceil(sum(item_size(i) for i in items) / 4096)) * factor
    return sum(max(1, math.ceil(item_size(i) / 4096)) for i in items) * factor


# ---- the meter ---------------------------------------------------------------------------------


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)  # "dynamodb.PutItem" -> requests
    rru: float = 0.0
    wru: int = 0  # table and index units
    index_wru: int = 0
    items_read: int = 0
    sqs_billed: int = 0  # SQS requests as billed (per 64 KB)
    wru_by: Counter[str] = field(default_factory=Counter)  # what wrote: "runs.create" -> units
    rru_by: dict[str, float] = field(default_factory=dict)  # what read: "jobs.Query" -> units
    write_sizes: dict[str, list[int]] = field(default_factory=dict)  # table -> item sizes

    def count(self, prefix: str) -> int:
        return sum(n for k, n in self.calls.items() if k.startswith(prefix))

    @property
    def dynamo_reads(self) -> int:
        return sum(self.calls[f"dynamodb.{op}"] for op in DYNAMO_READS)

    @property
    def dynamo_writes(self) -> int:
        return sum(self.calls[f"dynamodb.{op}"] for op in DYNAMO_WRITES)

    @property
    def s3_puts(self) -> int:
        return sum(self.calls[f"s3.{op}"] for op in S3_PUT_OPS)

    @property
    def s3_gets(self) -> int:
        return self.count("s3.") - self.s3_puts

    @property
    def requests(self) -> int:
        """AWS requests: DynamoDB, S3, KMS, and SQS as billed."""
        return self.count("dynamodb.") + self.count("s3.") + self.count("kms.") + self.sqs_billed

    def minus(self, other: Tally) -> Tally:
        return Tally(
            calls=self.calls - other.calls,
            rru=self.rru - other.rru,
            wru=self.wru - other.wru,
            index_wru=self.index_wru - other.index_wru,
            items_read=self.items_read - other.items_read,
            sqs_billed=self.sqs_billed - other.sqs_billed,
            wru_by=self.wru_by - other.wru_by,
            rru_by=_merge(self.rru_by, other.rru_by, -1),
        )

    def plus(self, other: Tally) -> Tally:
        return Tally(
            calls=self.calls + other.calls,
            rru=self.rru + other.rru,
            wru=self.wru + other.wru,
            index_wru=self.index_wru + other.index_wru,
            items_read=self.items_read + other.items_read,
            sqs_billed=self.sqs_billed + other.sqs_billed,
            wru_by=self.wru_by + other.wru_by,
            rru_by=_merge(self.rru_by, other.rru_by, 1),
        )

    def copy(self) -> Tally:
        return replace(
            self,
            calls=Counter(self.calls),
            wru_by=Counter(self.wru_by),
            rru_by=dict(self.rru_by),
            write_sizes={k: list(v) for k, v in self.write_sizes.items()},
        )


def _merge(a: Mapping[str, float], b: Mapping[str, float], sign: int) -> dict[str, float]:
    """a + sign * b, key by key, leaving out what comes to zero."""
    out: dict[str, float] = {}
    for key in sorted(a.keys() | b.keys()):
        value = a.get(key, 0.0) + sign * b.get(key, 0.0)
        if abs(value) > 1e-9:
            out[key] = value
    return out


class Meter:
    """Counts requests and capacity units on the clients it watches (see the module docstring)."""

    def __init__(self, region: str = "us-east-1") -> None:
        import boto3

        self.tally = Tally()
        self._lock = threading.Lock()
        self._side = boto3.client("dynamodb", region_name=region)  # uncounted: reads images
        self._schemas: dict[str, Schema] = {}
        self._paused = False

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Count nothing while the block runs (setting the scene; saves moto's time)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def snapshot(self) -> Tally:
        with self._lock:
            return self.tally.copy()

    # ---- wiring

    def watch_dynamodb(self, client: Any) -> None:
        """Count this client's DynamoDB calls; also makes them atomic (see `serialize`)."""
        serialize(client)
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def watch(self, client: Any) -> None:
        """Count this client's requests by operation (S3, SQS, KMS)."""
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service_id}", self._op)

    def _op(self, model: Any, params: Mapping[str, Any], **kw: Any) -> None:
        if self._paused:
            return
        service = model.service_model.endpoint_prefix
        name = f"{service}.{model.name}"
        billed = 1
        if name == "sqs.SendMessageBatch" or name == "sqs.SendMessage":
            body = params.get("body") or b""
            size = len(body) if isinstance(body, bytes | str) else 0
            billed = max(1, math.ceil(size / 65536))
        with self._lock:
            self.tally.calls[name] += 1
            if service == "sqs":
                self.tally.sqs_billed += billed

    # ---- DynamoDB

    def _schema(self, table: str) -> Schema:
        schema = self._schemas.get(table)
        if schema is None:
            described = self._side.describe_table(TableName=table)["Table"]
            indexes = tuple(
                Index(
                    g["IndexName"],
                    tuple(k["AttributeName"] for k in g["KeySchema"]),
                    g["Projection"]["ProjectionType"],
                    tuple(g["Projection"].get("NonKeyAttributes", [])),
                )
                for g in described.get("GlobalSecondaryIndexes", [])
            )
            keys = tuple(k["AttributeName"] for k in described["KeySchema"])
            schema = self._schemas[table] = Schema(keys, indexes)
        return schema

    def _image(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._side.get_item(
            TableName=table, Key=dict(key), ConsistentRead=True
        ).get("Item")
        return found

    def _targets(self, op: str, body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(table, key) of every item a write touches."""
        if op in ("UpdateItem", "DeleteItem"):
            return [(body["TableName"], body["Key"])]
        if op == "PutItem":
            table = body["TableName"]
            keys = self._schema(table).keys
            return [(table, {k: body["Item"][k] for k in keys})]
        if op == "TransactWriteItems":
            out = []
            for action in body["TransactItems"]:
                ((kind, spec),) = action.items()
                if kind == "ConditionCheck":
                    continue
                table = spec["TableName"]
                if kind == "Put":
                    out.append((table, {k: spec["Item"][k] for k in self._schema(table).keys}))
                else:
                    out.append((table, spec["Key"]))
            return out
        if op == "BatchWriteItem":
            out = []
            for table, requests in body["RequestItems"].items():
                keys = self._schema(table).keys
                for request in requests:
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        out.append((table, {k: item[k] for k in keys}))
                    else:
                        out.append((table, request["DeleteRequest"]["Key"]))
            return out
        raise ValueError(f"the meter does not price {op}")

    def _before(self, model: Any, params: Mapping[str, Any], context: Any, **kw: Any) -> None:
        if self._paused:
            return
        op = model.name
        with self._lock:
            self.tally.calls[f"dynamodb.{op}"] += 1
        if op in DYNAMO_WRITES:
            body = json.loads(params["body"])
            context["bench_meter"] = [
                (table, key, self._image(table, key)) for table, key in self._targets(op, body)
            ]
            context["bench_purpose"] = _purpose(op, body)
        elif op in DYNAMO_READS:
            context["bench_meter"] = json.loads(params["body"])

    def _after(self, http_response: Any, model: Any, context: Any, **kw: Any) -> None:
        op = model.name
        ok = http_response.status_code < 300
        if op in DYNAMO_WRITES:
            wru = index_wru = 0
            sizes: list[tuple[str, int]] = []
            by: Counter[str] = Counter()
            purpose = context.pop("bench_purpose", op)
            for table, key, old in context.pop("bench_meter", []):
                new = self._image(table, key) if ok else old
                table_units, index_units = write_units(
                    self._schema(table), old, new, ok, op == "TransactWriteItems"
                )
                wru += table_units + index_units
                index_wru += index_units
                sizes.append((table, max(item_size(old or {}), item_size(new or {}))))
                state = (new or {}).get("state", {}).get("S")
                label = f"{table.rsplit('-', 1)[-1]}.{purpose}"
                label += f"_{state}" if purpose == "update" and state else ""
                by[label + ("" if ok else "_failed")] += table_units + index_units
            with self._lock:
                self.tally.wru += wru
                self.tally.index_wru += index_wru
                self.tally.wru_by += by
                for table, size in sizes:
                    self.tally.write_sizes.setdefault(table, []).append(size)
            return
        body = context.pop("bench_meter", None)
        if op not in DYNAMO_READS or body is None or not ok:
            return
        data = json.loads(http_response.content)
        units, read = 0.0, 0
        tables = body.get("RequestItems") or {body.get("TableName", "?"): None}
        label = "+".join(t.rsplit("-", 1)[-1] for t in tables) + f".{op}"
        if body.get("IndexName"):
            label += f"_{body['IndexName']}"
        if op == "GetItem":
            item = data.get("Item")
            units = _read_units([item or {}], bool(body.get("ConsistentRead")), whole=False)
            read = 1 if item else 0
        elif op == "BatchGetItem":
            for table, spec in body["RequestItems"].items():
                found = data.get("Responses", {}).get(table, [])
                missing = max(0, len(spec["Keys"]) - len(found))
                consistent = bool(spec.get("ConsistentRead"))
                units += _read_units(found + [{}] * missing, consistent, whole=False)
                read += len(found)
        elif op in ("Query", "Scan"):
            units = _read_units(data.get("Items", []), bool(body.get("ConsistentRead")), True)
            read = int(data.get("ScannedCount", data.get("Count", 0)))
        with self._lock:
            self.tally.rru += units
            self.tally.rru_by[label] = self.tally.rru_by.get(label, 0.0) + units
            self.tally.items_read += read


def _purpose(op: str, body: Mapping[str, Any]) -> str:
    """A short name for what a write does, from its expressions (for the breakdown of units)."""
    condition = str(body.get("ConditionExpression", ""))
    update = str(body.get("UpdateExpression", ""))
    if op == "PutItem":
        if condition.startswith("attribute_not_exists"):
            return "create"
        if str(body.get("Item", {}).get("job_key", {}).get("S", "")).startswith("watch#"):
            return "watch"
        return "update" if "#state" in condition else "put"
    if op == "TransactWriteItems":
        kinds = {next(iter(action)) for action in body["TransactItems"]}
        return "transact_" + "_".join(sorted(k.lower() for k in kinds))
    if op == "UpdateItem":
        for word, name in (
            ("next_run_at", "advance"),
            ("slot = :next", "advance"),
            ("last_status", "record"),
            ("tat = ", "rate_limit"),
            ("last_used_at", "touch"),
            ("ADD n", "next_id"),
            ("running :minus", "release"),
            ("running :one", "acquire"),
        ):
            if word in update:
                return name
        return "update_item"
    return op


def meter_stack(settings: Any, stores: Any) -> Meter:
    """A meter on every client the stores and the app use (DynamoDB, S3, SQS, KMS)."""
    from chalicelib import wiring

    meter = Meter(settings.region)
    meter.watch_dynamodb(stores.jobs.table.meta.client)
    for service in ("s3", "sqs"):
        meter.watch(wiring.client(service))
    kms = getattr(getattr(stores.jobs, "sealer", None), "kms", None)
    if kms is not None:
        meter.watch(kms)
    return meter


# ---- time --------------------------------------------------------------------------------------


class SkewedClock:
    """Real time plus an offset: time flows, but `sleep` jumps ahead instead of waiting."""

    def __init__(self, start: float) -> None:
        self._offset = start - time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self._offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, seconds)

    def advance_to(self, when: float) -> None:
        with self._lock:
            self._offset += max(0.0, when - (time.time() + self._offset))


# ---- scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    """What some minutes of runs cost: the ticks' share and the workers' share."""

    tick: Tally
    worker: Tally
    runs: int
    ticks: int
    worker_batches: int = 0

    @property
    def total(self) -> Tally:
        return self.tick.plus(self.worker)


class ZeroDelayQueue:
    """The SQS queue, with delays dropped: the bench's clock is skewed ahead of SQS's, and SQS
    bills a request the same whatever its DelaySeconds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def send(self, messages: Any) -> None:
        self.inner.send([(body, 0) for body, _ in messages])


def _routine_jobs(service: Any, url: str, count: int) -> None:
    for n in range(count):
        payload = {
            "url": f"{url}/job/{n}",
            "enabled": True,
            "title": f"routine {n}",
            "schedule": {"cron": "* * * * *"},
        }
        service.create_job(f"acct-{n % ACCOUNTS}", payload)


def _inline(
    meter: Meter, dispatcher: Any, clock: SkewedClock, first_slot: int, ticks: int, runs: int
) -> Scenario:
    before = meter.snapshot()
    for n in range(ticks):
        slot = first_slot + 60 * n
        clock.advance_to(slot - INLINE_LEAD_S)
        report = dispatcher.tick(clock())
        if report.get("ok", 0) != runs:
            raise RuntimeError(f"tick at slot {slot}: expected {runs} ok runs, got {report}")
    return Scenario(meter.snapshot().minus(before), Tally(), runs * ticks, ticks)


def _queued(
    meter: Meter, dispatcher: Any, clock: SkewedClock, first_slot: int, ticks: int, runs: int
) -> Scenario:
    """Tick with inline_max=0, then work the queue as the SQS event source does: receive up to
    10 messages, invoke the worker with them, delete them in one batch."""
    from chalicelib import wiring

    sqs = wiring.client("sqs")
    url = sqs.get_queue_url(QueueName=dispatcher.settings.queue)["QueueUrl"]
    tick, worker = Tally(), Tally()
    batches = 0
    for n in range(ticks):
        slot = first_slot + 60 * n
        clock.advance_to(slot - 30)
        before = meter.snapshot()
        report = dispatcher.tick(clock())
        if report.get("queued", 0) != runs:
            raise RuntimeError(f"tick at slot {slot}: expected {runs} queued runs, got {report}")
        middle = meter.snapshot()
        ok = 0
        while ok < runs:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                raise RuntimeError(f"the queue ran dry after {ok} of {runs} runs")
            batches += 1
            result = dispatcher.work([m["Body"] for m in got], clock())
            ok += result.get("ok", 0)
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ]
            sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        after = meter.snapshot()
        tick = tick.plus(middle.minus(before))
        worker = worker.plus(after.minus(middle))
    return Scenario(tick, worker, runs * ticks, ticks, batches)


def _callback_runs(
    meter: Meter, stores: Any, dispatcher: Any, clock: SkewedClock, slot: int, runs: int
) -> Scenario:
    """One tick of `runs` long jobs whose target accepts (202) and reports through the callback
    route (the API's Lambda, as deployed): the tick's share is the claim, the call and the
    waiting record; the worker's share here is the callbacks' (the route ends each run)."""
    from chalice.test import Client

    from app import app
    from chalicelib import callbacks, executor

    urls: list[str] = []

    def accepted(request: Any, policy: Any) -> Any:
        # The sink answers 200; its answer counts as the 202 of a target that calls back.
        urls.append(request.headers[callbacks.HEADER])
        return replace(executor.execute(request, policy), http_status=202)

    dispatcher.execute = accepted
    clock.advance_to(slot - INLINE_LEAD_S)
    before = meter.snapshot()
    report = dispatcher.tick(clock())
    if report.get("waiting_callback", 0) != runs:
        raise RuntimeError(f"callback tick: expected {runs} waiting runs, got {report}")
    middle = meter.snapshot()
    with Client(app, project_dir=str(ROOT), stage_name="dev") as client:
        for url in urls:
            path = "/callbacks/" + url.rsplit("/callbacks/", 1)[1]
            body = json.dumps({"status": "success", "message": "done"})
            answer = client.http.post(path, headers={"Content-Type": "application/json"}, body=body)
            if answer.status_code != 200:
                raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.body!r}")
    after = meter.snapshot()
    return Scenario(middle.minus(before), after.minus(middle), runs, 1)


def _api_calls(meter: Meter, stores: Any, calls: int, jobs: int) -> dict[str, Tally]:
    from chalice.test import Client

    from app import app
    from chalicelib import auth

    full, _ = auth.create_key(stores, "acct-api", ["admin"], time.time(), name="bench")
    headers = {"Authorization": f"Bearer {full}", "Content-Type": "application/json"}
    job = {"url": "http://127.0.0.1:9/cronhook-bench", "enabled": False, "title": "api"}
    body = json.dumps({"job": job})
    out: dict[str, Tally] = {}
    with Client(app, project_dir=str(ROOT), stage_name="dev") as client:
        with meter.paused():
            for _ in range(jobs):
                response = client.http.put("/jobs", headers=headers, body=body)
                if response.status_code != 200:
                    raise RuntimeError(f"PUT /jobs answered {response.status_code}")
            monitor = {"monitor": {"title": "bench", "schedule": {"every": 3600}}}
            created = client.http.put("/monitors", headers=headers, body=json.dumps(monitor))
            if created.status_code != 200:
                raise RuntimeError(f"PUT /monitors answered {created.status_code}")
            ping = "/ping/" + json.loads(created.body)["pingUrl"].rsplit("/ping/", 1)[1]
        routes: list[tuple[str, Callable[[], Any]]] = [
            ("get", lambda: client.http.get("/jobs", headers=headers)),
            ("put", lambda: client.http.put("/jobs", headers=headers, body=body)),
            # a heartbeat (no key): a monitor's ping, as a cron job on a server sends it
            ("ping", lambda: client.http.get(ping)),
        ]
        for name, call in routes:
            before = meter.snapshot()
            for _ in range(calls):
                response = call()
                if response.status_code != 200:
                    raise RuntimeError(f"{name.upper()} answered {response.status_code}")
            out[name] = meter.snapshot().minus(before)
    return out


def _job_bytes(stores: Any, job: Any) -> tuple[float, float, float]:
    """A routine job's definition item as stored, the same with its secrets as plain JSON (no
    KMS key), and its state item: the only one of the two a run writes."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    item = stores.jobs._definition(job)
    plain = {**item, "secrets": json.dumps(job.secrets, separators=(",", ":"))}
    items = (item, plain, stores.jobs._state(job))
    sizes = [item_size({k: serializer.serialize(v) for k, v in i.items()}) for i in items]
    return float(sizes[0]), float(sizes[1]), float(sizes[2])


# ---- schedule kinds, long URLs ------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """What the ticks cost with nothing to do, measured in steady state (the previous tick swept
    the minute before): `tick` a whole idle tick (due-index queries, monitors, the sweep of one
    empty minute), `sweep` the sweep of one empty minute alone, `minute` one empty watch list."""

    tick: Tally
    sweep: Tally
    minute: Tally


def _times(tally: Tally, n: int) -> Tally:
    out = Tally()
    for _ in range(n):
        out = out.plus(tally)
    return out


def _set_mark(stores: Any, minute: int) -> None:
    """The sweep's mark and the wake lists' marks, as the idle ticks of the minutes skipped
    would have left them, the last at `minute` (a tick reads the wake lists up to the end of
    its window, the next minute): the skip is not downtime, whose catching up would be
    charged to the runs after it."""
    from chalicelib.dispatch.sweeper import SWEEP_MARK_KEY
    from chalicelib.dispatch.ticker import WAKE_MARK

    stores.state.put_value(SWEEP_MARK_KEY, minute)
    stores.state.put_value(WAKE_MARK, {str(s): minute + 1 for s in range(stores.jobs.shards)})


def _mark(stores: Any) -> int:
    from chalicelib.dispatch.sweeper import SWEEP_MARK_KEY

    return int(stores.state.get_value(SWEEP_MARK_KEY))


def measure_baseline(meter: Meter, stores: Any, dispatcher: Any, clock: SkewedClock) -> Baseline:
    """An idle tick, an idle sweep and an empty watch list, each after a tick the minute before
    (no job is due; the clock is on a minute's 30th second)."""
    minute = int(clock()) // 60
    with meter.paused():
        _set_mark(stores, minute - 1)
    before = meter.snapshot()
    dispatcher.tick(clock())
    tick = meter.snapshot().minus(before)
    clock.advance_to((minute + 1) * 60 + 30)
    with meter.paused():
        _set_mark(stores, minute)
    before = meter.snapshot()
    dispatcher.sweep(clock(), Counter())
    sweep = meter.snapshot().minus(before)
    before = meter.snapshot()
    stores.runs.watched(minute + 1000)  # a minute far ahead: nothing on its list
    empty = meter.snapshot().minus(before)
    return Baseline(tick, sweep, empty)


def long_url(base: str, n: int, chars: int) -> str:
    """A loopback URL of exactly `chars` characters: the job's path, padded in the query."""
    head = f"{base}/job/{n}?pad="
    return head + "x" * max(0, chars - len(head))


def kind_cron(kind: str, first: int) -> str:
    """A cron expression of `kind` whose first slot after `first` - 60 is `first`."""
    minute, hour = (first // 60) % 60, (first // 3600) % 24
    return {
        "minutely": "* * * * *",
        "hourly": f"{minute} * * * *",
        "daily": f"{minute} {hour} * * *",
    }[kind]


def _kind_path(
    meter: Meter,
    stores: Any,
    service: Any,
    dispatcher: Any,
    clock: SkewedClock,
    baseline: Baseline,
    *,
    kind: str,
    queued: bool,
    url: str,
    jobs: int,
    slots: int,
) -> Scenario:
    """`jobs` fresh jobs of `kind`, with URLs of URL_CHARS characters, run `slots` times each
    through one path. The sweep that reads their watch lists is measured too: after each slot
    whose runs' watch lists the next claiming tick would not reach, the clock goes on to
    SWEEP_AFTER_S past the slot and the sweep runs there, its empty minutes' reads taken off;
    the mark is then set as the idle ticks of the minutes skipped would have left it (their
    cost is the fixed part, spread as the module docstring says). The tick's tally holds the
    claiming ticks (their fixed part is taken off by `per_run`) and these sweeps."""
    period = PERIOD_S[kind]
    first = (int(clock()) // 60 + 2) * 60
    clock.advance_to(first - 45)
    accounts = max(1, jobs // JOBS_PER_ACCOUNT)
    with meter.paused():
        made = [
            service.create_job(
                f"{kind}-{'q' if queued else 'i'}-{n % accounts}",
                {
                    "url": long_url(url, n, URL_CHARS),
                    "enabled": True,
                    "title": f"{kind} {n}",
                    "schedule": {"cron": kind_cron(kind, first)},
                },
            )[0]
            for n in range(jobs)
        ]
    if any(job.next_run_at != first for job in made):
        raise RuntimeError(f"{kind}: the jobs' first slot is not {first}")
    tick, worker = Tally(), Tally()
    batches = 0
    for k in range(slots):
        slot = first + k * period
        lead = 30 if queued else INLINE_LEAD_S
        clock.advance_to(slot - lead)
        with meter.paused():  # the idle ticks of the minutes skipped swept up to the last one
            _set_mark(stores, int(clock()) // 60 - 1)
        step = (_queued if queued else _inline)(meter, dispatcher, clock, slot, 1, jobs)
        tick, worker = tick.plus(step.tick), worker.plus(step.worker)
        batches += step.worker_batches
        last = k == slots - 1
        if last or period > SWEEP_AFTER_S:
            clock.advance_to(slot + SWEEP_AFTER_S)
            with meter.paused():
                minutes = int(clock()) // 60 - _mark(stores)
            before = meter.snapshot()
            dispatcher.sweep(clock(), Counter())
            swept = meter.snapshot().minus(before)
            idle = baseline.sweep.plus(_times(baseline.minute, minutes - 1))
            tick = tick.plus(swept.minus(idle))
    with meter.paused():
        for job in made:
            service.delete_job(job.account_id, job.job_id)
    return Scenario(tick, worker, jobs * slots, slots, batches)


# ---- pricing -----------------------------------------------------------------------------------


def lambda_memory_gb(function: str, stage: str = "prod") -> float:
    """The function's memory in GB, from .chalice/config.json (the stage's, else the default)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    functions = config.get("stages", {}).get(stage, {}).get("lambda_functions", {})
    size = functions.get(function, {}).get("lambda_memory_size") or config.get(
        "lambda_memory_size", 128
    )
    return float(size) / 1024


@dataclass
class PerRun:
    """Average quantities per run (or per API call)."""

    wru: float = 0.0
    rru: float = 0.0
    dynamo_reads: float = 0.0
    dynamo_writes: float = 0.0
    s3_puts: float = 0.0
    s3_gets: float = 0.0
    sqs: float = 0.0
    kms: float = 0.0
    lambda_invocations: float = 0.0
    lambda_gb_s: float = 0.0

    @property
    def requests(self) -> float:
        """AWS requests: DynamoDB, S3, SQS (as billed) and KMS; Lambda invocations apart."""
        return (
            self.dynamo_reads
            + self.dynamo_writes
            + self.s3_puts
            + self.s3_gets
            + self.sqs
            + self.kms
        )

    @classmethod
    def of(cls, tally: Tally, divisor: float) -> PerRun:
        return cls(
            wru=tally.wru / divisor,
            rru=tally.rru / divisor,
            dynamo_reads=tally.dynamo_reads / divisor,
            dynamo_writes=tally.dynamo_writes / divisor,
            s3_puts=tally.s3_puts / divisor,
            s3_gets=tally.s3_gets / divisor,
            sqs=tally.sqs_billed / divisor,
            kms=tally.count("kms.") / divisor,
        )

    def plus(self, other: PerRun, weight: float = 1.0) -> PerRun:
        names = self.__dataclass_fields__
        return PerRun(**{n: getattr(self, n) + weight * getattr(other, n) for n in names})


def dollars(run: PerRun, provisioned: bool, reserved: bool = False) -> dict[str, float]:
    """Dollars per million runs (or calls), line by line."""
    if provisioned:
        # One capacity unit-hour serves 3,600 request units at full use.
        wcu_hour = DYNAMODB_WCU_HOUR_RESERVED if reserved else DYNAMODB_WCU_HOUR
        rcu_hour = DYNAMODB_RCU_HOUR_RESERVED if reserved else DYNAMODB_RCU_HOUR
        wru = wcu_hour / (3600 * PROVISIONED_UTILISATION)
        rru = rcu_hour / (3600 * PROVISIONED_UTILISATION)
    else:
        wru, rru = DYNAMODB_WRU, DYNAMODB_RRU
    lines = {
        "dynamodb_writes": run.wru * wru,
        "dynamodb_reads": run.rru * rru,
        "s3": run.s3_puts * S3_PUT + run.s3_gets * S3_GET,
        "sqs": run.sqs * SQS_REQUEST,
        "kms": run.kms * KMS_REQUEST,
        "lambda_requests": run.lambda_invocations * LAMBDA_REQUEST,
        "lambda_compute": run.lambda_gb_s * LAMBDA_GB_S,
    }
    return {k: v * 1e6 for k, v in lines.items()}


def per_run(scenario: Scenario, fixed: Tally, runs_per_tick: float) -> PerRun:
    """The scenario's counts per run, with each tick's fixed part (the index queries every tick
    makes, due or not) spread over `runs_per_tick` runs instead of the scenario's own."""
    marginal = PerRun.of(scenario.total, scenario.runs)
    fixed_each = PerRun.of(fixed, 1)
    return marginal.plus(fixed_each, 1 / runs_per_tick - scenario.ticks / scenario.runs)


def inline_lambda(run: PerRun) -> float:
    """Set the tick's Lambda share of an inline run; returns the tick's modelled seconds. The
    tick claims (two writes a run, on POOL_SIZE threads), waits for the planned second, then
    runs the batch in waves of POOL_SIZE, each run calling its target and then writing its
    records in sequence."""
    from chalicelib.dispatch import POOL_SIZE

    waves = math.ceil(INLINE_LOAD / POOL_SIZE)
    run_writes = run.dynamo_writes - 2
    tick_s = INLINE_LOAD * 2 * AWS_LATENCY_S / POOL_SIZE + TICK_WAIT_S
    tick_s += waves * (TARGET_LATENCY_S + run_writes * AWS_LATENCY_S)
    run.lambda_invocations = 1 / INLINE_LOAD
    run.lambda_gb_s = tick_s * lambda_memory_gb("tick") / INLINE_LOAD
    return tick_s


def queued_lambda(run: PerRun, scenario: Scenario) -> float:
    """Set the tick's and the worker's Lambda share of a queued run; returns the worker's
    modelled seconds. The tick claims (two writes a run on POOL_SIZE threads) and sends (a
    request per 10 messages of up to TASKS_PER_MESSAGE runs due the same second). A worker
    invocation gets 10 messages: cron jobs fire at second 0, so at QUEUED_LOAD it holds
    WORKER_RUNS runs. It reads their jobs and runs in a few batched requests, waits for the
    planned second, then gives each run a thread: the invocation lasts one run's call and
    writes, or the CPU of all its runs on the function's share of a core (memory / 1,769 MB)
    if that is longer."""
    from chalicelib.dispatch import POOL_SIZE, TASKS_PER_MESSAGE

    tick_gb, worker_gb = lambda_memory_gb("tick"), lambda_memory_gb("worker")
    sends = math.ceil(QUEUED_LOAD / TASKS_PER_MESSAGE / WORKER_BATCH)
    tick_queued_s = (QUEUED_LOAD * 2 / POOL_SIZE + sends) * AWS_LATENCY_S
    worker_runs = min(QUEUED_LOAD, WORKER_BATCH * TASKS_PER_MESSAGE)
    reads_per_batch = scenario.worker.dynamo_reads / max(1, scenario.worker_batches)
    writes_per_run = scenario.worker.dynamo_writes / scenario.runs
    io_s = TARGET_LATENCY_S + (reads_per_batch + writes_per_run) * AWS_LATENCY_S
    cpu_s = worker_runs * RUN_CPU_S / min(1.0, worker_gb * 1024 / 1769)
    worker_s = WORKER_WAIT_S + max(io_s, cpu_s)
    run.lambda_invocations = 1 / QUEUED_LOAD + 1 / worker_runs
    run.lambda_gb_s = tick_queued_s * tick_gb / QUEUED_LOAD + worker_s * worker_gb / worker_runs
    return worker_s


# ---- run ---------------------------------------------------------------------------------------


def run() -> dict[str, float]:
    from bench.common import Sink, budget
    from chalicelib import wiring
    from chalicelib.dispatch import Dispatcher
    from chalicelib.service import Service
    from chalicelib.store.blobs import MemoryBlobs
    from chalicelib.store.queue import MemoryQueue

    jobs = int(budget(JOBS, 4))
    kind_jobs = int(budget(KIND_JOBS, 5))
    kind_slots = int(budget(KIND_SLOTS, 2))
    ticks = int(budget(TICKS, 1))
    api_calls = int(budget(API_CALLS, 2))
    api_jobs = int(budget(API_JOBS, 2))
    began = time.perf_counter()
    with moto_stack() as (settings, stores), Sink() as sink:
        meter = meter_stack(settings, stores)
        start = (int(time.time()) // 60 + 1) * 60  # the first slot: a whole minute
        clock = SkewedClock(start - 100)
        # A tick with nothing due: what every tick costs whatever the load.
        before = meter.snapshot()
        Dispatcher(stores, settings, MemoryQueue(), MemoryBlobs(), clock=clock).tick(clock())
        fixed = meter.snapshot().minus(before)
        service = Service(stores, settings, clock=clock)
        base = replace(settings, inline_max=max(jobs, kind_jobs, settings.inline_max))

        def dispatcher(**changes: Any) -> Dispatcher:
            return Dispatcher(
                stores,
                replace(base, **changes),
                ZeroDelayQueue(wiring.queue()),
                wiring.blobs(),
                clock=clock,
                sleep=clock.sleep,
            )

        # The schedule kinds, long URLs: steady ticks' fixed part first, then each kind and path.
        clock.advance_to((int(clock()) // 60 + 1) * 60 + 30)
        steady = measure_baseline(meter, stores, dispatcher(), clock)
        kinds: dict[tuple[str, str], Scenario] = {}
        for kind in KINDS:
            for path in ("inline", "queued"):
                kinds[kind, path] = _kind_path(
                    meter,
                    stores,
                    service,
                    dispatcher(inline_max=0) if path == "queued" else dispatcher(),
                    clock,
                    steady,
                    kind=kind,
                    queued=path == "queued",
                    url=sink.url,
                    jobs=kind_jobs,
                    slots=kind_slots,
                )
        kinds_seconds = time.perf_counter() - began

        # The routine minutely jobs with short URLs (cost.inline.*, cost.queued.*, ...).
        start = (int(clock()) // 60 + 2) * 60
        clock.advance_to(start - 45)
        with meter.paused():
            _routine_jobs(service, sink.url, jobs)

        inline = _inline(meter, dispatcher(), clock, start, ticks, jobs)
        slot = start + 60 * ticks
        queued = _queued(meter, dispatcher(inline_max=0), clock, slot, ticks, jobs)
        slot += 60 * ticks
        with meter.paused():
            for n in range(ACCOUNTS):
                for job in stores.jobs.list(f"acct-{n}"):
                    service.update_job(job.account_id, job.job_id, {"saveResponses": True})
        saved = _inline(meter, dispatcher(), clock, slot, 1, jobs)
        slot += 60
        with meter.paused():  # the routine jobs rest; as many long jobs take their place
            for n in range(ACCOUNTS):
                for job in stores.jobs.list(f"acct-{n}"):
                    service.update_job(job.account_id, job.job_id, {"enabled": False})
                    service.create_job(
                        job.account_id,
                        {
                            "url": job.spec["url"] + "/long",
                            "enabled": True,
                            "schedule": {"cron": "* * * * *"},
                            "callback": {"timeout": 600},
                        },
                    )
        callback = _callback_runs(meter, stores, dispatcher(), clock, slot, jobs)
        api = _api_calls(meter, stores, api_calls, api_jobs)
        sizes = meter.snapshot().write_sizes
        job_bytes = _job_bytes(stores, stores.jobs.list("acct-0")[0])
    seconds = time.perf_counter() - began

    # ---- Lambda, modelled (see the assumptions at the top)
    api_gb = lambda_memory_gb("api_handler")
    inline_run = per_run(inline, fixed, INLINE_LOAD)
    saved_run = per_run(saved, fixed, INLINE_LOAD)
    queued_run = per_run(queued, fixed, QUEUED_LOAD)
    tick_s = inline_lambda(inline_run)
    callback_run = per_run(callback, fixed, INLINE_LOAD)
    for each in (saved_run, callback_run):
        each.lambda_invocations = inline_run.lambda_invocations
        each.lambda_gb_s = inline_run.lambda_gb_s
    # A callback is one more API call: an invocation of the API's function, and API Gateway.
    callback_run.lambda_invocations += 1
    callback_run.lambda_gb_s += API_DURATION_S * api_gb
    half_wait = replace(
        inline_run, lambda_gb_s=(tick_s - TICK_WAIT_S / 2) * lambda_memory_gb("tick") / INLINE_LOAD
    )
    worker_s = queued_lambda(queued_run, queued)
    kind_runs: dict[tuple[str, str], PerRun] = {}
    kind_seconds: dict[tuple[str, str], float] = {}
    for kind in KINDS:
        each = per_run(kinds[kind, "inline"], steady.tick, INLINE_LOAD)
        kind_seconds[kind, "inline"] = inline_lambda(each)
        kind_runs[kind, "inline"] = each
        each = per_run(kinds[kind, "queued"], steady.tick, QUEUED_LOAD)
        kind_seconds[kind, "queued"] = queued_lambda(each, kinds[kind, "queued"])
        kind_runs[kind, "queued"] = each

    out: dict[str, float] = {}
    totals: dict[str, tuple[float, float, float]] = {}
    for name, each in (
        ("inline", inline_run),
        ("queued", queued_run),
        ("saved_response", saved_run),
        ("callback_run", callback_run),
    ):
        on_demand, provisioned = dollars(each, False), dollars(each, True)
        reserved = dollars(each, True, reserved=True)
        if name == "callback_run":  # the callback's own request through API Gateway
            for lines in (on_demand, provisioned, reserved):
                lines["api_gateway"] = API_GATEWAY_REQUEST * 1e6
        totals[name] = (
            sum(on_demand.values()),
            sum(provisioned.values()),
            sum(reserved.values()),
        )
        prefix = f"cost.{name}"
        out |= {
            f"{prefix}.requests_per_run": round(each.requests, 3),
            f"{prefix}.dynamodb_reads_per_run": round(each.dynamo_reads, 3),
            f"{prefix}.dynamodb_writes_per_run": round(each.dynamo_writes, 3),
            f"{prefix}.wru_per_run": round(each.wru, 3),
            f"{prefix}.rru_per_run": round(each.rru, 3),
            f"{prefix}.s3_requests_per_run": round(each.s3_puts + each.s3_gets, 3),
            f"{prefix}.sqs_requests_per_run": round(each.sqs, 3),
            f"{prefix}.kms_requests_per_run": round(each.kms, 4),
            f"{prefix}.lambda_gb_s_per_run": round(each.lambda_gb_s, 5),
            f"{prefix}.usd_per_million_runs": round(totals[name][0], 3),
            f"{prefix}.usd_per_million_runs_provisioned": round(totals[name][1], 3),
            f"{prefix}.usd_per_million_runs_reserved": round(totals[name][2], 3),
        }
        if name in ("inline", "queued"):
            for line, value in on_demand.items():
                out[f"{prefix}.usd_lines.{line}"] = round(value, 4)
            out[f"{prefix}.usd_lines.dynamodb_writes_provisioned"] = round(
                dollars(each, True)["dynamodb_writes"], 4
            )
    out["cost.inline.tick_s_modelled"] = round(tick_s, 2)
    out["cost.queued.worker_s_modelled"] = round(worker_s, 3)
    out["cost.inline.usd_per_million_runs_half_wait"] = round(
        sum(dollars(half_wait, False).values()), 3
    )
    out["cost.inline.index_wru_per_run"] = round(inline.total.index_wru / inline.runs, 3)
    for label, units in sorted(inline.total.wru_by.items()):
        out[f"cost.inline.wru_by.{label}"] = round(units / inline.runs, 3)
    for label, units in sorted(queued.total.wru_by.items()):
        out[f"cost.queued.wru_by.{label}"] = round(units / queued.runs, 3)
    out["cost.queued.worker_batches"] = float(queued.worker_batches)
    # The schedule kinds (URL_CHARS-character URLs), each path; then the headline figures.
    for (kind, path), each in kind_runs.items():
        scenario = kinds[kind, path]
        prefix = f"cost.{kind}.{path}"
        out |= {
            f"{prefix}.requests_per_run": round(each.requests, 3),
            f"{prefix}.wru_per_run": round(each.wru, 3),
            f"{prefix}.rru_per_run": round(each.rru, 3),
            f"{prefix}.sqs_requests_per_run": round(each.sqs, 3),
            f"{prefix}.lambda_gb_s_per_run": round(each.lambda_gb_s, 5),
            f"{prefix}.usd_per_million_runs": round(sum(dollars(each, False).values()), 3),
            f"{prefix}.usd_per_million_runs_provisioned": round(
                sum(dollars(each, True).values()), 3
            ),
            f"{prefix}.usd_per_million_runs_reserved": round(
                sum(dollars(each, True, reserved=True).values()), 3
            ),
            f"{prefix}.lambda_s_modelled": round(kind_seconds[kind, path], 3),
            f"{prefix}.runs_measured": float(scenario.runs),
        }
        # What wrote and read, per run, with the fixed part spread as in the totals.
        load = QUEUED_LOAD if path == "queued" else INLINE_LOAD
        for name, measured, fixed_by in (
            ("wru_by", scenario.total.wru_by, steady.tick.wru_by),
            ("rru_by", scenario.total.rru_by, steady.tick.rru_by),
        ):
            for label in sorted(measured.keys() | fixed_by.keys()):
                share = (measured.get(label, 0) - scenario.ticks * fixed_by.get(label, 0)) / (
                    scenario.runs
                ) + fixed_by.get(label, 0) / load
                if abs(share) > 1e-9:
                    out[f"{prefix}.{name}.{label}"] = round(share, 3)
    # Per kind, each figure on the dearer path for that figure (0 inline, 1 queued).
    paths = ("inline", "queued")
    for kind in KINDS:
        for figure, key in (
            ("write_units_per_run", "wru_per_run"),
            ("read_units_per_run", "rru_per_run"),
            ("usd_per_million_runs_by_kind", "usd_per_million_runs"),
        ):
            worst = max(paths, key=lambda p: out[f"cost.{kind}.{p}.{key}"])
            out[f"cost.{figure}.{kind}"] = out[f"cost.{kind}.{worst}.{key}"]
            out[f"cost.dearer_path.{figure}.{kind}"] = float(worst == "queued")
    # The headline: the dearest kind on its dearer path, on-demand; the same under each pricing.
    worst_kind, worst_path = max(
        ((k, p) for k in KINDS for p in paths),
        key=lambda kp: out[f"cost.{kp[0]}.{kp[1]}.usd_per_million_runs"],
    )
    out["cost.kind"] = float(KINDS.index(worst_kind))  # 0 minutely, 1 hourly, 2 daily
    out["cost.path"] = float(worst_path == "queued")  # 0 inline, 1 queued
    for name in ("requests_per_run", "wru_per_run", "usd_per_million_runs"):
        out[f"cost.{name}"] = out[f"cost.{worst_kind}.{worst_path}.{name}"]
    for pricing in ("provisioned", "reserved"):  # the dearest kind and path under each pricing
        out[f"cost.usd_per_million_runs_{pricing}"] = max(
            out[f"cost.{k}.{p}.usd_per_million_runs_{pricing}"] for k in KINDS for p in paths
        )
    out["cost.tick_fixed.steady.dynamodb_requests"] = float(steady.tick.count("dynamodb."))
    out["cost.tick_fixed.steady.rru"] = round(steady.tick.rru, 2)
    out["cost.tick_fixed.steady.wru"] = float(steady.tick.wru)
    out["cost.kinds_moto_seconds"] = round(kinds_seconds, 1)
    # What the fixed part would add per run if the priced load were as many jobs of the kind
    # all due in the same minute (the other ticks of their period idle): a stated alternative.
    for kind in KINDS:
        ticks = PERIOD_S[kind] // 60
        out[f"cost.tick_fixed.steady.rru_per_run_bunched.{kind}"] = round(
            ticks * steady.tick.rru / QUEUED_LOAD, 3
        )
    out["cost.tick_fixed.dynamodb_requests"] = float(fixed.count("dynamodb."))
    out["cost.tick_fixed.rru"] = round(fixed.rru, 2)
    for name, tally in api.items():
        call = PerRun.of(tally, api_calls)
        call.lambda_invocations, call.lambda_gb_s = 1, API_DURATION_S * api_gb
        usd = sum(dollars(call, False).values()) + API_GATEWAY_REQUEST * 1e6
        prefix = f"cost.api_{name}_jobs"
        out |= {
            f"{prefix}.requests_per_call": round(call.requests, 2),
            f"{prefix}.wru_per_call": round(call.wru, 2),
            f"{prefix}.rru_per_call": round(call.rru, 2),
            f"{prefix}.usd_per_million_calls": round(usd, 3),
        }
    (
        out["cost.item_bytes.job"],
        out["cost.item_bytes.job_unsealed"],
        out["cost.item_bytes.job_state"],
    ) = job_bytes
    for table, values in sorted(sizes.items()):
        out[f"cost.item_bytes_max.{table.rsplit('-', 1)[-1]}"] = float(max(values))
    out["cost.moto_seconds"] = round(seconds, 1)
    for line in assumptions(out):
        print(f"cost assumption: {line}")
    return out


def assumptions(out: Mapping[str, float]) -> list[str]:
    """What the headline figures rest on, in words, with the figures of this run."""
    paths = ("inline", "queued")
    lines = [
        f"prices: us-east-1 list prices of {PRICES_DATE}, free tiers left out; DynamoDB "
        f"on-demand ${DYNAMODB_WRU * 1e6:.3f} per million write units, "
        f"${DYNAMODB_RRU * 1e6:.3f} per million read units",
        f"jobs: {URL_CHARS}-character URLs (loopback sink, padded query); {KIND_JOBS} fresh jobs "
        f"per kind and path ({JOBS_PER_ACCOUNT} to an account: each tick reads each account's "
        f"scheduler switch), each run {KIND_SLOTS} times; the clock jumps to each slot",
        "measured per run on moto: the claiming tick, the run (inline on the tick, or SQS and "
        f"the worker), and the sweep that reads the runs' watch lists ({SWEEP_AFTER_S} s after "
        "the slot; the reads of its empty minutes taken off, as the idle ticks' own)",
        "fixed part of a tick (an idle tick after one the minute before: "
        f"{out['cost.tick_fixed.steady.dynamodb_requests']:.0f} DynamoDB requests, "
        f"{out['cost.tick_fixed.steady.rru']:g} read units, "
        f"{out['cost.tick_fixed.steady.wru']:g} write unit(s)) spread over the runs of its minute "
        f"at the path's load: {INLINE_LOAD} runs a tick inline, {QUEUED_LOAD} a minute queued, "
        "whatever their kind. An hourly (daily) job's run bears the same share as a minutely "
        "one's: the hour's 60 (the day's 1,440) ticks' fixed part over that many minutes' runs, "
        f"i.e. {QUEUED_LOAD * 60:,} hourly ({QUEUED_LOAD * 1440:,} daily) jobs spread over the "
        "minutes of their period",
        "if instead the queued load were "
        f"{QUEUED_LOAD:,} jobs of the kind, all due in one minute of their period (the period's "
        "other ticks idle), the ticks' fixed reads per run would be "
        + ", ".join(
            f"{kind} {out[f'cost.tick_fixed.steady.rru_per_run_bunched.{kind}']:g}"
            for kind in KINDS
        )
        + f" read units instead of {out['cost.tick_fixed.steady.rru'] / QUEUED_LOAD:g} "
        "(not in the figures)",
        f"Lambda: memory from .chalice/config.json; target answers in {TARGET_LATENCY_S} s; "
        f"inline ticks wait up to {TICK_WAIT_S:g} s for the planned second; AWS requests "
        f"{AWS_LATENCY_S * 1000:g} ms each; SQS-delayed runs wait {WORKER_WAIT_S} s in the "
        f"worker; {WORKER_BATCH} messages a worker invocation",
    ]
    for kind in KINDS:
        dearer = [
            f"{figure} {paths[int(out[f'cost.dearer_path.{figure}.{kind}'])]}"
            for figure in (
                "write_units_per_run",
                "read_units_per_run",
                "usd_per_million_runs_by_kind",
            )
        ]
        each = "; ".join(
            f"{path} {out[f'cost.{kind}.{path}.wru_per_run']:g} WRU, "
            f"{out[f'cost.{kind}.{path}.rru_per_run']:g} RRU, "
            f"${out[f'cost.{kind}.{path}.usd_per_million_runs']:g}"
            for path in paths
        )
        lines.append(f"{kind}: {each}; dearer path: {', '.join(dearer)}")
    lines.append(
        f"headline: {KINDS[int(out['cost.kind'])]} {paths[int(out['cost.path'])]}, "
        f"${out['cost.usd_per_million_runs']:g} per million runs on-demand"
    )
    return lines


def main() -> None:
    figures = run()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value:,.4g}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
