"""How many `Schedule.next_after` calls per second, for the schedules the tick sees most.

Run `python bench/bench_schedule.py` (about 10 s). Each schedule is timed twice: "warm" walks
one parsed schedule forward run by run; "parse+next" parses the stored form then asks for one
run, as the tick does for every due job. The last line is JSON for `make bench`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

SCHEDULES: dict[str, dict[str, Any]] = {
    "every minute (UTC)": {"cron": "* * * * *"},
    "daily 02:30 Europe/Berlin": {"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    "weekdays 04:30 America/New_York": {"cron": "30 4 * * 1-5", "timezone": "America/New_York"},
    "Quartz every 10 s, Europe/Berlin": {
        "cron": "*/10 * 8-18 ? * MON-FRI",
        "timezone": "Europe/Berlin",
    },
    "cron-job.org object, Australia/Lord_Howe": {
        "timezone": "Australia/Lord_Howe",
        "expiresAt": 0,
        "hours": [-1],
        "mdays": [-1],
        "minutes": [0, 15, 30, 45],
        "months": [-1],
        "wdays": [1, 2, 3, 4, 5],
    },
    "Cronicle timing, Asia/Kolkata": {
        "timing": {"days": [1, 15], "hours": [9], "minutes": [0]},
        "timezone": "Asia/Kolkata",
    },
}
START = 1767225600.0  # 2026-01-01T00:00:00Z
YEAR = 365 * 86400
BUDGET_S = 0.8  # per schedule and mode: 6 schedules x 2 modes ~ 10 s


def _warm(data: dict[str, Any], budget_s: float) -> tuple[int, float]:
    from chalicelib.schedule import Schedule

    schedule = Schedule.parse(data)
    t, calls = START, 0
    began = time.perf_counter()
    while time.perf_counter() - began < budget_s:
        for _ in range(500):
            found = schedule.next_after(t)
            # Walk forward through a year of runs, then start over, as a ticking service would.
            t = found if found is not None and found < START + YEAR else START
        calls += 500
    return calls, time.perf_counter() - began


def _cold(data: dict[str, Any], budget_s: float) -> tuple[int, float]:
    from chalicelib.schedule import Schedule

    stored = Schedule.parse(data).to_dict()
    t, calls = START, 0
    began = time.perf_counter()
    while time.perf_counter() - began < budget_s:
        for _ in range(200):
            found = Schedule.parse(stored).next_after(t)
            t = found if found is not None and found < START + YEAR else START
        calls += 200
    return calls, time.perf_counter() - began


def run() -> dict[str, float]:
    """Time every schedule both ways; the overall figure is warm calls over warm seconds."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.common import budget

    budget_s = budget(BUDGET_S, 0.01)  # `python -m bench --smoke` only checks that it runs
    results: dict[str, float] = {}
    warm_calls, warm_seconds = 0, 0.0
    for name, data in SCHEDULES.items():
        calls, seconds = _warm(data, budget_s)
        warm_calls, warm_seconds = warm_calls + calls, warm_seconds + seconds
        results[f"{name}: warm"] = round(calls / seconds)
        calls, seconds = _cold(data, budget_s)
        results[f"{name}: parse+next"] = round(calls / seconds)
    results["schedule.next_after_per_s"] = round(warm_calls / warm_seconds)
    return results


def main() -> None:
    results = run()
    overall = results.pop("schedule.next_after_per_s")
    width = max(map(len, results))
    for name, rate in results.items():
        print(f"{name:<{width}}  {rate:>10,.0f} next_after/s")
    print(json.dumps({"schedule.next_after_per_s": overall}))


if __name__ == "__main__":
    main()
