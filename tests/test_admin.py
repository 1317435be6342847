"""Operator commands: keys, moving jobs in and out (cronhook, cron-job.org, Cronicle), a tick."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import jobs
from chalicelib.service import Service
from scripts import admin


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = admin.main(list(argv))
    out, err = capsys.readouterr()
    try:
        parsed = json.loads(out) if out.strip() else None
    except ValueError:
        parsed = out
    return code, parsed, err


def write(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "import.json"
    path.write_text(json.dumps(document))
    return str(path)


def stored(stores: Any, account: str) -> list[dict[str, Any]]:
    return [{"jobId": j.job_id, **jobs.editable(j)} for j in stores.jobs.list(account)]


EVERY_15_MIN = {
    "hours": [-1],
    "mdays": [-1],
    "minutes": [0, 15, 30, 45],
    "months": [-1],
    "wdays": [-1],
}


# ---- keys -----------------------------------------------------------------------------------


def test_it_creates_lists_and_revokes_a_key(stores: Any, capsys: Any) -> None:
    code, created, _ = run(
        capsys, "create-key", "--account", "acme", "--scopes", "read,run", "--name", "ops"
    )
    assert code == 0
    assert created["key"].startswith(created["prefix"])
    assert created["scopes"] == ["read", "run"]

    code, listed, _ = run(capsys, "list-keys", "--account", "acme")
    assert [(k["keyId"], k["name"], k["revoked"]) for k in listed["keys"]] == [
        (created["keyId"], "ops", False)
    ]
    assert "key" not in listed["keys"][0]

    code, revoked, _ = run(capsys, "revoke-key", "--account", "acme", "--key-id", created["keyId"])
    assert code == 0 and revoked == {"revoked": created["keyId"]}
    _, listed, _ = run(capsys, "list-keys", "--account", "acme")
    assert listed["keys"][0]["revoked"] is True


def test_it_creates_a_user_with_a_password_from_stdin(
    stores: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from chalicelib.users import Users

    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    code, out, _ = run(capsys, "create-user", "--account", "acme", "--username", "Ops")
    assert code == 0 and out["user"]["username"] == "ops"
    assert out["user"]["scopes"] == ["read", "write", "run"]
    assert "password" not in json.dumps(out).replace("passwordChangedAt", "")
    user = Users(stores).check_password("ops", "a long enough password", "127.0.0.1")
    assert user.account_id == "acme"


def test_it_refuses_a_short_password_for_a_user(
    stores: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "create-user", "--account", "acme", "--username", "ops")
    assert code == 2 and "password" in err
    assert stores.users.list("acme") == []


def test_it_does_not_revoke_another_accounts_key(stores: Any, capsys: Any) -> None:
    _, created, _ = run(capsys, "create-key", "--account", "acme")
    code, _, err = run(capsys, "revoke-key", "--account", "other", "--key-id", created["keyId"])
    assert code == 1
    assert f"no key {created['keyId']!r} in account 'other'" in err


def test_it_refuses_an_unknown_scope(stores: Any, capsys: Any) -> None:
    code, _, err = run(capsys, "create-key", "--account", "acme", "--scopes", "read,root")
    assert code == 2
    assert err.startswith("error: scopes: unknown scope 'root'")


# ---- export and import ----------------------------------------------------------------------


def test_it_moves_jobs_with_folders_chains_and_passwords_to_another_account(
    stores: Any, settings: Any, capsys: Any, tmp_path: Path
) -> None:
    service = Service(stores, settings)
    folder = service.create_folder("acct-a", {"title": "Reports"})
    first, _ = service.create_job(
        "acct-a",
        {
            "url": "https://example.com/report",
            "title": "report",
            "enabled": True,
            "folderId": folder,
            "auth": {"enable": True, "user": "bot", "password": "s3cret"},
            "schedule": {"cron": "30 4 * * 1-5", "timezone": "America/New_York"},
        },
    )
    service.create_job(
        "acct-a",
        {"url": "https://example.com/after", "title": "after", "chainSuccess": first.job_id},
    )
    service.create_job("acct-b", {"url": "https://example.com/already-there"})
    export = tmp_path / "export.json"

    code, _, err = run(capsys, "export-jobs", "--account", "acct-a", "--file", str(export))
    assert code == 0 and "exported 2 jobs" in err
    assert export.stat().st_mode & 0o077 == 0  # it holds passwords
    code, result, _ = run(capsys, "import-jobs", "--account", "acct-b", "--file", str(export))

    assert code == 0
    assert [(r["title"], r["sourceId"]) for r in result["imported"]] == [
        ("report", str(first.job_id)),
        ("after", str(first.job_id + 1)),
    ]
    assert all(r["signingSecret"].startswith("whsec_") for r in result["imported"])
    report, after = (stores.jobs.get("acct-b", r["jobId"]) for r in result["imported"])
    assert report.spec["schedule"]["cron"] == "30 4 * * 1-5"
    assert report.secrets["password"] == "s3cret"
    folders = stores.state.folders("acct-b")[0]
    assert folders[report.spec["folderId"]] == "Reports"
    assert after.spec["chainSuccess"] == report.job_id
    assert len(stores.jobs.list("acct-b")) == 3


def test_it_imports_a_cron_job_org_job_list(stores: Any, capsys: Any, tmp_path: Path) -> None:
    listing = {
        "jobs": [
            {
                "jobId": 42,
                "enabled": True,
                "title": "Example Job",
                "saveResponses": False,
                "url": "https://example.com/",
                "lastStatus": 1,
                "lastDuration": 300,
                "lastExecution": 1699999999,
                "nextExecution": 1700000900,
                "type": 0,
                "requestTimeout": 30,
                "redirectSuccess": False,
                "folderId": 7,
                "schedule": {"timezone": "Europe/Berlin", "expiresAt": 0, **EVERY_15_MIN},
                "requestMethod": 1,
            }
        ],
        "someFailed": False,
    }
    code, result, _ = run(
        capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, listing)
    )
    assert code == 0
    (row,) = result["imported"]
    assert (row["from"], row["sourceId"]) == ("jobs[0]", "42")
    (job,) = stored(stores, "acme")
    assert job["jobId"] == row["jobId"]
    assert (job["url"], job["requestMethod"], job["requestTimeout"]) == (
        "https://example.com/",
        1,
        30,
    )
    assert job["schedule"]["minutes"] == [0, 15, 30, 45]
    assert job["schedule"]["timezone"] == "Europe/Berlin"
    assert job["folderId"] == 0  # cron-job.org's folder ids mean nothing here


def test_it_imports_cron_job_org_job_details(stores: Any, capsys: Any, tmp_path: Path) -> None:
    details = [
        {
            "jobDetails": {
                "jobId": 9,
                "url": "https://example.com/hook",
                "enabled": False,
                "title": "with details",
                "auth": {"enable": True, "user": "me", "password": "********"},
                "extendedData": {"headers": {"X-Token": "abc"}, "body": "ping"},
                "notification": {"onFailure": True, "onSuccess": False, "onDisable": True},
                "schedule": {"timezone": "UTC", **EVERY_15_MIN},
                "requestMethod": 4,
            }
        }
    ]
    code, result, _ = run(
        capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, details)
    )
    assert code == 0 and result["imported"][0]["from"] == "[0].jobDetails"
    (job,) = stored(stores, "acme")
    assert job["extendedData"] == {"headers": {"X-Token": "abc"}, "body": "ping"}
    assert job["notification"]["onFailure"] is True
    assert job["requestMethod"] == 4
    assert job["auth"] == {"enable": True, "user": "me", "password": ""}  # masked: not imported


CRONICLE_SCHEDULE = {
    "code": 0,
    "rows": [
        {
            "id": "ek1",
            "title": "Nightly sync",
            "enabled": 1,
            "plugin": "urlplug",
            "category": "general",
            "target": "allgrp",
            "timezone": "America/New_York",
            "timing": {"hours": [21], "minutes": [20, 40]},
            "params": {
                "method": "POST",
                "url": "https://example.com/sync",
                "headers": "User-Agent: Cronicle/1.0\nContent-Type: application/json\n",
                "data": '{"full": true}',
                "timeout": "45",
                "follow": 1,
                "ssl_cert_bypass": 0,
                "success_match": "ok",
                "error_match": "",
            },
            "retries": 2,
            "retry_delay": 60,
            "catch_up": 1,
            "max_children": 1,
            "chain": "ek2",
        },
        {
            "id": "ek2",
            "title": "After sync",
            "enabled": 0,
            "plugin": "urlplug",
            "params": {"url": "https://example.com/after"},
        },
    ],
    "list": {"length": 2},
}


def test_it_imports_cronicle_http_events(stores: Any, capsys: Any, tmp_path: Path) -> None:
    code, result, _ = run(
        capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, CRONICLE_SCHEDULE)
    )
    assert code == 0
    assert [(r["from"], r["sourceId"]) for r in result["imported"]] == [
        ("rows[0]", "ek1"),
        ("rows[1]", "ek2"),
    ]
    nightly, after = stored(stores, "acme")
    assert nightly["title"] == "Nightly sync" and nightly["enabled"] is True
    assert nightly["url"] == "https://example.com/sync"
    assert nightly["requestMethod"] == jobs.METHODS.index("POST")
    assert nightly["extendedData"] == {
        "headers": {"User-Agent": "Cronicle/1.0", "Content-Type": "application/json"},
        "body": '{"full": true}',
    }
    assert nightly["requestTimeout"] == 45
    assert nightly["schedule"]["timing"] == {"hours": [21], "minutes": [20, 40]}
    assert nightly["schedule"]["timezone"] == "America/New_York"
    assert (nightly["redirectSuccess"], nightly["tlsVerify"]) == (True, True)
    assert (nightly["successMatch"], nightly["errorMatch"]) == ("ok", "")
    assert (nightly["retries"], nightly["retryDelay"], nightly["catchUp"]) == (2, 60, True)
    assert nightly["chainSuccess"] == after["jobId"]
    assert after["enabled"] is False
    # No timing object: on demand only (cron-job.org's form with nothing selected).
    assert "timing" not in after["schedule"] and after["schedule"]["minutes"] == []


def test_it_names_the_bad_field_and_imports_nothing(
    stores: Any, capsys: Any, tmp_path: Path
) -> None:
    listing = {
        "jobs": [
            {"url": "https://example.com/good", "schedule": {"cron": "* * * * *"}},
            {"url": "https://example.com/bad", "schedule": {**EVERY_15_MIN, "minutes": [61]}},
        ]
    }
    code, out, err = run(
        capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, listing)
    )
    assert code == 2 and out is None
    assert err.startswith("error: jobs[1].schedule.minutes: ")
    assert "61" in err
    assert stores.jobs.list("acme") == []


def test_it_names_cronicles_own_field(stores: Any, capsys: Any, tmp_path: Path) -> None:
    event = {
        "title": "x",
        "enabled": 1,
        "timing": {"minutes": [75]},
        "params": {"url": "https://e.com"},
    }
    code, _, err = run(
        capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, [event])
    )
    assert code == 2
    assert err.startswith("error: [0].timing.minutes: minute 75 is out of range 0-59")


def test_it_names_cronicles_params_field(stores: Any, capsys: Any, tmp_path: Path) -> None:
    event = {"event": {"title": "x", "params": {"url": "ftp://example.com/"}}}
    code, _, err = run(capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, event))
    assert code == 2
    assert err.startswith("error: event.params.url: must be an http:// or https:// URL")


def test_it_refuses_events_of_other_cronicle_plugins(
    stores: Any, capsys: Any, tmp_path: Path
) -> None:
    rows = {"rows": [{"title": "db", "plugin": "shellplug", "params": {"script": "#!/bin/sh"}}]}
    code, _, err = run(capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, rows))
    assert code == 2
    assert err.startswith("error: rows[0].plugin: only events of Cronicle's HTTP request plugin")


def test_it_refuses_a_chain_to_a_job_outside_the_file(
    stores: Any, capsys: Any, tmp_path: Path
) -> None:
    rows = {"rows": [{"id": "a", "title": "a", "params": {"url": "https://e.com"}, "chain": "zz"}]}
    code, _, err = run(capsys, "import-jobs", "--account", "acme", "--file", write(tmp_path, rows))
    assert code == 2
    assert err.startswith("error: rows[0].chain: chains to 'zz', which is not among")
    assert stores.jobs.list("acme") == []


def test_it_refuses_a_file_that_is_not_json(stores: Any, capsys: Any, tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_text("{not json")
    code, _, err = run(capsys, "import-jobs", "--account", "acme", "--file", str(path))
    assert code == 2
    assert err.startswith("error: --file: not valid JSON")


# ---- the tick and the local stack -----------------------------------------------------------


def test_it_refuses_a_tick_time_without_an_offset(stores: Any, capsys: Any) -> None:
    code, _, err = run(capsys, "tick", "--now", "2026-01-01T09:00:00")
    assert code == 2
    assert err.startswith("error: --now: give a time zone offset")


def test_it_reads_tick_times_as_iso_or_epoch() -> None:
    assert admin.parse_time("2026-01-01T09:00:00Z") == 1767258000
    assert admin.parse_time("2026-01-01T10:00:00+01:00") == 1767258000
    assert admin.parse_time("1767258000") == 1767258000


def test_it_says_when_no_local_stack_is_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRONHOOK_HOME", str(tmp_path))
    with pytest.raises(SystemExit, match="no local stack is running"):
        admin.main(["--local", "list-keys", "--account", "local"])


def test_operator_commands_on_aws_take_the_stacks_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # With only CRONHOOK_STAGE set, an import used the bucket name without the account and no
    # key: passwords stored unsealed. The stage's stack says what its resources are called.
    import boto3
    from moto import mock_aws

    from chalicelib import wiring
    from scripts.provision import OUTPUT_ENV

    for env in OUTPUT_ENV.values():
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("CRONHOOK_STAGE", "prod")
    monkeypatch.setenv("CRONHOOK_JOBS_TABLE", "set-by-hand")
    outputs = {
        "JobsTableName": "cronhook-prod-jobs",
        "ResponsesBucketName": "cronhook-prod-responses-123456789012",
        "SecretsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
    }
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    with mock_aws():
        with pytest.raises(SystemExit, match="no stack cronhook-prod or cronhook-prod-storage"):
            admin.use_aws_stack()
        boto3.client("cloudformation").create_stack(
            StackName="cronhook-prod", TemplateBody=json.dumps(template)
        )
        try:
            admin.use_aws_stack()
            settings = wiring.settings()
        finally:
            wiring.configure()
    assert settings.bucket == "cronhook-prod-responses-123456789012"
    assert settings.kms_key == "1234abcd-12ab-34cd-56ef-1234567890ab"
    assert settings.jobs_table == "set-by-hand"  # what the environment says wins
