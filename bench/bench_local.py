"""The embedded stack (`make run` on SQLite) as a user runs it: a burst and its memory.

    python bench/bench_local.py

Starts `python -m scripts.local` (the default backend) on free loopback ports with a temporary
home, and a loopback sink in a child process that records when each request arrived. Creates
JOBS one-shot jobs through the API, each due at the same second T (some 30 s ahead: saving a job
claims its slot at once, as the tick would) and calling its own path on the sink; waits past T;
then reads the sink. Figures: how many jobs were called exactly once, and the start lag (arrival
at the sink minus T) p50/p95/p99/max. Then the stack's memory (RSS of its one process) at rest
and once the account holds MEMORY_JOBS jobs. The last line printed is JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JOBS = int(__import__("os").environ.get("BENCH_LOCAL_JOBS", "1000"))
MEMORY_JOBS = 10_000
LEAD_S = 30.0  # T is this far ahead when the first job is created
SETTLE_S = 15.0  # how long after T the sink keeps listening
CLIENTS = 4  # parallel API clients creating jobs


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _create(url: str, key: str, jobs: list[dict[str, Any]]) -> None:
    """PUT every job through CLIENTS keep-alive sessions; raise on any refusal."""
    import requests

    sessions = [requests.Session() for _ in range(CLIENTS)]
    for session in sessions:
        session.headers["Authorization"] = f"Bearer {key}"

    def put(n: int) -> None:
        response = sessions[n % CLIENTS].put(f"{url}/jobs", json={"job": jobs[n]}, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"PUT /jobs answered {response.status_code}: {response.text[:200]}")

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(put, range(len(jobs))))


def run() -> dict[str, float]:
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.bench_api import LocalStack
    from bench.common import Sink, budget, summary

    count = int(budget(JOBS, 20))
    memory_jobs = int(budget(MEMORY_JOBS, 100))
    limits = {"CRONHOOK_RATE_LIMIT_PER_S": "100000", "CRONHOOK_RATE_LIMIT_BURST": "100000"}
    with Sink() as sink, LocalStack(CRONHOOK_BACKEND="sqlite", **limits) as stack:
        time.sleep(1.0)  # the start-up tick
        rest_mb = _rss_mb(stack.pid)
        planned = float(int(time.time() + budget(LEAD_S, 8.0)))
        at = datetime.fromtimestamp(planned, UTC).isoformat()
        burst = [
            {"url": f"{sink.url}/job/{n}", "enabled": True, "schedule": {"at": at}}
            for n in range(count)
        ]
        began = time.monotonic()
        _create(stack.url, stack.admin_key, burst)
        created_s = time.monotonic() - began
        if time.time() >= planned:
            raise RuntimeError(f"creating {count} jobs took {created_s:.1f} s, past their second")
        time.sleep(max(0.0, planned + budget(SETTLE_S, 3.0) - time.time()))
        arrivals = sink.arrivals()
        burst_mb = _rss_mb(stack.pid)
        calls = Counter(a.path for a in arrivals)
        lags_ms = [(a.at - planned) * 1000 for a in arrivals]
        idle = {"url": "http://127.0.0.1:9/idle", "enabled": False}
        _create(stack.url, stack.admin_key, [idle] * (memory_jobs - count))
        time.sleep(1.0)
        loaded_mb = _rss_mb(stack.pid)
    lag = summary(lags_ms) if lags_ms else {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    figures = {
        "local.burst_jobs": float(count),
        "local.called_once": float(sum(1 for n in range(count) if calls[f"/job/{n}"] == 1)),
        "local.called_twice_or_more": float(sum(1 for c in calls.values() if c > 1)),
        "local.not_called": float(sum(1 for n in range(count) if calls[f"/job/{n}"] == 0)),
        "local.lag_ms.p50": lag["p50"],
        "local.lag_ms.p95": lag["p95"],
        "local.lag_ms.p99": lag["p99"],
        "local.lag_ms.max": lag["max"],
        "local.create_per_s": count / created_s,
        "local.rss_mb.rest": rest_mb,
        "local.rss_mb.after_burst": burst_mb,
        "local.rss_mb.jobs_10000": loaded_mb,
        "local.memory_jobs": float(memory_jobs),
    }
    return {key: round(value, 3) for key, value in figures.items()}


def main() -> None:
    figures = run()
    print(
        f"{int(figures['local.called_once'])}/{int(figures['local.burst_jobs'])} called once; "
        f"lag p50 {figures['local.lag_ms.p50']:.0f} ms, p95 {figures['local.lag_ms.p95']:.0f} ms, "
        f"max {figures['local.lag_ms.max']:.0f} ms; RSS {figures['local.rss_mb.rest']:.0f} MB at "
        f"rest, {figures['local.rss_mb.jobs_10000']:.0f} MB with "
        f"{int(figures['local.memory_jobs'])} jobs"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
