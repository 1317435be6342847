"""Volt MX Foundry's job API answers: Get All Jobs' rows, Get Job Details, Get Job History,
and the run totals they show (read in one place, `run_counts`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import jobs
from chalicelib.dialects import voltmx_foundry as foundry
from chalicelib.runs import ACTIVE_STATES
from chalicelib.schedule_fields import frequency_quartz
from chalicelib.service import Service
from chalicelib.store.base import JobRecord

HISTORY_ROWS = 100  # the newest runs a history call answers (Volt MX's call has no paging)


def _time(epoch: float | None) -> str | None:
    """Volt MX's `YYYY-MM-DD hh:mm:ss`, in UTC."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def cron_expression(job: JobRecord) -> str | None:
    """The job's schedule as cron text: its own, or the Quartz of a `frequencyInfo`."""
    schedule = job.spec.get("schedule") or {}
    if schedule.get("cron"):
        return str(schedule["cron"])
    if schedule.get("frequencyInfo"):
        return frequency_quartz(schedule["frequencyInfo"])
    return None


@dataclass(frozen=True)
class RunCounts:
    total: int
    success: int
    failure: int


def run_counts(job: JobRecord) -> RunCounts:
    """The job's run totals: the lifetime counters the job keeps (every finished run since it
    was created, whatever its history strategy keeps). The one place these are read, so that a
    new ledger changes only this."""
    return RunCounts(job.success_count + job.failure_count, job.success_count, job.failure_count)


def _user(label: object) -> str | None:
    text = str(label or "")
    return text.removeprefix("user:") or None


def job_summary(job: JobRecord, now: float) -> dict[str, Any]:
    """A job as Get All Jobs lists it."""
    spec = job.spec
    counts = run_counts(job)
    success = round(100 * counts.success / counts.total) if counts.total else 0
    last = None
    if job.last_execution:
        last = "Success" if job.last_status == 1 else "Fail"
    return {
        "jobId": job.job_id,
        "jobName": spec["title"],
        "description": spec.get("notes") or None,
        "cronExpression": cron_expression(job),
        "updatedUser": _user(spec.get("modifiedBy") or spec.get("createdBy")),
        "updatedDate": _time(job.updated_at),
        "jobStatus": "Active" if spec["enabled"] else "Inactive",
        "jobHistoryTotal": counts.total,
        "jobHistorySuccessCount": counts.success,
        "jobHistoryFailCount": counts.failure,
        "jobHistorySucPercentage": success,
        "jobHistoryFailPercentage": 100 - success if counts.total else 0,
        "jobLastRunStatus": last,
        "jobNextRunTime": _time(jobs.next_execution(job, now)),
    }


def job_detail(job: JobRecord, now: float) -> dict[str, Any]:
    """A job as Get Job Details shows it; secret header values masked."""
    spec = job.spec
    kept = (spec.get("keptFields") or {}).get(foundry.KEPT) or {}
    info = foundry.kept_info(job)
    service = None
    if info is not None:
        headers = jobs.details(job, now)["extendedData"]["headers"]
        service = {
            **{k: info.get(k, "") for k in ("version", "serviceType", "serviceName")},
            "objectName": info.get("objectName", ""),
            "operationName": info.get("operationName", ""),
            "requestheaderMap": headers,
            "serviceExecutionType": info.get("serviceExecutionType", "SERVER_URL"),
            "postData": spec["extendedData"]["body"],
            "operationSecurityLevel": info.get("operationSecurityLevel", ""),
        }
    schedule = spec.get("schedule") or {}
    return {
        "jobId": job.job_id,
        "jobName": spec["title"],
        "description": spec.get("notes") or None,
        "jobFrequency": cron_expression(job),
        "jobServiceInfo": service,
        "jobStatus": "Active" if spec["enabled"] else "Inactive",
        "historyStrategy": spec["historyStrategy"],
        "retentionPeriod": str(spec["retentionDays"]),
        "jobFrequencyInfo": kept.get("jobFrequencyInfo") or schedule.get("frequencyInfo"),
    }


def _execution_status(state: str, status: int) -> str:
    if state in ACTIVE_STATES:
        return "Running" if state == "running" else "Queued"
    return "Success" if status == 1 else "Fail"


def history(svc: Service, job: JobRecord) -> list[dict[str, Any]]:
    """The job's newest runs, newest first, as Get Job History lists them."""
    page = svc.job_history(job.account_id, job.job_id, HISTORY_ROWS, None)
    frequency = cron_expression(job)
    complete = job.spec["historyStrategy"] == "FULL"
    rows = []
    for run in page.items:
        data = run.data
        start, duration = data.get("date") or 0, int(data.get("duration") or 0)
        rows.append(
            {
                "jobRunId": int(data.get("jobLogId") or 0),
                "jobStartTime": _time(start),
                "jobEndTime": _time(start + duration / 1000) if start else None,
                "jobDuration": duration,
                "executionFrequency": frequency,
                "executionStatus": _execution_status(run.state, int(data.get("status") or 0)),
                "completeHistory": complete,
            }
        )
    return rows
