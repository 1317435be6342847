"""Use cases of heartbeat monitors: create, read, edit, pause, delete, receive a ping, and the
tick's look for monitors whose grace has run out. The rules are in `monitors`; this module reads
and writes the store (each write conditional on the version read) and sends the notices.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib import monitors
from chalicelib.errors import Conflict, NotFound, RateLimited
from chalicelib.store.base import MONITOR_SHARDS, MonitorRecord, Page, PingRecord, Stores

log = logging.getLogger(__name__)

RETRIES = 5  # versioned writes tried before answering 409
OVERDUE_LIMIT = 10_000  # monitors read per shard and tick


class MonitorNotifier(Protocol):
    """What sends a monitor's notices (chalicelib.notify.Notifier does)."""

    def notify_monitor(
        self, event: str, monitor: MonitorRecord, details: dict[str, Any]
    ) -> None: ...


@dataclass(frozen=True)
class Incoming:
    """A ping as received: what the edge read off the request."""

    token: str
    suffix: str | None
    method: str
    body: bytes
    remote_addr: str | None
    user_agent: str | None


@dataclass
class Monitors:
    stores: Stores
    notifier: MonitorNotifier | None = None  # None: no notices
    clock: Callable[[], float] = field(default=time.time)

    # ---- managing --------------------------------------------------------------------------

    def _folder_ids(self, account_id: str) -> set[int]:
        return set(self.stores.state.folders(account_id)[0])

    def create(self, account_id: str, payload: object) -> tuple[MonitorRecord, str]:
        """Validate and store a new monitor; returns it and its ping token (shown only now)."""
        now = self.clock()
        spec = monitors.validate(payload, now, self._folder_ids(account_id))
        token = monitors.new_token()
        monitor = MonitorRecord(
            account_id=account_id,
            monitor_id=self.stores.state.next_id("monitor"),
            spec=spec,
            token_hash=monitors.hash_token(token),
            created_at=int(now),
            updated_at=int(now),
        )
        if not self.stores.monitors.create(monitor):
            raise Conflict("monitor id already taken; try again")
        return monitor, token

    def get(self, account_id: str, monitor_id: int) -> MonitorRecord:
        found = self.stores.monitors.get(account_id, monitor_id)
        if found is None:
            raise NotFound("monitor not found")
        return found

    def list(self, account_id: str) -> list[MonitorRecord]:
        return self.stores.monitors.list(account_id)

    def _change(
        self, account_id: str, monitor_id: int, change: Callable[[MonitorRecord], MonitorRecord]
    ) -> MonitorRecord:
        """Apply `change` to the monitor as stored, writing it unless it changed meanwhile."""
        for _ in range(RETRIES):
            current = self.get(account_id, monitor_id)
            expected = current.version
            changed = change(current)
            changed.version = expected + 1
            changed.updated_at = int(self.clock())
            if self.stores.monitors.replace(changed, expected):
                return changed
        raise Conflict("the monitor kept changing; try again")

    def update(self, account_id: str, monitor_id: int, delta: object) -> MonitorRecord:
        now = self.clock()
        folders = self._folder_ids(account_id)

        def change(current: MonitorRecord) -> MonitorRecord:
            spec = monitors.validate(delta, now, folders, base=current.spec)
            current.spec = spec
            return monitors.rescheduled(current)

        return self._change(account_id, monitor_id, change)

    def pause(self, account_id: str, monitor_id: int) -> MonitorRecord:
        return self._change(account_id, monitor_id, monitors.paused)

    def resume(self, account_id: str, monitor_id: int) -> MonitorRecord:
        return self._change(account_id, monitor_id, monitors.resumed)

    def rotate_token(self, account_id: str, monitor_id: int) -> tuple[MonitorRecord, str]:
        """A new ping token; the old one answers 404 from now on."""
        token = monitors.new_token()

        def change(current: MonitorRecord) -> MonitorRecord:
            current.token_hash = monitors.hash_token(token)
            return current

        return self._change(account_id, monitor_id, change), token

    def delete(self, account_id: str, monitor_id: int) -> None:
        if not self.stores.monitors.delete(account_id, monitor_id):
            if self.stores.monitors.get(account_id, monitor_id) is None:
                raise NotFound("monitor not found")
            raise Conflict("the monitor changed while being deleted; try again")

    def pings(self, account_id: str, monitor_id: int, limit: int, cursor: str | None) -> Page:
        self.get(account_id, monitor_id)
        return self.stores.monitors.pings(account_id, monitor_id, limit, cursor)

    # ---- pings -----------------------------------------------------------------------------

    def receive(self, incoming: Incoming) -> MonitorRecord:
        """Record a ping: the monitor's new state first (one versioned write), then the ping.
        An unknown token (or suffix) is NotFound without a word more; over the monitor's rate,
        RateLimited."""
        kind = monitors.parse_kind(incoming.suffix)
        found = self.stores.monitors.by_token(monitors.hash_token(incoming.token))
        if kind is None or found is None:
            raise NotFound("not found")
        now = self.clock()
        allowed, wait = self.stores.state.take_token(
            f"ping#{found.account_id}#{found.monitor_id}",
            monitors.PING_RATE_PER_S,
            monitors.PING_BURST,
            now,
        )
        if not allowed:
            raise RateLimited("too many pings for this monitor", retry_after=max(1, round(wait)))
        ping = monitors.Ping(kind[0], now, kind[1])
        before: MonitorRecord | None = None
        after: MonitorRecord | None = None
        for _ in range(RETRIES):
            current = (
                found
                if before is None
                else self.stores.monitors.get(found.account_id, found.monitor_id)
            )
            if current is None:
                raise NotFound("not found")  # deleted meanwhile
            before = current
            after = monitors.after_ping(current, ping)
            after.version = current.version + 1
            if self.stores.monitors.replace(after, current.version):
                break
        else:
            raise Conflict("the monitor kept changing; send the ping again")
        assert after is not None and before is not None
        self.stores.monitors.add_ping(self._ping_record(after, before, ping, incoming))
        # Up again only after a declared outage: one whose monitor.down went out.
        if before.status == "down" and after.status == "up":
            self._notify("monitor.up", after, before)
        elif after.status == "down" and before.status != "down":
            self._notify("monitor.down", after, before)
        return after

    @staticmethod
    def _ping_record(
        monitor: MonitorRecord, before: MonitorRecord, ping: monitors.Ping, incoming: Incoming
    ) -> PingRecord:
        body = incoming.body[: monitors.PING_BODY_CAP]
        data: dict[str, Any] = {
            "date": ping.at,
            "kind": ping.kind,
            "exitStatus": ping.exit_status,
            "method": incoming.method,
            "remoteAddr": incoming.remote_addr,
            "userAgent": (incoming.user_agent or "")[:512] or None,
            "body": body.decode("utf-8", "replace"),
            "bodySize": len(incoming.body),
            "bodyTruncated": len(incoming.body) > monitors.PING_BODY_CAP,
        }
        if ping.kind != "start" and before.started_at is not None:
            data["duration"] = monitor.last_duration_ms  # since the start ping, in ms
        # The monitor's count of pings (its write won a version check) orders pings of the
        # same millisecond and keeps their ids apart.
        ping_id = f"{round(ping.at * 1000):013d}-{monitor.pings % 2**32:08x}"
        expires = int(ping.at) + monitors.PING_RETENTION_S
        return PingRecord(monitor.account_id, monitor.monitor_id, ping_id, data, expires)

    # ---- the tick --------------------------------------------------------------------------

    def sweep(self, now: float, report: Counter[str]) -> None:
        """Mark down every monitor whose grace has run out by `now` (found through the
        `overdue` index), and send one notice each: the conditional write that marks it is won
        by one tick only, however many overlap."""
        for shard in range(MONITOR_SHARDS):
            for account_id, monitor_id in self.stores.monitors.overdue(
                shard, int(now), OVERDUE_LIMIT
            ):
                self._mark_down(account_id, monitor_id, now, report)

    def _mark_down(
        self, account_id: str, monitor_id: int, now: float, report: Counter[str]
    ) -> None:
        for _ in range(RETRIES):
            current = self.stores.monitors.get(account_id, monitor_id)
            if current is None:
                return
            down = monitors.gone_down(current, now)
            if down is None:
                return  # pinged, paused or marked meanwhile (the index lags the table)
            down.version = current.version + 1
            if self.stores.monitors.replace(down, current.version):
                report["monitors_down"] += 1
                self._notify("monitor.down", down, current)
                return

    def _notify(self, event: str, monitor: MonitorRecord, before: MonitorRecord) -> None:
        flag = "onMonitorDown" if event == "monitor.down" else "onMonitorUp"
        if self.notifier is None or not monitor.spec["notification"].get(flag, True):
            return
        self.notifier.notify_monitor(
            event,
            monitor,
            {
                "status": monitor.status,
                "lastPing": monitor.last_ping,
                "lastPingKind": monitor.last_ping_kind or None,
                "nextExpected": monitor.next_expected,
                "downSince": monitor.down_since if event == "monitor.down" else before.down_since,
            },
        )
