"""Test helpers: personas with API keys, a JSON client over chalice.test, sample jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Persona:
    name: str
    account: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}


class Api:
    """chalice.test.Client with JSON helpers: `api.put("/jobs", alice, {...})`."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        who: Persona | None = None,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | str | None = None,
    ) -> Any:
        all_headers = {"Content-Type": "application/json"}
        if who is not None:
            all_headers.update(who.headers)
        all_headers.update(headers or {})
        body = raw if raw is not None else (json.dumps(payload) if payload is not None else None)
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=body)

    def get(self, path: str, who: Persona | None = None, **kw: Any) -> Any:
        return self.call("GET", path, who, **kw)

    def put(self, path: str, who: Persona | None = None, payload: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, who, payload, **kw)

    def post(self, path: str, who: Persona | None = None, payload: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, who, payload, **kw)

    def patch(self, path: str, who: Persona | None = None, payload: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, who, payload, **kw)

    def delete(self, path: str, who: Persona | None = None, **kw: Any) -> Any:
        return self.call("DELETE", path, who, **kw)


def make_persona(stores: Any, name: str, account: str, scopes: list[str], **kw: Any) -> Persona:
    from chalicelib import auth

    full, record = auth.create_key(stores, account, scopes, 1_700_000_000, name=name, **kw)
    return Persona(name, account, full, record.key_id)


def create_jobs(stores: Any, records: Any) -> None:
    """Store many job records for a test's setup. On DynamoDB each job is the same two items that
    `jobs.create` writes, put in batches: moto copies every table for each TransactWriteItems
    (its rollback), which makes hundreds of creates take a minute."""
    jobs = stores.jobs
    if not hasattr(jobs, "table"):
        for record in records:
            assert jobs.create(record)
        return
    with jobs.table.batch_writer() as batch:
        for record in records:
            batch.put_item(Item=jobs._definition(record))
            batch.put_item(Item=jobs._state(record))


def all_runs(stores: Any, account: str) -> list[Any]:
    """Every run record of the account's jobs, through the account's listing a page at a
    time."""
    out, cursor = [], None
    ids = stores.jobs.ids(account)
    while True:
        page = stores.runs.list_for_account(account, ids, 1000, cursor)
        out.extend(page.items)
        if page.cursor is None:
            return out
        cursor = page.cursor


def sent_tasks(sent: list[tuple[str, int]]) -> list[tuple[dict[str, Any], int]]:
    """Each task of the SQS messages `sent` (body, delay), with its message's delay."""
    return [(task, delay) for text, delay in sent for task in json.loads(text)["tasks"]]


def body(response: Any) -> Any:
    return json.loads(response.body)


def new_job(**fields: Any) -> dict[str, Any]:
    job = {
        "url": "https://example.com/hook",
        "enabled": True,
        "title": "Example Job",
        "schedule": {
            "timezone": "Europe/Berlin",
            "expiresAt": 0,
            "hours": [-1],
            "mdays": [-1],
            "minutes": [0, 15, 30, 45],
            "months": [-1],
            "wdays": [-1],
        },
    }
    job.update(fields)
    return {"job": job}


def ok_result(started_at: float, duration_ms: int = 1) -> Any:
    """The executor's Result for a 200 that took no time: for tests that fake the HTTP call."""
    from chalicelib import executor

    return executor.Result(
        status=1,
        reason="ok",
        status_text="OK",
        http_status=200,
        http_reason="OK",
        headers=[],
        body=b"",
        body_size=0,
        remote_ip="127.0.0.1",
        redirects=[],
        ssl_cert_expiry=None,
        tls_verified=False,
        stats=dict.fromkeys(
            ("nameLookup", "connect", "appConnect", "preTransfer", "startTransfer", "total"), 0
        ),
        duration_ms=duration_ms,
        started_at=started_at,
        retry_after=None,
    )


def queued_messages(settings: Any, wait_s: float = 0) -> list[str]:
    """Take what the dispatch queue holds, once each message's delay has passed (waiting up to
    `wait_s` seconds for a first one): the SQLite queue, or SQS on moto."""
    import time

    from chalicelib import wiring

    if settings.backend == "sqlite":
        queue: Any = wiring.queue()

        def receive() -> list[tuple[str, str]]:
            got = queue.receive(10)
            queue.delete([m.receipt for m in got])
            return [(m.receipt, m.body) for m in got]
    else:
        import boto3

        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.get_queue_url(QueueName=settings.queue)["QueueUrl"]

        def receive() -> list[tuple[str, str]]:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return [(m["ReceiptHandle"], m["Body"]) for m in got]

    bodies: list[str] = []
    deadline = time.monotonic() + wait_s
    while True:
        got = receive()
        if not got and not bodies and time.monotonic() < deadline:
            time.sleep(0.2)
            continue
        if not got:
            return bodies
        bodies.extend(text for _, text in got)


# The tables (DynamoDB) or their SQLite counterparts that hold each kind of record.
STORED = {
    "jobs": ["jobs"],
    "keys": ["keys", "users", "sessions"],  # DynamoDB keeps users and sessions in `keys`
    "runs": ["runs", "watches"],
    "state": ["counters", "scheduler", "buckets", "folders", "kv"],
}


def stored_items(settings: Any, kinds: list[str]) -> dict[str, str]:
    """Every stored item of these kinds as the backend holds it, as text (a test may read whole
    tables; the product never scans)."""
    import json

    out: dict[str, str] = {}
    for kind in kinds:
        if settings.backend == "sqlite":
            from chalicelib import wiring

            db = wiring.database()
            for table in STORED[kind]:
                for n, row in enumerate(db.read(f"SELECT * FROM {table}")):
                    out[f"{table} row {n}"] = json.dumps(list(row), default=str)
        else:
            import boto3

            name = getattr(settings, f"{kind}_table")
            items = boto3.resource("dynamodb", region_name="us-east-1").Table(name).scan()["Items"]
            for n, item in enumerate(items):
                out[f"{kind} item {n}"] = json.dumps(item, default=str)
    return out
