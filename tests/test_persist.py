"""The local stack's data file: everything saved comes back, and a failed save loses nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts import persist
from scripts.provision import environment, provision


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
    assert counts.items == {"jobs": 60, "keys": 1, "runs": 1, "state": 1}
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
