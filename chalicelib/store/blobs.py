"""Saved responses (headers and body of a run): S3 in AWS and locally, a dict in tests."""

from __future__ import annotations

import json
import threading
from typing import Any, Protocol

from chalicelib.errors import StoreError

# Lifecycle rules in infra/resources.json expire objects by this tag; a job's retentionDays is
# rounded up to the nearest class so no response outlives its history item by much.
RETENTION_CLASSES = (1, 7, 14, 30, 60, 90, 180, 365)


def retention_class(days: int) -> int:
    return next((c for c in RETENTION_CLASSES if c >= days), RETENTION_CLASSES[-1])


def response_key(account_id: str, job_id: int, run_id: str) -> str:
    return f"responses/{account_id}/{job_id}/{run_id}.json"


class Blobs(Protocol):
    def put(self, key: str, data: dict[str, Any], retention_days: int) -> None: ...
    def get(self, key: str) -> dict[str, Any] | None: ...


class S3Blobs:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, data: dict[str, Any], retention_days: int) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(data).encode(),
                ContentType="application/json",
                Tagging=f"retention-days={retention_class(retention_days)}",
            )
        except Exception as exc:
            raise StoreError(f"S3 put failed: {type(exc).__name__}") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as exc:
            raise StoreError(f"S3 get failed: {type(exc).__name__}") from exc
        data: dict[str, Any] = json.loads(body)
        return data


class MemoryBlobs:
    def __init__(self) -> None:
        self.items: dict[str, tuple[dict[str, Any], int]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: dict[str, Any], retention_days: int) -> None:
        with self._lock:
            self.items[key] = (json.loads(json.dumps(data)), retention_class(retention_days))

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self.items.get(key)
            return json.loads(json.dumps(item[0])) if item else None
