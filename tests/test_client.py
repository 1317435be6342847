"""The Python client (client/cronhook_client) against the real local stack over HTTP."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from cronhook_client import (
    ApiError,
    Client,
    ConfigError,
    ConnectionFailed,
    NotFound,
    Unauthorized,
    config,
    job_entries,
    monitor_entries,
)
from pytest_httpserver import HTTPServer
from werkzeug import Response

from chalicelib import jobs as server_jobs
from chalicelib import monitors as server_monitors
from tests.cli_support import Stack, account_key, free_port

# The shared fixtures, found by pytest under their names `stack` and `target`:
from tests.cli_support import stack_fixture as stack_fixture
from tests.cli_support import target_fixture as target_fixture

WAIT_S = 30  # a run reaches its end well within this on the local stack


@pytest.fixture(scope="module")
def alice(stack: Stack) -> Client:
    return Client(stack.url, account_key(stack, "alice"))


def test_it_creates_reads_lists_changes_and_deletes_a_job(alice: Client) -> None:
    created = alice.create_job({"url": "https://example.com/a", "title": "a"})
    assert created["signingSecret"].startswith("whsec_")
    job_id = created["jobId"]
    alice.update_job(job_id, {"schedule": {"cron": "*/5 * * * *"}, "enabled": True})
    job = alice.get_job(job_id)
    assert job["schedule"]["cron"] == "*/5 * * * *"
    assert job["enabled"] is True
    assert alice.pause_job(job_id)["enabled"] is False
    assert alice.resume_job(job_id)["enabled"] is True
    assert job_id in [j["jobId"] for j in alice.list_jobs()]
    assert alice.rotate_signing_secret(job_id)["signingSecret"].startswith("whsec_")
    alice.delete_job(job_id)
    with pytest.raises(NotFound):
        alice.get_job(job_id)


def test_it_raises_the_apis_code_field_and_message(alice: Client) -> None:
    with pytest.raises(ApiError) as caught:
        alice.create_job({"url": "https://example.com", "schedule": {"cron": "61 * * * *"}})
    assert caught.value.status == 400
    assert caught.value.code == "invalid_field"
    assert caught.value.field == "schedule.cron"
    assert caught.value.message == "minute 61 is out of range 0-59"


def test_it_raises_unauthorized_for_a_wrong_key(stack: Stack) -> None:
    with pytest.raises(Unauthorized) as caught:
        Client(stack.url, "chk_000000000000_" + "x" * 43).list_jobs()
    assert caught.value.status == 401


def test_it_raises_connection_failed_when_nothing_listens() -> None:
    with pytest.raises(ConnectionFailed, match="connection refused"):
        Client(f"http://127.0.0.1:{free_port()}", "k").list_jobs()


def test_it_follows_history_cursors_across_pages(alice: Client, target: HTTPServer) -> None:
    job_id = alice.create_job({"url": target.url_for("/hook"), "title": "paged"})["jobId"]
    run_ids = {alice.run_job(job_id) for _ in range(3)}
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if len(alice.job_history(job_id, limit=100)["history"]) >= 3:
            break
        time.sleep(0.1)
    assert len(alice.job_history(job_id, limit=1)["history"]) == 1
    assert {item["runId"] for item in alice.iter_job_history(job_id, page_size=1)} == run_ids
    assert run_ids <= {item["runId"] for item in alice.iter_history(page_size=1)}
    run = alice.get_run(next(iter(run_ids)))
    assert run["jobId"] == job_id


def test_it_covers_folders_keys_scheduler_notifications_and_previews(alice: Client) -> None:
    folder_id = alice.create_folder("client-folder")
    alice.update_folder(folder_id, "client-folder-2")
    assert alice.get_folder(folder_id)["title"] == "client-folder-2"
    assert {"folderId": folder_id, "title": "client-folder-2"} in alice.list_folders()
    alice.delete_folder(folder_id)
    made = alice.create_key("bot", ["read"])
    assert made["key"].startswith("chk_")
    assert Client(alice.url, made["key"]).list_jobs() == alice.list_jobs()
    alice.revoke_key(made["keyId"])
    assert [k["revoked"] for k in alice.list_keys() if k["keyId"] == made["keyId"]] == [True]
    assert alice.set_scheduler(False) is False
    assert alice.get_scheduler() is False
    alice.set_scheduler(True)
    alice.set_notifications(email="ops@example.com")
    assert alice.get_notifications()["email"] == "ops@example.com"
    preview = alice.preview_schedule(
        {"cron": "0 4 * * *", "timezone": "Europe/Berlin"}, after="2026-01-01T00:00:00Z", count=2
    )
    assert [n["utc"] for n in preview["next"]] == ["2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z"]
    assert alice.health()["status"] == "ok"
    assert "/jobs" in alice.openapi()["paths"]
    assert isinstance(alice.active_runs(), list)


def test_it_tells_a_server_without_run_aborts(httpserver: HTTPServer) -> None:
    # what a server older than POST /runs/{runId}/abort answers (the local stack's router)
    httpserver.expect_request("/runs/1-1-1/abort", method="POST").respond_with_json(
        {"error": {"code": "not_found", "message": "no such route or method"}}, status=404
    )
    with pytest.raises(NotFound) as caught:
        Client(httpserver.url_for(""), "k").abort_run("1-1-1")
    assert caught.value.no_route is True


def test_it_tells_a_missing_run_from_a_missing_route(alice: Client) -> None:
    with pytest.raises(NotFound) as missing:
        alice.get_run("1-1-1")
    assert missing.value.no_route is False
    assert missing.value.message == "run not found"


def test_it_waits_as_a_429s_retry_after_says(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/jobs").respond_with_response(
        Response(
            '{"error": {"code": "rate_limited", "message": "slow down"}}', 429, {"Retry-After": "7"}
        )
    )
    httpserver.expect_ordered_request("/jobs").respond_with_json({"jobs": [], "someFailed": False})
    waits: list[float] = []
    client = Client(httpserver.url_for(""), "k", sleep=waits.append)
    assert client.list_jobs() == []
    assert waits == [7.0]


def test_it_gives_up_after_its_retries_with_the_429(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/jobs").respond_with_response(
        Response(
            '{"error": {"code": "rate_limited", "message": "slow down"}}', 429, {"Retry-After": "1"}
        )
    )
    waits: list[float] = []
    with pytest.raises(ApiError) as caught:
        Client(httpserver.url_for(""), "k", sleep=waits.append, max_retries=2).list_jobs()
    assert caught.value.status == 429
    assert waits == [1.0, 1.0]


def test_it_takes_url_and_key_from_the_environment_before_the_profile(tmp_path: Path) -> None:
    env = {"CRONHOOK_CONFIG": str(tmp_path / "profiles")}
    config.save(config.Profile(url="http://saved:1/", key="saved-key"), env)
    assert config.resolve(env=env).key == "saved-key"
    assert config.resolve(env=env).url == "http://saved:1"
    with_env = {**env, "CRONHOOK_URL": "http://env:2", "CRONHOOK_KEY": "env-key"}
    assert (config.resolve(env=with_env).url, config.resolve(env=with_env).key) == (
        "http://env:2",
        "env-key",
    )
    assert config.resolve(key="arg", env=with_env).key == "arg"


def test_it_writes_the_profiles_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    env = {"CRONHOOK_CONFIG": str(tmp_path / "cfg" / "profiles")}
    path = config.save(config.Profile(url="http://a:1", key="k", name="ci"), env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.resolve(profile="ci", env=env).key == "k"


def test_it_says_how_to_log_in_when_there_is_no_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cronhook login"):
        config.resolve(env={"CRONHOOK_CONFIG": str(tmp_path / "none")})


def test_it_knows_the_apis_job_defaults() -> None:
    assert job_entries.DEFAULTS == server_jobs.DEFAULTS


def test_it_knows_the_apis_monitor_defaults() -> None:
    assert server_monitors.validate({}, time.time(), set()) == monitor_entries.MONITOR_DEFAULTS
