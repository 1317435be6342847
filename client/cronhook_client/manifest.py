"""The jobs file that `cronhook apply` reads and `cronhook export` writes.

    folders: [reports]
    jobs:
      - name: nightly-report          # the job's title: apply finds the job by it
        folder: reports               # a folder of this file, by title
        url: https://example.com/report
        enabled: true
        schedule: {cron: "30 4 * * 1-5", timezone: America/New_York}
        extendedData:
          headers: {Authorization: "Bearer ${REPORT_TOKEN}"}
        chainSuccess: cleanup         # another job of this file, by name (or a job id)
    monitors:
      - name: nightly-backup          # the monitor's title
        schedule: "0 2 * * *"         # or {every: seconds}
        timezone: Europe/Berlin
        grace: 1800

Every other key of a job is a job field of the API with its name and meaning (job_entries.py),
of a monitor a monitor field (monitor_entries.py); a field left out means its default, so the
file states the whole job or monitor. `${NAME}` in any string is replaced by the environment
variable NAME (`$${` is a literal `${`); a missing variable is an error. Errors name the file,
line and field, and are raised before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cronhook_client.job_entries import parse_job
from cronhook_client.manifest_model import Manifest
from cronhook_client.monitor_entries import parse_monitor
from cronhook_client.yaml_lines import ManifestError, parse_yaml


def load(path: str | Path, env: Mapping[str, str], *, text: str | None = None) -> Manifest:
    """Read and check a jobs file (`-` is stdin's text, passed as `text`)."""
    file = str(path)
    if text is None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ManifestError(file, None, None, f"cannot read: {exc.strerror}") from None
    data, lines = parse_yaml(text, file)
    m = Manifest(file=file, folders=[], jobs=[], lines=lines)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManifestError(file, 1, None, "must be a mapping with `jobs`, `monitors`, `folders`")
    for key in data:
        if key not in ("version", "folders", "jobs", "monitors"):
            raise m.error(
                key, "unknown key: a jobs file has `version`, `folders`, `jobs` and `monitors`"
            )
    if data.get("version", 1) != 1:
        raise m.error("version", "this cronhook reads version 1 only")
    folders = data.get("folders") or []
    if not isinstance(folders, list):
        raise m.error("folders", "must be a list of folder titles")
    for n, title in enumerate(folders):
        if not isinstance(title, str) or not title.strip():
            raise m.error(f"folders[{n}]", "must be a folder title")
        if title in m.folders:
            raise m.error(f"folders[{n}]", f"folder {title!r} is listed twice")
        m.folders.append(title)
    raw_jobs = data.get("jobs") or []
    if not isinstance(raw_jobs, list):
        raise m.error("jobs", "must be a list of jobs")
    names: dict[str, str] = {}
    for n, raw in enumerate(raw_jobs):
        job = parse_job(raw, f"jobs[{n}]", env, m)
        if job.name in names:
            raise m.error(
                f"{job.path}.name", f"{job.name!r} is already the name of {names[job.name]}"
            )
        names[job.name] = job.path
        m.jobs.append(job)
    for job in m.jobs:
        for key, target in job.chains.items():
            if target not in names:
                raise m.error(f"{job.path}.{key}", f"no job named {target!r} in this file")
    m.manages_monitors = "monitors" in data
    raw_monitors = data.get("monitors") or []
    if not isinstance(raw_monitors, list):
        raise m.error("monitors", "must be a list of monitors")
    monitor_names: dict[str, str] = {}
    for n, raw in enumerate(raw_monitors):
        monitor = parse_monitor(raw, f"monitors[{n}]", env, m)
        if monitor.name in monitor_names:
            raise m.error(
                f"{monitor.path}.name",
                f"{monitor.name!r} is already the name of {monitor_names[monitor.name]}",
            )
        monitor_names[monitor.name] = monitor.path
        m.monitors.append(monitor)
    return m
