"""`make deploy`: one CloudFormation stack with the app and its storage, packaged by Chalice.

    python -m scripts.package --stage prod [--out build/prod]      # package only: offline
    python -m scripts.package --stage prod --deploy [--artifact-bucket NAME] [--dry-run]

Packaging runs `chalice package` (SAM output) twice. The first run shows which Lambda functions,
roles and event sources Chalice generates for app.py; from them and infra/resources.json this
composes the merge template (build/<stage>/merge-template.json) and the second run merges it:
- the storage resources (tables, bucket, queues) join the stack, with `Stage` pinned to the stage;
- every function's CRONHOOK_* resource names become Ref/GetAtt on those resources (the names in
  .chalice/config.json are placeholders), so each name is defined once, in the template;
- SQS event sources read the template's queue by its Arn attribute (which also orders their
  creation);
- each role keeps the actions of .chalice/policy-<stage>.json, with its resources pinned to the
  stack's partition, region and account; only the role of a function a queue feeds keeps the
  actions that take messages off it;
- each function logs to a log group of the stack with a retention (`LogRetentionDays`), and the
  scheduled function (the tick) is neither retried nor kept waiting when it fails;
- API Gateway's own answers (unknown route, throttling, other 4xx/5xx) get the app's error shape,
  and a method a route lacks is a 405 with `Allow`, answered by API Gateway (a mock integration).
The second run reuses Chalice's cached dependency build, so it takes about a second.

Deploying uploads the code with `aws cloudformation package` to an artifact bucket (created if
missing: cronhook-artifacts-<account>-<region>) and runs `aws cloudformation deploy` for the stack
`cronhook-<stage>`. It needs the AWS CLI and credentials; packaging needs neither.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scripts.provision import OUTPUT_ENV, TEMPLATE, load_template

ROOT = Path(__file__).resolve().parent.parent
CHALICE = Path(sys.executable).parent / "chalice"
_ARN_ANY_REGION_ACCOUNT = re.compile(r"^arn:aws:([a-z0-9-]+):\*:\*:")


class PackageError(Exception):
    """The app and the storage template cannot be composed into one stack."""


def _resolved_name(value: Any, stage: str) -> str | None:
    """A resource's physical name with the stage filled in; other parameters stay `${...}`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return str(value["Fn::Sub"]).replace("${Stage}", stage)
    return None


_NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
}


def _names(storage: Mapping[str, Any], stage: str) -> dict[str, tuple[str, str]]:
    """Logical id -> (type, physical name with `${AWS::...}` left in) of the storage resources."""
    out = {}
    for logical, resource in storage["Resources"].items():
        prop = _NAME_PROPERTY.get(resource["Type"])
        if prop is None:
            continue
        name = _resolved_name(resource.get("Properties", {}).get(prop), stage)
        if name is not None:
            out[logical] = (resource["Type"], name)
    return out


def _glob(name: str) -> str:
    return re.sub(r"\$\{[^}]+\}", "*", name)


def _pin(resource: str, names: Mapping[str, tuple[str, str]]) -> Any:
    """One policy resource ARN pinned to the stack's partition, region, account and names."""
    pinned = _ARN_ANY_REGION_ACCOUNT.sub(
        lambda m: f"arn:${{AWS::Partition}}:{m.group(1)}:${{AWS::Region}}:${{AWS::AccountId}}:",
        resource,
    )
    if pinned.startswith("arn:aws:"):
        pinned = "arn:${AWS::Partition}:" + pinned[len("arn:aws:") :]
    for _, name in names.values():
        if "${" in name and _glob(name) in pinned:
            pinned = pinned.replace(_glob(name), name)
    return pinned if pinned == resource else {"Fn::Sub": pinned}


def _pinned_policies(policies: Sequence[Any], names: Mapping[str, tuple[str, str]]) -> list[Any]:
    out = copy.deepcopy(list(policies))
    for policy in out:
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement.get("Resource")
            if isinstance(resources, str):
                statement["Resource"] = _pin(resources, names)
            elif isinstance(resources, list):
                statement["Resource"] = [_pin(r, names) for r in resources]
    return out


def _queue_name(queue: Any) -> str:
    """The queue name at the end of an SQS event source's ARN (literal or Fn::Sub)."""
    text = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
    if not isinstance(text, str):
        raise PackageError(f"cannot read the queue of an SQS event source: {queue!r}")
    return text.rsplit(":", 1)[-1]


def compose(
    chalice_template: Mapping[str, Any], storage: Mapping[str, Any], stage: str
) -> dict[str, Any]:
    """The merge template for `chalice package --merge-template` (see the module docstring)."""
    resources: dict[str, Any] = copy.deepcopy(dict(storage["Resources"]))
    clash = set(resources) & set(chalice_template["Resources"])
    if clash:
        raise PackageError(f"logical ids used by both Chalice and the template: {sorted(clash)}")
    names = _names(storage, stage)
    queues = {name: logical for logical, (kind, name) in names.items() if kind == "AWS::SQS::Queue"}
    outputs = storage.get("Outputs", {})
    variables = {env: outputs[out]["Value"] for out, env in OUTPUT_ENV.items() if out in outputs}
    variables["CRONHOOK_NOTIFY_FROM"] = {
        "Fn::If": ["HasNotifyFrom", {"Ref": "NotifyFrom"}, _NO_VALUE]
    }

    consumers = set()  # the roles of functions fed by a queue
    role_of = {  # function logical id -> its role's
        logical: resource["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0]
        for logical, resource in chalice_template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    roles: dict[str, str] = {}  # "tick" / "worker" -> the function's logical id
    public_url = _public_url(chalice_template)
    for logical, resource in chalice_template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            log_group = f"{logical}LogGroup"
            if log_group in resources:
                raise PackageError(f"logical id {log_group} is used by the template")
            resources[log_group] = _log_group(logical)
            override: dict[str, Any] = {
                "Environment": {"Variables": copy.deepcopy(variables)},
                "LoggingConfig": {"LogGroup": {"Ref": log_group}},
            }
            events = resource["Properties"].get("Events", {})
            if any(event["Type"] == "SQS" for event in events.values()):
                roles["worker"] = logical
            if events and public_url is not None:
                # The tick and the worker hand long jobs their callback URL on the API. (The
                # API's own function cannot name its API, which names it: a cycle; it takes
                # the address from each request.)
                override["Environment"]["Variables"]["CRONHOOK_PUBLIC_URL"] = public_url
            if any(event["Type"] == "Schedule" for event in events.values()):
                roles["tick"] = logical
                # A failed or throttled tick is not retried nor kept for hours (Lambda's
                # defaults: twice, up to 6 h): the next minute's tick claims the same slots.
                # Its failure record goes to the alarm topic (the function's role publishes it).
                override["EventInvokeConfig"] = {
                    "MaximumRetryAttempts": 0,
                    "MaximumEventAgeInSeconds": 60,
                    "DestinationConfig": {
                        "OnFailure": {"Type": "SNS", "Destination": {"Ref": "AlarmTopic"}}
                    },
                }
                # One tick at a time: a tick still running when the next minute's is due makes
                # that one a throttle (alarmed, then dropped after 60 s, then the destination)
                # instead of a second pass over the same shards. There is one tick function for
                # every shard (it queries them in parallel), so one execution is the ceiling.
                # The claims stay conditional writes: this keeps the work single, not the
                # correctness, which does not depend on it.
                # (An account whose concurrency quota is at its minimum cannot reserve any:
                # TickOneAtATime=off leaves the tick unreserved there.)
                override["ReservedConcurrentExecutions"] = {
                    "Fn::If": ["TickReserved", TICK_CONCURRENCY, _NO_VALUE]
                }
            for event_name, event in events.items():
                if event["Type"] != "SQS":
                    continue
                role = resource["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0]
                consumers.add(role)
                queue = _queue_name(event["Properties"]["Queue"])
                if queue not in queues:
                    raise PackageError(
                        f"{logical}: event {event_name} reads queue {queue!r}, "
                        f"which the template does not define ({', '.join(sorted(queues))})"
                    )
                # Chalice writes the ARN as an Fn::Sub, and the merge is deep: only another Fn::Sub
                # replaces it rather than joining it.
                # A failed task fails its own message only (the worker answers Lambda's
                # partial batch response), and a burst cannot take every concurrent execution
                # of the account from the API and the tick.
                override.setdefault("Events", {})[event_name] = {
                    "Properties": {
                        "Queue": {"Fn::Sub": f"${{{queues[queue]}.Arn}}"},
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        "ScalingConfig": {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}},
                    }
                }
            resources[logical] = {"Properties": override}

    api_function = next(
        (
            logical
            for logical, resource in chalice_template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
            and not resource["Properties"].get("Events")
        ),
        None,
    )
    function_roles = {
        function: role_of.get(logical)
        for function, logical in {**roles, "api": api_function}.items()
        if logical is not None
    }
    for logical, resource in chalice_template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::IAM::Role" and resource["Properties"].get("Policies"):
            policies = _pinned_policies(resource["Properties"]["Policies"], names)
            if logical not in consumers:
                policies = _without(policies, QUEUE_CONSUMER_ACTIONS)
            if logical in {role_of.get(roles[r]) for r in ("tick", "worker") if r in roles}:
                # API keys, users and sessions are the API's business alone: a tick or worker
                # that could read them could act as any account.
                policies = _without_resources(policies, f"table/cronhook-{stage}-keys")
            policies = _without(policies, uncalled_actions())
            policies = _without_resources(policies, *_indexes_absent(storage, stage))
            function = next((f for f, role in function_roles.items() if role == logical), None)
            if function is not None:
                unneeded = NOT_CALLED_BY[function]
                policies = _without(policies, frozenset(unneeded["actions"]))
                markers = [m.format(stage=stage) for m in unneeded["resources"]]
                policies = _without_resources(policies, *markers)
            policies = _with_notify_identity(policies)
            if "tick" in roles and logical == role_of.get(roles["tick"]):
                policies = _with_statement(policies, TICK_FAILURE_STATEMENT)
            resources[logical] = {"Properties": {"Policies": policies}}
        elif kind == API_TYPE:
            # In the API's definition, so that every deployment of it carries the responses.
            body = {"x-amazon-apigateway-gateway-responses": gateway_responses()}
            paths = resource["Properties"].get("DefinitionBody", {}).get("paths", {})
            body["paths"] = method_not_allowed(paths)
            resources[logical] = {"Properties": {"DefinitionBody": body, **api_stage(logical)}}
            resources.update(api_edges(logical, resource))

    parameters = copy.deepcopy(dict(storage.get("Parameters", {})))
    parameters.update(EDGE_PARAMETERS)
    for name, table in resources.items():
        if table.get("Type") == "AWS::DynamoDB::Table":
            _cap_table(name, table)
    parameters["LogRetentionDays"] = {
        "Type": "Number",
        "Default": 30,
        "AllowedValues": LOG_RETENTION_DAYS,
        "Description": "How long CloudWatch keeps the Lambdas' logs, in days.",
    }
    parameters["AlarmEmail"] = {
        "Type": "String",
        "Default": "",
        "Description": "Where the stack's alarms are sent (an e-mail subscription to its SNS "
        "topic, confirmed from that mailbox); empty: the topic alone.",
    }
    tables = sorted(k for k, v in resources.items() if v.get("Type") == "AWS::DynamoDB::Table")
    resources.update(alarms(roles, tables))
    parameters["WorkerMaxConcurrency"] = {
        "Type": "Number",
        "Default": 50,
        "MinValue": 2,
        "MaxValue": 1000,
        "Description": "At most this many worker Lambdas run at once (the queue trigger's "
        "maximum concurrency), leaving the rest of the account's concurrency to the API and "
        "the tick.",
    }
    kinds = {k: v["Type"] for k, v in chalice_template["Resources"].items()}
    kinds.update({k: v["Type"] for k, v in resources.items() if "Type" in v})
    for logical, kind in kinds.items():
        metadata = _lint_metadata(logical, kind)
        if metadata is not None:
            resources.setdefault(logical, {}).setdefault("Metadata", {}).update(metadata)
    stage_parameter = dict(parameters.get("Stage", {"Type": "String"}))
    stage_parameter.update(Default=stage, AllowedValues=[stage])
    stage_parameter.pop("AllowedPattern", None)
    parameters["Stage"] = stage_parameter
    return {
        "Description": f"cronhook ({stage}): the API, tick and worker Lambdas with their "
        "tables, bucket and queues",
        "Parameters": parameters,
        "Conditions": {
            **copy.deepcopy(dict(storage.get("Conditions", {}))),
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
            **EDGE_CONDITIONS,
        },
        "Resources": resources,
        "Outputs": copy.deepcopy(dict(outputs)),
    }


def _alarm(
    description: str,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, Any],
    threshold: float,
    *,
    statistic: str = "Sum",
    periods: int = 1,
    period: int = 60,
) -> dict[str, Any]:
    """A CloudWatch alarm to the stack's topic: `metric` over `threshold` in `periods` of
    `period` seconds (missing data is no news: a quiet stack is not failing)."""
    properties: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": threshold,
        "EvaluationPeriods": periods,
        "Period": period,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": "AlarmTopic"}],
        "OKActions": [{"Ref": "AlarmTopic"}],
    }
    if statistic.startswith("p"):
        properties["ExtendedStatistic"] = statistic
    else:
        properties["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


OLDEST_MESSAGE_S = 900 + 300  # SQS's longest delay, plus a margin for the worker to take it


def alarms(roles: Mapping[str, str], tables: Sequence[str]) -> dict[str, Any]:
    """The stack's alarms and the SNS topic they go to (README, "Deploy", lists them)."""
    from chalicelib import metrics

    stage = {"Ref": "Stage"}
    mine = metrics.NAMESPACE

    def fn(role: str) -> dict[str, Any]:
        return {"FunctionName": {"Ref": roles[role]}}

    out: dict[str, Any] = {
        # CloudWatch cannot publish to a topic sealed with SNS's AWS managed key (its key
        # policy admits no service): the topic has a key of its own that admits CloudWatch.
        "AlarmKey": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "Description": {"Fn::Sub": "cronhook ${Stage}: seals the alarm topic"},
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministers",
                            "Effect": "Allow",
                            "Principal": {
                                "AWS": {
                                    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
                                }
                            },
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "CloudWatchPublishes",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                            "Resource": "*",
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                            },
                        },
                    ],
                },
            },
        },
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": {"Fn::Sub": "cronhook-${Stage}-alarms"},
                "KmsMasterKeyId": {"Ref": "AlarmKey"},
            },
        },
        "AlarmSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": {"Ref": "AlarmTopic"},
                "Protocol": "email",
                "Endpoint": {"Ref": "AlarmEmail"},
            },
        },
        "DeadLetterAlarm": _alarm(
            "Dispatch messages failed five times and wait in the dead-letter queue (redrive "
            "them with scripts.admin redrive)",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": ["DispatchDeadLetterQueue", "QueueName"]}},
            0,
            statistic="Maximum",
            period=300,
        ),
        "OldestMessageAlarm": _alarm(
            "A dispatch message waits longer than its delay allows: the worker is not keeping up",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": {"Fn::GetAtt": ["DispatchQueue", "QueueName"]}},
            OLDEST_MESSAGE_S,
            statistic="Maximum",
            periods=2,
        ),
        "RunsLostAlarm": _alarm(
            "Runs were marked lost: their runner stopped before recording a result",
            mine,
            "RunsLost",
            {"Stage": stage, "Function": "tick"},
            0,
        ),
    }
    for table in tables:
        out[f"{table}ThrottleAlarm"] = _alarm(
            f"DynamoDB throttles requests to {table}",
            "AWS/DynamoDB",
            "ThrottledRequests",
            {"TableName": {"Ref": table}},
            0,
            periods=2,
        )
    if "tick" in roles:
        out["TickErrorsAlarm"] = _alarm(
            "The tick failed: due runs may start late", "AWS/Lambda", "Errors", fn("tick"), 0
        )
        out["TickThrottlesAlarm"] = _alarm(
            "The tick was throttled: due runs may start late",
            "AWS/Lambda",
            "Throttles",
            fn("tick"),
            0,
        )
        out["TickDurationAlarm"] = _alarm(
            "A tick took more than 50 s: the next minute's tick may overlap it",
            mine,
            metrics.TICK_DURATION,
            {"Stage": stage, "Function": "tick"},
            50_000,
            statistic="Maximum",
        )
    if "worker" in roles:
        out["WorkerErrorsAlarm"] = _alarm(
            "The worker failed on messages; they come back and may start late",
            "AWS/Lambda",
            "Errors",
            fn("worker"),
            0,
            periods=2,
        )
    for role in ("tick", "worker"):
        out[f"StartLag{role.title()}Alarm"] = _alarm(
            f"Runs started by the {role} start more than 5 s after their second (p99)",
            mine,
            metrics.START_LAG,
            {"Stage": stage, "Function": role},
            5_000,
            statistic="p99",
            periods=3,
            period=300,
        )
    return out


API_TYPE = "AWS::Serverless::Api"


def _public_url(chalice_template: Mapping[str, Any]) -> dict[str, str] | None:
    """The API's execute-api address and stage, as CloudFormation will know it."""
    apis = [
        (logical, resource)
        for logical, resource in chalice_template["Resources"].items()
        if resource["Type"] == API_TYPE
    ]
    if len(apis) != 1:
        return None
    logical, resource = apis[0]
    stage = resource["Properties"].get("StageName", "api")
    host = f"${{{logical}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"
    return {"Fn::Sub": f"https://{host}/{stage}"}


# What only the function that a queue feeds needs (Lambda polls the queue with its role).
QUEUE_CONSUMER_ACTIONS = frozenset(
    {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
)
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]


def _log_group(function: str) -> dict[str, Any]:
    """The function's log group, made by the stack (and deleted with it) with a retention; left
    to Lambda, it would be made on the first call and kept for ever."""
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": {"Fn::Sub": f"/aws/lambda/cronhook-${{Stage}}-{function.lower()}"},
            "RetentionInDays": {"Ref": "LogRetentionDays"},
        },
    }


# The stack's other parameters a deploy may set (Stage and Capacity have options of their own).
OTHER_PARAMETERS = frozenset({"LogRetentionDays", "AlarmEmail", "WorkerMaxConcurrency"})

# ---- edges: the API stage, the tables' caps, WAF, e-mail, the tick's failures --------------

TICK_CONCURRENCY = 1
# The stack's parameters for its edges (docs/DEPLOY.md describes each).
EDGE_PARAMETERS: dict[str, Any] = {
    "TickOneAtATime": {
        "Type": "String",
        "Default": "on",
        "AllowedValues": ["on", "off"],
        "Description": "on: the tick has a reserved concurrency of 1, so a tick that overruns "
        "its minute throttles the next rather than doubling its work; off: for an account "
        "whose concurrency quota is too small to reserve any.",
    },
    "ApiThrottleRate": {
        "Type": "Number",
        "Default": 100,
        "MinValue": 1,
        "Description": "Requests per second the API stage accepts in all (API Gateway answers "
        "the rest 429 in the app's error shape); each key has its own, lower limit too.",
    },
    "ApiThrottleBurst": {
        "Type": "Number",
        "Default": 200,
        "MinValue": 1,
        "Description": "The API stage's burst: requests it accepts at once above the rate.",
    },
    "ApiAccessLogs": {
        "Type": "String",
        "Default": "on",
        "AllowedValues": ["on", "off"],
        "Description": "on: one JSON line per API request in /aws/apigateway/cronhook-<stage>-"
        "access (the account must have API Gateway's CloudWatch role set, once per region).",
    },
    "WebAclArn": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "^$|^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$",
        "Description": "A regional WAFv2 web ACL to put in front of the API; empty: none.",
    },
    "NotifyFrom": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": '^$|^[^@\\s<>"]+@[^@\\s<>"]+$',
        "Description": "The address notification e-mails come from: an SES identity verified "
        "in this region (the address or its domain); the roles may send from it alone. Empty: "
        "no e-mail (webhook notifications still go).",
    },
    "TableMaxReadUnits": {
        "Type": "Number",
        "Default": 3000,
        "MinValue": 1,
        "Description": "Cost cap: at most this many read request units per second on each "
        "on-demand table and index; DynamoDB throttles beyond it (alarmed).",
    },
    "TableMaxWriteUnits": {
        "Type": "Number",
        "Default": 1000,
        "MinValue": 1,
        "Description": "Cost cap: at most this many write request units per second on each "
        "on-demand table and index; DynamoDB throttles beyond it (alarmed).",
    },
}
EDGE_CONDITIONS: dict[str, Any] = {
    "HasApiAccessLogs": {"Fn::Equals": [{"Ref": "ApiAccessLogs"}, "on"]},
    "TickReserved": {"Fn::Equals": [{"Ref": "TickOneAtATime"}, "on"]},
    "HasWebAcl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebAclArn"}, ""]}]},
    "HasNotifyFrom": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotifyFrom"}, ""]}]},
}
_NO_VALUE = {"Ref": "AWS::NoValue"}

# One line per request. The resource path (`/ping/{token}`), not the path: a path holds a
# monitor's token or a callback's. Nothing of the headers (keys, sessions) is logged.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "time": "$context.requestTimeEpoch",
        "ip": "$context.identity.sourceIp",
        "method": "$context.httpMethod",
        "resource": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "gatewayError": "$context.error.responseType",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)


def api_stage(api: str) -> dict[str, Any]:
    """The API stage's throttling (every method) and access log setting."""
    return {
        "MethodSettings": [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
                "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
            }
        ],
        "AccessLogSetting": {
            "Fn::If": [
                "HasApiAccessLogs",
                {
                    "DestinationArn": {"Fn::GetAtt": [f"{api}AccessLogGroup", "Arn"]},
                    "Format": ACCESS_LOG_FORMAT,
                },
                _NO_VALUE,
            ]
        },
    }


def api_edges(api: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    """The API's access log group and its optional WAF web ACL association."""
    return {
        f"{api}AccessLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Condition": "HasApiAccessLogs",
            "Properties": {
                "LogGroupName": {"Fn::Sub": "/aws/apigateway/cronhook-${Stage}-access"},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
        },
        f"{api}WebAclAssociation": {
            "Type": "AWS::WAFv2::WebACLAssociation",
            "Condition": "HasWebAcl",
            "Properties": {
                # `${RestAPI.Stage}` (SAM's reference to the stage it makes) orders the
                # association after the stage exists; it is the stage name.
                "ResourceArn": {
                    "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}::/restapis/"
                    f"${{{api}}}/stages/${{{api}.Stage}}"
                },
                "WebACLArn": {"Ref": "WebAclArn"},
            },
        },
    }


def _cap_table(name: str, table: dict[str, Any]) -> None:
    """Deletion protection, and the on-demand cost cap on the table and each index. A table
    whose billing mode follows the `Capacity` parameter gets the cap in on-demand mode only:
    provisioned capacity has its own ceiling (the auto scaling's maximum)."""
    properties = table["Properties"]
    properties["DeletionProtectionEnabled"] = True
    cap: dict[str, Any] = {
        "MaxReadRequestUnits": {"Ref": "TableMaxReadUnits"},
        "MaxWriteRequestUnits": {"Ref": "TableMaxWriteUnits"},
    }
    mode = properties.get("BillingMode")
    if mode == "PAY_PER_REQUEST":
        throughput: Any = cap
    elif mode == {"Fn::If": ["Provisioned", "PROVISIONED", "PAY_PER_REQUEST"]}:
        throughput = {"Fn::If": ["Provisioned", _NO_VALUE, cap]}
    else:
        raise PackageError(f"{name}: cannot tell the billing mode {mode!r} (cost cap)")
    properties["OnDemandThroughput"] = throughput
    for index in properties.get("GlobalSecondaryIndexes", []):
        index["OnDemandThroughput"] = copy.deepcopy(throughput)


# checkov's findings the stack accepts, each with its reason; they go into the template as each
# resource's `Metadata.checkov.skip` (`make lint-stack` runs checkov on the packaged template).
# Keyed by resource type; a finding on one resource only is keyed by its logical id.
_NO_VPC = (
    "CKV_AWS_117",
    "targets are arbitrary public URLs: a VPC would need NAT gateways to reach them and "
    "would guard nothing the SSRF guard (no private, loopback or metadata addresses) does not",
)
_ENV_NOT_SECRET = (
    "CKV_AWS_173",
    "the variables hold resource names and limits only, no secret; Lambda encrypts them at "
    "rest with its own key",
)
CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    "Tick": [
        _NO_VPC,
        _ENV_NOT_SECRET,
        (
            "CKV_AWS_116",
            "a failed tick goes to its on-failure destination (the alarm topic), which "
            "supersedes a dead-letter queue; it is not retried: the next minute's tick takes "
            "its slots",
        ),
    ],
    "Worker": [
        _NO_VPC,
        _ENV_NOT_SECRET,
        (
            "CKV_AWS_116",
            "fed by SQS: a message that fails five times goes to the queue's own dead-letter "
            "queue (alarmed); a function DLQ applies to asynchronous invocations only",
        ),
        (
            "CKV_AWS_115",
            "its ceiling is the queue trigger's MaximumConcurrency (WorkerMaxConcurrency), "
            "which does not take concurrency away from the rest of the account while idle",
        ),
    ],
    "APIHandler": [
        _NO_VPC,
        _ENV_NOT_SECRET,
        (
            "CKV_AWS_116",
            "invoked synchronously by API Gateway: the caller gets the error, there is no "
            "event to keep",
        ),
        (
            "CKV_AWS_115",
            "bounded upstream by the API stage's throttling (ApiThrottleRate, "
            "ApiThrottleBurst); a reservation would only cap the API below what the stage allows",
        ),
    ],
    "AWS::Serverless::Api": [
        (
            "CKV_AWS_76",
            "access logs are on unless ApiAccessLogs=off (an Fn::If checkov does not evaluate)",
        ),
        (
            "CKV_AWS_120",
            "answers are per key and change every minute: a cache would serve stale or "
            "another account's data",
        ),
        (
            "CKV_AWS_73",
            "X-Ray tracing is a cost per request; the Lambdas' metrics and the access log "
            "give the timings",
        ),
    ],
    "AWS::DynamoDB::Table": [
        (
            "CKV_AWS_119",
            "encrypted at rest with DynamoDB's AWS managed key; the secrets in jobs and "
            "settings are also sealed with the stack's own KMS key (SecretsKey) before they "
            "are written",
        ),
    ],
    "AWS::S3::Bucket": [
        (
            "CKV_AWS_18",
            "only the stack's roles read and write it (TLS only, public access blocked); "
            "CloudTrail data events audit it where that is wanted",
        ),
        (
            "CKV_AWS_21",
            "saved responses are copies that expire with their job's retention: versions "
            "would keep them past it",
        ),
    ],
    "AWS::SQS::Queue": [
        (
            "CKV_AWS_27",
            "encrypted with SQS managed keys (SqsManagedSseEnabled), which this check does "
            "not recognise",
        ),
    ],
    "AWS::Logs::LogGroup": [
        (
            "CKV_AWS_158",
            "CloudWatch Logs encrypts every group at rest; the lines hold no secret (the app "
            "logs none, the access log keeps no header and no token-bearing path)",
        ),
    ],
}


def _lint_metadata(logical: str, kind: str) -> dict[str, Any] | None:
    skips = CHECKOV_SKIPS.get(logical, []) + CHECKOV_SKIPS.get(kind, [])
    if not skips:
        return None
    return {"checkov": {"skip": [{"id": i, "comment": why} for i, why in skips]}}


def _identity_arn(name: str) -> str:
    return f"arn:${{AWS::Partition}}:ses:${{AWS::Region}}:${{AWS::AccountId}}:identity/{name}"


# SES authorizes a send against the identity it is verified as: the address, or its domain.
NOTIFY_STATEMENT: dict[str, Any] = {
    "Fn::If": [
        "HasNotifyFrom",
        {
            "Sid": "Notify",
            "Effect": "Allow",
            "Action": ["ses:SendEmail"],
            "Resource": [
                {"Fn::Sub": _identity_arn("${NotifyFrom}")},
                {
                    "Fn::Sub": [
                        _identity_arn("${Domain}"),
                        {
                            "Domain": {
                                "Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "NotifyFrom"}]}]
                            }
                        },
                    ]
                },
            ],
            "Condition": {"StringEquals": {"ses:FromAddress": {"Ref": "NotifyFrom"}}},
        },
        _NO_VALUE,
    ]
}
# Lambda sends a failed tick's record to the alarm topic with the tick's role.
TICK_FAILURE_STATEMENT: list[dict[str, Any]] = [
    {
        "Sid": "TickFailures",
        "Effect": "Allow",
        "Action": ["sns:Publish"],
        "Resource": [
            {
                "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:"
                "cronhook-${Stage}-alarms"
            }
        ],
    },
    {
        "Sid": "TickFailuresKey",
        "Effect": "Allow",
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": [
            {
                "Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:"
                "key/${AlarmKey}"
            }
        ],
    },
]


def _with_notify_identity(policies: Sequence[Any]) -> list[Any]:
    """The policies with the `Notify` statement (ses:SendEmail) narrowed to the configured
    identity and sender address, and gone when there is none."""
    out = copy.deepcopy(list(policies))
    for policy in out:
        document = policy["PolicyDocument"]
        document["Statement"] = [
            copy.deepcopy(NOTIFY_STATEMENT) if s.get("Sid") == "Notify" else s
            for s in document["Statement"]
        ]
    return out


def _with_statement(policies: Sequence[Any], statements: Sequence[Any]) -> list[Any]:
    out = copy.deepcopy(list(policies))
    out[0]["PolicyDocument"]["Statement"].extend(copy.deepcopy(list(statements)))
    return out


# Actions of the policy files that no deployed code can call (none of its text makes such a
# call): the stack's roles leave them out. Code that starts making the call brings its action
# back at the next packaging; tests/test_package_privilege.py shows which calls each makes.
CALLS_OF_ACTION = {
    "dynamodb:BatchWriteItem": ("batch_write_item", "batch_writer"),
    "dynamodb:ConditionCheckItem": ('"ConditionCheck"', "'ConditionCheck'"),
}


# What one function's code never calls, of what the stage's policy file grants all three (its
# actions, and resources by a part of their ARN). tests/test_package_privilege.py records the
# calls each function makes and fails on any the role refuses.
NOT_CALLED_BY: dict[str, dict[str, list[str]]] = {
    # It queues runs (run now) and answers callbacks, and never executes a request itself:
    # nothing to save; the due and overdue indexes are the tick's.
    "api": {
        "actions": ["s3:PutObject", "s3:PutObjectTagging"],
        "resources": [
            "table/cronhook-{stage}-jobs/index/",
            "table/cronhook-{stage}-monitors/index/",
        ],
    },
    # It deletes nothing and reads no saved response.
    "tick": {
        "actions": ["s3:GetObject", "dynamodb:DeleteItem"],
        "resources": [],
    },
    # As the tick, and the due jobs and the monitors are the tick's business.
    "worker": {
        "actions": ["s3:GetObject", "dynamodb:DeleteItem"],
        "resources": [
            "table/cronhook-{stage}-monitors",
            "table/cronhook-{stage}-jobs/index/",
        ],
    },
}


def uncalled_actions() -> frozenset[str]:
    sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    return frozenset(
        action
        for action, calls in CALLS_OF_ACTION.items()
        if not any(call in text for call in calls)
    )


def _indexes_absent(storage: Mapping[str, Any], stage: str) -> list[str]:
    """`table/<name>/index/*` of each table the template gives no index: nothing to grant."""
    out = []
    for logical, (kind, name) in _names(storage, stage).items():
        properties = storage["Resources"][logical].get("Properties", {})
        if kind == "AWS::DynamoDB::Table" and not properties.get("GlobalSecondaryIndexes"):
            out.append(f"table/{name}/index/")
    return out


def _without_resources(policies: Sequence[Any], *markers: str) -> list[Any]:
    """The policies less the resources whose ARN holds a marker (a table and its indexes)."""
    out = copy.deepcopy(list(policies))
    for policy in out:
        document = policy["PolicyDocument"]
        kept = []
        for statement in document["Statement"]:
            found = statement["Resource"]
            listed = found if isinstance(found, list) else [found]
            remaining = [r for r in listed if not any(m in json.dumps(r) for m in markers)]
            if remaining:
                kept.append({**statement, "Resource": remaining})
        document["Statement"] = kept
    return out


def _without(policies: Sequence[Any], actions: frozenset[str]) -> list[Any]:
    """The policies less `actions`; a statement left with none goes."""
    out = copy.deepcopy(list(policies))
    for policy in out:
        document = policy["PolicyDocument"]
        kept = []
        for statement in document["Statement"]:
            found = statement["Action"]
            remaining = [
                a for a in ([found] if isinstance(found, str) else found) if a not in actions
            ]
            if remaining:
                kept.append({**statement, "Action": remaining})
        document["Statement"] = kept
    return out


def _gateway_response(status: str | None, code: str, message: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"},
        "responseTemplates": {
            "application/json": json.dumps({"error": {"code": code, "message": message}})
        },
    }
    if status is not None:
        response["statusCode"] = status
    return response


def gateway_responses() -> dict[str, Any]:
    """What API Gateway answers itself, in the error shape of every other error and quoting
    nothing of the request (its own messages may quote the Authorization header, API key and
    all):
    - a path or method the API does not have: 404 (API Gateway's MISSING_AUTHENTICATION_TOKEN
      is a 403);
    - its own throttling: 429;
    - any other refusal or failure before the app answers, with API Gateway's status."""
    from chalicelib.errors import NO_SUCH_ROUTE

    no_route = NO_SUCH_ROUTE["error"]
    return {
        "MISSING_AUTHENTICATION_TOKEN": _gateway_response(
            "404", no_route["code"], no_route["message"]
        ),
        "THROTTLED": _gateway_response("429", "rate_limited", "too many requests; retry later"),
        "DEFAULT_4XX": _gateway_response(None, "bad_request", "the request was refused"),
        "DEFAULT_5XX": _gateway_response(
            None, "internal_error", "the service could not answer; retry later"
        ),
    }


# The methods an API Gateway REST API routes; any other verb it refuses before any route.
GATEWAY_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def method_not_allowed(paths: Mapping[str, Any]) -> dict[str, Any]:
    """For each path of the app's API definition, the methods it lacks answered by API Gateway
    itself (a mock integration, no Lambda call): 405 in the error shape with an `Allow` header,
    as the app answers locally. API Gateway would otherwise answer them as an unknown route
    (403, made a 404 by `gateway_responses`)."""
    out: dict[str, Any] = {}
    for path, methods in paths.items():
        allowed = sorted(m.upper() for m in methods if m in GATEWAY_METHODS)
        if not allowed:
            continue
        allow = ", ".join(allowed)
        message = f"$context.httpMethod is not allowed here; use {allow}"
        body = json.dumps({"error": {"code": "method_not_allowed", "message": message}})
        parameters = next(
            (copy.deepcopy(m["parameters"]) for m in methods.values() if "parameters" in m), None
        )
        for method in GATEWAY_METHODS:
            if method in methods:
                continue
            operation: dict[str, Any] = {
                "consumes": ["*/*"],
                "produces": ["application/json"],
                "responses": {
                    "405": {
                        "description": "Method not allowed",
                        "headers": {"Allow": {"type": "string"}},
                    }
                },
                "x-amazon-apigateway-integration": {
                    "type": "mock",
                    "passthroughBehavior": "when_no_match",
                    "requestTemplates": {"application/json": '{"statusCode": 405}'},
                    "responses": {
                        "default": {
                            "statusCode": "405",
                            "responseParameters": {"method.response.header.Allow": f"'{allow}'"},
                            "responseTemplates": {"application/json": body},
                        }
                    },
                },
            }
            if parameters is not None:
                operation["parameters"] = parameters
            out.setdefault(path, {})[method] = operation
    return out


def _chalice_package(stage: str, out: Path, merge_template: Path | None = None) -> None:
    command = [str(CHALICE), "--project-dir", str(ROOT), "package", "--stage", stage]
    if merge_template is not None:
        command += ["--merge-template", str(merge_template)]
    command.append(str(out))
    env = dict(os.environ)
    # Packaging needs a region to write ARNs, never credentials or an endpoint.
    if not env.get("AWS_REGION") and not env.get("AWS_DEFAULT_REGION"):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(
            f"`{shlex.join(command)}` failed:\n{result.stdout}{result.stderr}".rstrip()
        )


def package(stage: str, out: Path) -> Path:
    """Package the app and its storage into `out` (sam.json, deployment.zip); returns sam.json."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cronhook-package-") as first:
        _chalice_package(stage, Path(first))
        chalice_template = json.loads((Path(first) / "sam.json").read_text())
    merge_template = out / "merge-template.json"
    merge_template.write_text(
        json.dumps(compose(chalice_template, load_template(TEMPLATE), stage), indent=2) + "\n"
    )
    _chalice_package(stage, out, merge_template)
    sam = out / "sam.json"
    if "REPLACE_WITH" in sam.read_text():
        raise PackageError(f"{sam} still holds a placeholder from .chalice/config.json")
    return sam


# ---- deploy -----------------------------------------------------------------------------------


def _aws(args: Sequence[str], *, capture: bool = False) -> str:
    result = subprocess.run(["aws", *args], capture_output=capture, text=True)
    if result.returncode != 0:
        detail = (result.stderr or "").strip() if capture else ""
        raise PackageError(f"`aws {shlex.join(args)}` failed {detail}".rstrip())
    return (result.stdout or "").strip()


def deploy_commands(
    stage: str,
    out: Path,
    bucket: str,
    capacity: str | None = None,
    parameters: Sequence[str] = (),
) -> list[list[str]]:
    """The AWS CLI commands that upload the code and deploy the stack (in order). Without
    `capacity`, a new stack is on-demand and an existing one keeps what it has; `parameters`
    are more `Name=value` overrides (docs/DEPLOY.md), any other parameter keeping its value."""
    stack = f"cronhook-{stage}"
    overrides = [f"Stage={stage}"] + ([f"Capacity={capacity}"] if capacity else [])
    for parameter in parameters:
        name = parameter.split("=", 1)[0]
        known_names = {*EDGE_PARAMETERS, *OTHER_PARAMETERS}
        if "=" not in parameter or name not in known_names:
            known = ", ".join(sorted(known_names))
            raise PackageError(f"--parameter {parameter!r}: give Name=value, Name one of {known}")
        overrides.append(parameter)
    packaged = out / "packaged.yaml"
    return [
        [
            "cloudformation",
            "package",
            "--template-file",
            str(out / "sam.json"),
            "--s3-bucket",
            bucket,
            "--s3-prefix",
            stack,
            "--output-template-file",
            str(packaged),
        ],
        [
            "cloudformation",
            "deploy",
            "--template-file",
            str(packaged),
            "--stack-name",
            stack,
            "--s3-bucket",  # the template is over CloudFormation's 51,200-byte inline limit
            bucket,
            "--s3-prefix",
            stack,
            "--capabilities",
            "CAPABILITY_IAM",
            "CAPABILITY_AUTO_EXPAND",
            "--parameter-overrides",
            *overrides,
            "--no-fail-on-empty-changeset",
        ],
        [
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            stack,
            "--query",
            "Stacks[0].Outputs",
            "--output",
            "table",
        ],
    ]


def _artifact_bucket(dry_run: bool) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if dry_run:
        return f"cronhook-artifacts-<account>-{region or '<region>'}"
    region = region or _aws(["configure", "get", "region"], capture=True)
    if not region:
        raise PackageError("no AWS region: set AWS_REGION or run `aws configure`")
    account = _aws(
        ["sts", "get-caller-identity", "--query", "Account", "--output", "text"], capture=True
    )
    return f"cronhook-artifacts-{account}-{region}"


def deploy(
    stage: str,
    out: Path,
    bucket: str | None,
    dry_run: bool,
    capacity: str | None = None,
    parameters: Sequence[str] = (),
) -> None:
    steps = deploy_commands(stage, out, "<bucket>", capacity, parameters)  # refused early
    bucket = bucket or _artifact_bucket(dry_run)
    steps = deploy_commands(stage, out, bucket, capacity, parameters)
    if dry_run:
        print(f"aws s3 mb s3://{bucket}   # once, if the bucket does not exist")
        for args in steps:
            print(shlex.join(["aws", *args]))
        return
    try:
        _aws(["s3api", "head-bucket", "--bucket", bucket], capture=True)
    except PackageError:
        print(f"creating the artifact bucket {bucket}", flush=True)
        _aws(["s3", "mb", f"s3://{bucket}"])
    for args in steps:
        print("+ " + shlex.join(["aws", *args]), flush=True)
        _aws(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="package.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="prod", help="a stage of .chalice/config.json")
    parser.add_argument("--out", type=Path, help="output directory (default build/<stage>)")
    parser.add_argument("--deploy", action="store_true", help="deploy the packaged stack")
    parser.add_argument("--artifact-bucket", help="S3 bucket for the code (default: derived)")
    parser.add_argument("--dry-run", action="store_true", help="print the deploy commands only")
    parser.add_argument(
        "--capacity",
        choices=["on-demand", "provisioned"],
        help="DynamoDB capacity of the jobs and runs tables (default: on-demand for a new "
        "stack, unchanged for an existing one)",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a stack parameter to set (repeatable; docs/DEPLOY.md lists them)",
    )
    args = parser.parse_args(argv)
    out = args.out or ROOT / "build" / args.stage
    try:
        sam = package(args.stage, out)
        print(f"packaged: {sam} and {out / 'deployment.zip'}", flush=True)
        if args.deploy:
            deploy(
                args.stage, out, args.artifact_bucket, args.dry_run, args.capacity, args.parameter
            )
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
