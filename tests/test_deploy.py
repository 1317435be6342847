"""What can be checked of a deployment without AWS: the packaged stack, its template, its roles.

`scripts.package` runs `chalice package` with no credentials (the first run on a machine fetches
the Lambda's Linux wheels from PyPI; later runs reuse Chalice's cache in .chalice/deployments).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import package
from scripts.provision import OUTPUT_ENV, load_template

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("dev", "prod")

pytestmark = pytest.mark.slow


def package_offline(stage: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`python -m scripts.package` for `stage` into `out`, with no AWS credentials, profile or
    endpoint; it must succeed (its template is `out / "sam.json"`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(out / "no-credentials")
    env["AWS_CONFIG_FILE"] = str(out / "no-config")
    result = subprocess.run(
        [sys.executable, "-m", "scripts.package", "--stage", stage, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module", params=STAGES)
def packaged(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The packaged stack of a stage (`package_offline`)."""
    stage = request.param
    out = tmp_path_factory.mktemp(f"build-{stage}")
    result = package_offline(stage, out)
    yield {
        "stage": stage,
        "out": out,
        "stdout": result.stdout,
        "template": json.loads((out / "sam.json").read_text()),
    }


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The policy's statements; one behind a condition (Fn::If with AWS::NoValue) as if on."""
    found = policy["Statement"]
    out = []
    for statement in [found] if isinstance(found, dict) else found:
        if set(statement) == {"Fn::If"}:
            _, statement, otherwise = statement["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, otherwise
        out.append(statement)
    return out


def resource_text(resource: Any) -> str:
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"}:
        text = resource["Fn::Sub"]
        return str(text[0] if isinstance(text, list) else text)
    assert isinstance(resource, str), f"unexpected resource {resource!r}"
    return resource


def check_least_privilege(policy: dict[str, Any], stage: str) -> None:
    for statement in statements(policy):
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            assert action != "*" and not action.endswith(":*"), statement
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), action
        found = statement["Resource"]
        for resource in found if isinstance(found, list) else [found]:
            text = resource_text(resource)
            assert text != "*" and text.startswith("arn:"), statement
            service = text.split(":")[2]
            if service in ("dynamodb", "s3", "sqs", "logs"):
                # (`chalice deploy` names the API's function and log group cronhook-<stage>)
                ours = f"cronhook-{stage}-" in text or text.endswith(f"/cronhook-{stage}:*")
                assert ours, f"{text} is not one of cronhook's resources"


def test_it_packages_the_app_and_its_storage_without_credentials(packaged: dict[str, Any]) -> None:
    out = packaged["out"]
    assert "packaged:" in packaged["stdout"]
    assert (out / "deployment.zip").stat().st_size > 0
    assert (out / "merge-template.json").exists()
    assert "REPLACE_WITH" not in (out / "sam.json").read_text()


def test_it_answers_a_missing_route_with_404_and_never_quotes_the_request(
    packaged: dict[str, Any],
) -> None:
    (api,) = resources_of(packaged["template"], "AWS::Serverless::Api").values()
    definition = api["Properties"]["DefinitionBody"]
    assert definition["paths"]  # the app's routes are still there
    response = definition["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert response["statusCode"] == "404"
    (template,) = response["responseTemplates"].values()
    assert json.loads(template)["error"]["code"] == "not_found" and "$" not in template


def test_it_answers_a_method_a_route_lacks_with_405_and_its_allow_header(
    packaged: dict[str, Any],
) -> None:
    (api,) = resources_of(packaged["template"], "AWS::Serverless::Api").values()
    jobs = api["Properties"]["DefinitionBody"]["paths"]["/jobs"]
    assert jobs["get"]["x-amazon-apigateway-integration"]["type"] == "aws_proxy"
    answer = jobs["patch"]["x-amazon-apigateway-integration"]["responses"]["default"]
    assert answer["statusCode"] == "405"
    assert answer["responseParameters"] == {"method.response.header.Allow": "'GET, POST, PUT'"}


def test_it_passes_cfn_lint(packaged: dict[str, Any]) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), str(packaged["out"] / "sam.json")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_names_specific_actions_and_resources_in_every_role(packaged: dict[str, Any]) -> None:
    roles = resources_of(packaged["template"], "AWS::IAM::Role")
    assert roles
    for role in roles.values():
        for policy in role["Properties"]["Policies"]:
            check_least_privilege(policy["PolicyDocument"], packaged["stage"])


@pytest.mark.parametrize("stage", STAGES)
def test_the_policy_files_name_specific_actions_and_resources(stage: str) -> None:
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    check_least_privilege(policy, stage)


def test_it_pins_the_roles_to_the_stacks_account_and_region(packaged: dict[str, Any]) -> None:
    for role in resources_of(packaged["template"], "AWS::IAM::Role").values():
        for policy in role["Properties"]["Policies"]:
            for statement in statements(policy["PolicyDocument"]):
                found = statement["Resource"]
                for resource in found if isinstance(found, list) else [found]:
                    assert ":*:*:" not in resource_text(resource)


def test_it_takes_every_resource_name_from_the_template(packaged: dict[str, Any]) -> None:
    outputs = load_template()["Outputs"]
    functions = resources_of(packaged["template"], "AWS::Serverless::Function")
    assert "APIHandler" in functions
    for function in functions.values():
        variables = function["Properties"]["Environment"]["Variables"]
        for output, env in OUTPUT_ENV.items():
            assert variables[env] == outputs[output]["Value"]


def test_it_keeps_the_tables_and_bucket_when_the_stack_is_deleted(
    packaged: dict[str, Any],
) -> None:
    template = packaged["template"]
    kept = {
        **resources_of(template, "AWS::DynamoDB::Table"),
        **resources_of(template, "AWS::S3::Bucket"),
    }
    assert sorted(kept) == [
        "JobsTable",
        "KeysTable",
        "MonitorsTable",
        "ResponsesBucket",
        "RunsTable",
        "StateTable",
    ]
    assert all(r["DeletionPolicy"] == "Retain" for r in kept.values())
    assert template["Parameters"]["Stage"]["Default"] == packaged["stage"]


def test_it_runs_the_tick_every_minute_and_the_worker_on_the_stacks_queue(
    packaged: dict[str, Any],
) -> None:
    events = [
        event
        for function in resources_of(packaged["template"], "AWS::Serverless::Function").values()
        for event in function["Properties"].get("Events", {}).values()
    ]
    assert {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}} in events
    queues = [e["Properties"]["Queue"] for e in events if e["Type"] == "SQS"]
    assert queues == [{"Fn::Sub": "${DispatchQueue.Arn}"}]


def test_the_tick_and_the_worker_name_the_api_in_callback_urls(packaged: dict[str, Any]) -> None:
    functions = resources_of(packaged["template"], "AWS::Serverless::Function").values()
    (api,) = resources_of(packaged["template"], "AWS::Serverless::Api")
    for function in functions:
        variables = function["Properties"]["Environment"]["Variables"]
        if function["Properties"].get("Events"):
            url = variables["CRONHOOK_PUBLIC_URL"]["Fn::Sub"]
            assert url.startswith(f"https://${{{api}}}.execute-api.") and url.endswith("/api")
        else:  # the API's own function takes it from each request (naming its API: a cycle)
            assert "CRONHOOK_PUBLIC_URL" not in variables


# ---- the composition, on Chalice-shaped templates -------------------------------------------


def chalice_template(queue: str) -> dict[str, Any]:
    return {
        "Resources": {
            "Worker": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Environment": {"Variables": {"CRONHOOK_BUCKET": "placeholder"}},
                    "Events": {
                        "WorkerSqsEventSource": {
                            "Type": "SQS",
                            "Properties": {
                                "Queue": {
                                    "Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}"
                                    f":${{AWS::AccountId}}:{queue}"
                                },
                                "BatchSize": 10,
                            },
                        }
                    },
                },
            }
        }
    }


def test_it_refuses_an_sqs_event_on_a_queue_the_template_does_not_define() -> None:
    with pytest.raises(package.PackageError, match="reads queue 'cronhook-dev-dispatch'"):
        package.compose(chalice_template("cronhook-dev-dispatch"), load_template(), "prod")


def test_it_replaces_placeholders_with_references_to_the_template() -> None:
    merge = package.compose(chalice_template("cronhook-prod-dispatch"), load_template(), "prod")
    worker = merge["Resources"]["Worker"]["Properties"]
    assert worker["Environment"]["Variables"]["CRONHOOK_BUCKET"] == {"Ref": "ResponsesBucket"}
    queue = worker["Events"]["WorkerSqsEventSource"]["Properties"]["Queue"]
    assert queue == {"Fn::Sub": "${DispatchQueue.Arn}"}


def test_it_prints_the_deploy_commands_on_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package.deploy("prod", tmp_path, "my-artifacts", dry_run=True)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("aws s3 mb s3://my-artifacts")
    assert printed[1].startswith("aws cloudformation package --template-file")
    assert "--stack-name cronhook-prod" in printed[2]
    assert "--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND" in printed[2]
    assert "--parameter-overrides Stage=prod --no-fail-on-empty-changeset" in printed[2]
    package.deploy("prod", tmp_path, "my-artifacts", dry_run=True, capacity="provisioned")
    printed = capsys.readouterr().out.splitlines()
    assert "--parameter-overrides Stage=prod Capacity=provisioned" in printed[2]
    package.deploy(
        "prod", tmp_path, "my-artifacts", True, parameters=["NotifyFrom=ops@example.com"]
    )
    printed = capsys.readouterr().out.splitlines()
    assert "--parameter-overrides Stage=prod NotifyFrom=ops@example.com" in printed[2]
    with pytest.raises(package.PackageError, match="NotifyForm=x"):
        package.deploy("prod", tmp_path, "my-artifacts", True, parameters=["NotifyForm=x"])


# ---- the policy covers what the code calls ---------------------------------------------------

# boto3 method -> the IAM action it needs (batch calls need the single-item action).
CALLS = {
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "put_object": "s3:PutObject",
    "get_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject",
    "put_object_tagging": "s3:PutObjectTagging",
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "receive_message": "sqs:ReceiveMessage",
    "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "get_queue_url": "sqs:GetQueueUrl",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "send_email": "ses:SendEmail",
    "send_raw_email": "ses:SendRawEmail",
}


@pytest.mark.parametrize("stage", STAGES)
def test_it_allows_every_aws_call_the_deployed_code_makes(stage: str) -> None:
    sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
    called = {
        CALLS[name]
        for path in sources
        for name in re.findall(r"\.(\w+)\(", path.read_text())
        if name in CALLS
    }
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    allowed = {a for s in statements(policy) for a in s["Action"]}
    if "Tagging=" in (ROOT / "chalicelib" / "store" / "blobs.py").read_text():
        called.add("s3:PutObjectTagging")  # put_object with tags needs this too
    assert called - allowed == set()


def test_the_deployer_policy_names_specific_actions_and_scopes_every_wildcard() -> None:
    policy = json.loads((ROOT / "infra" / "deployer-policy.json").read_text())
    for statement in statements(policy):
        for action in statement["Action"]:
            assert action != "*" and not action.endswith(":*"), statement
        found = statement["Resource"]
        for resource in found if isinstance(found, list) else [found]:
            # A bare * only where IAM has no resource type, and then narrowed by a condition.
            assert resource != "*" or statement.get("Condition"), statement
            assert (
                resource == "*"
                or "cronhook-" in resource
                or "apigateway" in resource
                or ("transform/Serverless" in resource or "event-source-mapping" in resource)
                # a key's id is not known before the stack makes it, nor the name of the user's
                # own web ACL: only through CloudFormation
                or (
                    resource.endswith((":key/*", ":regional/webacl/*"))
                    and "aws:CalledVia" in json.dumps(statement)
                )
            ), statement


# What the deployer needs to create each type of resource the stack holds (after the SAM
# transform: a function's schedule is an EventBridge rule, its queue trigger a mapping, its
# EventInvokeConfig a resource of its own). A type missing here fails the test below: a new kind
# of resource needs the deployer's policy looked at.
CREATE_ACTIONS = {
    "AWS::DynamoDB::Table": {"dynamodb:CreateTable", "dynamodb:UpdateTimeToLive"},
    "AWS::S3::Bucket": {"s3:CreateBucket", "s3:PutLifecycleConfiguration"},
    "AWS::S3::BucketPolicy": {"s3:PutBucketPolicy"},
    "AWS::SQS::Queue": {"sqs:CreateQueue", "sqs:GetQueueAttributes"},
    "AWS::KMS::Key": {"kms:CreateKey", "kms:EnableKeyRotation", "kms:PutKeyPolicy"},
    "AWS::KMS::Alias": {"kms:CreateAlias"},
    "AWS::ApplicationAutoScaling::ScalableTarget": {
        "application-autoscaling:RegisterScalableTarget"
    },
    "AWS::ApplicationAutoScaling::ScalingPolicy": {"application-autoscaling:PutScalingPolicy"},
    "AWS::IAM::Role": {"iam:CreateRole", "iam:PutRolePolicy", "iam:PassRole"},
    "AWS::Logs::LogGroup": {"logs:CreateLogGroup", "logs:PutRetentionPolicy"},
    "AWS::Lambda::Permission": {"lambda:AddPermission"},
    "AWS::Serverless::Api": {"apigateway:POST", "apigateway:PUT"},
    "AWS::Serverless::Function": {"lambda:CreateFunction", "lambda:GetFunction"},
    "AWS::CloudWatch::Alarm": {"cloudwatch:PutMetricAlarm"},
    "AWS::SNS::Topic": {"sns:CreateTopic"},
    "AWS::SNS::Subscription": {"sns:Subscribe"},
    "AWS::WAFv2::WebACLAssociation": {"wafv2:AssociateWebACL", "apigateway:SetWebACL"},
}
# Needed by the stack and not granted by infra/deployer-policy.json: none.
NOT_YET_IN_THE_DEPLOYER_POLICY: dict[str, set[str]] = {}
EVENT_ACTIONS = {
    "Schedule": {"events:PutRule", "events:PutTargets", "lambda:AddPermission"},
    "SQS": {"lambda:CreateEventSourceMapping"},
}


def test_the_deployer_may_create_every_resource_the_stack_holds(packaged: dict[str, Any]) -> None:
    policy = json.loads((ROOT / "infra" / "deployer-policy.json").read_text())
    allowed = {a for s in statements(policy) for a in s["Action"]}
    needed: dict[str, set[str]] = {}
    for logical, resource in packaged["template"]["Resources"].items():
        kind = resource["Type"]
        assert kind in CREATE_ACTIONS, f"{logical}: what does the deployer need for {kind}?"
        needed[logical] = set(CREATE_ACTIONS[kind])
        properties = resource.get("Properties", {})
        for event in properties.get("Events", {}).values():
            needed[logical] |= EVENT_ACTIONS[event["Type"]]
        if "EventInvokeConfig" in properties:
            needed[logical].add("lambda:PutFunctionEventInvokeConfig")
        if "ReservedConcurrentExecutions" in properties:
            needed["ReservedConcurrentExecutions"] = {"lambda:PutFunctionConcurrency"}
    missing = {logical: n - allowed for logical, n in needed.items() if n - allowed}
    assert missing == NOT_YET_IN_THE_DEPLOYER_POLICY


def test_the_deployer_may_create_every_log_group_the_stack_holds(
    packaged: dict[str, Any],
) -> None:
    """By name: its log-group statement is scoped to cronhook's groups (the functions' and the
    API's access log)."""
    import fnmatch

    policy = json.loads((ROOT / "infra" / "deployer-policy.json").read_text())
    scopes = [
        resource.split(":log-group:", 1)[1]
        for statement in statements(policy)
        if "logs:CreateLogGroup" in statement["Action"]
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
    ]
    outside = {
        logical
        for logical, group in resources_of(packaged["template"], "AWS::Logs::LogGroup").items()
        if not any(
            fnmatch.fnmatchcase(
                group["Properties"]["LogGroupName"]["Fn::Sub"].replace("${Stage}", "prod"), scope
            )
            for scope in scopes
        )
    }
    assert outside == set()


def test_every_function_logs_to_a_group_the_stack_keeps_for_a_while(
    packaged: dict[str, Any],
) -> None:
    template = packaged["template"]
    groups = resources_of(template, "AWS::Logs::LogGroup")
    functions = resources_of(template, "AWS::Serverless::Function")
    assert len(functions) == 3 and len(groups) == 4  # and the API's access log
    for function in functions.values():
        (name,) = function["Properties"]["LoggingConfig"]["LogGroup"].values()
        group = groups[name]["Properties"]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        # within what each role may write to
        assert group["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/cronhook-${Stage}-")
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_a_failed_tick_is_left_to_the_next_minutes_tick_and_reported(
    packaged: dict[str, Any],
) -> None:
    tick = resources_of(packaged["template"], "AWS::Serverless::Function")["Tick"]
    assert tick["Properties"]["EventInvokeConfig"] == {
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
        "DestinationConfig": {"OnFailure": {"Type": "SNS", "Destination": {"Ref": "AlarmTopic"}}},
    }
    # Lambda publishes the failure record with the tick's role, to a topic sealed by AlarmKey.
    role = packaged["template"]["Resources"]["TickRole"]["Properties"]["Policies"]
    (publish,) = [
        s for p in role for s in statements(p["PolicyDocument"]) if s.get("Sid") == "TickFailures"
    ]
    assert publish["Action"] == ["sns:Publish"]
    assert resource_text(publish["Resource"][0]).endswith(":cronhook-${Stage}-alarms")
    topic = packaged["template"]["Resources"]["AlarmTopic"]["Properties"]
    assert topic["TopicName"] == {"Fn::Sub": "cronhook-${Stage}-alarms"}


def test_the_tick_never_runs_twice_at_once(packaged: dict[str, Any]) -> None:
    """One tick function serves every shard: one execution at a time, so a tick that overruns
    its minute throttles the next (TickThrottlesAlarm) instead of doubling the work."""
    tick = resources_of(packaged["template"], "AWS::Serverless::Function")["Tick"]
    assert tick["Properties"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["TickReserved", 1, {"Ref": "AWS::NoValue"}]
    }
    assert packaged["template"]["Parameters"]["TickOneAtATime"]["Default"] == "on"
    assert "TickThrottlesAlarm" in packaged["template"]["Resources"]


def test_cloudwatch_may_publish_to_the_alarm_topic(packaged: dict[str, Any]) -> None:
    """SNS's AWS managed key admits no service: alarms need a key of the stack's own."""
    resources = packaged["template"]["Resources"]
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmKey"}
    key = resources["AlarmKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    (cloudwatch,) = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(cloudwatch["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


def test_only_the_worker_may_take_messages_off_the_queue(packaged: dict[str, Any]) -> None:
    consumer = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
    for logical, role in resources_of(packaged["template"], "AWS::IAM::Role").items():
        actions = {
            a
            for policy in role["Properties"]["Policies"]
            for s in statements(policy["PolicyDocument"])
            for a in s["Action"]
        }
        assert (
            "sqs:SendMessage" in actions
        )  # the tick enqueues, the API runs now, the worker retries
        assert (consumer <= actions) == (logical == "WorkerRole"), logical


def test_api_gateways_own_answers_have_the_error_shape_and_quote_nothing(
    packaged: dict[str, Any],
) -> None:
    (api,) = resources_of(packaged["template"], "AWS::Serverless::Api").values()
    responses = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert responses["THROTTLED"]["statusCode"] == "429"
    assert "statusCode" not in responses["DEFAULT_4XX"]  # API Gateway's own status stays
    for response in responses.values():
        (text,) = response["responseTemplates"].values()
        assert set(json.loads(text)["error"]) == {"code", "message"} and "$" not in text


def test_the_bucket_refuses_plain_http_and_the_key_keeps_its_alias(
    packaged: dict[str, Any],
) -> None:
    template = packaged["template"]
    (policy,) = resources_of(template, "AWS::S3::BucketPolicy").values()
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Kept with the key and the tables: the roles may use the key only by its alias.
    for resource in resources_of(template, "AWS::KMS::Alias").values():
        assert resource["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("stage", STAGES)
def test_chalice_deploy_seals_secrets_with_the_stages_key(stage: str) -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    variables = config["stages"][stage]["environment_variables"]
    alias = load_template()["Resources"]["SecretsKeyAlias"]["Properties"]["AliasName"]["Fn::Sub"]
    assert variables["CRONHOOK_KMS_KEY"] == alias.replace("${Stage}", stage)


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, str]]:
    """(metric name, Function) of every embedded-metric line printed so far."""
    found = set()
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "cronhook"
            for metric in directive["Metrics"]:
                assert metric["Name"] in document, metric  # its value is on the line
                found.add((metric["Name"], document["Function"]))
    return found


@pytest.mark.backend("moto")
def test_every_alarm_watches_a_metric_the_code_emits_or_a_resource_of_the_stack(
    packaged: dict[str, Any],
    api: Any,
    alice: Any,
    settings: Any,
    stores: Any,
    capsys: pytest.CaptureFixture[str],
    httpserver: Any,
) -> None:
    """The tick and the worker run on the AWS path (moto) and print their embedded-metric
    lines; each alarm on cronhook's namespace must find its metric and Function among them, and
    each alarm on an AWS namespace must name a resource of the same template."""
    import time as clock

    from chalicelib import dispatch
    from chalicelib.service import Service
    from tests.helpers import body, new_job, queued_messages

    httpserver.expect_request("/hook").respond_with_data("ok")
    when = int(clock.time()) + 4  # ahead by more than a loaded machine takes to save it
    soon = clock.strftime("%Y-%m-%dT%H:%M:%SZ", clock.gmtime(when))
    at = {"url": httpserver.url_for("/hook"), "enabled": True, "schedule": {"at": soon}}
    # Saved without the route's claim at save: the tick finds it due and runs it inline (it
    # ticks within the inline wait of the planned second).
    Service(stores, settings).create_job(alice.account, new_job(**at)["job"])
    clock.sleep(max(0.0, when - settings.inline_wait_s / 2 - clock.time()))
    dispatch.tick(clock.time())
    job_id = body(api.put("/jobs", alice, new_job(url=httpserver.url_for("/hook"))))["jobId"]
    api.post(f"/jobs/{job_id}/run", alice)
    dispatch.work_batch(queued_messages(settings, wait_s=5), clock.time())
    emitted = emitted_metrics(capsys)
    assert ("StartLag", "tick") in emitted and ("StartLag", "worker") in emitted

    template = packaged["template"]
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    assert {"TickErrorsAlarm", "TickDurationAlarm", "DeadLetterAlarm", "RunsLostAlarm"} <= set(
        alarms
    )
    for logical, alarm in alarms.items():
        props = alarm["Properties"]
        dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        if props["Namespace"] == "cronhook":
            assert (props["MetricName"], dimensions["Function"]) in emitted, logical
            assert dimensions["Stage"] == {"Ref": "Stage"}, logical
        else:
            for value in dimensions.values():
                target = value.get("Ref") or value.get("Fn::GetAtt", [None])[0]
                assert target in template["Resources"], (logical, value)
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical
    assert template["Resources"]["AlarmSubscription"]["Condition"] == "HasAlarmEmail"


def test_a_failed_task_fails_its_message_only_and_a_burst_has_a_ceiling(
    packaged: dict[str, Any],
) -> None:
    (worker,) = [
        f
        for f in resources_of(packaged["template"], "AWS::Serverless::Function").values()
        if any(e["Type"] == "SQS" for e in f["Properties"].get("Events", {}).values())
    ]
    (event,) = worker["Properties"]["Events"].values()
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}
    }
    assert packaged["template"]["Parameters"]["WorkerMaxConcurrency"]["MinValue"] == 2


def test_only_the_api_may_read_keys_users_and_sessions(packaged: dict[str, Any]) -> None:
    """One role per function; the tick's and the worker's cannot reach the keys table (API keys,
    users, sessions): they never read it, and a role that could would act as any account."""
    stage = packaged["stage"]
    roles = resources_of(packaged["template"], "AWS::IAM::Role")
    functions = resources_of(packaged["template"], "AWS::Serverless::Function")
    assert len({f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()}) == 3
    for logical, role in roles.items():
        text = json.dumps(role["Properties"]["Policies"])
        reaches_keys = f"table/cronhook-{stage}-keys" in text
        assert reaches_keys == (logical == "ApiHandlerRole"), logical


# ---- edges: the API stage, the tables, WAF, e-mail, what the linters accept -------------------


def test_the_api_stage_is_throttled_and_logs_each_request_without_tokens(
    packaged: dict[str, Any],
) -> None:
    template = packaged["template"]
    (logical,) = resources_of(template, "AWS::Serverless::Api")
    api = template["Resources"][logical]["Properties"]
    assert api["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
            "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
        }
    ]
    condition, setting, otherwise = api["AccessLogSetting"]["Fn::If"]
    assert condition == "HasApiAccessLogs" and otherwise == {"Ref": "AWS::NoValue"}
    group = template["Resources"][setting["DestinationArn"]["Fn::GetAtt"][0]]
    assert group["Condition"] == "HasApiAccessLogs"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fields = json.loads(setting["Format"])
    assert fields["resource"] == "$context.resourcePath"  # /ping/{token}, not the token
    assert not any("path" in v.lower().replace("resourcepath", "") for v in fields.values())
    assert not any("header" in v.lower() or "authorizer" in v.lower() for v in fields.values())
    assert template["Parameters"]["ApiAccessLogs"]["Default"] == "on"


def test_every_table_is_protected_from_deletion_and_capped_when_on_demand(
    packaged: dict[str, Any],
) -> None:
    template = packaged["template"]
    cap = {
        "MaxReadRequestUnits": {"Ref": "TableMaxReadUnits"},
        "MaxWriteRequestUnits": {"Ref": "TableMaxWriteUnits"},
    }
    tables = resources_of(template, "AWS::DynamoDB::Table")
    assert len(tables) == 5
    for logical, table in tables.items():
        properties = table["Properties"]
        assert properties["DeletionProtectionEnabled"] is True, logical
        throughputs = [properties["OnDemandThroughput"]] + [
            index["OnDemandThroughput"] for index in properties.get("GlobalSecondaryIndexes", [])
        ]
        for throughput in throughputs:
            if isinstance(properties["BillingMode"], dict):  # follows Capacity
                # provisioned: the auto scaling's maximum is the ceiling, and DynamoDB refuses
                # an on-demand maximum on a provisioned table
                assert throughput == {"Fn::If": ["Provisioned", {"Ref": "AWS::NoValue"}, cap]}
            else:
                assert properties["BillingMode"] == "PAY_PER_REQUEST" and throughput == cap
    assert {"JobsTable", "RunsTable"} <= {
        k for k, t in tables.items() if isinstance(t["Properties"]["BillingMode"], dict)
    }
    for name in ("TableMaxReadUnits", "TableMaxWriteUnits"):
        assert template["Parameters"][name]["MinValue"] >= 1


def test_a_web_acl_guards_the_api_only_when_one_is_given(packaged: dict[str, Any]) -> None:
    template = packaged["template"]
    (association,) = resources_of(template, "AWS::WAFv2::WebACLAssociation").values()
    assert association["Condition"] == "HasWebAcl"
    assert template["Conditions"]["HasWebAcl"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "WebAclArn"}, ""]}]
    }
    assert association["Properties"]["WebACLArn"] == {"Ref": "WebAclArn"}
    assert association["Properties"]["ResourceArn"]["Fn::Sub"].endswith(
        "/restapis/${RestAPI}/stages/${RestAPI.Stage}"
    )
    assert template["Parameters"]["WebAclArn"]["Default"] == ""


def test_e_mail_goes_from_the_configured_identity_only(packaged: dict[str, Any]) -> None:
    """Every role that runs the notifier (the API answers pings, the tick and the worker record
    runs) may send e-mail from NotifyFrom alone, and none may when it is empty."""
    template = packaged["template"]
    for logical, role in resources_of(template, "AWS::IAM::Role").items():
        (document,) = [p["PolicyDocument"] for p in role["Properties"]["Policies"]]
        sends = [s for s in document["Statement"] if "ses:" in json.dumps(s)]
        assert len(sends) == 1, logical
        condition, statement, otherwise = sends[0]["Fn::If"]
        assert condition == "HasNotifyFrom" and otherwise == {"Ref": "AWS::NoValue"}
        assert statement["Action"] == ["ses:SendEmail"]
        assert statement["Condition"] == {
            "StringEquals": {"ses:FromAddress": {"Ref": "NotifyFrom"}}
        }
        identities = [resource_text(r) for r in statement["Resource"]]
        assert [i.rsplit("/", 1)[1] for i in identities] == ["${NotifyFrom}", "${Domain}"]
    for function in resources_of(template, "AWS::Serverless::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["CRONHOOK_NOTIFY_FROM"] == {
            "Fn::If": ["HasNotifyFrom", {"Ref": "NotifyFrom"}, {"Ref": "AWS::NoValue"}]
        }
    pattern = re.compile(template["Parameters"]["NotifyFrom"]["AllowedPattern"])
    assert pattern.fullmatch("alerts@example.com") and pattern.fullmatch("")
    assert not pattern.fullmatch("Ops <alerts@example.com>")


def test_every_checkov_suppression_says_why(packaged: dict[str, Any]) -> None:
    """`make lint-stack` runs checkov on this template; what it accepts is written in it."""
    skipped = 0
    for logical, resource in packaged["template"]["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), logical
            assert len(skip["comment"]) > 40, (logical, skip)
            skipped += 1
    assert skipped > 0


def test_the_sam_transform_guards_the_stage_it_makes_and_reports_the_tick(
    packaged: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What CloudFormation deploys after the SAM transform (samtranslator, offline): the web
    ACL's ARN names the stage SAM makes, and the tick's invoke config carries its destination."""
    import copy

    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = copy.deepcopy(packaged["template"])
    for resource in resources_of(template, "AWS::Serverless::Function").values():
        resource["Properties"]["CodeUri"] = "s3://artifacts/code.zip"  # as `cloudformation package`
    resources = transform(template, {}, NoManagedPolicies())["Resources"]
    (stage,) = [k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Stage"]
    arn = resources["RestAPIWebAclAssociation"]["Properties"]["ResourceArn"]["Fn::Sub"]
    assert arn.endswith(f"/restapis/${{RestAPI}}/stages/${{{stage}}}")
    assert resources[stage]["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == {
        "Ref": "ApiThrottleRate"
    }
    (config,) = [v for v in resources.values() if v["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Ref": "AlarmTopic"
    }
    assert config["Properties"]["MaximumRetryAttempts"] == 0


def test_a_deploy_may_set_every_parameter_of_the_stack(packaged: dict[str, Any]) -> None:
    settable = {"Stage", "Capacity", *package.EDGE_PARAMETERS, *package.OTHER_PARAMETERS}
    assert set(packaged["template"]["Parameters"]) == settable
    documented = (ROOT / "docs" / "DEPLOY.md").read_text()
    assert all(f"| `{name}` |" in documented for name in settable)
