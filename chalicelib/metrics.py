"""What the tick and the worker measure: CloudWatch embedded-metric log lines in AWS (no API call:
CloudWatch Logs turns a line of this shape into metrics), the same figures as Prometheus text on
`GET /metrics` under `make run`.

One invocation (a tick, a worker batch) makes one `Sample`: its counts from the dispatcher's
report, its duration, and the start lag of each run it started. The stack's alarms
(scripts/package.py) watch these names, and a test holds every alarm to a metric named here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NAMESPACE = "cronhook"

# name -> (unit, the report keys it sums); a run "started" once it made (or tried) its call.
COUNTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "RunsStarted": ("Count", ("ok", "failed")),
    "RunsFailed": ("Count", ("failed",)),
    "RunsLost": ("Count", ("lost",)),
    "Retries": ("Count", ("retried",)),
    "ClaimsLost": ("Count", ("already_claimed", "moved_meanwhile", "stale_claims")),
    "DueJobs": ("Count", ("due",)),
    "FailedMessages": ("Count", ("failed_messages",)),
}
TICK_DURATION = "TickDuration"  # milliseconds, the tick only
START_LAG = "StartLag"  # milliseconds after the planned second, one value per run started
NAMES = frozenset({*COUNTS, TICK_DURATION, START_LAG})

# Prometheus histogram buckets of the start lag, in seconds.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Sample:
    """The figures of one tick or worker invocation."""

    function: str  # "tick" or "worker"
    counts: dict[str, int]
    lags_ms: list[int] = field(default_factory=list)
    duration_ms: int | None = None  # the tick's own duration

    @classmethod
    def of(
        cls,
        function: str,
        report: Mapping[str, int],
        lags_ms: Iterable[int] = (),
        duration_ms: int | None = None,
    ) -> Sample:
        counts = {
            name: sum(int(report.get(key, 0)) for key in keys) for name, (_, keys) in COUNTS.items()
        }
        return cls(function, counts, list(lags_ms), duration_ms)


def emf(sample: Sample, stage: str, now: float) -> str:
    """The sample as one CloudWatch embedded-metric-format log line, dimensions Stage and
    Function. Start lags go as a list of values, so CloudWatch keeps their percentiles."""
    values: dict[str, object] = dict(sample.counts)
    metrics = [{"Name": name, "Unit": unit} for name, (unit, _) in COUNTS.items()]
    if sample.duration_ms is not None:
        values[TICK_DURATION] = sample.duration_ms
        metrics.append({"Name": TICK_DURATION, "Unit": "Milliseconds"})
    if sample.lags_ms:
        values[START_LAG] = sample.lags_ms[:100]  # EMF takes at most 100 values per metric
        metrics.append({"Name": START_LAG, "Unit": "Milliseconds"})
    document = {
        "_aws": {
            "Timestamp": int(now * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Stage", "Function"]],
                    "Metrics": metrics,
                }
            ],
        },
        "Stage": stage,
        "Function": sample.function,
        **values,
    }
    return json.dumps(document, separators=(",", ":"))


class Registry:
    """Totals since the process started, for Prometheus (`make run` is one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._buckets: dict[str, list[int]] = {}
        self._lag_sum: dict[str, float] = {}
        self._last_tick_ms = 0

    def add(self, sample: Sample) -> None:
        with self._lock:
            for name, value in sample.counts.items():
                key = (name, sample.function)
                self._counts[key] = self._counts.get(key, 0) + value
            buckets = self._buckets.setdefault(sample.function, [0] * (len(LAG_BUCKETS) + 1))
            for lag_ms in sample.lags_ms:
                seconds = lag_ms / 1000
                for n, bound in enumerate(LAG_BUCKETS):
                    if seconds <= bound:
                        buckets[n] += 1
                buckets[-1] += 1  # +Inf
                self._lag_sum[sample.function] = self._lag_sum.get(sample.function, 0.0) + seconds
            if sample.duration_ms is not None:
                self._last_tick_ms = sample.duration_ms

    def text(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for name in COUNTS:
                metric = f"cronhook_{_snake(name)}_total"
                lines += [
                    f"# HELP {metric} {name} since the stack started",
                    f"# TYPE {metric} counter",
                ]
                for function in ("tick", "worker"):
                    value = self._counts.get((name, function), 0)
                    lines.append(f'{metric}{{function="{function}"}} {value}')
            metric = "cronhook_start_lag_seconds"
            lines += [
                f"# HELP {metric} Start of a run after its planned second",
                f"# TYPE {metric} histogram",
            ]
            for function, buckets in sorted(self._buckets.items()):
                for bound, count in zip((*LAG_BUCKETS, "+Inf"), buckets, strict=True):
                    lines.append(f'{metric}_bucket{{function="{function}",le="{bound}"}} {count}')
                lines.append(
                    f'{metric}_sum{{function="{function}"}} {self._lag_sum.get(function, 0.0)}'
                )
                lines.append(f'{metric}_count{{function="{function}"}} {buckets[-1]}')
            metric = "cronhook_tick_duration_seconds"
            lines += [f"# HELP {metric} Duration of the last tick", f"# TYPE {metric} gauge"]
            lines.append(f"{metric} {self._last_tick_ms / 1000}")
        return "\n".join(lines) + "\n"


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and n else c.lower() for n, c in enumerate(name))


REGISTRY = Registry()
