"""The dispatch queue: SQS in AWS and locally (moto), a list in tests. Bodies are JSON strings."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from chalicelib.errors import StoreError

MAX_DELAY_S = 900  # SQS's DelaySeconds limit (15 minutes)


class Queue(Protocol):
    def send(self, messages: Sequence[tuple[str, int]]) -> None:
        """Send (body, delay seconds) pairs; delays are clamped to 0..900."""
        ...


def _clamp(delay: int) -> int:
    return max(0, min(MAX_DELAY_S, int(delay)))


class SqsQueue:
    """SQS, ten messages per request (the API's batch limit)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = str(self.client.get_queue_url(QueueName=self.name)["QueueUrl"])
        return self._url

    def send(self, messages: Sequence[tuple[str, int]]) -> None:
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            entries = [
                {"Id": str(n), "MessageBody": body, "DelaySeconds": _clamp(delay)}
                for n, (body, delay) in enumerate(batch)
            ]
            failed = self.client.send_message_batch(QueueUrl=self.url, Entries=entries).get(
                "Failed", []
            )
            if failed:
                # Retry each failed entry once on its own; a second failure is the caller's error.
                for entry in failed:
                    body, delay = batch[int(entry["Id"])]
                    try:
                        self.client.send_message(
                            QueueUrl=self.url, MessageBody=body, DelaySeconds=_clamp(delay)
                        )
                    except Exception as exc:
                        raise StoreError(f"SQS send failed: {type(exc).__name__}") from exc


class MemoryQueue:
    """Collects what would be sent; `drain()` hands it to a test or a local worker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def send(self, messages: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            self.sent.extend((body, _clamp(delay)) for body, delay in messages)

    def drain(self) -> list[tuple[str, int]]:
        with self._lock:
            out, self.sent = self.sent, []
            return out
