"""The `cronhook` command against the local stack (`python -m scripts.local`, a real process):
in-process through Typer's CliRunner, and as the installed `cronhook` for the end-to-end checks."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cronhook_client import Client
from cronhook_client.cli import app
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner, Result

from tests.cli_support import Stack, account_key, admin_key, free_port

# The shared fixtures, found by pytest under their names `stack` and `target`:
from tests.cli_support import stack_fixture as stack_fixture
from tests.cli_support import target_fixture as target_fixture

WAIT_S = 60  # what a subprocess may take at most (a run ends within seconds)


class Cli:
    """`cronhook` for one account: in-process (`run`), or as a process in `process_env()`."""

    def __init__(self, stack: Stack, key: str, home: Path) -> None:
        self.url, self.key = stack.url, key
        self.env = {
            "CRONHOOK_URL": stack.url,
            "CRONHOOK_KEY": key,
            "CRONHOOK_CONFIG": str(home / "profiles"),
            "COLUMNS": "200",
        }
        self.home = home
        self.api = Client(stack.url, key)

    def run(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        return CliRunner().invoke(app, list(args), env={**self.env, **(env or {})}, input=input)

    def write(self, name: str, text: str) -> str:
        path = self.home / name
        path.write_text(text)
        return str(path)

    def process_env(self) -> dict[str, str]:
        """The environment of the installed `cronhook` run as a process: the venv's PATH, and
        the PYTHONPATH of these tests, so that it imports the client they import."""
        env = {**self.env, "PATH": str(Path(sys.executable).parent)}
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        return env

    def titles(self) -> list[str]:
        return sorted(job["title"] for job in self.api.list_jobs())


def executable() -> str:
    """The installed console script of the venv running the tests."""
    found = Path(sys.executable).with_name("cronhook")
    return str(found) if found.exists() else shutil.which("cronhook") or "cronhook"


@pytest.fixture
def alice(stack: Stack, tmp_path: Path, request: pytest.FixtureRequest) -> Cli:
    """A CLI for an account of this test's own."""
    return Cli(stack, account_key(stack, request.node.name[:60]), tmp_path)


@pytest.fixture(scope="module")
def local(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The stack's admin account, shared by the tests that only add jobs of their own."""
    return Cli(stack, admin_key(stack), tmp_path_factory.mktemp("local"))


# ---- login and errors ----------------------------------------------------------------------


def test_it_logs_in_and_saves_a_profile_readable_by_its_owner_only(
    local: Cli, tmp_path: Path
) -> None:
    profiles = tmp_path / "cfg" / "profiles"
    env = {"CRONHOOK_CONFIG": str(profiles), "CRONHOOK_URL": "", "CRONHOOK_KEY": ""}
    result = local.run("login", "--url", local.url, "--key", local.key, env=env)
    assert result.exit_code == 0, result.output
    assert f"saved profile 'default' to {profiles}" in result.stdout
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    listed = local.run("jobs", "list", "-o", "json", env=env)
    assert listed.exit_code == 0, listed.output
    assert isinstance(json.loads(listed.stdout), list)


def test_it_refuses_to_save_a_wrong_key(local: Cli, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    result = local.run(
        "login",
        "--url",
        local.url,
        "--key",
        "chk_000000000000_" + "x" * 43,
        env={"CRONHOOK_CONFIG": str(profiles)},
    )
    assert result.exit_code == 4
    assert "the API refused the key" in result.stderr
    assert not profiles.exists()


def test_it_exits_3_with_one_line_for_a_missing_job(local: Cli) -> None:
    result = local.run("jobs", "get", "999999")
    assert result.exit_code == 3
    assert result.stderr.strip() == "error: not found: job not found"


def test_it_exits_4_for_a_wrong_key_and_5_when_the_api_is_down(local: Cli) -> None:
    wrong = local.run("jobs", "list", env={"CRONHOOK_KEY": "chk_000000000000_" + "x" * 43})
    assert (wrong.exit_code, wrong.stderr.strip()) == (4, "error: invalid API key (HTTP 401)")
    down = local.run("jobs", "list", env={"CRONHOOK_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.exit_code == 5
    assert "connection refused" in down.stderr
    assert "Traceback" not in down.output


def test_it_exits_1_with_the_field_when_the_api_refuses(local: Cli) -> None:
    result = local.run("jobs", "create", "--url", "https://example.com", "--cron", "61 * * * *")
    assert result.exit_code == 1
    assert "[schedule.cron]: minute 61 is out of range 0-59" in result.stderr


def test_it_exits_2_on_a_usage_error(local: Cli) -> None:
    assert local.run("jobs", "get", "not-a-number").exit_code == 2


def test_it_says_clearly_when_the_server_cannot_abort_runs(local: Cli) -> None:
    result = local.run("runs", "abort", "1-1-1")
    assert result.exit_code == 3
    assert "cannot abort runs" in result.stderr or "run not found" in result.stderr


# ---- jobs, runs, history -------------------------------------------------------------------


def test_it_creates_lists_edits_runs_and_deletes_a_job(local: Cli, target: HTTPServer) -> None:
    made = local.run(
        "jobs",
        "create",
        "--url",
        target.url_for("/hook"),
        "--title",
        "cli-crud",
        "--cron",
        "0 4 * * *",
        "--tz",
        "Europe/Berlin",
        "-o",
        "json",
    )
    assert made.exit_code == 0, made.output
    job_id = json.loads(made.stdout)["jobId"]
    listed = local.run("jobs", "list")
    assert "cli-crud" in listed.stdout
    assert "0 4 * * * (Europe/Berlin)" in listed.stdout
    edited = local.run("jobs", "edit", str(job_id), "--title", "cli-crud-2", "--header", "X-A: 1")
    assert edited.exit_code == 0, edited.output
    got = yaml.safe_load(local.run("jobs", "get", str(job_id), "-o", "yaml").stdout)
    assert (got["title"], got["extendedData"]["headers"]) == ("cli-crud-2", {"X-A": "1"})
    assert local.run("jobs", "pause", str(job_id)).stdout.strip() == f"paused job {job_id}"
    assert "resumed" in local.run("jobs", "resume", str(job_id)).stdout
    ran = local.run("jobs", "run", str(job_id), "--wait", "-o", "json")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["statusText"] == "OK"
    assert local.run("jobs", "delete", str(job_id), input="n\n").exit_code == 1
    assert local.run("jobs", "delete", str(job_id), "--yes").exit_code == 0
    assert local.run("jobs", "get", str(job_id)).exit_code == 3


def test_it_follows_a_jobs_history_and_sees_a_new_run(local: Cli, target: HTTPServer) -> None:
    job_id = local.api.create_job({"url": target.url_for("/hook"), "title": "cli-follow"})["jobId"]
    follow = subprocess.Popen(
        [
            executable(),
            "history",
            str(job_id),
            "--follow",
            "--interval",
            "0.2",
            "--count",
            "1",
            "-o",
            "json",
        ],
        env=local.process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # the follower has read the (empty) history when it says so: a run now is new to it
        assert follow.stderr is not None
        assert "following job" in follow.stderr.readline()
        started = local.run("jobs", "run", str(job_id), "-o", "json")
        run_id = json.loads(started.stdout)["runId"]
        out, err = follow.communicate(timeout=WAIT_S)
    finally:
        follow.kill()
    assert follow.returncode == 0, err
    seen = [json.loads(line) for line in out.splitlines()]
    assert seen[-1]["runId"] == run_id
    assert seen[-1]["statusText"] == "OK"
    assert seen[-1]["stats"]["total"] > 0


def test_it_shows_history_with_timing_phases(local: Cli, target: HTTPServer) -> None:
    job_id = local.api.create_job({"url": target.url_for("/hook"), "title": "cli-hist"})["jobId"]
    assert local.run("jobs", "run", str(job_id), "--wait").exit_code == 0
    shown = local.run("history", str(job_id))
    for column in ("dns ms", "connect ms", "first byte ms", "total ms", "OK"):
        assert column in shown.stdout


def test_it_lists_folders_keys_and_previews_a_schedule(local: Cli) -> None:
    assert local.run("folders", "create", "cli-folder").exit_code == 0
    assert "cli-folder" in local.run("folders", "list").stdout
    made = json.loads(
        local.run("keys", "create", "--name", "cli-bot", "--scope", "read", "-o", "json").stdout
    )
    assert made["scopes"] == ["read"]
    assert "cli-bot" in local.run("keys", "list").stdout
    preview = local.run(
        "schedule",
        "preview",
        "0 4 * * *",
        "--tz",
        "Europe/Berlin",
        "--after",
        "2026-01-01T00:00:00Z",
        "--count",
        "1",
        "-o",
        "json",
    )
    assert json.loads(preview.stdout)["next"][0]["utc"] == "2026-01-01T03:00:00Z"
    assert "At 04:00" in local.run("schedule", "preview", "0 4 * * *").stdout


# ---- apply and export ----------------------------------------------------------------------

JOBS = """\
folders: [reports]
jobs:
  - name: nightly-report
    folder: reports
    url: {url}
    enabled: true
    schedule: "30 4 * * 1-5"
    requestMethod: POST
    extendedData:
      headers: {{Authorization: "Bearer ${{REPORT_TOKEN}}"}}
    chainSuccess: cleanup
  - name: cleanup
    url: {url}
    auth: {{enable: true, user: bot, password: "${{CLEANUP_PASSWORD}}"}}
"""
SECRETS = {"REPORT_TOKEN": "tok-1", "CLEANUP_PASSWORD": "pw-1"}


def test_it_applies_a_file_and_a_second_apply_changes_nothing(alice: Cli) -> None:
    file = alice.write("jobs.yaml", JOBS.format(url="https://example.com/r"))
    first = alice.run("apply", "-f", file, "--yes", env=SECRETS)
    assert first.exit_code == 0, first.output
    assert "Plan: 3 to create, 0 to change, 0 to delete" in first.stdout
    assert alice.titles() == ["cleanup", "nightly-report"]
    report = next(j for j in alice.api.list_jobs() if j["title"] == "nightly-report")
    details = alice.api.get_job(report["jobId"])
    # The header is a credential: sealed by the API and shown masked, never in clear.
    assert details["extendedData"]["headers"] == {"Authorization": "********"}
    assert details["chainSuccess"] == next(
        j["jobId"] for j in alice.api.list_jobs() if j["title"] == "cleanup"
    )
    assert "tok-1" not in first.output and "pw-1" not in first.output
    again = alice.run("apply", "-f", file, "--yes", env=SECRETS)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"No changes: the account matches {file}."


def test_it_applies_only_what_changed_in_the_file(alice: Cli) -> None:
    file = alice.write("jobs.yaml", JOBS.format(url="https://example.com/r"))
    assert alice.run("apply", "-f", file, "--yes", env=SECRETS).exit_code == 0
    alice.write("jobs.yaml", JOBS.format(url="https://example.com/r").replace("30 4", "45 4"))
    # A secret header is shown masked, as a password is: a new value in the environment goes
    # out with --resend-secrets (and whenever the URL moves to another origin).
    changed = alice.run(
        "apply", "-f", file, "--yes", "--resend-secrets", env={**SECRETS, "REPORT_TOKEN": "tok-2"}
    )
    assert changed.exit_code == 0, changed.output
    plan = changed.stdout.splitlines()
    assert "~ update job 'nightly-report'" in plan[0]
    assert plan[1:3] == [
        "    extendedData.headers.Authorization: (secret changed)",
        '    schedule.cron: "30 4 * * 1-5" -> "45 4 * * 1-5"',
    ]
    # --resend-secrets sends cleanup's password again too.
    assert "Plan: 0 to create, 2 to change, 0 to delete" in changed.stdout
    assert "tok-2" not in changed.output


def test_it_prunes_what_the_file_dropped_only_with_prune(alice: Cli) -> None:
    file = alice.write("jobs.yaml", JOBS.format(url="https://example.com/r"))
    assert alice.run("apply", "-f", file, "--yes", env=SECRETS).exit_code == 0
    smaller = (
        "jobs:\n  - name: cleanup\n    url: https://example.com/r\n"
        '    auth: {enable: true, user: bot, password: "${CLEANUP_PASSWORD}"}\n'
    )
    alice.write("jobs.yaml", smaller)
    kept = alice.run("apply", "-f", file, "--yes", env=SECRETS)
    assert "No changes" in kept.stdout
    assert alice.titles() == ["cleanup", "nightly-report"]
    pruned = alice.run("apply", "-f", file, "--prune", "--yes", env=SECRETS)
    assert pruned.exit_code == 0, pruned.output
    assert "- delete job 'nightly-report'" in pruned.stdout
    assert "- delete folder 'reports'" in pruned.stdout
    assert alice.titles() == ["cleanup"]
    assert alice.api.list_folders() == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "jobs:\n  - name: a\n    url: https://x.example\n    retries: lots\n",
            ":4: jobs[0].retries: must be an integer",
        ),
        (
            "jobs:\n  - name: a\n    url: https://x.example\n    colour: red\n",
            ":4: jobs[0].colour: unknown field",
        ),
        (
            "jobs:\n  - name: a\n    url: https://x.example\n"
            "    schedule:\n      cron: '61 * * * *'\n",
            ":5: jobs[0].schedule.cron: minute 61 is out of range 0-59",
        ),
        (
            "jobs:\n  - name: a\n    url: https://x.example\n    extendedData:\n"
            "      headers: {X-Token: '${NOT_SET_ANYWHERE}'}\n",
            ":5: jobs[0].extendedData.headers.X-Token: "
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "jobs:\n  - name: a\n    url: https://x.example\n  - name: a\n    url: https://y.example\n",
            ":4: jobs[1].name: 'a' is already the name of jobs[0]",
        ),
        (
            "monitors:\n  - name: backup\n    grace: 10\n",
            ":3: monitors[0].grace: must be between 60 and 31536000 seconds",
        ),
        (
            "monitors:\n  - name: backup\n    schedule:\n      cron: '61 * * * *'\n",
            ":4: monitors[0].schedule.cron: minute 61 is out of range 0-59",
        ),
        (
            "monitors:\n  - name: backup\n    schedule: '0 2 * * *'\n    timezone: Mars/Olympus\n",
            ":4: monitors[0].timezone: ",
        ),
        (
            "monitors:\n  - name: backup\n    pingUrl: https://x.example/ping/abc\n",
            ":3: monitors[0].pingUrl: is read-only (the API sets it): leave it out",
        ),
        (
            "monitors:\n  - name: a\n  - name: a\n",
            ":3: monitors[1].name: 'a' is already the name of monitors[0]",
        ),
        (
            "monitors:\n  - name: backup\n    schedule: {every: 3600, grace: 60}\n",
            ":3: monitors[0].schedule.grace: unknown field beside `every`",
        ),
        (
            "monitors:\n  - name: backup\n    folder: ops\n",
            ":3: monitors[0].folder: folder 'ops' is not in this file's `folders`",
        ),
    ],
)
def test_it_rejects_an_invalid_file_with_its_line_and_field_and_changes_nothing(
    stack: Stack, tmp_path: Path, text: str, where: str
) -> None:
    local = Cli(stack, admin_key(stack), tmp_path)
    before = local.api.list_jobs()
    file = local.write("bad.yaml", text)
    result = local.run("apply", "-f", file, "--yes", "--prune")
    monitors_before = local.api.list_monitors()
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.strip().startswith(f"error: {file}{where}")
    assert local.api.list_jobs() == before
    assert local.api.list_monitors() == monitors_before


def test_it_says_what_a_partly_failed_apply_did_and_a_rerun_completes_it(alice: Cli) -> None:
    bad = (
        "jobs:\n  - name: first\n    url: https://example.com/1\n"
        "  - name: second\n    url: https://example.com/2\n"
        "    extendedData:\n      headers: {Content-Length: '5'}\n"
    )
    file = alice.write("jobs.yaml", bad)
    failed = alice.run("apply", "-f", file, "--yes")
    assert failed.exit_code == 1
    assert "✓ create job 'first'" in failed.stdout
    assert (
        f"✗ create job 'second': is set by the transport and cannot be overridden ({file}:7: "
        "jobs[1].extendedData.headers.Content-Length)" in failed.stdout
    )
    assert "1 of 2 changes applied, 1 not: create job 'second'" in failed.stderr
    assert alice.titles() == ["first"]
    alice.write("jobs.yaml", bad.replace("Content-Length", "X-Length"))
    rerun = alice.run("apply", "-f", file, "--yes")
    assert rerun.exit_code == 0, rerun.output
    assert "Plan: 1 to create, 0 to change, 0 to delete" in rerun.stdout
    assert alice.titles() == ["first", "second"]


def test_it_exports_a_file_that_applies_as_a_no_op_without_its_secrets(alice: Cli) -> None:
    folder = alice.api.create_folder("ops")
    alice.api.create_job(
        {
            "url": "https://example.com/deploy",
            "title": "deploy hook",
            "folderId": folder,
            "enabled": True,
            "schedule": {
                "hours": [-1],
                "mdays": [-1],
                "minutes": [0, 30],
                "months": [-1],
                "wdays": [1, 2, 3, 4, 5],
                "timezone": "Europe/Berlin",
            },
            "requestMethod": 1,
            "extendedData": {
                "headers": {"Authorization": "Bearer s3cret", "X-Plain": "1"},
                "body": "go",
            },
            "auth": {"enable": True, "user": "bot", "password": "hunter2"},
            "retries": 2,
            "successCodes": [200, "300-302"],
        }
    )
    out = alice.home / "exported.yaml"
    exported = alice.run("export", "-f", str(out))
    assert exported.exit_code == 0, exported.output
    text = out.read_text()
    assert "s3cret" not in text and "hunter2" not in text
    assert "Authorization: ${DEPLOY_HOOK_AUTHORIZATION}" in text
    assert "password: ${DEPLOY_HOOK_PASSWORD}" in text
    assert (
        "DEPLOY_HOOK_AUTHORIZATION (header Authorization of job 'deploy hook')" in exported.stderr
    )
    env = {"DEPLOY_HOOK_AUTHORIZATION": "Bearer s3cret", "DEPLOY_HOOK_PASSWORD": "anything"}
    applied = alice.run("apply", "-f", str(out), "--prune", "--yes", env=env)
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.strip() == f"No changes: the account matches {out}."


def test_it_runs_as_an_installed_command_with_its_exit_codes(local: Cli, tmp_path: Path) -> None:
    env = local.process_env()
    shown = subprocess.run(
        [executable(), "jobs", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert shown.returncode == 0, shown.stderr
    assert isinstance(json.loads(shown.stdout), list)
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs: [1]\n")
    refused = subprocess.run(
        [executable(), "apply", "-f", str(bad), "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert refused.returncode == 2
    assert (
        refused.stderr.strip()
        == f"error: {bad}:1: jobs[0]: each job must be a mapping with at least name and url"
    )


def test_it_creates_a_monitor_that_a_ping_brings_up(alice: Cli) -> None:
    import requests

    created = alice.run("monitors", "create", "--title", "backup", "--every", "3600", "-o", "json")
    assert created.exit_code == 0, created.output
    answer = json.loads(created.stdout)
    assert answer["pingUrl"].startswith("http://127.0.0.1:")
    monitor = str(answer["monitorId"])
    assert "new" in alice.run("monitors", "list").stdout
    assert requests.get(answer["pingUrl"], timeout=10).status_code == 200
    shown = json.loads(alice.run("monitors", "get", monitor, "-o", "json").stdout)
    assert shown["status"] == "up"
    pings = alice.run("monitors", "pings", monitor)
    assert pings.exit_code == 0 and "success" in pings.stdout
    assert alice.run("monitors", "pause", monitor).exit_code == 0
    assert json.loads(alice.run("monitors", "get", monitor, "-o", "json").stdout)["status"] == (
        "paused"
    )
    assert alice.run("monitors", "delete", monitor).exit_code == 0
    assert alice.run("monitors", "get", monitor).exit_code == 3
    refused = alice.run("monitors", "create", "--title", "x")
    assert refused.exit_code == 2 and "--every" in refused.output


# ---- notifications and run-now overrides ---------------------------------------------------


def test_it_sets_a_jobs_notifications_on_create_and_edit_and_shows_them(local: Cli) -> None:
    made = local.run(
        "jobs",
        "create",
        "--url",
        "https://example.com/notify",
        "--title",
        "cli-notify",
        "--notify-failure",
        "--notify-after",
        "3",
        "-o",
        "json",
    )
    assert made.exit_code == 0, made.output
    job_id = str(json.loads(made.stdout)["jobId"])
    edited = local.run(
        "jobs", "edit", job_id, "--notify-success", "--notify-cert", "--cert-days", "14"
    )
    assert edited.exit_code == 0, edited.output
    assert edited.stdout.strip() == f"updated job {job_id}: notification"
    shown = json.loads(local.run("jobs", "notifications", job_id, "-o", "json").stdout)
    assert shown == {
        "onFailure": True,
        "onFailureCount": 3,
        "onSuccess": True,
        "onDisable": False,
        "onSslCertExpiry": True,
        "onSslCertExpirySeconds": 14 * 86400,
    }
    table = local.run("jobs", "notifications", job_id).stdout
    assert "after 3 failure(s) in a row" in table
    assert "14 days before the TLS cert expires" in table


def test_it_exits_1_with_the_field_for_a_notification_the_api_refuses(local: Cli) -> None:
    made = local.run("jobs", "create", "--url", "https://example.com/n", "--notify-after", "5000")
    assert made.exit_code == 1
    assert made.stderr.startswith("error: the API refused [notification.onFailureCount]: ")
    assert len(made.stderr.strip().splitlines()) == 1


def test_it_shows_and_sets_where_the_accounts_notices_go(alice: Cli) -> None:
    set_ = alice.run(
        "notifications", "--url", "https://example.com/notices", "--email", "ops@example.com"
    )
    assert set_.exit_code == 0, set_.output
    assert "signingSecret" in set_.stdout  # a new URL's secret, shown this once
    shown = json.loads(alice.run("notifications", "-o", "json").stdout)
    assert shown == {"url": "https://example.com/notices", "email": "ops@example.com"}


def test_it_runs_a_job_now_with_this_runs_body_header_and_method(
    local: Cli, target: HTTPServer
) -> None:
    job_id = local.api.create_job({"url": target.url_for("/hook"), "title": "cli-override"})[
        "jobId"
    ]
    ran = local.run(
        "jobs",
        "run",
        str(job_id),
        "--body",
        '{"once": true}',
        "--header",
        "X-Once:yes",
        "--method",
        "POST",
        "--request-timeout",
        "5",
        "--url",
        target.url_for("/hook") + "?once=1",
        "--wait",
        "-o",
        "json",
    )
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)["statusText"] == "OK"
    sent = [req for req, _ in target.log if req.headers.get("X-Once") == "yes"]
    assert [(r.method, r.query_string, r.get_data(as_text=True)) for r in sent] == [
        ("POST", b"once=1", '{"once": true}')
    ]
    job = local.api.get_job(job_id)  # the job itself is unchanged
    assert (job["requestMethod"], job["extendedData"]) == (0, {"headers": {}, "body": ""})


def test_it_exits_1_naming_the_override_the_api_refuses(local: Cli, target: HTTPServer) -> None:
    job_id = local.api.create_job({"url": target.url_for("/hook"), "title": "cli-bad-run"})["jobId"]
    refused = local.run("jobs", "run", str(job_id), "--request-timeout", "999")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: the API refused [requestTimeout]: ")
    wrong = local.run("jobs", "run", str(job_id), "--method", "FETCH")
    assert wrong.exit_code == 2 and "one of GET, POST" in wrong.output


# ---- monitors as code ----------------------------------------------------------------------

MONITORS = """\
folders: [ops]
monitors:
  - name: backup
    folder: ops
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    grace: 1800
  - name: heartbeat
    schedule: {every: 3600}
    notification: {onMonitorUp: false}
"""


def test_it_applies_monitors_and_a_second_apply_changes_nothing(alice: Cli) -> None:
    file = alice.write("jobs.yaml", MONITORS)
    first = alice.run("apply", "-f", file, "--yes")
    assert first.exit_code == 0, first.output
    assert "+ create monitor 'backup'" in first.stdout
    assert "    grace: 1800" in first.stdout
    assert "Plan: 3 to create, 0 to change, 0 to delete" in first.stdout
    assert "ping URLs of the 2 monitor(s) created are not printed" in first.stderr
    made = {m["title"]: m for m in alice.api.list_monitors()}
    backup, heartbeat = made["backup"], made["heartbeat"]
    assert (backup["schedule"], backup["timezone"], backup["grace"]) == (
        {"cron": "0 2 * * *"},
        "Europe/Berlin",
        1800,
    )
    assert backup["folderId"] == alice.api.list_folders()[0]["folderId"]
    assert heartbeat["notification"] == {"onMonitorDown": True, "onMonitorUp": False}
    again = alice.run("apply", "-f", file, "--yes")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"No changes: the account matches {file}."


def test_it_changes_only_the_monitor_fields_the_file_changed(alice: Cli) -> None:
    file = alice.write("jobs.yaml", MONITORS)
    assert alice.run("apply", "-f", file, "--yes").exit_code == 0
    alice.write("jobs.yaml", MONITORS.replace("grace: 1800", "grace: 600").replace("0 2", "30 2"))
    changed = alice.run("apply", "-f", file, "--yes")
    assert changed.exit_code == 0, changed.output
    plan = changed.stdout.splitlines()
    assert plan[0].startswith("~ update monitor 'backup' (id ")
    assert plan[1:3] == ['    schedule.cron: "0 2 * * *" -> "30 2 * * *"', "    grace: 1800 -> 600"]
    assert "Plan: 0 to create, 1 to change, 0 to delete" in changed.stdout
    backup = next(m for m in alice.api.list_monitors() if m["title"] == "backup")
    assert (backup["schedule"], backup["grace"]) == ({"cron": "30 2 * * *"}, 600)
    switched = MONITORS.replace("{every: 3600}", '"*/10 * * * *"')
    alice.write("jobs.yaml", switched)
    moved = alice.run("apply", "-f", file, "--yes", "--dry-run")
    assert "    schedule.every: 3600 -> null" in moved.stdout
    assert '    schedule.cron: null -> "*/10 * * * *"' in moved.stdout


def test_it_prunes_monitors_only_when_the_file_has_monitors(alice: Cli) -> None:
    file = alice.write("jobs.yaml", MONITORS)
    assert alice.run("apply", "-f", file, "--yes").exit_code == 0
    alice.write("jobs.yaml", "folders: [ops]\njobs: []\n")
    kept = alice.run("apply", "-f", file, "--prune", "--yes")
    assert kept.exit_code == 0, kept.output
    assert "No changes" in kept.stdout
    assert len(alice.api.list_monitors()) == 2
    alice.write("jobs.yaml", MONITORS.split("  - name: heartbeat")[0])
    pruned = alice.run("apply", "-f", file, "--prune", "--yes", "--show-secrets")
    assert pruned.exit_code == 0, pruned.output
    assert "- delete monitor 'heartbeat'" in pruned.stdout
    assert [m["title"] for m in alice.api.list_monitors()] == ["backup"]


def test_it_prints_a_new_monitors_ping_url_only_with_show_secrets(alice: Cli) -> None:
    file = alice.write("jobs.yaml", "monitors:\n  - name: nightly\n")
    shown = alice.run("apply", "-f", file, "--yes", "--show-secrets")
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.stdout.splitlines() if x.startswith("ping URL of monitor"))
    url = line.split(": ", 1)[1]
    import requests

    assert requests.get(url, timeout=10).status_code == 200
    assert alice.api.list_monitors()[0]["status"] == "up"


def test_it_exports_monitors_that_apply_as_a_no_op(alice: Cli) -> None:
    folder = alice.api.create_folder("ops")
    alice.api.create_monitor(
        {
            "title": "backup",
            "schedule": {"cron": "0 2 * * *"},
            "timezone": "Europe/Berlin",
            "grace": 1800,
            "folderId": folder,
            "notification": {"onMonitorUp": False},
        }
    )
    alice.api.create_monitor({"title": "heartbeat", "schedule": {"every": 600}})
    alice.api.create_monitor({})  # untitled: exported as monitor-<id>
    out = alice.home / "exported.yaml"
    exported = alice.run("export", "-f", str(out))
    assert exported.exit_code == 0, exported.output
    document = yaml.safe_load(out.read_text())
    assert document["monitors"][:2] == [
        {
            "name": "backup",
            "folder": "ops",
            "schedule": "0 2 * * *",
            "grace": 1800,
            "timezone": "Europe/Berlin",
            "notification": {"onMonitorUp": False},
        },
        {"name": "heartbeat", "schedule": {"every": 600}},
    ]
    assert document["monitors"][2]["name"].startswith("monitor-")
    assert "ping" not in out.read_text()
    untitled = document["monitors"][2]["name"]
    # As for jobs: the untitled monitor is matched by its id and given the exported name.
    titled = alice.run("apply", "-f", str(out), "--prune", "--yes")
    assert titled.exit_code == 0, titled.output
    assert titled.stdout.splitlines()[1:2] == [f'    title: "" -> "{untitled}"']
    assert "Plan: 0 to create, 1 to change, 0 to delete" in titled.stdout
    applied = alice.run("apply", "-f", str(out), "--prune", "--yes")
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.strip() == f"No changes: the account matches {out}."


def test_it_edits_a_monitors_schedule_folder_and_notices(alice: Cli) -> None:
    alice.api.create_folder("ops")
    created = alice.run(
        "monitors", "create", "--title", "sync", "--every", "600", "--no-notify-down", "-o", "json"
    )
    assert created.exit_code == 0, created.output
    monitor = str(json.loads(created.stdout)["monitorId"])
    edited = alice.run(
        "monitors",
        "edit",
        monitor,
        "--cron",
        "0 3 * * *",
        "--tz",
        "Europe/Berlin",
        "--grace",
        "900",
        "--folder",
        "ops",
        "--no-notify-up",
    )
    assert edited.exit_code == 0, edited.output
    shown = json.loads(alice.run("monitors", "get", monitor, "-o", "json").stdout)
    assert (shown["schedule"], shown["timezone"], shown["grace"]) == (
        {"cron": "0 3 * * *"},
        "Europe/Berlin",
        900,
    )
    assert shown["folderId"] == alice.api.list_folders()[0]["folderId"]
    assert shown["notification"] == {"onMonitorDown": False, "onMonitorUp": False}
    assert "notification.onMonitorUp" in alice.run("monitors", "get", monitor).stdout
    both = alice.run("monitors", "edit", monitor, "--every", "60", "--cron", "* * * * *")
    assert both.exit_code == 2 and "not both" in both.output


def test_it_applies_a_jobs_notification_settings_field_by_field(alice: Cli) -> None:
    text = (
        "jobs:\n  - name: watched\n    url: https://example.com/w\n"
        "    notification: {onFailure: true, onFailureCount: 1}\n"
    )
    file = alice.write("jobs.yaml", text)
    assert alice.run("apply", "-f", file, "--yes").exit_code == 0
    alice.write("jobs.yaml", text.replace("onFailureCount: 1", "onFailureCount: 3"))
    changed = alice.run("apply", "-f", file, "--yes")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.splitlines()[1:2] == ["    notification.onFailureCount: 1 -> 3"]
    job_id = str(alice.api.list_jobs()[0]["jobId"])
    shown = json.loads(alice.run("jobs", "notifications", job_id, "-o", "json").stdout)
    assert (shown["onFailure"], shown["onFailureCount"]) == (True, 3)


@pytest.mark.parametrize("command", [["apply", "--yes", "-f"], ["export", "-f"]])
def test_it_gives_one_line_when_apply_or_export_meets_a_wrong_key_or_no_api(
    local: Cli, command: list[str]
) -> None:
    file = local.write("one-line.yaml", MONITORS)
    wrong = local.run(*command, file, env={"CRONHOOK_KEY": "chk_000000000000_" + "x" * 43})
    assert (wrong.exit_code, wrong.stderr.strip()) == (4, "error: invalid API key (HTTP 401)")
    down = local.run(*command, file, env={"CRONHOOK_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.exit_code == 5
    assert len(down.stderr.strip().splitlines()) == 1
    assert "connection refused" in down.stderr


def test_it_refuses_to_apply_to_monitors_that_share_a_title(alice: Cli) -> None:
    first = alice.api.create_monitor({"title": "dup"})["monitorId"]
    second = alice.api.create_monitor({"title": "dup"})["monitorId"]
    file = alice.write("jobs.yaml", "monitors:\n  - name: dup\n")
    refused = alice.run("apply", "-f", file, "--yes")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"error: monitors {first}, {second} are all titled 'dup': apply finds monitors by "
        "title; rename or delete all but one"
    )
