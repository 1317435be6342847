"""What one tick reads from DynamoDB as the jobs table grows: 1k, 10k, 100k jobs, 100 of them due.

    python bench/bench_tick.py                        # 1,000, 10,000 and 100,000 jobs
    python bench/bench_tick.py --sizes 1000 300000    # any sizes

For each size, a fresh moto (tables from infra/resources.json) is loaded with that many enabled
jobs (the store's own items, put straight into moto's table) in ACCOUNTS accounts: DUE of them
wait on the next minute's first second, the others on later minutes over the next day, so every
job sits in the sparse `due` index and only DUE of them fall in the tick's window. Then one tick
runs with `inline_max=0` and an in-memory queue (no HTTP): it sweeps for orphans, queries the
`due` index, reads the due jobs, checks each account's scheduler switch and claims every slot.
Botocore hooks on the stores' client count the requests and the items read (`ScannedCount` of
queries, items returned by gets); capacity units as in bench_cost.py. The target is a tick whose
reads track the due jobs, flat in the table size.

The 100k table is most of this benchmark's time: loading it (~2,500 items/s) and moto's index
queries, which scan the whole index (~1.5 s per query at 100k jobs, 16 per tick). The tick's
seconds on moto are reported (`moto_tick_s`), but they are moto's. CRONHOOK_BENCH_TICK_SIZES
(e.g. "1000,10000") or --sizes picks other sizes. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (100, 200)
DUE = 100
ACCOUNTS = 10
SIZES_ENV = "CRONHOOK_BENCH_TICK_SIZES"


def sizes_from_env() -> tuple[int, ...]:
    from bench.common import smoke

    raw = os.environ.get(SIZES_ENV, "")
    if raw.strip():
        return tuple(int(s) for s in raw.replace(",", " ").split())
    return SMOKE_SIZES if smoke() else SIZES


def load(table: Any, items: Iterable[dict[str, Any]]) -> None:
    """Put the items straight into moto's table (~2.5x faster than its API, which parses and
    answers every request); through BatchWriteItem, 25 at a time, if moto's insides moved."""
    try:
        from boto3.dynamodb.types import TypeSerializer
        from moto.dynamodb.models import dynamodb_backends

        from scripts.provision import LOCAL_ACCOUNT  # moto's default account

        backend = dynamodb_backends[LOCAL_ACCOUNT][table.meta.client.meta.region_name]
        put = backend.put_item
    except (ImportError, AttributeError, KeyError):
        with table.batch_writer() as batch:
            for item in items:
                batch.put_item(Item=item)
        return
    serializer = TypeSerializer()
    for item in items:
        put(table.name, {k: serializer.serialize(v) for k, v in item.items()})


def measure(size: int, due: int) -> dict[str, float]:
    """Load `size` jobs (`due` of them due), run one tick, return what it cost."""
    from bench.bench_cost import meter_stack, moto_stack
    from chalicelib.dispatch import Dispatcher
    from chalicelib.service import Service
    from chalicelib.store.blobs import MemoryBlobs
    from chalicelib.store.queue import MemoryQueue

    with moto_stack() as (settings, stores):
        slot = (int(time.time()) // 60 + 2) * 60  # the next minute but one: a whole minute
        now = slot - 30  # the tick runs half a minute before; its window ends at slot + 59
        template, _ = Service(stores, settings, clock=lambda: now - 15).create_job(
            "acct-0",
            {"url": "http://127.0.0.1:9/", "enabled": True, "schedule": {"cron": "* * * * *"}},
        )
        if template.next_run_at != slot:
            raise RuntimeError(f"expected the job to wait on {slot}, not {template.next_run_at}")
        loading = time.perf_counter()
        jobs = (
            replace(
                template,
                account_id=f"acct-{n % ACCOUNTS}",
                job_id=template.job_id + n,
                # after the tick's window, within a day
                next_run_at=slot if n < due else slot + 120 + 60 * (n % 1440),
            )
            for n in range(1, size)
        )
        items = (
            item for job in jobs for item in (stores.jobs._definition(job), stores.jobs._state(job))
        )
        load(stores.jobs.table, items)
        load_s = time.perf_counter() - loading

        meter = meter_stack(settings, stores)
        dispatcher = Dispatcher(
            stores, replace(settings, inline_max=0), MemoryQueue(), MemoryBlobs(), clock=lambda: now
        )
        before = meter.snapshot()
        began = time.perf_counter()
        report = dispatcher.tick(now)
        tick_s = time.perf_counter() - began
        spent = meter.snapshot().minus(before)
    if report.get("claimed") != due or report.get("queued") != due:
        raise RuntimeError(f"{size} jobs: expected {due} claimed and queued, got {report}")
    return {
        f"tick.items_read.{size}": float(spent.items_read),
        f"tick.requests.{size}": float(spent.count("dynamodb.")),
        f"tick.read_requests.{size}": float(spent.dynamo_reads),
        f"tick.write_requests.{size}": float(spent.dynamo_writes),
        f"tick.rru.{size}": round(spent.rru, 2),
        f"tick.wru.{size}": float(spent.wru),
        f"tick.moto_tick_s.{size}": round(tick_s, 2),
        f"tick.moto_load_s.{size}": round(load_s, 1),
    }


def run(sizes: tuple[int, ...] | None = None) -> dict[str, float]:
    from bench.common import budget

    sizes = sizes or sizes_from_env()
    due = min([int(budget(DUE, 10))] + [size // 2 for size in sizes])  # the same for every size
    figures: dict[str, float] = {}
    for size in sizes:
        figures |= measure(size, due)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", help=f"table sizes (default {SIZES})")
    args = parser.parse_args()
    figures = run(tuple(args.sizes) if args.sizes else None)
    for key, value in figures.items():
        print(f"{key:28} {value:>12,.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
