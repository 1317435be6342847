"""Job secrets are sealed with KMS envelope encryption in the jobs table."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import boto3
import pytest

from chalicelib.crypto import PREFIX, KmsSealer, PlainSealer
from chalicelib.errors import StoreError
from tests.helpers import Api, Persona, body, new_job


def raw_items(table_name: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(table_name)
    items: list[dict[str, Any]] = table.scan()["Items"]  # the test may scan; the product never
    return items


@pytest.mark.backend("moto")
def test_it_stores_no_secret_of_a_job_in_clear(
    api: Api, alice: Persona, settings: Any, stores: Any
) -> None:
    created = body(
        api.put(
            "/jobs",
            alice,
            new_job(auth={"enable": True, "user": "u", "password": "hunter2-very-secret"}),
        )
    )
    definition, state = sorted(raw_items(settings.jobs_table), key=lambda i: -i["job_id"])
    assert "secrets" not in state  # the state item a run writes holds no secret
    item = definition
    assert item["secrets"].startswith(PREFIX)
    assert "hunter2-very-secret" not in str(item)
    assert created["signingSecret"] not in str(item)
    job = stores.jobs.get(alice.account, created["jobId"])
    assert job.secrets["password"] == "hunter2-very-secret"
    assert job.secrets["signing"][0]["secret"] == created["signingSecret"]


def test_it_refuses_secrets_moved_to_another_job(aws: dict[str, str]) -> None:
    sealer = KmsSealer(boto3.client("kms", region_name="us-east-1"), aws["SecretsKeyId"])
    sealed = sealer.seal({"password": "pw"}, "alice#1")
    assert sealer.open(sealed, "alice#1") == {"password": "pw"}
    with pytest.raises(StoreError):
        sealer.open(sealed, "mallory#1")


def test_it_opens_secrets_without_a_kms_call_per_read(aws: dict[str, str]) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    calls: list[str] = []
    kms.meta.events.register("before-call.kms.*", lambda event_name, **kw: calls.append(event_name))
    sealer = KmsSealer(kms, aws["SecretsKeyId"])
    sealed = [sealer.seal({"n": n}, f"a#{n}") for n in range(20)]
    assert [sealer.open(s, f"a#{n}") for n, s in enumerate(sealed)] == [{"n": n} for n in range(20)]
    assert len(calls) == 1  # one GenerateDataKey; the reads hit the cached data key
    cold = KmsSealer(kms, aws["SecretsKeyId"])
    assert cold.open(sealed[3], "a#3") == {"n": 3}
    assert len(calls) == 2  # a cold process decrypts the data key once


def test_it_reads_secrets_written_before_encryption() -> None:
    assert PlainSealer().open('{"password": "old"}', "a#1") == {"password": "old"}
    with pytest.raises(StoreError):
        PlainSealer().open(PREFIX + "{}", "a#1")


def test_it_keeps_plaintext_data_keys_out_of_botocore_debug_logs(
    aws: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kms = boto3.client("kms", region_name="us-east-1")
    sealed = KmsSealer(kms, aws["SecretsKeyId"]).seal({"password": "pw"}, "alice#1")
    assert KmsSealer(kms, aws["SecretsKeyId"]).open(sealed, "alice#1") == {"password": "pw"}
    lines = [r.getMessage() for r in caplog.records]
    encrypted_key = base64.b64decode(json.loads(sealed[len(PREFIX) :])["k"])
    data_key = base64.b64encode(kms.decrypt(CiphertextBlob=encrypted_key)["Plaintext"]).decode()
    # Both answers that carry the key (GenerateDataKey, then Decrypt) were logged, blanked.
    assert sum('"Plaintext": "<redacted>"' in line for line in lines) == 2
    assert [line for line in lines if data_key in line] == []
