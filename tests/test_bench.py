"""`make bench` in miniature: the runner runs every benchmark in smoke mode and writes its files;
the shared helpers do what the benchmarks rely on. No timing is asserted anywhere."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from bench import common
from bench.__main__ import SECTIONS, Outcome, fmt, nest, section_rows

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = [
    ("cold_start", "import_ms"),
    ("api", "p50_ms"),
    ("api", "p99_ms"),
    ("schedule", "next_after_per_s"),
    ("dispatch", "runs_per_s"),
    ("dispatch", "baseline_runs_per_s"),
    ("dispatch", "ratio_to_baseline"),
    ("dispatch", "moto_runs_per_s"),
    ("cost", "usd_per_million_runs"),
    ("cost", "requests_per_run"),
]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout


@pytest.mark.slow
def test_it_writes_results_with_the_required_keys(smoke_run: tuple[Path, str]) -> None:
    results = json.loads((smoke_run[0] / "results.json").read_text())
    for section, key in REQUIRED:
        assert isinstance(results[section][key], float), (section, key)
    assert results["machine"]["cores"] >= 1
    assert results["date"].endswith("Z")
    assert results["mode"] == "smoke"


@pytest.mark.slow
def test_it_writes_the_tick_dispatch_and_cost_figures(smoke_run: tuple[Path, str]) -> None:
    results = json.loads((smoke_run[0] / "results.json").read_text())
    items_read, requests = results["tick"]["items_read"], results["tick"]["requests"]
    assert len(items_read) >= 2 and set(items_read) == set(requests)
    assert all(n.isdigit() and v > 0 for n, v in items_read.items())
    # Reads track the due jobs, whatever the table size (counts, not timings).
    assert len(set(items_read.values())) == 1 and len(set(requests.values())) == 1
    assert set(results["dispatch"]["jitter_ms"]) == {"p50", "p95", "p99", "max"}
    assert results["cost"]["inline"]["wru_per_run"] >= 1
    assert results["cost"]["queued"]["sqs_requests_per_run"] > 0
    assert results["cost"]["saved_response"]["s3_requests_per_run"] == 1
    for kind in ("minutely", "hourly", "daily"):  # issue 25's figures, each the dearer path
        assert results["cost"]["write_units_per_run"][kind] >= 1, kind
        assert results["cost"]["read_units_per_run"][kind] > 0, kind
        for path in ("inline", "queued"):
            assert results["cost"][kind][path]["runs_measured"] >= 2, (kind, path)
        per_kind = [results["cost"][kind][p]["usd_per_million_runs"] for p in ("inline", "queued")]
        assert results["cost"]["usd_per_million_runs_by_kind"][kind] == max(per_kind)
    assert results["cost"]["usd_per_million_runs"] == max(
        results["cost"]["usd_per_million_runs_by_kind"].values()
    )
    assert "dispatch" not in results["modules"] or "error" not in results["modules"]["dispatch"]


@pytest.mark.slow
def test_it_writes_the_performance_page(smoke_run: tuple[Path, str]) -> None:
    page = (smoke_run[0] / "PERFORMANCE.md").read_text()
    assert page.startswith("# Performance")
    assert "| figure | value | baseline | ratio | target | met? |" in page
    assert "make bench" in page
    assert "Smoke run" in page


@pytest.mark.slow
def test_it_prints_one_table_with_the_cold_start_target(smoke_run: tuple[Path, str]) -> None:
    assert "import app (-X importtime)" in smoke_run[1]
    assert "< 300 ms" in smoke_run[1]


def test_it_refuses_a_smoke_run_that_would_overwrite_the_real_results() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--out" in done.stderr


def test_it_interpolates_percentiles_between_ranks() -> None:
    assert common.percentile([1, 2, 3, 4], 50) == 2.5
    assert common.percentile([5], 99) == 5
    assert common.summary(range(101)) == {"p50": 50, "p95": 95, "p99": 99, "max": 100}


def test_it_says_what_a_figure_nobody_measures_yet_is_waiting_for() -> None:
    dispatch = next(s for s in SECTIONS if s.module == "dispatch")
    rows, targets = section_rows(dispatch, Outcome())
    assert rows[0].value == "not measured yet (needs the tick, issue 5)"
    assert targets == {}


def test_it_shows_a_ratio_and_whether_the_target_is_met() -> None:
    dispatch = next(s for s in SECTIONS if s.module == "dispatch")
    outcome = Outcome(
        figures={"dispatch.runs_per_s": 600.0, "dispatch.baseline_runs_per_s": 1000.0}
    )
    rows, targets = section_rows(dispatch, outcome)
    assert (rows[0].value, rows[0].baseline, rows[0].ratio, rows[0].met) == (
        "600/s",
        "1,000/s",
        "0.60x",
        "NO",
    )
    assert targets["dispatch.runs_per_s"] == {"target": "ratio >= 0.80x", "met": False}


def test_it_nests_dotted_keys_and_keeps_clashing_ones_flat() -> None:
    tree, clashes = nest({"a.b.c": 1.0, "a.b.d": 2.0, "a.e": 3.0, "a.b": 4.0})
    assert tree == {"a": {"b": {"c": 1.0, "d": 2.0}, "e": 3.0}}
    assert clashes == {"a.b": 4.0}


def test_it_formats_figures_for_people() -> None:
    assert fmt(142.3, "ms") == "142 ms"
    assert fmt(0.0512, "ms") == "0.0512 ms"
    assert fmt(31234.4, "/s") == "31,234/s"
    assert fmt(1.1, "$") == "$1.10"
    assert fmt(181.0, "") == "181"


def test_it_records_every_request_the_sink_receives() -> None:
    with common.Sink() as sink:
        session = requests.Session()
        session.trust_env = False
        for n in range(3):
            assert session.get(f"{sink.url}/job/{n}", timeout=10).text == "ok"
        assert session.post(f"{sink.url}/job/9", data=b"x" * 1000, timeout=10).status_code == 200
        arrivals = sink.arrivals()
    assert [(a.method, a.path) for a in arrivals] == [
        ("GET", "/job/0"),
        ("GET", "/job/1"),
        ("GET", "/job/2"),
        ("POST", "/job/9"),
    ]
    assert all(b.at >= a.at for a, b in itertools.pairwise(arrivals))


def test_it_sizes_dynamodb_items_as_aws_counts_them() -> None:
    from bench.bench_cost import item_size

    # Names count; a number is 1 byte per 2 significant digits plus 1; lists and maps 3 bytes
    # plus 1 per element.
    assert item_size({"pk": {"S": "abc"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"n": {"N": "1000"}}) == 1 + 2
    assert item_size({"ok": {"BOOL": True}, "x": {"NULL": True}}) == 3 + 2
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)


def test_it_gives_the_cost_scenarios_long_urls_and_a_first_slot_of_each_kind() -> None:
    from bench.bench_cost import kind_cron, long_url
    from chalicelib.schedule import Schedule

    assert len(long_url("http://127.0.0.1:8123", 7, 2000)) == 2000
    assert long_url("http://127.0.0.1:8123", 7, 2000).startswith("http://127.0.0.1:8123/job/7?")
    first = 1_800_000_000 // 60 * 60 + 37 * 60  # a whole minute
    for kind, period in (("minutely", 60), ("hourly", 3600), ("daily", 86400)):
        schedule = Schedule.parse({"cron": kind_cron(kind, first)})
        assert schedule.next_after(first - 45) == first, kind
        assert schedule.next_after(first) == first + period, kind


def test_it_prices_index_writes_by_what_happens_to_the_entry() -> None:
    from bench.bench_cost import Index, Schema, write_units

    schema = Schema(("pk",), (Index("due", ("shard", "at"), "KEYS_ONLY"),))
    due = {"pk": {"S": "a"}, "shard": {"S": "s1"}, "at": {"N": "60"}, "big": {"S": "x" * 1500}}
    moved = {**due, "at": {"N": "120"}}
    gone = {k: v for k, v in due.items() if k not in ("shard", "at")}
    assert write_units(schema, None, due, ok=True) == (2, 1)  # 1.5 KB item, entry put
    assert write_units(schema, due, moved, ok=True) == (2, 2)  # key change: delete + put
    assert write_units(schema, due, gone, ok=True) == (2, 1)  # entry deleted
    assert write_units(schema, due, {**due, "big": {"S": "y"}}, ok=True) == (2, 0)
    assert write_units(schema, due, due, ok=False) == (2, 0)  # a failed condition


def test_it_prices_a_run_line_by_line() -> None:
    from bench import bench_cost

    run = bench_cost.PerRun(wru=10, rru=2, s3_puts=1, sqs=0.3, lambda_invocations=0.1)
    lines = bench_cost.dollars(run, provisioned=False)
    assert lines["dynamodb_writes"] == pytest.approx(6.25)  # 10 WRU at $0.625 per million
    assert lines["s3"] == pytest.approx(5.0)
    assert lines["sqs"] == pytest.approx(0.12)
    provisioned = bench_cost.dollars(run, provisioned=True)
    assert provisioned["dynamodb_writes"] == pytest.approx(10 * 0.00065 / (3600 * 0.7) * 1e6)
