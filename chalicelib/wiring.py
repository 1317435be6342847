"""The composition root: the only place that picks a backend and creates its clients, lazily,
once per process (after moto, if any, starts).

`CRONHOOK_BACKEND=aws` (deployed): DynamoDB, SQS, S3, SES and KMS through boto3;
`AWS_ENDPOINT_URL` (read by boto3 itself) points every client at a local moto server.
`CRONHOOK_BACKEND=sqlite` (`make run`): one SQLite file in `CRONHOOK_HOME` holds the tables, the
dispatch queue, saved responses and the e-mail outbox; secrets are sealed with a key file there.
Tests and the local stack may `configure()` other stores or settings.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.config import ConfigError, Settings
from chalicelib.store.base import Stores

if TYPE_CHECKING:
    from chalicelib.crypto import Sealer
    from chalicelib.store.blobs import Blobs
    from chalicelib.store.queue import Queue
    from chalicelib.store.sqlite import Database

_lock = threading.Lock()
_settings: Settings | None = None
_stores: Stores | None = None
_clients: dict[str, Any] = {}
_database: Database | None = None

SQLITE_FILE = "cronhook.db"
SEALING_KEY_FILE = "secrets.key"


def settings() -> Settings:
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def _boto_session() -> Any:
    import boto3

    return boto3.session.Session()


def _boto_config() -> Any:
    """Bounded retries with jittered exponential backoff for throttling and transient errors
    (botocore's `standard` mode), and timeouts well inside a Lambda's budget."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20
    )


def _home(current: Settings) -> Path:
    if not current.home:
        raise ConfigError("CRONHOOK_HOME must name a directory when CRONHOOK_BACKEND is sqlite")
    return Path(current.home).expanduser()


def database() -> Database:
    """The SQLite database of the sqlite backend, opened on first use."""
    global _database
    current = settings()
    with _lock:
        if _database is None:
            from chalicelib.store.sqlite import Database

            _database = Database(_home(current) / SQLITE_FILE, current.sqlite_sync)
        return _database


def stores() -> Stores:
    """The configured backend's stores, made on first use."""
    global _stores
    current = settings()
    if current.backend == "sqlite":
        db = database()
        with _lock:
            if _stores is None:
                from chalicelib.crypto import LocalSealer
                from chalicelib.store.sqlite import sqlite_stores

                local = LocalSealer.from_file(_home(current) / SEALING_KEY_FILE)
                _stores = sqlite_stores(db, current.due_shards, local)
            return _stores
    with _lock:
        if _stores is None:
            from chalicelib.crypto import KmsSealer, PlainSealer
            from chalicelib.store.dynamo import (
                DynamoJobStore,
                DynamoKeyStore,
                DynamoMonitorStore,
                DynamoRunStore,
                DynamoStateStore,
            )
            from chalicelib.store.dynamo_users import DynamoUserStore

            session = _boto_session()
            dynamodb = session.resource(
                "dynamodb", region_name=current.region, config=_boto_config()
            )
            sealer: Sealer = PlainSealer()
            if current.kms_key:
                kms = session.client("kms", region_name=current.region, config=_boto_config())
                sealer = KmsSealer(kms, current.kms_key)
            _stores = Stores(
                jobs=DynamoJobStore(dynamodb.Table(current.jobs_table), current.due_shards, sealer),
                keys=DynamoKeyStore(dynamodb.Table(current.keys_table)),
                runs=DynamoRunStore(dynamodb.Table(current.runs_table), current.due_shards),
                state=DynamoStateStore(dynamodb.Table(current.state_table)),
                users=DynamoUserStore(dynamodb.Table(current.keys_table)),
                monitors=DynamoMonitorStore(dynamodb.Table(current.monitors_table)),
            )
        return _stores


def client(service: str) -> Any:
    """A boto3 client for `service` (sqs, s3, ses), made once."""
    current = settings()
    with _lock:
        if service not in _clients:
            _clients[service] = _boto_session().client(
                service, region_name=current.region, config=_boto_config()
            )
        return _clients[service]


def queue() -> Queue:
    if settings().backend == "sqlite":
        from chalicelib.store.sqlite import SqliteQueue

        return SqliteQueue(database())
    from chalicelib.store.queue import SqsQueue

    return SqsQueue(client("sqs"), settings().queue)


def blobs() -> Blobs:
    if settings().backend == "sqlite":
        from chalicelib.store.sqlite import SqliteBlobs

        return SqliteBlobs(database())
    from chalicelib.store.blobs import S3Blobs

    return S3Blobs(client("s3"), settings().bucket)


def ses() -> Any:
    """SES's client, or with the sqlite backend the outbox that keeps its e-mails."""
    if settings().backend == "sqlite":
        from chalicelib.store.sqlite import SqliteOutbox

        return SqliteOutbox(database())
    return client("ses")


def configure(*, settings: Settings | None = None, stores: Stores | None = None) -> None:
    """Replace the settings and/or stores (tests, local stack); None resets to lazy defaults.
    An open SQLite database is closed."""
    global _settings, _stores, _database
    with _lock:
        _settings = settings
        _stores = stores
        _clients.clear()
        if _database is not None:
            _database.close()
            _database = None
