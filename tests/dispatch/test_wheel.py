"""The wake lists: a job not due again within the next tick's window leaves the `due` index
(on DynamoDB, where moving its key costs two index writes a run) and is found again through
the wake list of its next run's minute; it fires on every slot, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from chalicelib import executor
from chalicelib.config import Settings
from chalicelib.dispatch import Dispatcher, ticker
from chalicelib.service import Service
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.queue import MemoryQueue
from tests.helpers import ok_result

HOUR = 1_795_435_200 // 3600 * 3600  # a whole hour


class Calls:
    def __init__(self) -> None:
        self.planned: list[int] = []

    def __call__(self, request: executor.Request, policy: executor.Policy) -> executor.Result:
        self.planned.append(int(request.run_id.split("-")[0]) // 1000)
        return ok_result(0.0)


def hourly(stores: Any, settings: Settings, now: float) -> int:
    service = Service(stores, settings, clock=lambda: now)
    job, _ = service.create_job(
        "alice",
        {"url": "http://127.0.0.1:9/h", "enabled": True, "schedule": {"cron": "0 * * * *"}},
    )
    return job.job_id


def ticks(stores: Any, settings: Settings, calls: Calls, minutes: range) -> None:
    """A tick at second 5 of each minute, its runs run inline (no waiting: the clock skips)."""
    for minute in minutes:
        now = float(minute * 60 + 5)
        dispatcher = Dispatcher(
            stores,
            replace(settings, inline_wait_s=125),
            MemoryQueue(),
            MemoryBlobs(),
            clock=lambda now=now: now,
            sleep=lambda seconds: None,
            execute=calls,
        )
        dispatcher.tick(now)


def _check(stores: Any, settings: Settings, on_dynamodb: bool) -> None:
    local = replace(settings, allow_private_targets=True)
    job_id = hourly(stores, local, HOUR - 600)
    calls = Calls()
    first = HOUR // 60 - 3
    ticks(stores, local, calls, range(first, first + 8))  # fires HOUR
    assert calls.planned == [HOUR]
    shard = job_id % local.due_shards
    assert ("alice", job_id) in stores.runs.woken(shard, (HOUR + 3600) // 60)
    if on_dynamodb:  # out of the index until its next hour: no index write a run
        assert stores.jobs.due(shard, HOUR + 7200, 10) == []
    assert stores.jobs.get("alice", job_id).next_run_at == HOUR + 3600
    # The next hour, and a tick that was down for the minutes before it.
    ticks(stores, local, calls, range((HOUR + 3600) // 60 - 1, (HOUR + 3600) // 60 + 2))
    assert calls.planned == [HOUR, HOUR + 3600]
    # A job edited goes back to the index; it fires once on its next slot all the same.
    Service(stores, local, clock=lambda: HOUR + 3700).update_job("alice", job_id, {"title": "e"})
    ticks(stores, local, calls, range((HOUR + 7200) // 60 - 2, (HOUR + 7200) // 60 + 2))
    assert calls.planned == [HOUR, HOUR + 3600, HOUR + 7200]
    marks = stores.state.get_value(ticker.WAKE_MARK)
    assert marks[str(shard)] == (HOUR + 7200) // 60 + 2


def test_an_hourly_job_fires_every_hour_through_its_wake_lists(
    world_stores: Callable[[], Any], settings: Settings
) -> None:
    _check(world_stores(), settings, on_dynamodb=False)


@pytest.mark.backend("moto")
def test_an_hourly_job_leaves_the_due_index_on_dynamodb_and_still_fires(
    stores: Any, settings: Settings
) -> None:
    _check(stores, settings, on_dynamodb=True)


@pytest.fixture
def world_stores() -> Callable[[], Any]:
    from chalicelib.store.memory import memory_stores

    return memory_stores


def _scheduler_off(stores: Any, settings: Settings) -> None:
    local = replace(settings, allow_private_targets=True)
    job_id = hourly(stores, local, HOUR - 600)
    calls = Calls()
    ticks(stores, local, calls, range(HOUR // 60 - 2, HOUR // 60 + 1))  # out of the index
    assert calls.planned == [HOUR]
    Service(stores, local, clock=lambda: HOUR + 60).set_scheduler("alice", {"enabled": False})
    # Its next hour comes and goes while the scheduler is off: each tick that reads it from a
    # wake list notes it on the next tick's, so that it is not lost.
    last = (HOUR + 3600) // 60 + 2
    ticks(stores, local, calls, range((HOUR + 3600) // 60 - 2, last + 1))
    assert calls.planned == [HOUR]
    assert ("alice", job_id) in stores.runs.woken(job_id % local.due_shards, last + 2)
    # Switched on, it moves to its first slot from now (an edit: back in the index), and fires.
    Service(stores, local, clock=lambda: HOUR + 3900).set_scheduler("alice", {"enabled": True})
    assert stores.jobs.get("alice", job_id).next_run_at == HOUR + 7200
    ticks(stores, local, calls, range((HOUR + 7200) // 60 - 1, (HOUR + 7200) // 60 + 1))
    assert calls.planned == [HOUR, HOUR + 7200]


def test_a_job_out_of_the_index_stays_on_the_wake_lists_while_its_scheduler_is_off(
    world_stores: Callable[[], Any], settings: Settings
) -> None:
    _scheduler_off(world_stores(), settings)


@pytest.mark.backend("moto")
def test_a_job_out_of_the_index_on_dynamodb_is_not_lost_while_its_scheduler_is_off(
    stores: Any, settings: Settings
) -> None:
    _scheduler_off(stores, settings)
