"""The one template: it passes cfn-lint, and the local bootstrap builds exactly what it defines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from scripts.provision import TEMPLATE, load_template


def test_it_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_creates_the_tables_with_the_templates_keys_and_indexes(aws: dict[str, str]) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    template = load_template()["Resources"]
    for logical, output in (
        ("JobsTable", "JobsTableName"),
        ("RunsTable", "RunsTableName"),
        ("KeysTable", "KeysTableName"),
        ("StateTable", "StateTableName"),
        ("MonitorsTable", "MonitorsTableName"),
    ):
        table = dynamodb.describe_table(TableName=aws[output])["Table"]
        props = template[logical]["Properties"]
        assert table["KeySchema"] == props["KeySchema"]
        want = {g["IndexName"]: g["KeySchema"] for g in props.get("GlobalSecondaryIndexes", [])}
        have = {g["IndexName"]: g["KeySchema"] for g in table.get("GlobalSecondaryIndexes", [])}
        assert have == want


def test_it_sets_ttl_on_runs_state_keys_and_pings(aws: dict[str, str]) -> None:
    """Keys carry no `expires_at`; the sessions beside them in the keys table do; so do pings."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for output in ("RunsTableName", "StateTableName", "KeysTableName", "MonitorsTableName"):
        ttl = dynamodb.describe_time_to_live(TableName=aws[output])["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"


def test_it_gives_monitors_a_sparse_overdue_index_for_the_tick() -> None:
    props: Any = load_template()["Resources"]["MonitorsTable"]["Properties"]
    (overdue,) = props["GlobalSecondaryIndexes"]
    assert overdue["IndexName"] == "overdue"
    assert [k["AttributeName"] for k in overdue["KeySchema"]] == ["overdue_shard", "alert_at"]


def test_it_keeps_the_due_index_sparse_on_enabled_jobs(aws: dict[str, str]) -> None:
    props: Any = load_template()["Resources"]["JobsTable"]["Properties"]
    (due,) = props["GlobalSecondaryIndexes"]
    assert [k["AttributeName"] for k in due["KeySchema"]] == ["due_shard", "next_run_at"]


def test_it_expires_saved_responses_by_lifecycle(aws: dict[str, str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=aws["ResponsesBucketName"])["Rules"]
    by_id = {r["ID"]: r for r in rules}
    assert by_id["retention-30d"]["Expiration"]["Days"] == 30
    assert by_id["retention-30d"]["Filter"]["Tag"] == {"Key": "retention-days", "Value": "30"}
    assert by_id["responses-backstop"]["Filter"]["Prefix"] == "responses/"


def test_it_gives_the_dispatch_queue_a_dead_letter_queue(aws: dict[str, str]) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=aws["DispatchQueueName"])["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":cronhook-test-dispatch-dlq")
    assert int(redrive["maxReceiveCount"]) == 5


def test_it_provisions_idempotently(aws: dict[str, str]) -> None:
    from scripts.provision import provision

    assert provision(boto3.session.Session(), stage="test") == aws


def test_it_scales_every_table_and_index_it_can_provision() -> None:
    # Capacity=provisioned: each table with provisioned throughput, and each of its indexes,
    # has read and write auto scaling that tracks 70% use, and only under that condition.
    template = load_template()
    resources = template["Resources"]
    assert template["Parameters"]["Capacity"]["Default"] == "on-demand"
    targets = {
        (r["Properties"]["ResourceId"]["Fn::Sub"], r["Properties"]["ScalableDimension"]): logical
        for logical, r in resources.items()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
    }
    policies = {
        r["Properties"]["ScalingTargetId"]["Ref"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    }
    wanted = set()
    for logical, resource in resources.items():
        props = resource["Properties"]
        if "ProvisionedThroughput" not in props:
            continue
        assert props["BillingMode"]["Fn::If"] == ["Provisioned", "PROVISIONED", "PAY_PER_REQUEST"]
        ids = [(f"table/${{{logical}}}", "table")] + [
            (f"table/${{{logical}}}/index/{g['IndexName']}", "index")
            for g in props.get("GlobalSecondaryIndexes", [])
        ]
        for resource_id, level in ids:
            for unit in ("Read", "Write"):
                wanted.add((resource_id, f"dynamodb:{level}:{unit}CapacityUnits"))
    assert set(targets) == wanted and len(wanted) == 6  # jobs, due, runs
    for target in targets.values():
        assert resources[target]["Condition"] == "Provisioned"
        config = policies[target]["TargetTrackingScalingPolicyConfiguration"]
        assert config["TargetValue"] == 70


def test_it_creates_provisioned_tables_when_asked(aws_credentials: None) -> None:
    from moto import mock_aws

    from scripts.provision import provision

    with mock_aws():
        session = boto3.session.Session()
        outputs = provision(session, stage="cap", parameters={"Capacity": "provisioned"})
        dynamodb = session.client("dynamodb", region_name="us-east-1")
        jobs = dynamodb.describe_table(TableName=outputs["JobsTableName"])["Table"]
        keys = dynamodb.describe_table(TableName=outputs["KeysTableName"])["Table"]
    assert jobs["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert jobs["ProvisionedThroughput"]["WriteCapacityUnits"] == 5
    assert keys["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
