"""Save the local stack's data to one JSON file and load it back: `make run` keeps its data.

The file holds every item of the five tables (in DynamoDB's typed JSON, so nothing is lost in
translation) and every saved response in the bucket, with its tags (they pick the lifecycle rule).
This reads whole tables with Scan, which is fine for a laptop's data and is never done by the
service itself. The file is replaced atomically: a crash while saving leaves the previous one.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

FORMAT = "cronhook-local-data"
VERSION = 1
TABLES = ("jobs", "keys", "runs", "state", "monitors")
_BATCH = 25  # DynamoDB's limit for one BatchWriteItem (moto accepts more; AWS does not)


class PersistError(Exception):
    """The data file cannot be read or does not hold cronhook's local data."""


@dataclass(frozen=True)
class Names:
    """Where the data lives: table name per role (jobs, keys, runs, state, monitors) and the
    bucket."""

    tables: Mapping[str, str]
    bucket: str
    kms_key: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Names:
        return cls(
            tables={role: env[f"CRONHOOK_{role.upper()}_TABLE"] for role in TABLES},
            bucket=env["CRONHOOK_BUCKET"],
            kms_key=env.get("CRONHOOK_KMS_KEY", ""),
        )


def _sealer(session: Any, names: Names) -> Any:
    from chalicelib.crypto import KmsSealer, PlainSealer

    return KmsSealer(session.client("kms"), names.kms_key) if names.kms_key else PlainSealer()


def _reseal(tables: dict[str, list[dict[str, Any]]], open_with: Any, seal_with: Any) -> None:
    """Move sealed secrets from one key to another: the jobs' secrets and each account's
    notification signing secret. moto's KMS keys die with the process, so the data file
    (owner-only, local) holds them opened, and a restore seals them with the new key."""
    from chalicelib.notify import open_settings, seal_settings, settings_key

    for item in tables.get("jobs") or []:
        sealed = item.get("secrets", {}).get("S")
        if sealed is None:
            continue
        context = f"{item['account_id']['S']}#{item['job_id']['N']}"
        item["secrets"] = {"S": seal_with.seal(open_with.open(sealed, context), context)}
    for item in tables.get("state") or []:
        # DynamoStateStore keeps a value under `value#<key>`, as a JSON string.
        key = item.get("pk", {}).get("S", "").removeprefix("value#")
        value = item.get("value", {}).get("S")
        if not key.startswith(settings_key("")) or value is None:
            continue
        account = key.removeprefix(settings_key(""))
        config = open_settings(json.loads(value), open_with, account)
        item["value"] = {"S": json.dumps(seal_settings(config, seal_with, account))}


def _split_legacy_jobs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Jobs saved before a job became two items (its definition, and its run state under
    -job_id): move each such definition's run state onto a state item of its own."""
    from chalicelib.store.dynamo import STATE_FIELDS

    states = {(i["account_id"]["S"], i["job_id"]["N"]) for i in items if "-" in i["job_id"]["N"]}
    out = []
    for item in items:
        job_id = int(item["job_id"]["N"])
        key = (item["account_id"]["S"], str(-job_id))
        if job_id > 0 and key not in states and any(n in item for n in STATE_FIELDS):
            state = {"account_id": item["account_id"], "job_id": {"N": key[1]}, "sv": {"N": "0"}}
            state.update({n: item.pop(n) for n in STATE_FIELDS if n in item})
            out.append(state)
        out.append(item)
    return out


def _count(role: str, items: list[dict[str, Any]]) -> int:
    """Items of a table as a person counts them: a job is a definition and a state item (whose
    job_id is negative), runs leave out the tick's watch lists."""
    if role == "jobs":
        return sum(1 for item in items if int(item["job_id"]["N"]) >= 0)
    if role == "runs":
        return sum(1 for item in items if not item["job_key"]["S"].endswith("#"))
    return len(items)


@dataclass
class Counts:
    """How many items per table and objects were saved or restored."""

    items: dict[str, int] = field(default_factory=dict)
    objects: int = 0

    def describe(self) -> str:
        parts = [f"{role}: {self.items.get(role, 0)}" for role in TABLES]
        return ", ".join(parts) + f", saved responses: {self.objects}"


def _encode(value: Any) -> Any:
    """A DynamoDB attribute value made JSON-safe: binary values become base64 text."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for kind, inner in value.items():
            if kind == "B":
                out[kind] = base64.b64encode(inner).decode()
            elif kind == "BS":
                out[kind] = [base64.b64encode(b).decode() for b in inner]
            elif kind == "M":
                out[kind] = {k: _encode(v) for k, v in inner.items()}
            elif kind == "L":
                out[kind] = [_encode(v) for v in inner]
            else:
                out[kind] = inner
        return out
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for kind, inner in value.items():
            if kind == "B":
                out[kind] = base64.b64decode(inner)
            elif kind == "BS":
                out[kind] = [base64.b64decode(b) for b in inner]
            elif kind == "M":
                out[kind] = {k: _decode(v) for k, v in inner.items()}
            elif kind == "L":
                out[kind] = [_decode(v) for v in inner]
            else:
                out[kind] = inner
        return out
    return value


def snapshot(session: Any, names: Names) -> tuple[dict[str, Any], Counts]:
    """Everything in the tables and the bucket, as the data file's JSON document."""
    dynamodb = session.client("dynamodb")
    s3 = session.client("s3")
    counts = Counts()
    tables: dict[str, list[dict[str, Any]]] = {}
    for role in TABLES:
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=names.tables[role]):
            items.extend({k: _encode(v) for k, v in item.items()} for item in page["Items"])
        tables[role] = items
        counts.items[role] = _count(role, items)
    from chalicelib.crypto import PlainSealer

    _reseal(tables, _sealer(session, names), PlainSealer())
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=names.bucket):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=names.bucket, Key=entry["Key"])
            tags = s3.get_object_tagging(Bucket=names.bucket, Key=entry["Key"])["TagSet"]
            objects.append(
                {
                    "key": entry["Key"],
                    "contentType": got.get("ContentType", "application/octet-stream"),
                    "tags": {t["Key"]: t["Value"] for t in tags},
                    "body": base64.b64encode(got["Body"].read()).decode(),
                }
            )
    counts.objects = len(objects)
    document = {
        "format": FORMAT,
        "version": VERSION,
        "savedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tables": tables,
        "objects": objects,
    }
    return document, counts


def write_atomically(path: Path, document: Mapping[str, Any]) -> None:
    """Write JSON to `path` through a temporary file and a rename; readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(document, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(session: Any, names: Names, path: Path, extra: Mapping[str, Any] | None = None) -> Counts:
    """Snapshot the tables and bucket, with `extra` keys, into `path` (atomically)."""
    document, counts = snapshot(session, names)
    document.update(extra or {})
    write_atomically(path, document)
    return counts


def load(path: Path) -> dict[str, Any] | None:
    """The data file's document, None when there is no file; PersistError when it is unusable."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PersistError(f"cannot read {path}: {exc.strerror}") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PersistError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PersistError(f"{path} does not hold cronhook local data")
    if document.get("version") != VERSION:
        raise PersistError(f"{path} has format version {document.get('version')!r}, not {VERSION}")
    return document


def _write_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), _BATCH):
        requests = [
            {"PutRequest": {"Item": {name: _decode(value) for name, value in item.items()}}}
            for item in items[start : start + _BATCH]
        ]
        pending: dict[str, Any] = {table: requests}
        for attempt in range(10):
            unprocessed = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            if not unprocessed:
                break
            pending = unprocessed
            time.sleep(0.05 * (attempt + 1))
        else:
            raise PersistError(f"could not write every item back into {table}")


def restore(session: Any, names: Names, document: Mapping[str, Any]) -> Counts:
    """Put every saved item and object back (into empty, freshly provisioned resources)."""
    dynamodb = session.client("dynamodb")
    s3 = session.client("s3")
    counts = Counts()
    tables = document.get("tables") or {}
    from chalicelib.crypto import PlainSealer

    tables = {role: [dict(item) for item in tables.get(role) or []] for role in TABLES}
    tables["jobs"] = _split_legacy_jobs(tables["jobs"])
    _reseal(tables, PlainSealer(), _sealer(session, names))
    for role in TABLES:
        items = tables.get(role) or []
        _write_items(dynamodb, names.tables[role], items)
        counts.items[role] = _count(role, items)
    for obj in document.get("objects") or []:
        kwargs: dict[str, Any] = {
            "Bucket": names.bucket,
            "Key": obj["key"],
            "Body": base64.b64decode(obj["body"]),
            "ContentType": obj.get("contentType", "application/octet-stream"),
        }
        if obj.get("tags"):
            kwargs["Tagging"] = "&".join(
                f"{_quote(k)}={_quote(v)}" for k, v in sorted(obj["tags"].items())
            )
        s3.put_object(**kwargs)
        counts.objects += 1
    return counts


def _quote(text: str) -> str:
    return quote(text, safe="")


# ---- the move to SQLite: a data file of the moto stack, imported once ------------------------

IMPORTED_MARK = "local#imported-data-file"  # a state value: the import is done, do not repeat it


def _items(document: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    """A table's items as boto3's resource layer returns them (numbers as Decimal)."""
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items = (document.get("tables") or {}).get(role) or []
    if role == "jobs":
        items = _split_legacy_jobs([dict(i) for i in items])
    return [{k: plain.deserialize(_decode(v)) for k, v in item.items()} for item in items]


def import_document(document: Mapping[str, Any], stores: Any, queue: Any, blobs: Any) -> Counts:
    """Put the moto stack's saved data into the SQLite stores: jobs (secrets sealed with the
    stores' key), keys, runs and watch lists, counters, scheduler switches, folders, settings,
    saved responses and the dispatch queue's messages. Records that exist already are left as
    they are, so an import cut short and run again ends the same."""
    from chalicelib.crypto import PlainSealer
    from chalicelib.notify import open_settings, seal_settings, sealer_of, settings_key
    from chalicelib.store.dynamo import DynamoJobStore, DynamoKeyStore, DynamoRunStore

    counts = Counts()
    try:
        jobs = DynamoJobStore(None, stores.jobs.shards, PlainSealer())._join(
            _items(document, "jobs")
        )
        keys = [DynamoKeyStore._record(i) for i in _items(document, "keys")]
        run_items = _items(document, "runs")
    except (KeyError, ValueError, TypeError) as exc:
        raise PersistError(f"the data file has an item cronhook cannot read ({exc!r})") from None
    for job in jobs:
        stores.jobs.create(job)
    for key in keys:
        stores.keys.create(key)
    runs = 0
    for item in run_items:
        if str(item.get("job_key", "")).endswith("#"):  # a watch list
            entries = [tuple(e) for e in json.loads(item["entries"])]
            stores.runs.watch(
                [(str(a), int(j), str(r), int(d)) for a, j, r, d in entries], item["run_id"]
            )
            continue
        stores.runs.create(DynamoRunStore._record(item))
        runs += 1
    sealer = sealer_of(stores)
    for item in _items(document, "state"):
        kind, _, name = str(item["pk"]).partition("#")
        if kind == "counter":
            stores.state.set_counter(name, int(item["n"]))
        elif kind == "scheduler":
            stores.state.set_scheduler_enabled(name, bool(item["enabled"]))
        elif kind == "folders":
            folders = {int(k): str(v) for k, v in (item.get("folders") or {}).items()}
            stores.state.put_folders(name, folders, 0)
        elif kind == "value":
            value = json.loads(item["value"])
            if name.startswith(settings_key("")) and isinstance(value, dict):
                account = name.removeprefix(settings_key(""))
                value = seal_settings(open_settings(value, PlainSealer(), account), sealer, account)
            stores.state.put_value(name, value)
    counts.items = {"jobs": len(jobs), "keys": len(keys), "runs": runs}
    for obj in document.get("objects") or []:
        tags = obj.get("tags") or {}
        data = json.loads(base64.b64decode(obj["body"]))
        blobs.put(obj["key"], data, int(tags.get("retention-days", 30)))
        counts.objects += 1
    messages = document.get("queue") or []
    queue.send_at([(m["body"], float(m["deliverAt"])) for m in messages])
    counts.items["queue"] = len(messages)
    return counts


def import_once(path: Path, stores: Any, queue: Any, blobs: Any, now: float) -> str:
    """Import the data file at `path` into empty SQLite stores, the first time only; what was
    imported ("" when nothing was). The file is kept."""
    if stores.state.get_value(IMPORTED_MARK) is not None:
        return ""
    document = load(path)
    if document is None:
        return ""
    counts = import_document(document, stores, queue, blobs)
    stores.state.put_value(
        IMPORTED_MARK, {"file": str(path), "at": int(now), "items": counts.items}
    )
    parts = [f"{role}: {n}" for role, n in counts.items.items()]
    return ", ".join(parts) + f", saved responses: {counts.objects}"
