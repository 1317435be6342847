"""The local stack's data file: everything saved comes back, and a failed save loses nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.notify import Notifier, settings_key
from chalicelib.service import Service
from chalicelib.store.base import Stores
from scripts import persist
from scripts.provision import environment, provision
from tests.executor_servers import Reply, Server
from tests.helpers import new_job


def _fresh_stack() -> tuple[Any, persist.Names]:
    session = boto3.session.Session()
    names = persist.Names.from_env(environment(provision(session, stage="local")))
    return session, names


def _put_everything(session: Any, names: persist.Names) -> None:
    dynamodb = session.client("dynamodb")
    for i in range(60):  # more than one BatchWriteItem's worth
        dynamodb.put_item(
            TableName=names.tables["jobs"],
            Item={
                "account_id": {"S": "alice"},
                "job_id": {"N": str(i)},
                "spec": {"S": json.dumps({"url": f"https://example.com/{i}"})},
                "tags": {"SS": ["a", "b"]},
                "blob": {"B": bytes([0, 255, i])},
                "nested": {"M": {"list": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}},
            },
        )
    dynamodb.put_item(
        TableName=names.tables["keys"],
        Item={"key_hash": {"S": "f" * 64}, "account_id": {"S": "alice"}, "key_id": {"S": "k1"}},
    )
    dynamodb.put_item(
        TableName=names.tables["runs"],
        Item={"job_key": {"S": "alice#1"}, "run_id": {"S": "r1"}, "expires_at": {"N": "99"}},
    )
    dynamodb.put_item(
        TableName=names.tables["state"], Item={"pk": {"S": "counter#job"}, "n": {"N": "60"}}
    )
    dynamodb.put_item(
        TableName=names.tables["monitors"],
        Item={"pk": {"S": "monitor#alice"}, "sk": {"S": "000000000001"}, "alert_at": {"N": "9"}},
    )
    session.client("s3").put_object(
        Bucket=names.bucket,
        Key="responses/alice/1/r1.json",
        Body=b'{"status": 200}',
        ContentType="application/json",
        Tagging="retention-days=30",
    )


def _canonical(value: Any) -> Any:
    """Sets come back in any order: compare them sorted."""
    if isinstance(value, dict):
        return {
            k: sorted(v) if k in ("SS", "NS", "BS") else _canonical(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _everything(session: Any, names: persist.Names) -> dict[str, Any]:
    document, _ = persist.snapshot(session, names)
    tables = {
        role: sorted((_canonical(i) for i in items), key=lambda i: json.dumps(i, sort_keys=True))
        for role, items in document["tables"].items()
    }
    return {"tables": tables, "objects": document["objects"]}


def test_it_brings_back_every_item_and_saved_response(
    tmp_path: Path, aws_credentials: None
) -> None:
    path = tmp_path / "data.json"
    with mock_aws():
        session, names = _fresh_stack()
        _put_everything(session, names)
        before = _everything(session, names)
        counts = persist.save(session, names, path)
    assert counts.items == {"jobs": 60, "keys": 1, "runs": 1, "state": 1, "monitors": 1}
    assert counts.objects == 1

    with mock_aws():  # a new, empty embedded AWS, as after a restart
        session, names = _fresh_stack()
        document = persist.load(path)
        assert document is not None
        restored = persist.restore(session, names, document)
        after = _everything(session, names)
    assert restored.items == counts.items and restored.objects == 1
    assert after == before
    (saved,) = after["objects"]
    assert saved["tags"] == {"retention-days": "30"}
    assert saved["contentType"] == "application/json"


def test_it_keeps_the_data_file_private(tmp_path: Path, aws_credentials: None) -> None:
    with mock_aws():
        session, names = _fresh_stack()
        persist.save(session, names, tmp_path / "data.json")
    assert (tmp_path / "data.json").stat().st_mode & 0o077 == 0


def test_it_leaves_the_previous_file_when_a_save_fails(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    persist.write_atomically(path, {"format": persist.FORMAT, "version": 1, "tables": {}})
    with pytest.raises(TypeError):
        persist.write_atomically(path, {"not json": object()})
    assert persist.load(path) == {"format": persist.FORMAT, "version": 1, "tables": {}}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_it_starts_empty_when_nothing_was_saved(tmp_path: Path) -> None:
    assert persist.load(tmp_path / "data.json") is None


def test_it_refuses_a_file_that_is_not_its_own(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('{"jobs": []}')
    with pytest.raises(persist.PersistError, match="does not hold cronhook local data"):
        persist.load(path)
    path.write_text("{half")
    with pytest.raises(persist.PersistError, match="is not valid JSON"):
        persist.load(path)


def _stack_stores() -> tuple[Any, persist.Names, Settings, Stores]:
    """A fresh stack (with a new KMS key) and the service's DynamoDB stores on it."""
    session = boto3.session.Session()
    env = environment(provision(session, stage="local"))
    settings = replace(Settings.from_env(env), allow_private_targets=True)
    wiring.configure(settings=settings)
    return session, persist.Names.from_env(env), settings, wiring.stores()


@pytest.fixture
def unwired() -> Iterator[None]:
    yield
    wiring.configure()


def test_it_brings_back_the_notification_secret_sealed_under_the_new_key(
    tmp_path: Path, aws_credentials: None, unwired: None
) -> None:
    path = tmp_path / "data.json"
    with Server({"/notify": Reply(200)}) as target:
        with mock_aws():
            session, names, settings, stores = _stack_stores()
            service = Service(stores, settings)
            secret = service.set_notification_settings("alice", {"url": target.url("/notify")})[
                "signingSecret"
            ]
            job, _ = service.create_job("alice", new_job(url=target.url("/hook"))["job"])
            sealed_before = stores.state.get_value(settings_key("alice"))["secret"]
            persist.save(session, names, path)
        saved = path.read_text()
        assert secret in saved  # the file holds it opened: moto's KMS key died with the stack

        with mock_aws():  # a new embedded AWS, with a new KMS key
            session, names, settings, stores = _stack_stores()
            document = persist.load(path)
            assert document is not None
            persist.restore(session, names, document)
            stored = stores.state.get_value(settings_key("alice"))
            restored_job = stores.jobs.get("alice", job.job_id)
            assert restored_job is not None
            Notifier(stores, settings).notify("job.failed", restored_job, {"failureStreak": 1})
        (notice,) = target.seen
    assert stored["secret"].startswith("kms1:") and stored["secret"] != sealed_before
    assert secret not in json.dumps(stored)
    from standardwebhooks import Webhook

    assert Webhook(secret).verify(notice.body, notice.headers)["type"] == "job.failed"


def test_it_splits_a_job_saved_as_one_item_and_it_fires_again(
    tmp_path: Path, aws_credentials: None, unwired: None
) -> None:
    path = tmp_path / "data.json"
    with mock_aws():
        session, names, settings, stores = _stack_stores()
        job, _ = Service(stores, settings).create_job("alice", new_job()["job"])
        persist.save(session, names, path)
    document = json.loads(path.read_text())
    # Rewrite the file as an older cronhook wrote it: one item per job, its run state on it.
    definition, state = sorted(document["tables"]["jobs"], key=lambda i: -int(i["job_id"]["N"]))
    state.pop("job_id"), state.pop("account_id"), state.pop("sv")
    document["tables"]["jobs"] = [{**definition, **state}]
    path.write_text(json.dumps(document))
    with mock_aws():
        session, names, settings, stores = _stack_stores()
        counts = persist.restore(session, names, persist.load(path) or {})
        assert counts.items["jobs"] == 1
        restored = stores.jobs.get("alice", job.job_id)
        assert restored is not None and restored.next_run_at == job.next_run_at
        assert stores.jobs.due(job.job_id % settings.due_shards, 2**40, 10) == [
            ("alice", job.job_id)
        ]
        slot = job.next_run_at or 0
        assert stores.jobs.advance("alice", job.job_id, slot, slot + 60, 1) == "started"
