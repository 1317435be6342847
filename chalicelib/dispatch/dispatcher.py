"""The dispatcher: what the tick, the worker, run-now and the sweep share (stores, queue,
blobs, notifier, and time, injected so tests can run a day in seconds), and the functions
Lambda and `make run` call."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib import executor, metrics
from chalicelib.config import Settings
from chalicelib.dispatch import ledger, sweeper, ticker, worker
from chalicelib.dispatch.delivery import Batch, Task
from chalicelib.notify import Notifier
from chalicelib.store.base import JobRecord, RunRecord, Stores
from chalicelib.store.blobs import Blobs
from chalicelib.store.queue import Queue


def wait(seconds: float) -> None:
    """Sleep `seconds` and return on the dot, not a timer's slack later (the planned second)."""
    executor.wait_until(time.time() + seconds)


@dataclass
class Dispatcher:
    stores: Stores
    settings: Settings
    queue: Queue
    blobs: Blobs
    notifier: Notifier | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = wait
    execute: Callable[[executor.Request, executor.Policy], executor.Result] = executor.execute
    rng: random.Random = field(default_factory=random.Random)
    lags: list[int] = field(default_factory=list)  # start lag (ms) of each run made, for metrics

    def tick(self, now: float, shards: Sequence[int] | None = None) -> dict[str, int]:
        """Claim every slot planned up to the end of the next minute (of `shards`, default
        all), deliver each on time."""
        return ticker.tick(self, now, shards)

    def deliver(self, tasks: list[Task], report: Counter[str]) -> None:
        """The tick's claimed tasks: inline or through the queue (chalicelib.dispatch.ticker)."""
        ticker.deliver(self, tasks, report)

    def work(self, bodies: Iterable[str], now: float) -> dict[str, int]:
        """`work_batch`, raising the first task's error as a whole batch would fail."""
        done = self.work_batch(list(bodies), now)
        if done.errors:
            raise done.errors[0]
        return done.report

    def work_batch(self, bodies: Sequence[str], now: float) -> Batch:
        """The queue's messages (chalicelib.dispatch.worker)."""
        self.prepare()
        return worker.work_batch(self, bodies, now)

    def prepare(self) -> None:
        """Before waiting for planned seconds: what the first calls would do (TLS contexts,
        the call watchdog), done once per process."""
        executor.prepare(executor.Policy(allow_private=self.settings.allow_private_targets))

    def sweep(self, now: float, report: Counter[str]) -> None:
        """Mark runs whose runner vanished as lost (chalicelib.dispatch.sweeper)."""
        sweeper.sweep(self, now, report)

    def start_now(
        self,
        job: JobRecord,
        *,
        trigger: str = "manual",
        overrides: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Queue a run of `job` at once (run-now, chains); it does not move the schedule."""
        return ledger.start_now(self, job, trigger=trigger, overrides=overrides, extra=extra)

    def claim_early(self, job: JobRecord) -> int:
        """Claim the slots of a job just saved up to the end of the next minute."""
        return ticker.claim_early(self, job)

    def lag(self, lag_ms: int) -> int:
        """A run's start after its planned time (ms, not below 0), noted for the metrics."""
        lag = max(0, lag_ms)
        self.lags.append(lag)  # list.append is atomic: the run threads share the list
        return lag


def from_wiring() -> Dispatcher:
    """The dispatcher over the configured backend's resources."""
    from chalicelib import wiring

    stores, settings = wiring.stores(), wiring.settings()
    return Dispatcher(
        stores=stores,
        settings=settings,
        queue=wiring.queue(),
        blobs=wiring.blobs(),
        notifier=Notifier(stores, settings, ses=wiring.ses),
    )


def tick(now: float) -> dict[str, int]:
    """The scheduled function: one tick, its figures published (chalicelib.metrics)."""
    dispatcher = from_wiring()
    began = time.monotonic()
    report = dispatcher.tick(now)
    duration_ms = round((time.monotonic() - began) * 1000)
    publish(metrics.Sample.of("tick", report, dispatcher.lags, duration_ms), dispatcher.settings)
    return report


def work(bodies: list[str], now: float) -> dict[str, int]:
    return from_wiring().work(bodies, now)


def work_batch(bodies: list[str], now: float) -> Batch:
    """The queue's function: one batch of messages, its figures published."""
    dispatcher = from_wiring()
    done = dispatcher.work_batch(bodies, now)
    publish(metrics.Sample.of("worker", done.report, dispatcher.lags), dispatcher.settings)
    return done


def publish(sample: metrics.Sample, settings: Settings) -> None:
    """Deployed, one embedded-metric line on stdout (Lambda sends stdout to CloudWatch Logs as
    it is, which turns the line into metrics); every process keeps totals for `GET /metrics`."""
    metrics.REGISTRY.add(sample)
    if settings.backend != "sqlite" and settings.stage != "local":  # make run has GET /metrics
        print(metrics.emf(sample, settings.stage, time.time()), flush=True)
