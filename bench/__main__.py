"""`make bench`: run every `bench/bench_*.py`, print one table, write the results and the page.

    python -m bench                    # all of them; writes bench/results.json, docs/PERFORMANCE.md
    python -m bench --only api         # some of them; prints the table, writes nothing
    python -m bench --smoke --out DIR  # seconds, to check that everything runs; figures are noise

Each module's `run()` returns `{dotted.key: number}`; any other key (free text such as
"every minute (UTC): warm") is kept as a detail of its module. The table follows SECTIONS (what
the issue asks for, in its order); figures measured but not listed there are shown after it, and
listed figures nobody measures yet say so.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import re
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, SMOKE_ENV, describe, machine

RESULTS = ROOT / "bench" / "results.json"
PAGE = ROOT / "docs" / "PERFORMANCE.md"
FIRST = ("coldstart",)  # run while the machine is quietest; the others follow by name
NEEDS_TICK = "the tick, issue 5"
FLAT = 1.25  # "flat in the table size": the largest table reads at most this times the smallest
KINDS = ("minutely", "hourly", "daily")  # the schedule kinds the cost bench prices
KEY = re.compile(r"^\w+(\.\w+)+$")  # a figure's key: `api.p50_ms`, `tick.items_read.1000`


@dataclass(frozen=True)
class Target:
    """A goal for one figure (or for its ratio to the baseline): `op` is <, <=, >= or flat."""

    op: str
    limit: float = 0.0
    on_ratio: bool = False

    def text(self, unit: str) -> str:
        if self.op == "flat":
            return "flat in table size"
        limit = f"{self.limit:.2f}x" if self.on_ratio else fmt(self.limit, unit)
        return f"{'ratio ' if self.on_ratio else ''}{self.op} {limit}"

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = ratio if self.on_ratio else value
        if subject is None:
            return None
        if self.op == "<":
            return subject < self.limit
        if self.op == "<=":
            return subject <= self.limit
        if self.op == ">=":
            return subject >= self.limit
        raise ValueError(f"target {self.op!r} needs the whole group")


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str = ""  # ms, /s, MB, $ or "" (a count)
    baseline: str | None = None  # key of the same quantity measured for a reference, same run
    target: Target | None = None
    group: str | None = None  # the key is a map, one row per member: "jobs" -> "(10,000 jobs)"
    ratio_key: str | None = None  # also store value / baseline under this key


@dataclass(frozen=True)
class Section:
    title: str
    module: str  # the bench module (bench_<module>.py) that measures these figures
    method: str  # how it is measured, for docs/PERFORMANCE.md
    figures: tuple[Figure, ...]
    needs: str | None = None  # what must exist before the figures can be measured


SECTIONS: tuple[Section, ...] = (
    Section(
        "Tick cost vs table size",
        "tick",
        "1k, 10k and 100k jobs of which 100 are due, on moto with the template's tables: one "
        "tick (claims, no HTTP), its DynamoDB requests and items read counted by botocore hooks "
        "on the stores' client. Target: flat in the table size (reads track the due jobs, not "
        "the table).",
        (
            Figure("tick.items_read", "items read per tick", group="jobs", target=Target("flat")),
            Figure("tick.requests", "DynamoDB requests per tick", group="jobs"),
        ),
        needs=NEEDS_TICK,
    ),
    Section(
        "A burst at the top of the hour",
        "burst",
        "100,000 hourly jobs due at the same second, on the in-memory store twin: one tick a "
        "minute before claims them all, as deployed (one invocation: each shard's due jobs read "
        "a page at a time, claimed on the tick's threads, a shard read again while its page was "
        "full) and queues their runs (no HTTP). Target: claimed within 30 s of wall time on this "
        "machine, well inside the tick's minute. On AWS the claims are DynamoDB writes instead "
        "(docs/SCALING.md).",
        (
            Figure("tick.burst.jobs", "jobs due at the same second"),
            Figure(
                "tick.burst.claim_s", "tick wall time to claim them", "s", target=Target("<=", 30)
            ),
            Figure("tick.burst.cpu_s", "tick CPU time", "s"),
            Figure("tick.burst.lead_s", "claimed ahead of their second", "s"),
        ),
    ),
    Section(
        "Dispatch throughput and accuracy",
        "dispatch",
        "1,000 jobs due at the same second, each calling a target of its own (the sink answers on "
        "127.0.0.1 to 127.0.0.250, so no connection is reused), with the in-memory store twin "
        "(moto's own speed is not ours; the moto run is shown beside it). Baseline: a bare "
        "thread pool making the same 1,000 calls with urllib3, one new connection per call, in "
        "the same run; the same pool calling the executor alone (no store, no records) splits "
        "the gap between the dispatcher and the executor; the keep-alive pool (one connection "
        "reused) is shown beside as `keepalive_ratio`. Jitter is arrival time minus the planned "
        "second. Targets (issue 25): at least 80% of the baseline's throughput; jitter p99 at "
        "most 1.25x the baseline's and under 1,000 ms.",
        (
            Figure(
                "dispatch.runs_per_s",
                "runs per second",
                "/s",
                baseline="dispatch.baseline_runs_per_s",
                target=Target(">=", 0.8, on_ratio=True),
                ratio_key="dispatch.ratio_to_baseline",
            ),
            Figure("dispatch.tick_to_last_ms", "tick to last arrival", "ms"),
            Figure("dispatch.jitter_ms.p50", "jitter p50", "ms"),
            Figure("dispatch.jitter_ms.p95", "jitter p95", "ms"),
            Figure(
                "dispatch.jitter_ms.p99",
                "jitter p99",
                "ms",
                baseline="dispatch.baseline_jitter_ms.p99",
                target=Target("<", 1000),
            ),
            Figure(
                "dispatch.jitter_p99_to_baseline",
                "jitter p99 over the baseline's",
                target=Target("<=", 1.25),
            ),
            Figure("dispatch.jitter_ms.max", "jitter max", "ms"),
            Figure("dispatch.keepalive_ratio", "throughput over the keep-alive pool's"),
            Figure("dispatch.moto_runs_per_s", "runs per second on moto", "/s"),
            Figure(
                "dispatch.executor_pool_runs_per_s",
                "executor alone, same pool",
                "/s",
                baseline="dispatch.baseline_runs_per_s",
            ),
        ),
        needs=NEEDS_TICK,
    ),
    Section(
        "Cost per run",
        "cost",
        "AWS requests and capacity units per routine run (a minutely job, claimed, called and "
        "recorded on moto against the loopback sink), per run with a saved response and per API "
        "call, priced with the published us-east-1 prices (constants dated in the code). A run "
        "takes one of two paths. Inline: the tick fires within `inline_wait_s` (2 s) of the "
        "planned second and runs the batch itself (at most `inline_max` = 50 runs), Lambda "
        "billing its wait; queued: the usual case, 1,000 runs a minute through SQS (delayed to "
        "the planned second, up to 10 runs a message) and the worker (10 messages an "
        "invocation). The headline is the dearer path. DynamoDB on-demand, provisioned at 70% "
        "use, and provisioned with 1-year reserved capacity. Lambda time is modelled "
        "(assumptions in bench/bench_cost.py). Targets (issue 25), for minutely, hourly and "
        "daily jobs with a 2,000-character URL, each on its dearer path, the sweep and each "
        "tick's fixed part (spread over the runs of its minute at that path's load, 50 or 1,000 "
        "runs a minute whatever their kind) included: at most 1.5 write units and 2.0 read "
        "units per run, and $1.20 per million runs of the dearest kind on-demand, all in "
        "(provisioned and reserved: $1.50, the earlier target); the short-URL minutely figures "
        "are `cost.inline.*` and `cost.queued.*`. QStash charges $10.",
        (
            *(
                Figure(
                    f"cost.write_units_per_run.{kind}",
                    f"DynamoDB write units per {kind} run (dearer path, 2,000-char URL)",
                    target=Target("<=", 1.5),
                )
                for kind in KINDS
            ),
            *(
                Figure(
                    f"cost.read_units_per_run.{kind}",
                    f"DynamoDB read units per {kind} run (dearer path, tick and sweep included)",
                    target=Target("<=", 2.0),
                )
                for kind in KINDS
            ),
            *(
                Figure(
                    f"cost.usd_per_million_runs_by_kind.{kind}",
                    f"dollars per million {kind} runs (dearer path, on-demand)",
                    "$",
                )
                for kind in KINDS
            ),
            Figure("cost.requests_per_run", "AWS requests per run (dearest kind and path)"),
            Figure(
                "cost.usd_per_million_runs",
                "dollars per million runs (dearest kind, dearer path, on-demand)",
                "$",
                target=Target("<=", 1.20),
            ),
            Figure(
                "cost.usd_per_million_runs_provisioned",
                "dollars per million runs (dearest kind, dearer path, provisioned)",
                "$",
                target=Target("<=", 1.50),
            ),
            Figure(
                "cost.usd_per_million_runs_reserved",
                "dollars per million runs (dearest kind, dearer path, provisioned + 1-year "
                "reserved)",
                "$",
                target=Target("<=", 1.50),
            ),
            Figure(
                "cost.inline.wru_per_run",
                "DynamoDB write units per run (minutely, short URL, inline)",
            ),
            Figure(
                "cost.queued.wru_per_run",
                "DynamoDB write units per run (minutely, short URL, queued)",
            ),
            Figure(
                "cost.inline.usd_per_million_runs",
                "dollars per million runs (minutely, short URL, inline, on-demand)",
                "$",
            ),
            Figure(
                "cost.queued.usd_per_million_runs",
                "dollars per million runs (minutely, short URL, queued, on-demand)",
                "$",
            ),
            Figure(
                "cost.inline.usd_per_million_runs_provisioned",
                "dollars per million runs (minutely, short URL, inline, provisioned)",
                "$",
            ),
            Figure(
                "cost.queued.usd_per_million_runs_provisioned",
                "dollars per million runs (minutely, short URL, queued, provisioned)",
                "$",
            ),
            Figure(
                "cost.saved_response.usd_per_million_runs",
                "dollars per million runs, saved response (inline, on-demand)",
                "$",
            ),
            Figure("cost.api_ping_jobs.wru_per_call", "DynamoDB write units per monitor ping"),
            Figure("cost.api_ping_jobs.rru_per_call", "DynamoDB read units per monitor ping"),
            Figure(
                "cost.api_ping_jobs.usd_per_million_calls",
                "dollars per million monitor pings (API Gateway, Lambda, DynamoDB)",
                "$",
            ),
            Figure(
                "cost.callback_run.wru_per_run",
                "DynamoDB write units per long job's run (202, then its callback)",
            ),
            Figure("cost.callback_run.rru_per_run", "DynamoDB read units per long job's run"),
            Figure(
                "cost.callback_run.usd_per_million_runs",
                "dollars per million long job runs, the callback's API call included",
                "$",
            ),
        ),
        needs=NEEDS_TICK,
    ),
    Section(
        "Cold start",
        "coldstart",
        "A fresh interpreter imports `app` from the project root with dummy AWS credentials; "
        "median of 7, the probes taking turns. `-X importtime` sums the self time of every "
        "module the import loads; the wall figure is a plain `perf_counter()` around the import; "
        "the process figure runs from spawn to exit. Baselines: `import chalice.app` alone for "
        "the imports, `python -c pass` for process, memory and module count. Target: under "
        "300 ms.",
        (
            Figure(
                "cold_start.import_ms",
                "import app (-X importtime)",
                "ms",
                baseline="cold_start.framework_import_ms",
                target=Target("<", 300),
            ),
            Figure(
                "cold_start.import_wall_ms",
                "import app (wall)",
                "ms",
                baseline="cold_start.framework_import_wall_ms",
                target=Target("<", 300),
            ),
            Figure(
                "cold_start.process_ms",
                "process: start, import, exit",
                "ms",
                baseline="cold_start.bare_process_ms",
            ),
            Figure(
                "cold_start.rss_mb", "memory (RSS) after import", "MB", "cold_start.bare_rss_mb"
            ),
            Figure("cold_start.modules", "modules loaded", baseline="cold_start.bare_modules"),
        ),
    ),
    Section(
        "API latency",
        "api",
        "Through the local stack (`make run`: `chalice local` with SQLite behind it), one "
        "keep-alive connection, 20 jobs in the account, at most 300 requests or 10 s per "
        "loop. Baseline: `GET /health` (HTTP server and routing, no key check, no store).",
        (
            Figure(
                "api.p50_ms",
                "GET /jobs p50",
                "ms",
                baseline="api.health_p50_ms",
                target=Target("<=", 5),
            ),
            Figure("api.p99_ms", "GET /jobs p99", "ms", baseline="api.health_p99_ms"),
            Figure("api.put_p50_ms", "PUT /jobs p50", "ms", baseline="api.health_p50_ms"),
            Figure("api.put_p99_ms", "PUT /jobs p99", "ms", baseline="api.health_p99_ms"),
        ),
    ),
    Section(
        "The embedded stack",
        "local",
        "`make run` as a user runs it (SQLite, one process): 1,000 one-shot jobs created through "
        "the API, all due at the same second some 30 s ahead, each calling its own path on a "
        "loopback sink in another process that records arrivals. Lag is arrival at the sink "
        "minus the planned second. Memory is the stack's resident set at rest, after the burst "
        "and once the account holds 10,000 jobs.",
        (
            Figure("local.called_once", "jobs called exactly once (of 1,000)", target=None),
            Figure("local.called_twice_or_more", "jobs called more than once"),
            Figure("local.lag_ms.p50", "start lag p50", "ms"),
            Figure("local.lag_ms.p95", "start lag p95", "ms", target=Target("<=", 1000)),
            Figure("local.lag_ms.max", "start lag max", "ms"),
            Figure("local.rss_mb.rest", "memory at rest", "MB"),
            Figure("local.rss_mb.after_burst", "memory after the burst", "MB"),
            Figure("local.rss_mb.jobs_10000", "memory with 10,000 jobs", "MB"),
        ),
    ),
    Section(
        "Schedule math",
        "schedule",
        "`Schedule.next_after` walking a year of runs, over six schedules of every syntax "
        "(warm: one parsed schedule; parse+next: parse the stored form, then one call, as the "
        "tick does per due job). Per-schedule rates are under other figures.",
        (Figure("schedule.next_after_per_s", "next_after calls per second", "/s"),),
    ),
    Section(
        "Executor",
        "executor",
        "One HTTP call through the executor (SSRF guard, timing, caps) against a loopback "
        "keep-alive server in a child process, next to a plain urllib3 PoolManager loop on the "
        "same server, the loops taking turns. CPU is this process's only.",
        (
            Figure(
                "executor.calls_per_s",
                "calls per second",
                "/s",
                baseline="executor.baseline_calls_per_s",
            ),
            Figure(
                "executor.cpu_ms_per_call",
                "CPU per call",
                "ms",
                baseline="executor.baseline_cpu_ms_per_call",
            ),
        ),
    ),
)
# Figures the table already shows another way (as the ratio column).
SHOWN_AS_RATIO = frozenset(
    {
        "executor.ratio_to_baseline",
        "executor.cpu_ratio_to_baseline",
        "dispatch.executor_pool_ratio_to_baseline",
    }
)


@dataclass
class Row:
    label: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""
    spans: bool = False  # `value` is a note ("not measured yet ..."), not a figure


@dataclass
class Outcome:
    """Everything one run produced."""

    figures: dict[str, float] = field(default_factory=dict)
    details: dict[str, dict[str, float]] = field(default_factory=dict)  # module -> label -> value
    seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)


def fmt(value: float, unit: str) -> str:
    """A figure as a person reads it: `142 ms`, `1.25 ms`, `31,200/s`, `$1.10`, `181`."""
    size = abs(value)
    if unit == "$":
        return f"${value:,.2f}"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if size >= 100 or float(value).is_integer():
        number = f"{value:,.0f}"
    elif size >= 10:
        number = f"{value:.1f}"
    elif size >= 1:
        number = f"{value:.2f}"
    else:
        number = f"{value:.3g}"
    return f"{number} {unit}" if unit else number


def discover() -> list[str]:
    """Names of the bench modules (`bench_api.py` -> `api`), in the order they should run."""
    here = str(Path(__file__).resolve().parent)
    names = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([here])
        if info.name.startswith("bench_")
    )
    return [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]


def run_all(names: Sequence[str]) -> Outcome:
    outcome = Outcome()
    for number, name in enumerate(names, 1):
        print(f"[{number}/{len(names)}] bench_{name} ...", flush=True)
        began = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            if not callable(getattr(module, "run", None)):
                raise TypeError(f"bench/bench_{name}.py has no run() function")
            figures, details = _accept(module.run())
            outcome.figures.update(figures)
            if details:
                outcome.details[name] = details
        except Exception as exc:
            traceback.print_exc()
            outcome.failures[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        outcome.seconds[name] = round(time.perf_counter() - began, 1)
        status = "FAILED" if name in outcome.failures else "done"
        print(f"      {status} in {outcome.seconds[name]:.1f} s", flush=True)
    return outcome


def _accept(figures: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """A module's numbers split into figures (dotted keys) and details (any other label)."""
    keyed: dict[str, float] = {}
    details: dict[str, float] = {}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            print(f"      ignoring {key!r}: {value!r} is not a number", file=sys.stderr)
            continue
        (keyed if KEY.match(key) else details)[key] = float(value)
    return keyed, details


def derive_ratios(figures: dict[str, float]) -> None:
    """Store value / baseline under a figure's ratio key when its benchmark did not."""
    for section in SECTIONS:
        for fig in section.figures:
            if fig.ratio_key and fig.ratio_key not in figures:
                value, base = figures.get(fig.key), figures.get(fig.baseline or "")
                if value is not None and base:
                    figures[fig.ratio_key] = round(value / base, 3)


def _members(figures: Mapping[str, float], prefix: str) -> list[tuple[str, float]]:
    found = [(k[len(prefix) + 1 :], v) for k, v in figures.items() if k.startswith(prefix + ".")]
    return sorted(found, key=lambda kv: (not kv[0].isdigit(), int(kv[0]) if kv[0].isdigit() else 0))


def section_rows(section: Section, outcome: Outcome) -> tuple[list[Row], dict[str, Any]]:
    """The table rows of one section, and {key: {target, met}} for each figure with a target."""
    rows: list[Row] = []
    targets: dict[str, Any] = {}
    figures = outcome.figures
    for fig in section.figures:
        members = _members(figures, fig.key) if fig.group else []
        value = figures.get(fig.key)
        if value is None and not members:
            rows.append(Row(fig.label, _absent(section, outcome), spans=True))
            continue
        if fig.group:
            values = [v for _, v in members]
            met = None
            if fig.target is not None:
                met = max(values) <= FLAT * min(values) if min(values) > 0 else max(values) == 0
                targets[fig.key] = {"target": fig.target.text(fig.unit), "met": met}
            for member, member_value in members:
                label = f"{fig.label} ({_member(member)} {fig.group})"
                rows.append(_row(label, member_value, fig, None, None, met))
            continue
        assert value is not None
        base = figures.get(fig.baseline) if fig.baseline else None
        ratio = value / base if base else None
        met = fig.target.met(value, ratio) if fig.target else None
        if fig.target is not None:
            targets[fig.key] = {"target": fig.target.text(fig.unit), "met": met}
        rows.append(_row(fig.label, value, fig, base, ratio, met))
    return rows, targets


def _member(name: str) -> str:
    return f"{int(name):,}" if name.isdigit() else name


def _row(
    label: str, value: float, fig: Figure, base: float | None, ratio: float | None, met: bool | None
) -> Row:
    return Row(
        label,
        fmt(value, fig.unit),
        "" if base is None else fmt(base, fig.unit),
        "" if ratio is None else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x",
        fig.target.text(fig.unit) if fig.target else "",
        {True: "yes", False: "NO", None: ""}[met],
    )


def _absent(section: Section, outcome: Outcome) -> str:
    if section.module in outcome.failures:
        return f"failed: {outcome.failures[section.module]}"
    if section.module in outcome.skipped:
        return "not run this time"
    if section.needs:
        return f"not measured yet (needs {section.needs})"
    return "not measured"


def listed_keys() -> set[str]:
    keys = set(SHOWN_AS_RATIO)
    for section in SECTIONS:
        for fig in section.figures:
            keys.update(k for k in (fig.key, fig.baseline, fig.ratio_key) if k)
    return keys


def other_figures(figures: Mapping[str, float]) -> list[tuple[str, float]]:
    """Measured figures that FIGURES does not list (details, new benchmarks), by key."""
    listed = listed_keys()
    groups = {f.key for s in SECTIONS for f in s.figures if f.group}
    return sorted(
        (k, v)
        for k, v in figures.items()
        if k not in listed and not any(k.startswith(g + ".") for g in groups)
    )


def render_text(
    tables: list[tuple[Section, list[Row]]],
    others: list[tuple[str, float]],
    details: Mapping[str, Mapping[str, float]],
) -> str:
    header = Row("figure", "value", "baseline", "ratio", "target", "met?")
    all_rows = [header] + [r for _, rows in tables for r in rows]
    measured = [r for r in all_rows if not r.spans]
    widths = [
        max(len(r.label) + 2 for r in all_rows),
        max(len(r.value) for r in measured),
        max(len(r.baseline) for r in measured),
        max(len(r.ratio) for r in measured),
        max(len(r.target) for r in measured),
    ]

    def line(r: Row, indent: str = "") -> str:
        label = (indent + r.label).ljust(widths[0])
        if r.spans:
            return f"{label}  {r.value}"
        cells = [r.value.rjust(widths[1]), r.baseline.rjust(widths[2]), r.ratio.rjust(widths[3])]
        return f"{label}  {'  '.join(cells)}  {r.target.ljust(widths[4])}  {r.met}".rstrip()

    out = [line(header)]
    for section, rows in tables:
        out.append(section.title)
        out += [line(r, "  ") for r in rows]
    extra = others + [(f"{m}: {label}", v) for m, d in details.items() for label, v in d.items()]
    if extra:
        out.append("Other figures")
        width = max(len(k) for k, _ in extra)
        out += [f"  {k.ljust(width)}  {fmt(v, '').rjust(widths[1])}" for k, v in extra]
    return "\n".join(out)


def render_page(
    tables: list[tuple[Section, list[Row]]],
    others: list[tuple[str, float]],
    details: Mapping[str, Mapping[str, float]],
    info: Mapping[str, Any],
    date: str,
    duration_s: float,
    smoke: bool,
) -> str:
    out = [
        "# Performance",
        "",
        "Written by `make bench` (`python -m bench`) from its last run; do not edit by hand. The",
        "figures of the same run are in [`bench/results.json`](../bench/results.json).",
        "",
        f"- **Date:** {date}",
        f"- **Machine:** {describe(info)}",
        f"- **Run time:** {duration_s:.0f} s",
    ]
    if "load_1m_at_start" in info:
        cores = info.get("usable_cores", info.get("cores"))
        load = info["load_1m_at_start"]
        out.append(f"- **Load at start:** {load:g} (1-minute average, {cores} cores)")
    if smoke:
        out.append("- **Smoke run:** every loop cut to a few iterations; these figures are noise.")
    out += [
        "",
        "A ratio divides a figure by its baseline, measured in the same run on the same machine;",
        "ratios move less than absolute figures when the machine is busy.",
        "",
        "## Figures",
        "",
        "| figure | value | baseline | ratio | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for section, rows in tables:
        out.append(f"| **{section.title}** | | | | | |")
        for r in rows:
            cells = [r.label, r.value, r.baseline, r.ratio, r.target, r.met]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", "## How each figure is measured", ""]
    for section, _ in tables:
        module = f"bench/bench_{section.module}.py"
        out += [f"**{section.title}** (`{module}`). {section.method}", ""]
    if others or details:
        out += ["## Other figures", "", "| figure | value |", "|---|---:|"]
        out += [f"| `{k}` | {fmt(v, '')} |" for k, v in others]
        for module, labels in details.items():
            for label, v in labels.items():
                cell = f"{module}: {label}".replace("|", "\\|")
                out.append(f"| {cell} | {fmt(v, '')} |")
        out.append("")
    out += [
        "## How to reproduce",
        "",
        "```",
        "make bench                                      # everything; rewrites this page",
        ".venv/bin/python -m bench --only api coldstart  # a subset; prints, writes nothing",
        ".venv/bin/python bench/bench_api.py             # one benchmark alone, with its detail",
        ".venv/bin/python -m bench --smoke --out /tmp/b  # seconds: checks that all of it runs",
        "```",
        "",
        "Benchmarks only reach 127.0.0.1 (the local stack, moto and loopback servers) and never",
        "AWS. They print figures and never fail on a missed target; `make bench` fails only when a",
        "benchmark cannot run. A new `bench/bench_<name>.py` with `run() -> dict[str, float]` is",
        "picked up by the runner; list its headline figures in `SECTIONS` in `bench/__main__.py`.",
        "",
    ]
    return "\n".join(out)


def nest(flat: Mapping[str, float]) -> tuple[dict[str, Any], dict[str, float]]:
    """`{"a.b.c": 1}` -> `{"a": {"b": {"c": 1}}}`; keys that collide with a map stay flat."""
    tree: dict[str, Any] = {}
    clashes: dict[str, float] = {}
    for key in sorted(flat, key=lambda k: (k.count("."), k), reverse=True):
        node, parts = tree, key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                clashes[key] = flat[key]
                break
            node = child
        else:
            if parts[-1] in node:
                clashes[key] = flat[key]
            else:
                node[parts[-1]] = flat[key]
    return _sorted_tree(tree), clashes


def _sorted_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted_tree(v) if isinstance(v, dict) else v for k, v in sorted(tree.items())}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks.")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these benchmarks only")
    parser.add_argument("--smoke", action="store_true", help="tiny loops: check that all runs")
    parser.add_argument("--out", type=Path, help="write results.json and PERFORMANCE.md here")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    unknown = sorted(set(args.only or []) - set(names))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; there are {', '.join(names)}")
    if args.smoke and args.out is None:
        parser.error("--smoke figures are noise: give --out DIR so they overwrite nothing")
    if args.smoke:
        os.environ[SMOKE_ENV] = "1"
    selected = [n for n in names if not args.only or n in args.only]

    date = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    info = machine()
    print(f"cronhook benchmarks, {date}\n{describe(info)}", flush=True)
    began = time.perf_counter()
    outcome = run_all(selected)
    outcome.skipped = set(names) - set(selected)
    duration_s = round(time.perf_counter() - began, 1)
    derive_ratios(outcome.figures)

    tables: list[tuple[Section, list[Row]]] = []
    targets: dict[str, Any] = {}
    for section in SECTIONS:
        rows, section_targets = section_rows(section, outcome)
        tables.append((section, rows))
        targets.update(section_targets)
    others = other_figures(outcome.figures)
    print()
    print(render_text(tables, others, outcome.details))
    print(f"\n{len(selected)} benchmarks in {duration_s:.0f} s", end="")
    missed = sorted(k for k, t in targets.items() if t["met"] is False)
    print(f"; targets missed: {', '.join(missed)}" if missed else "")

    write = args.out is not None or not args.only
    if write:
        results_path = args.out / "results.json" if args.out else RESULTS
        page_path = args.out / "PERFORMANCE.md" if args.out else PAGE
        tree, clashes = nest(outcome.figures)
        measured = {f.key for s in SECTIONS for f in s.figures}
        results: dict[str, Any] = {
            "date": date,
            "machine": info,
            "mode": "smoke" if args.smoke else "full",
            "duration_s": duration_s,
            "modules": {
                name: {"seconds": outcome.seconds.get(name, 0.0)}
                | ({"error": outcome.failures[name]} if name in outcome.failures else {})
                for name in selected
            },
            "targets": targets,
            "not_measured": sorted(
                k for k in measured if k not in outcome.figures and not _members(outcome.figures, k)
            ),
            **tree,
            "details": outcome.details,
        }
        if clashes:
            results["unnested"] = clashes
        results_path.parent.mkdir(parents=True, exist_ok=True)
        page_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        page = render_page(tables, others, outcome.details, info, date, duration_s, args.smoke)
        page_path.write_text(page)
        print(f"wrote {_shown(results_path)} and {_shown(page_path)}")
    if outcome.failures:
        print(f"FAILED: {', '.join(sorted(outcome.failures))}", file=sys.stderr)
        return 1
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
