"""Create cronhook's tables, bucket and queues from infra/resources.json in an AWS(-like) endpoint.

The local stack and the tests use this against moto, so the template stays the one definition of
the storage: nothing here names a table attribute, an index or a lifecycle rule of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent / "infra" / "resources.json"
LOCAL_ACCOUNT = "123456789012"

# Output name in the template -> environment variable the app reads (chalicelib.config).
OUTPUT_ENV = {
    "JobsTableName": "CRONHOOK_JOBS_TABLE",
    "RunsTableName": "CRONHOOK_RUNS_TABLE",
    "KeysTableName": "CRONHOOK_KEYS_TABLE",
    "StateTableName": "CRONHOOK_STATE_TABLE",
    "MonitorsTableName": "CRONHOOK_MONITORS_TABLE",
    "ResponsesBucketName": "CRONHOOK_BUCKET",
    "DispatchQueueName": "CRONHOOK_QUEUE",
    "SecretsKeyId": "CRONHOOK_KMS_KEY",
}


# What only AWS enforces: the bucket's TLS-only policy (moto serves plain HTTP on loopback).
LEFT_OUT_LOCALLY = frozenset({"AWS::S3::BucketPolicy"})


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as f:
        data: dict[str, Any] = json.load(f)
    return data


_NO_VALUE = object()  # AWS::NoValue: the property is left out


class _Resolver:
    """Resolves the few intrinsic functions the template uses (Ref, Fn::Sub, Fn::GetAtt, Fn::If
    on its conditions, which compare parameters with Fn::Equals)."""

    def __init__(
        self,
        template: Mapping[str, Any],
        stage: str,
        region: str,
        account: str,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        defaults = {
            name: str(spec["Default"])
            for name, spec in template.get("Parameters", {}).items()
            if "Default" in spec
        }
        self.pseudo = {
            **defaults,
            **(parameters or {}),
            "Stage": stage,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::Partition": "aws",
        }
        self.physical: dict[str, str] = {}
        self.attributes: dict[tuple[str, str], str] = {}
        self.conditions = {
            name: self._holds(rule) for name, rule in template.get("Conditions", {}).items()
        }

    def _holds(self, rule: Mapping[str, Any]) -> bool:
        if set(rule) != {"Fn::Equals"}:
            raise ValueError(f"cannot evaluate the condition {rule!r} locally")
        left, right = (self(v) for v in rule["Fn::Equals"])
        return bool(left == right)

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                name = value["Ref"]
                if name == "AWS::NoValue":
                    return _NO_VALUE
                return self.pseudo[name] if name in self.pseudo else self.physical[name]
            if set(value) == {"Fn::Sub"}:
                return re.sub(r"\$\{([^}]+)\}", lambda m: self._sub(m.group(1)), value["Fn::Sub"])
            if set(value) == {"Fn::GetAtt"}:
                logical, attribute = value["Fn::GetAtt"]
                return self.attributes[(logical, attribute)]
            if set(value) == {"Fn::If"}:
                condition, then, otherwise = value["Fn::If"]
                return self(then if self.conditions[condition] else otherwise)
            resolved = {k: self(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self(v) for v in value) if v is not _NO_VALUE]
        return value

    def _sub(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if "." in name:
            logical, attribute = name.split(".", 1)
            return self.attributes[(logical, attribute)]
        return self.physical[name]


def _create_table(dynamodb: Any, props: Mapping[str, Any]) -> str:
    name = str(props["TableName"])
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("ProvisionedThroughput"):
        kwargs["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        kwargs["SSESpecification"] = {"Enabled": True}
    try:
        dynamodb.create_table(**kwargs)
    except dynamodb.exceptions.ResourceInUseException:
        return name
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return name


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a CloudFormation lifecycle rule into the S3 API's shape."""
    out: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters", [])]
    prefix = rule.get("Prefix")
    if tags and (prefix or len(tags) > 1):
        out["Filter"] = {"And": {"Prefix": prefix or "", "Tags": tags}}
    elif tags:
        out["Filter"] = {"Tag": tags[0]}
    else:
        out["Filter"] = {"Prefix": prefix or ""}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    return out


def _create_bucket(s3: Any, props: Mapping[str, Any], region: str) -> str:
    name = str(props["BucketName"])
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        return name
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    if rules:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(r) for r in rules]}
        )
    encryption = props.get("BucketEncryption")
    if encryption:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                    for r in encryption["ServerSideEncryptionConfiguration"]
                ]
            },
        )
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)
    return name


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
)


def _create_queue(sqs: Any, props: Mapping[str, Any]) -> tuple[str, str, str]:
    name = str(props["QueueName"])
    attributes = {
        k: str(props[k]).lower() if isinstance(props[k], bool) else str(props[k])
        for k in _QUEUE_ATTRIBUTES
        if k in props
    }
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return name, url, arn


def _existing_key(kms: Any, resolve: _Resolver, resources: Mapping[str, Any], logical: str) -> Any:
    """The key an alias of the template already names (so provisioning twice makes one key)."""
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Alias" and props.get("TargetKeyId") == {"Ref": logical}:
            try:
                return kms.describe_key(KeyId=resolve(props["AliasName"]))["KeyMetadata"]
            except kms.exceptions.NotFoundException:
                return None
    return None


def provision(
    session: Any,
    *,
    stage: str = "local",
    region: str = "us-east-1",
    account: str = LOCAL_ACCOUNT,
    endpoint_url: str | None = None,
    template: Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Create every resource of the template (idempotently) and return the template's outputs.
    Resources whose condition does not hold are left out, and so is auto scaling (a local
    endpoint has no capacity to scale)."""
    template = load_template() if template is None else template
    resolve = _Resolver(template, stage, region, account, parameters)
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = session.client(
                service, region_name=region, endpoint_url=endpoint_url
            )
        return clients[service]

    resources = template["Resources"]
    pending = [
        logical
        for logical, resource in resources.items()
        if resolve.conditions.get(resource.get("Condition", ""), True)
        and resource["Type"] not in LEFT_OUT_LOCALLY
        and not resource["Type"].startswith("AWS::ApplicationAutoScaling::")
    ]
    while pending:
        progressed = False
        for logical in list(pending):
            try:
                props = resolve(resources[logical].get("Properties", {}))
            except KeyError:
                continue  # depends on a resource not created yet
            kind = resources[logical]["Type"]
            if kind == "AWS::DynamoDB::Table":
                resolve.physical[logical] = _create_table(client("dynamodb"), props)
            elif kind == "AWS::S3::Bucket":
                resolve.physical[logical] = _create_bucket(client("s3"), props, region)
            elif kind == "AWS::KMS::Key":
                kms = client("kms")
                key = (
                    _existing_key(kms, resolve, resources, logical)
                    or kms.create_key(Description=props.get("Description", ""))["KeyMetadata"]
                )
                resolve.physical[logical] = key["KeyId"]
                resolve.attributes[(logical, "Arn")] = key["Arn"]
            elif kind == "AWS::KMS::Alias":
                kms = client("kms")
                try:
                    kms.create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
                except kms.exceptions.AlreadyExistsException:
                    pass
                resolve.physical[logical] = props["AliasName"]
            elif kind == "AWS::SQS::Queue":
                name, url, arn = _create_queue(client("sqs"), props)
                resolve.physical[logical] = url
                resolve.attributes[(logical, "Arn")] = arn
                resolve.attributes[(logical, "QueueName")] = name
            else:
                raise ValueError(f"{logical}: cannot create {kind} locally")
            pending.remove(logical)
            progressed = True
        if not progressed:
            raise ValueError(f"unresolvable references in {', '.join(pending)}")
    return {name: resolve(out["Value"]) for name, out in template.get("Outputs", {}).items()}


def environment(outputs: Mapping[str, str]) -> dict[str, str]:
    """The app's environment variables for the resources `provision` created."""
    return {env: outputs[name] for name, env in OUTPUT_ENV.items() if name in outputs}
