"""What the tick and the worker measure, as `make run` serves it (Prometheus text) and as a
deployed stack logs it (embedded-metric lines: tests/test_deploy.py holds the alarms to them)."""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_httpserver import HTTPServer

from chalicelib import metrics
from tests.helpers import Api, Persona, body, new_job, queued_messages
from tests.test_runs_api import work_through_the_lambda


def figure(text: str, name: str, function: str) -> float:
    found = re.search(rf'^{name}\{{function="{function}"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_it_counts_runs_and_their_start_lag_in_prometheus_text(
    api: Api, alice: Persona, settings: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/ok").respond_with_data("ok")
    httpserver.expect_request("/down").respond_with_data("no", status=500)
    before = api.get("/metrics", alice).body.decode()
    for path in ("/ok", "/down"):
        job_id = body(api.put("/jobs", alice, new_job(url=httpserver.url_for(path))))["jobId"]
        api.post(f"/jobs/{job_id}/run", alice)
    work_through_the_lambda(api, queued_messages(settings))
    response = api.get("/metrics", alice)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    after = response.body.decode()
    for name, grew in (
        ("cronhook_runs_started_total", 2),
        ("cronhook_runs_failed_total", 1),
        ("cronhook_start_lag_seconds_count", 2),
    ):
        assert figure(after, name, "worker") - figure(before, name, "worker") == grew, name
    assert "# TYPE cronhook_start_lag_seconds histogram" in after


def test_it_asks_for_a_key_to_read_the_figures(api: Api) -> None:
    assert api.get("/metrics").status_code == 401


def test_it_writes_an_embedded_metric_line_cloudwatch_can_read() -> None:
    sample = metrics.Sample.of("tick", {"ok": 3, "failed": 1, "lost": 2, "due": 7}, [5, 1500], 812)
    line = json.loads(metrics.emf(sample, "prod", 1_800_000_000.5))
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert line["_aws"]["Timestamp"] == 1_800_000_000_500
    assert directive["Dimensions"] == [["Stage", "Function"]]
    assert (line["Stage"], line["Function"]) == ("prod", "tick")
    assert (line["RunsStarted"], line["RunsFailed"], line["RunsLost"], line["DueJobs"]) == (
        4,
        1,
        2,
        7,
    )
    assert (line["StartLag"], line["TickDuration"]) == ([5, 1500], 812)
    assert {m["Name"] for m in directive["Metrics"]} <= set(line)
