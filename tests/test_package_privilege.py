"""Each function's role in the packaged stack holds what that function's code calls, and no more.

The API, the tick and the worker run through their Chalice handlers on moto, with every AWS call
they make recorded (botocore's `before-parameter-build` event on the sessions `wiring` makes).
Each call becomes the IAM requests AWS would authorize (action, resource ARN, condition keys);
then, against the packaged template's roles:
- every request a function made is allowed by its own role;
- every action and every resource of every statement of a role is used by a request of its
  function, unless AWS itself uses it with the function's role (SERVICE_STATEMENTS,
  SERVICE_USES) or the code needs it on a path the scenario does not take (NOT_EXERCISED_HERE,
  each with that path).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Api, Persona, body, make_persona, new_job, queued_messages
from tests.test_deploy import package_offline

ROOT = Path(__file__).resolve().parent.parent
STAGE = "prod"  # the packaged stage; moto's resources are the `test` stage's, renamed below
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's
SENDER = "alerts@example.com"  # NotifyFrom
FUNCTIONS = {"api": "ApiHandlerRole", "tick": "TickRole", "worker": "WorkerRole"}

pytestmark = [pytest.mark.slow, pytest.mark.backend("moto")]

# What AWS itself does with a function's role, not the function's code, and so no test of
# the code can show: whole statements by (role or "*", Sid), single actions by (role, action).
SERVICE_STATEMENTS: dict[tuple[str, str], str] = {
    ("*", "Logs"): "the Lambda runtime writes the function's log group with its role",
    ("TickRole", "TickFailures"): "Lambda sends a failed tick's record to its on-failure "
    "destination (the alarm topic) with the tick's role",
    ("TickRole", "TickFailuresKey"): "the same, sealed with the topic's key (AlarmKey)",
}
SERVICE_USES: dict[tuple[str, str], str] = {
    ("WorkerRole", action): "the queue trigger (an event source mapping) polls the queue, "
    "hides and deletes messages with the worker's role"
    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    )
}

_DOMAIN = f"Notify: arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER.split('@')[1]}"
_RESEAL = (
    "the job store seals a secret still in clear (stored before it was sealed) when it writes "
    "the job's definition, as Dispatcher._disable does after a failure streak; the API has "
    "sealed every secret of this scenario first"
)
# Grants the code needs on a path this scenario does not take, each with that path: the test
# fails when one is taken (then it goes from here) and when a new grant is neither.
NOT_EXERCISED_HERE: dict[str, dict[str, str]] = {
    role: {
        _DOMAIN: "SES authorizes against the domain's identity when the domain is verified "
        "rather than the address (moto verifies the address here)",
        **({"Secrets: kms:GenerateDataKey": _RESEAL} if role != "ApiHandlerRole" else {}),
        **(
            {
                "Tables: dynamodb:Query": "a job at its maxConcurrent with a queue counts its "
                "waiting runs (Dispatcher._waiting_runs, runs.list_for_job)"
            }
            if role == "WorkerRole"
            else {}
        ),
    }
    for role in FUNCTIONS.values()
}

# ---- the packaged template -----------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp(f"build-{STAGE}")
    package_offline(STAGE, out)
    loaded: dict[str, Any] = json.loads((out / "sam.json").read_text())
    return loaded


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # ARN patterns, parameters filled in
    condition: Mapping[str, Any]


def _sub(value: Any) -> str:
    """A policy resource (string or Fn::Sub) with the stack's parameters filled in."""
    names = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "Stage": STAGE,
        "NotifyFrom": SENDER,
        "Domain": SENDER.split("@")[1],  # its Fn::Select of an Fn::Split of NotifyFrom
        "AlarmKey": "alarm-key-id",
    }
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    text = text[0] if isinstance(text, list) else text
    return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], text)


def role_statements(template: Mapping[str, Any], role: str) -> list[Statement]:
    """The role's statements, with those behind a condition taken as on (NotifyFrom is set)."""
    out = []
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for raw in policy["PolicyDocument"]["Statement"]:
            if set(raw) == {"Fn::If"}:
                raw = raw["Fn::If"][1]
            assert raw["Effect"] == "Allow", raw
            found = raw["Resource"]
            out.append(
                Statement(
                    sid=raw["Sid"],
                    actions=tuple(
                        [raw["Action"]] if isinstance(raw["Action"], str) else raw["Action"]
                    ),
                    resources=tuple(
                        _sub(r) for r in (found if isinstance(found, list) else [found])
                    ),
                    condition=raw.get("Condition", {}),
                )
            )
    return out


# ---- what the code calls --------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One IAM authorization a call needs."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    call: str = ""  # the boto3 operation it came from, for the messages

    def allowed_by(self, statement: Statement) -> bool:
        return (
            self.action in statement.actions
            and any(fnmatch.fnmatchcase(self.resource, p) for p in statement.resources)
            and _meets(statement.condition, dict(self.context))
        )


def _meets(condition: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            wanted = {SENDER if e == {"Ref": "NotifyFrom"} else e for e in _listed(expected)}
            if operator in ("StringEquals", "ForAnyValue:StringEquals"):
                if context.get(key) not in wanted:
                    return False
            else:
                raise AssertionError(f"a condition this test cannot evaluate: {operator} {key}")
    return True


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _ours(name: str) -> str:
    """moto holds the `test` stage's resources; the packaged roles name the `prod` stage's."""
    return name.replace("cronhook-test-", f"cronhook-{STAGE}-")


_TRANSACT = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_SINGLE = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass
class Recorder:
    """The AWS calls made while a function (`acting_as`) runs, as IAM requests."""

    key_aliases: dict[str, str] = field(default_factory=dict)  # KMS key id -> its alias
    requests: dict[str, list[Request]] = field(default_factory=dict)
    current: str | None = None

    @contextlib.contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        self.current = function
        try:
            yield
        finally:
            self.current = None

    def hook(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        if self.current is None:
            return
        service = model.service_model.signing_name
        found = self.requests.setdefault(self.current, [])
        found.extend(self.authorizations(service, model.name, params))

    def authorizations(
        self, service: str, operation: str, params: Mapping[str, Any]
    ) -> list[Request]:
        def table(name: str, index: str | None = None) -> str:
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{_ours(name)}"
            return arn + (f"/index/{index}" if index else "")

        call = f"{service}.{operation}"
        if service == "dynamodb":
            if operation.startswith("Transact"):
                return [
                    Request(_TRANSACT[kind], table(item[kind]["TableName"]), call=call)
                    for item in params["TransactItems"]
                    for kind in item
                ]
            if operation.startswith("Batch"):
                return [
                    Request(f"dynamodb:{operation}", table(t), call=call)
                    for t in params["RequestItems"]
                ]
            return [
                Request(
                    f"dynamodb:{operation}",
                    table(params["TableName"], params.get("IndexName")),
                    call=call,
                )
            ]
        if service == "s3":
            arn = f"arn:aws:s3:::{_ours(params['Bucket'])}/{params['Key']}"
            out = [Request(f"s3:{operation}", arn, call=call)]
            if operation == "PutObject" and params.get("Tagging"):
                out.append(Request("s3:PutObjectTagging", arn, call=call))
            return out
        if service == "sqs":
            name = params.get("QueueName") or str(params["QueueUrl"]).rsplit("/", 1)[-1]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{_ours(name)}"
            return [Request(f"sqs:{_SINGLE.get(operation, operation)}", arn, call=call)]
        if service == "ses":
            source = str(params["Source"])
            # SES authorizes the address's identity or its domain's, whichever is verified.
            arn = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{source}"
            return [Request(f"ses:{operation}", arn, (("ses:FromAddress", source),), call=call)]
        if service == "kms":
            key = str(params.get("KeyId", ""))
            alias = (
                key
                if key.startswith("alias/")
                else self.key_aliases.get(key.rsplit("/", 1)[-1], "")
            )
            arn = (
                f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key.rsplit('/', 1)[-1] or 'from-ciphertext'}"
            )
            if not key:  # Decrypt finds the key in the ciphertext: the only key the code seals with
                alias = next(iter(self.key_aliases.values()), "")
            return [
                Request(
                    f"kms:{operation}", arn, (("kms:ResourceAliases", _ours(alias)),), call=call
                )
            ]
        raise AssertionError(f"{call}: which IAM action does this need? (teach Recorder)")


# ---- the three functions at work ----------------------------------------------------------


@pytest.fixture
def recorded(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, httpserver: Any
) -> Iterator[Recorder]:
    """The API, the tick and the worker through their handlers, each doing what it does on a
    working day: every call `wiring`'s sessions make while one of them runs is recorded. Each
    function starts from fresh clients and stores, as each runs in a Lambda of its own (a data
    key the API's sealer holds does not spare the worker its kms:Decrypt)."""
    import boto3
    from chalice.test import Client

    from app import app
    from chalicelib import wiring
    from chalicelib.config import Settings
    from chalicelib.service import Service
    from scripts.provision import environment

    recorder = Recorder()

    def session() -> Any:
        made = boto3.session.Session()
        made.events.register("before-parameter-build", recorder.hook)
        return made

    monkeypatch.setattr(wiring, "_boto_session", session)
    settings = Settings.from_env(
        {
            **environment(aws),
            "CRONHOOK_STAGE": "test",
            "CRONHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "CRONHOOK_RATE_LIMIT_PER_S": "1000",
            "CRONHOOK_RATE_LIMIT_BURST": "1000",
            "CRONHOOK_NOTIFY_FROM": SENDER,
            "CRONHOOK_INLINE_MAX": "1",  # two runs due at once go through the queue
            "CRONHOOK_PUBLIC_URL": "http://cronhook.test/api",  # callbacks
            "CRONHOOK_DISABLE_AFTER_FAILURES": "3",  # the failing job ends disabled
        }
    )

    @contextlib.contextmanager
    def running(function: str) -> Iterator[None]:
        wiring.configure(settings=settings)
        with recorder.acting_as(function):
            yield

    wiring.configure(settings=settings)
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    kms = boto3.client("kms", region_name=REGION)
    recorder.key_aliases = {
        a["TargetKeyId"]: a["AliasName"]
        for a in kms.list_aliases()["Aliases"]
        if "TargetKeyId" in a
    }
    stores = wiring.stores()
    alice = make_persona(stores, "alice", "acct-alice", ["admin"])
    # A monitor last pinged two hours ago, every minute: the tick finds it overdue.
    from chalicelib.monitoring import Incoming, Monitors

    then = Monitors(stores, None, clock=lambda: time.time() - 7200)
    _, token = then.create(alice.account, {"title": "late", "schedule": {"every": 60}, "grace": 60})
    then.receive(
        Incoming(
            token=token, suffix=None, method="GET", body=b"", remote_addr=None, user_agent=None
        )
    )
    for path, status in (("/hook", 200), ("/down", 500), ("/notify", 200), ("/long", 202)):
        httpserver.expect_request(path).respond_with_data("answer", status=status)
    failing = {"onFailure": True, "onFailureCount": 1}
    tick_event = {
        "source": "aws.events",
        "detail_type": "Scheduled Event",
        "detail": {},
        "resources": [],
    }
    try:
        with Client(app, project_dir=str(ROOT), stage_name="dev") as client:
            api = Api(client)
            with running("api"):
                work_the_api(api, alice, httpserver, failing)
            with running("worker"):  # runs now, one retry, one callback asked for
                work(client, queued_messages(settings, wait_s=5))
            with running("api"):  # the long job's target calls back: it failed
                (long,) = [r for r, _ in httpserver.log if r.path == "/long"]
                url = long.headers["X-Cronhook-Callback-Url"]
                ref = url.rsplit("/", 1)[1]
                answer = api.post(f"/callbacks/{ref}", None, {"status": "failure", "output": "x"})
                assert answer.status_code == 200, answer.body
            service = Service(stores, settings)
            for batch in ((("/down", failing), ("/hook", {})), (("/down", failing),)):
                at = int(time.time()) + 2
                soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
                for path, notification in batch:
                    job = new_job(
                        url=httpserver.url_for(path),
                        schedule={"at": soon},
                        saveResponses=True,
                        notification=notification or {"onFailure": False},
                    )
                    # saved as the API saves it, less its claim at save: the tick finds it due
                    service.create_job(alice.account, job["job"])
                time.sleep(max(0.0, at - time.time()) + 0.2)
                with running("tick"):  # two due: queued; then one due: run inline
                    client.lambda_.invoke("tick", client.events.generate_cw_event(**tick_event))
            with running("worker"):
                work(client, queued_messages(settings, wait_s=5))
            with running("api"):
                read_back(api, alice)
        yield recorder
    finally:
        wiring.configure()


def work(client: Any, bodies: list[str]) -> None:
    assert bodies, "nothing was queued"
    event = client.events.generate_sqs_event(message_bodies=bodies, queue_name="dispatch")
    client.lambda_.invoke("worker", event)


def work_the_api(api: Api, alice: Persona, server: Any, failing: dict[str, Any]) -> None:
    def ok(response: Any) -> Any:
        assert response.status_code < 300, response.body
        is_json = "json" in response.headers.get("Content-Type", "")
        return body(response) if response.body and is_json else None

    ok(api.put("/notifications", alice, {"url": server.url_for("/notify"), "email": "ops@x.org"}))
    ok(api.get("/notifications", alice))
    secret = {"auth": {"enable": True, "user": "u", "password": "p"}}
    down = ok(
        api.put(
            "/jobs",
            alice,
            new_job(
                url=server.url_for("/down"),
                notification=failing,
                retries=1,
                retryDelay=1,
                saveResponses=True,
                **secret,
            ),
        )
    )
    chained = ok(api.put("/jobs", alice, new_job(url=server.url_for("/hook"))))
    hook = new_job(url=server.url_for("/hook"), saveResponses=True, chainSuccess=chained["jobId"])
    hook = ok(api.put("/jobs", alice, hook))  # a success starts the chained job
    gone = ok(api.put("/jobs", alice, new_job(url=server.url_for("/hook"))))
    ok(api.get("/jobs", alice))
    ok(api.get(f"/jobs/{down['jobId']}", alice))
    ok(api.patch(f"/jobs/{hook['jobId']}", alice, {"job": {"title": "renamed"}}))
    ok(api.delete(f"/jobs/{gone['jobId']}", alice))
    for job in (down, hook):
        ok(api.post(f"/jobs/{job['jobId']}/run", alice))
    ok(api.get("/runs?state=active", alice))
    ok(api.get("/history", alice))
    key = ok(api.post("/keys", alice, {"name": "ci", "scopes": ["read"]}))
    ok(api.get("/keys", alice))
    ok(api.delete(f"/keys/{key['keyId']}", alice))
    ok(api.put("/folders", alice, {"folder": {"title": "ops"}}))
    ok(api.get("/folders", alice))
    long = {"callback": {"timeout": 600}, "notification": failing, "saveResponses": True}
    waits = ok(api.put("/jobs", alice, new_job(url=server.url_for("/long"), **long)))
    ok(api.post(f"/jobs/{waits['jobId']}/run", alice))  # the worker runs it: a 202, it waits
    monitor = ok(
        api.put("/monitors", alice, {"monitor": {"title": "backup", "schedule": {"every": 600}}})
    )
    token = str(monitor["pingUrl"]).rsplit("/ping/", 1)[1]
    ok(api.get(f"/ping/{token}"))
    ok(api.get(f"/ping/{token}/fail"))  # monitor.down: a notice, an e-mail among them
    ok(api.get("/monitors", alice))


def read_back(api: Api, alice: Persona) -> None:
    """The history of every job, and a saved response of each run that kept one."""
    for job in body(api.get("/jobs", alice))["jobs"]:
        history = body(api.get(f"/jobs/{job['jobId']}/history", alice))["history"]
        for run in history:
            api.get(f"/jobs/{job['jobId']}/history/{run['identifier']}", alice)


# ---- the proof ------------------------------------------------------------------------------


def test_every_call_each_function_makes_is_allowed_by_its_own_role(
    template: dict[str, Any], recorded: Recorder
) -> None:
    refused = {
        function: sorted(
            {
                f"{r.action} {r.resource} ({r.call})"
                for r in requests
                if not any(r.allowed_by(s) for s in role_statements(template, FUNCTIONS[function]))
            }
        )
        for function, requests in recorded.requests.items()
    }
    assert refused == {f: [] for f in recorded.requests}


def test_every_statement_of_each_role_is_used_by_its_function(
    template: dict[str, Any], recorded: Recorder
) -> None:
    unused: dict[str, list[str]] = {}
    for function, role in FUNCTIONS.items():
        requests = recorded.requests.get(function, [])
        for statement in role_statements(template, role):
            if ("*", statement.sid) in SERVICE_STATEMENTS or (
                role,
                statement.sid,
            ) in SERVICE_STATEMENTS:
                continue
            for action in statement.actions:
                if ("*", action) in SERVICE_USES or (role, action) in SERVICE_USES:
                    continue
                if not any(r.action == action and r.allowed_by(statement) for r in requests):
                    unused.setdefault(role, []).append(f"{statement.sid}: {action}")
            for pattern in statement.resources:
                if not any(
                    fnmatch.fnmatchcase(r.resource, pattern) and r.allowed_by(statement)
                    for r in requests
                ):
                    unused.setdefault(role, []).append(f"{statement.sid}: {pattern}")
    documented = {role: sorted(found) for role, found in NOT_EXERCISED_HERE.items()}
    assert {role: sorted(found) for role, found in unused.items()} == documented, json.dumps(
        unused, indent=1
    )


def test_the_check_refuses_what_a_role_does_not_grant(template: dict[str, Any]) -> None:
    """The comparison above is not vacuous: a tick reading an API key, the API e-mailing from
    another address, the worker reading a saved response are each refused."""
    keys = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/cronhook-{STAGE}-keys"
    refused = [
        ("TickRole", Request("dynamodb:GetItem", keys)),
        (
            "ApiHandlerRole",
            Request(
                "ses:SendEmail",
                f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER}",
                (("ses:FromAddress", "mallory@example.com"),),
            ),
        ),
        (
            "WorkerRole",
            Request(
                "s3:GetObject", f"arn:aws:s3:::cronhook-{STAGE}-responses-{ACCOUNT}/responses/x"
            ),
        ),
    ]
    for role, request in refused:
        assert not any(request.allowed_by(s) for s in role_statements(template, role)), request
    allowed = Request("dynamodb:GetItem", keys.replace("-keys", "-jobs"))
    assert any(allowed.allowed_by(s) for s in role_statements(template, "TickRole"))
