"""The only place that creates boto3 clients: lazily, once per process, after moto (if any) starts.

`AWS_ENDPOINT_URL` (read by boto3 itself) points every client at the local moto server.
Tests and the local stack may `configure()` other stores or settings.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings
from chalicelib.store.base import Stores

if TYPE_CHECKING:
    from chalicelib.crypto import Sealer
    from chalicelib.store.blobs import Blobs
    from chalicelib.store.queue import Queue

_lock = threading.Lock()
_settings: Settings | None = None
_stores: Stores | None = None
_clients: dict[str, Any] = {}


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


def stores() -> Stores:
    """The DynamoDB-backed stores for the configured tables, made on first use."""
    global _stores
    current = settings()
    with _lock:
        if _stores is None:
            from chalicelib.crypto import KmsSealer, PlainSealer
            from chalicelib.store.dynamo import (
                DynamoJobStore,
                DynamoKeyStore,
                DynamoRunStore,
                DynamoStateStore,
            )

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
    from chalicelib.store.queue import SqsQueue

    return SqsQueue(client("sqs"), settings().queue)


def blobs() -> Blobs:
    from chalicelib.store.blobs import S3Blobs

    return S3Blobs(client("s3"), settings().bucket)


def ses() -> Any:
    return client("ses")


def configure(*, settings: Settings | None = None, stores: Stores | None = None) -> None:
    """Replace the settings and/or stores (tests, local stack); None resets to lazy defaults."""
    global _settings, _stores
    with _lock:
        _settings = settings
        _stores = stores
        _clients.clear()
