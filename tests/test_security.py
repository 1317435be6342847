"""Attacks tried for real: SSRF through the API, other accounts' ids, secrets in the open, abuse.

SSRF: with the guard on (production's setting), jobs aimed at every loopback form are created,
run now and worked by the SQS worker Lambda; history must say `blocked` and the loopback servers
must see nothing. Every other address form is checked on the guard's decision and through the
executor with an injected resolver; a tripwire on urllib3's connect refuses (and counts) any
connection to a non-loopback address, so no test can send a packet off the machine.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chalicelib import executor, wiring
from chalicelib.netguard import blocked_reason
from chalicelib.openapi import document
from scripts.reliability import record
from tests.executor_servers import Reply, Server, resolver
from tests.helpers import Api, Persona, body, make_persona, new_job, queued_messages, stored_items
from tests.test_runs_api import work_through_the_lambda

PUBLIC = "93.184.215.14"  # a global unicast address the guard lets through; never reached


# ---- the tripwire ---------------------------------------------------------------------------


@dataclass
class Tripwire:
    """urllib3's connect, refusing every non-loopback address unless `nat` maps it to loopback."""

    nat: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    attempts: list[tuple[str, int]] = field(default_factory=list)

    def off_machine(self) -> list[tuple[str, int]]:
        return [a for a in self.attempts if not _loopback(a[0])]


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Tripwire:
    """Every outbound connection of the executor passes here (the only socket code it uses)."""
    from urllib3.util import connection

    wire = Tripwire()
    real = connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address[0], int(address[1])
        wire.attempts.append((host, port))
        if (host, port) in wire.nat:
            return real(wire.nat[(host, port)], *args, **kwargs)
        if not _loopback(host):
            raise ConnectionRefusedError(f"tripwire: {host} is not a loopback address")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(connection, "create_connection", create_connection)
    return wire


@pytest.fixture
def guarded(api: Api, settings: Any, stores: Any) -> Iterator[Api]:
    """The API and worker with the SSRF guard on (the `settings` fixture allows private)."""
    wiring.configure(settings=replace(settings, allow_private_targets=False), stores=stores)
    yield api
    wiring.configure(settings=settings, stores=stores)


def run_now(api: Api, who: Persona, settings: Any, url: str) -> dict[str, Any]:
    """Create a job, run it now, let the worker Lambda take the message; returns the run."""
    response = api.put("/jobs", who, new_job(url=url, enabled=False))
    assert response.status_code == 200, response.body
    job_id = body(response)["jobId"]
    run_id = body(api.post(f"/jobs/{job_id}/run", who))["runId"]
    work_through_the_lambda(api, queued_messages(settings))
    return dict(body(api.get(f"/runs/{run_id}", who))["run"])


# ---- SSRF through the API -------------------------------------------------------------------

# (how the URL names the target, the loopback address it reaches, what the guard says)
LOOPBACK_FORMS = [
    ("127.0.0.1", "127.0.0.1", "127.0.0.1 is a loopback address"),
    ("127.1.2.3", "127.1.2.3", "127.1.2.3 is a loopback address"),
    ("[::1]", "::1", "::1 is a loopback address"),
    ("localhost", "127.0.0.1", "is a loopback address"),
    ("127.1", "127.0.0.1", "127.0.0.1 is a loopback address"),
    ("2130706433", "127.0.0.1", "127.0.0.1 is a loopback address"),
    ("0x7f000001", "127.0.0.1", "127.0.0.1 is a loopback address"),
    ("0177.0.0.1", "127.0.0.1", "127.0.0.1 is a loopback address"),
    ("[::ffff:127.0.0.1]", "127.0.0.1", "::ffff:127.0.0.1 embeds 127.0.0.1, a loopback address"),
    ("[0:0:0:0:0:0:0:1]", "::1", "is a loopback address"),
]


def _numeric_or_hosts_file(host: str) -> bool:
    """Whether the system resolves `host` without asking DNS (a numeric form, or localhost)."""
    if host == "localhost":
        return True
    try:
        socket.getaddrinfo(host.strip("[]"), 80, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return False
    return True


def test_it_blocks_jobs_aimed_at_every_loopback_form_and_sends_them_nothing(
    guarded: Api, alice: Persona, settings: Any, tripwire: Tripwire
) -> None:
    outcomes, expected = [], []
    for host, bind, reason in LOOPBACK_FORMS:
        assert _numeric_or_hosts_file(host), f"{host} would need DNS"  # so no lookup leaves
        with Server({"/hook": Reply(200)}, host=bind) as target:
            run = run_now(guarded, alice, settings, f"http://{host}:{target.port}/hook")
            seen = len(target.seen)
        outcomes.append((host, run["state"], run["status"], run["reason"], seen))
        expected.append((host, "done", 3, "blocked", 0))
        assert run["statusText"].startswith("Blocked: ") and reason in run["statusText"], host
    let_in = sum(o != e for o, e in zip(outcomes, expected, strict=True))
    record("ssrf", "loopback forms through the API", tried=len(outcomes), let_in=let_in)
    assert outcomes == expected
    assert tripwire.attempts == []  # not even a connect was tried


REDIRECT_TARGETS = [
    ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://localhost:{port}/hook", "is a loopback address"),
    ("http://[::1]:{port}/hook", "::1 is a loopback address"),
    ("http://127.9.9.9:{port}/hook", "127.9.9.9 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
]


def test_it_blocks_redirects_from_a_public_target_into_loopback(
    guarded: Api, alice: Persona, settings: Any, tripwire: Tripwire
) -> None:
    # The redirector stands for a public host: the job names PUBLIC, and the tripwire carries
    # that one address to a loopback server (nothing leaves the machine).
    outcomes, expected = [], []
    with Server({"/hook": Reply(200)}) as target:
        for location, reason in REDIRECT_TARGETS:
            redirect = Reply(302, [("Location", location.format(port=target.port))])
            with Server({"/go": redirect}) as redirector:
                tripwire.nat[(PUBLIC, redirector.port)] = ("127.0.0.1", redirector.port)
                run = run_now(guarded, alice, settings, f"http://{PUBLIC}:{redirector.port}/go")
                first_hops = len(redirector.seen)
            outcomes.append((location, first_hops, run["status"], run["reason"]))
            expected.append((location, 1, 3, "blocked"))
            assert reason in run["statusText"], location
        seen = len(target.seen)
    let_in = sum(o != e for o, e in zip(outcomes, expected, strict=True)) + seen
    record("ssrf", "redirects into loopback", tried=len(outcomes), let_in=let_in)
    assert outcomes == expected and seen == 0
    assert all(host == PUBLIC for host, _ in tripwire.attempts)  # only the first hops


# ---- SSRF: every other form, on the guard's decision ----------------------------------------

# (address, the kind the guard names); none of these is ever connected to.
REFUSED = [
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.254", "a shared (CGNAT) address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("169.254.170.2", "a cloud metadata address"),
    ("169.254.170.23", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("192.0.0.192", "a cloud metadata address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("127.255.255.254", "a loopback address"),
    ("fd12:3456::1", "a unique local address"),
    ("fc00::1", "a unique local address"),
    ("fec0::1", "a site-local address"),
    ("::ffff:10.0.0.1", "embeds 10.0.0.1, a private address"),
    ("::ffff:169.254.169.254", "embeds 169.254.169.254, a cloud metadata address"),
    ("::ffff:127.0.0.1", "embeds 127.0.0.1, a loopback address"),
    ("::ffff:0:a00:1", "a reserved address"),  # IPv4-translated (SIIT)
    ("::127.0.0.1", "a reserved address"),  # IPv4-compatible, deprecated
    ("64:ff9b::a00:1", "embeds 10.0.0.1, a private address"),  # NAT64
    ("64:ff9b::a9fe:a9fe", "embeds 169.254.169.254, a cloud metadata address"),
    ("64:ff9b:1::a00:1", "a private address"),  # local-use NAT64
    ("2002:a00:1::1", "embeds 10.0.0.1, a private address"),  # 6to4
    ("2002:7f00:1::1", "embeds 127.0.0.1, a loopback address"),
    ("2001:0:a00:1::80ff:fffe", "a private address"),  # Teredo: server 10.0.0.1, client 127.0.0.1
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("255.255.255.255", "a broadcast address"),
    ("240.0.0.1", "a reserved address"),
    ("192.0.2.1", "a documentation address"),
    ("2001:db8::1", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
]


@pytest.mark.parametrize(("address", "kind"), REFUSED, ids=[r[0] for r in REFUSED])
def test_it_refuses_every_internal_address_form(
    tripwire: Tripwire, address: str, kind: str
) -> None:
    decision = blocked_reason(address, False)
    # A name that resolves to the address, through the executor: refused before any connect.
    names = resolver({"internal.example": [address], "mixed.example": [PUBLIC, address]})
    policy = executor.Policy(allow_private=False, resolver=names)
    results = [
        executor.execute(executor.Request(f"http://{name}/hook", timeout=2), policy)
        for name in ("internal.example", "mixed.example")
    ]
    let_in = int(decision is None) + sum(r.reason != "blocked" for r in results)
    record("ssrf", "internal forms on the guard's decision", tried=3, let_in=let_in)
    assert decision is not None and kind in decision
    assert [(r.status, r.reason) for r in results] == [(3, "blocked"), (3, "blocked")]
    assert all(kind in r.status_text for r in results)
    assert tripwire.attempts == []


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"])
def test_it_refuses_metadata_even_where_private_targets_are_allowed(address: str) -> None:
    decision = blocked_reason(address, True)
    record("ssrf", "metadata with private targets allowed", tried=1, let_in=int(decision is None))
    assert decision is not None and "a cloud metadata address" in decision


# ---- another account's ids ------------------------------------------------------------------


@dataclass
class Holdings:
    """Bob's things, by the name of the path parameter that addresses them."""

    params: dict[str, str]
    job_title: str


def bobs_things(api: Api, bob: Persona, settings: Any) -> Holdings:
    job_id = body(api.put("/jobs", bob, new_job(title="bob's job")))["jobId"]
    folder_id = body(api.put("/folders", bob, {"folder": {"title": "bob's folder"}}))["folderId"]
    run_id = body(api.post(f"/jobs/{job_id}/run", bob))["runId"]
    queued_messages(settings)  # the run stays queued; nobody works it
    key_id = body(api.post("/keys", bob, {"name": "bob's bot", "scopes": ["read"]}))["keyId"]
    user = {"username": "bob-ops", "password": "a long passphrase", "scopes": ["read"]}
    assert api.post("/users", bob, user).status_code in (200, 201)
    monitor = {"monitor": {"title": "bob's monitor"}}
    monitor_id = body(api.put("/monitors", bob, monitor))["monitorId"]
    return Holdings(
        {
            "jobId": str(job_id),
            "monitorId": str(monitor_id),
            "folderId": str(folder_id),
            "runId": run_id,
            "identifier": run_id,
            "keyId": key_id,
            "username": "bob-ops",
        },
        "bob's job",
    )


PAYLOADS = {
    ("/jobs/{jobId}", "patch"): {"job": {"title": "alice was here"}},
    ("/folders/{folderId}", "patch"): {"folder": {"title": "alice was here"}},
    ("/jobs/{jobId}/run", "post"): {"extendedData": {"body": "alice"}},
    ("/runs/{runId}", "patch"): {"retries": 0},
    ("/jobs/{jobId}/cursor", "post"): {"at": 1_900_000_000},
    ("/users/{username}/password", "put"): {"password": "alice was here, long enough"},
    ("/monitors/{monitorId}", "patch"): {"monitor": {"title": "alice was here"}},
}


def test_it_answers_404_on_every_route_given_another_accounts_ids(
    api: Api, alice: Persona, bob: Persona, settings: Any
) -> None:
    bobs = bobs_things(api, bob, settings)
    tried: list[tuple[str, str, int]] = []
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            if "{" not in path or not operation.get("security"):
                continue  # only routes that take an id and act for an account
            if path.startswith("/api/"):
                continue  # Cronicle's and SetCronJob's calls take ids as parameters (their tests)
            names = re.findall(r"{(\w+)}", path)
            assert set(names) <= set(bobs.params), f"{path}: no id of bob's for {names}"
            url = path.format(**bobs.params)
            payload = PAYLOADS.get((path, method))
            response = api.call(method.upper(), url, alice, payload)
            tried.append((method.upper(), url, response.status_code))
    # Mixed: alice's own job with bob's run.
    own = body(api.put("/jobs", alice, new_job()))["jobId"]
    mixed = api.get(f"/jobs/{own}/history/{bobs.params['runId']}", alice)
    tried.append(("GET", f"/jobs/{own}/history/<bob's run>", mixed.status_code))
    leaked = [t for t in tried if t[2] != 404]
    record("isolation", "routes with another account's ids", tried=len(tried), leaked=len(leaked))
    assert leaked == [] and len(tried) >= 13  # 12 routes take ids today, plus the mixed one
    # Nothing of bob's changed: still there, same title, key not revoked, run still queued.
    job = body(api.get(f"/jobs/{bobs.params['jobId']}", bob))["jobDetails"]
    assert job["title"] == bobs.job_title
    keys = {k["keyId"]: k for k in body(api.get("/keys", bob))["keys"]}
    assert keys[bobs.params["keyId"]]["revoked"] is False
    assert body(api.get(f"/runs/{bobs.params['runId']}", bob))["run"]["state"] == "queued"
    users = [u["username"] for u in body(api.get("/users", bob))["users"]]
    assert users == ["bob-ops"]
    monitor = body(api.get(f"/monitors/{bobs.params['monitorId']}", bob))["monitor"]
    assert monitor["title"] == "bob's monitor" and monitor["status"] == "new"


def test_it_lists_nothing_of_another_account(
    api: Api, alice: Persona, bob: Persona, settings: Any
) -> None:
    bobs = bobs_things(api, bob, settings)
    listings = [
        "/jobs",
        "/folders",
        "/history",
        "/runs?state=active",
        "/keys",
        "/jobs?format=text",
        "/monitors",
    ]
    texts = [api.get(path, alice).body.decode() for path in listings]
    secret_ids = [bobs.params["runId"], bobs.params["keyId"], "bob's"]
    leaked = [(p, s) for p, t in zip(listings, texts, strict=True) for s in secret_ids if s in t]
    record("isolation", "listings of another account", tried=len(listings), leaked=len(leaked))
    assert leaked == []
    chained = api.put("/jobs", alice, new_job(chainSuccess=int(bobs.params["jobId"])))
    foldered = api.put("/jobs", alice, new_job(folderId=int(bobs.params["folderId"])))
    assert body(chained)["error"] == {
        "code": "invalid_field",
        "field": "chainSuccess",
        "message": "no such job in this account",
    }
    assert body(foldered)["error"]["field"] == "folderId"


# ---- secrets --------------------------------------------------------------------------------


@dataclass
class Secrets:
    """Every secret the flow made, and every response body it read back."""

    values: dict[str, str]
    responses: dict[str, str]
    sent_authorization: str


def secret_flow(api: Api, alice: Persona, settings: Any) -> Secrets:
    """Use every secret a user can give or get: a new API key, a basic-auth password, signing
    secrets (rotated) and the notification secret; run the job; read every list and detail."""
    minted = body(api.post("/keys", alice, {"name": "ops", "scopes": ["read", "write", "run"]}))
    full_key = minted["key"]
    ops = Persona("ops", alice.account, full_key, minted["keyId"])
    password = "pw-" + base64.b32encode(b"correct horse battery").decode().rstrip("=")
    api_key = "xk-" + base64.b32encode(b"header secret one").decode().rstrip("=")
    cookie = "sid=" + base64.b32encode(b"header secret two").decode().rstrip("=")
    with Server({"/hook": Reply(200, body=b"done"), "/notify": Reply(200)}) as target:
        hook = api.put(
            "/notifications", alice, {"url": target.url("/notify"), "email": "ops@example.com"}
        )
        created = body(
            api.put(
                "/jobs",
                ops,
                new_job(
                    url=target.url("/hook"),
                    auth={"enable": True, "user": "cron", "password": password},
                    extendedData={"headers": {"X-Api-Key": api_key, "Cookie": cookie}, "body": ""},
                    saveResponses=True,
                ),
            )
        )
        job_id = created["jobId"]
        rotated = body(api.post(f"/jobs/{job_id}/signing-secret", ops))
        run_id = body(api.post(f"/jobs/{job_id}/run", ops))["runId"]
        work_through_the_lambda(api, queued_messages(settings))
        (request,) = [s for s in target.seen if s.path == "/hook"]
    paths = [
        "/keys",
        "/jobs",
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/history",
        f"/jobs/{job_id}/history/{run_id}",
        f"/runs/{run_id}",
        "/history",
        "/runs?state=active",
        "/notifications",
        "/folders",
        "/scheduler",
        "/jobs?format=text",
        "/jobs?format=xml",
        f"/jobs/{job_id}/history?format=text",
        f"/api/app/get_event/v1?id={job_id}",
        "/api/app/get_schedule/v1",
    ]
    responses = {p: api.get(p, alice).body.decode() for p in paths}
    values = {
        "API key": full_key,
        "API key secret part": full_key.rsplit("_", 1)[1],
        "admin API key": alice.key,
        "basic-auth password": password,
        "secret header X-Api-Key": api_key,
        "secret header Cookie": cookie,
        "signing secret": created["signingSecret"],
        "rotated signing secret": rotated["signingSecret"],
        "notification signing secret": body(hook)["signingSecret"],
    }
    assert request.headers.get("x-api-key") == api_key  # the run sent the sealed values
    assert request.headers.get("cookie") == cookie
    return Secrets(values, responses, request.headers.get("authorization", ""))


def found(secrets: Secrets, places: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (name, where)
        for name, value in secrets.values.items()
        for where, text in places.items()
        if value in text
    ]


def test_it_shows_no_secret_in_any_list_or_detail_response(
    api: Api, alice: Persona, settings: Any
) -> None:
    secrets = secret_flow(api, alice, settings)
    expected_basic = base64.b64encode(f"cron:{secrets.values['basic-auth password']}".encode())
    leaks = found(secrets, secrets.responses)
    record("secrets", "list and detail responses", tried=len(secrets.responses), leaked=len(leaks))
    assert secrets.sent_authorization == f"Basic {expected_basic.decode()}"  # the run had it
    assert leaks == []


@pytest.mark.backend("moto")  # botocore's DEBUG log of every request and response
def test_it_logs_no_secret_at_debug_level(
    api: Api, alice: Persona, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = secret_flow(api, alice, settings)
    # The notification secret has its own (expected to fail) test below.
    secrets.values.pop("notification signing secret")
    lines = [r.getMessage() for r in caplog.records]
    leaks = found(secrets, {f"log line {n}": line for n, line in enumerate(lines)})
    record("secrets", "log lines at DEBUG", tried=len(lines), leaked=len(leaks))
    assert len(lines) > 100  # botocore's request logging was on
    assert leaks == [], sorted({name for name, _ in leaks})


BOTH_BACKENDS = pytest.mark.parametrize(
    "on",
    [
        pytest.param("sqlite", marks=pytest.mark.backend("sqlite")),
        pytest.param("moto", marks=pytest.mark.backend("moto")),
    ],
)


@BOTH_BACKENDS
def test_it_keeps_api_keys_hashed_and_job_secrets_sealed_in_the_tables(
    api: Api, alice: Persona, settings: Any, on: str
) -> None:
    secrets = secret_flow(api, alice, settings)
    items = stored_items(settings, ["jobs", "keys", "runs"])
    leaks = found(secrets, items)
    record("secrets", f"jobs, keys and runs items ({on})", tried=len(items), leaked=len(leaks))
    assert leaks == []
    (job,) = [
        text
        for name, text in items.items()
        if name.startswith("jobs ") and ("secrets" in text or "key1:" in text)
    ]
    assert ("kms1:" if on == "moto" else "key1:") in job  # sealed with KMS, or the local key


@BOTH_BACKENDS
def test_it_keeps_the_notification_signing_secret_out_of_tables_and_logs(
    api: Api, alice: Persona, settings: Any, caplog: pytest.LogCaptureFixture, on: str
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = secret_flow(api, alice, settings)
    secrets.values = {"notification signing secret": secrets.values["notification signing secret"]}
    items = stored_items(settings, ["state"])
    lines = {f"log line {n}": r.getMessage() for n, r in enumerate(caplog.records)}
    leaks = found(secrets, {**items, **lines})
    record("secrets", "state items and log lines", tried=len(items), leaked=len(leaks))
    assert leaks == []


# ---- abuse: bursts, foreign addresses, bad bodies, smuggled headers ------------------------


def test_it_answers_a_burst_past_the_limit_with_429_and_retry_after(
    api: Api, alice: Persona, stores: Any
) -> None:
    limited = make_persona(
        stores, "burst", alice.account, ["read"], rate_limit_per_s=1.0, rate_limit_burst=3.0
    )
    started = time.monotonic()
    answers = [api.get("/jobs", limited) for _ in range(10)]
    elapsed = time.monotonic() - started
    codes = [a.status_code for a in answers]
    refused = [a for a in answers if a.status_code == 429]
    allowed = codes.count(200)
    record(
        "abuse",
        "burst past the rate limit",
        tried=len(answers),
        let_in=max(0, allowed - (3 + int(elapsed) + 1)),
    )
    assert set(codes) == {200, 429} and codes[:3] == [200, 200, 200]
    assert allowed <= 3 + int(elapsed) + 1  # the burst, plus one token per second that passed
    for answer in refused:
        assert int(answer.headers["Retry-After"]) >= 1
        assert body(answer)["error"]["code"] == "rate_limited"


def test_it_answers_403_to_a_key_used_from_outside_its_allowlist(
    api: Api, alice: Persona, stores: Any
) -> None:
    # chalice's local gateway reports 127.0.0.1 as the caller's address.
    outside = make_persona(stores, "far", alice.account, ["read"], ip_allowlist=["10.9.8.0/24"])
    inside = make_persona(stores, "near", alice.account, ["read"], ip_allowlist=["127.0.0.1/32"])
    refused, allowed = api.get("/jobs", outside), api.get("/jobs", inside)
    record(
        "abuse",
        "key used outside its IP allowlist",
        tried=1,
        let_in=int(refused.status_code != 403),
    )
    assert refused.status_code == 403 and body(refused)["error"]["code"] == "forbidden"
    assert allowed.status_code == 200


BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("oversized", b'{"job": {"title": "' + b"x" * (256 * 1024) + b'"}}', 413, "payload_too_large"),
    ("not JSON", b'{"job": {"url": ', 400, "bad_request"),
    ("invalid UTF-8", b'{"job": {"title": "\xff\xfe"}}', 400, "bad_request"),
    ("a 5000-digit number", b'{"job": {"folderId": ' + b"9" * 5000 + b"}}", 400, "bad_request"),
    ("not an object", b"[1, 2, 3]", 400, "invalid_field"),
    ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, 400, "bad_request"),
]


def answer_bad_bodies(api: Api, who: Persona, cases: list[tuple[str, bytes, int, str]]) -> None:
    outcomes, expected = [], []
    for name, raw, status, code in cases:
        answer = api.put("/jobs", who, raw=raw)
        outcomes.append((name, answer.status_code, body(answer)["error"]["code"]))
        expected.append((name, status, code))
    record(
        "abuse",
        "bad bodies",
        tried=len(cases),
        let_in=sum(o[1] < 400 for o in outcomes),
        wrong=sum(o[1] >= 500 for o in outcomes),
    )
    assert outcomes == expected
    assert body(api.get("/jobs", who))["jobs"] == []


def test_it_rejects_bad_bodies_with_a_clear_error(api: Api, alice: Persona) -> None:
    answer_bad_bodies(api, alice, BAD_BODIES[:-1])


def test_it_rejects_a_deeply_nested_body_with_a_clear_error(api: Api, alice: Persona) -> None:
    answer_bad_bodies(api, alice, BAD_BODIES[-1:])


SMUGGLING = [
    ({"X-Test": "a\r\nInjected: 1"}, "extendedData.headers.X-Test"),
    ({"X-Test": "a\nInjected: 1"}, "extendedData.headers.X-Test"),
    ({"X-Test": "a\rInjected: 1"}, "extendedData.headers.X-Test"),
    ({"X-Test": "a\x00b"}, "extendedData.headers.X-Test"),
    ({"X-Test\r\nInjected": "1"}, "extendedData.headers.X-Test\r\nInjected"),
    ({"X-Test: 1\r\nInjected": "1"}, "extendedData.headers.X-Test: 1\r\nInjected"),
    ({"Transfer-Encoding": "chunked"}, "extendedData.headers.Transfer-Encoding"),
    ({"Content-Length": "0"}, "extendedData.headers.Content-Length"),
]


def test_it_rejects_headers_that_would_smuggle_at_every_entry(api: Api, alice: Persona) -> None:
    job_id = body(api.put("/jobs", alice, new_job()))["jobId"]
    outcomes, expected = [], []
    for headers, where in SMUGGLING:
        extended = {"headers": headers, "body": ""}
        answers = [
            api.put("/jobs", alice, new_job(extendedData=extended)),
            api.patch(f"/jobs/{job_id}", alice, {"job": {"extendedData": extended}}),
            api.post(f"/jobs/{job_id}/run", alice, {"extendedData": {"headers": headers}}),
        ]
        for entry, answer in zip(("create", "update", "run now"), answers, strict=True):
            outcomes.append((where, entry, answer.status_code, body(answer)["error"].get("field")))
            expected.append((where, entry, 400, where))
    let_in = sum(o[2] != 400 for o in outcomes)
    record("abuse", "smuggling headers", tried=len(outcomes), let_in=let_in)
    assert outcomes == expected
    assert [j["jobId"] for j in body(api.get("/jobs", alice))["jobs"]] == [job_id]
    stored = body(api.get(f"/jobs/{job_id}", alice))["jobDetails"]["extendedData"]
    assert stored["headers"] == {}


ONE_LINE_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"url": "http://example.com/\r\nInjected: 1"}, "url"),
    ({"url": "http://example.com/a b"}, "url"),
    ({"title": "line\nbreak"}, "title"),
    ({"auth": {"enable": True, "user": "u\r\nX: 1", "password": "p"}}, "auth.user"),
]


def test_it_rejects_line_breaks_in_one_line_fields(api: Api, alice: Persona) -> None:
    outcomes = []
    for fields, where in ONE_LINE_FIELDS:
        answer = api.put("/jobs", alice, new_job(**fields))
        outcomes.append((where, answer.status_code, body(answer)["error"].get("field")))
    let_in = sum(o[1] != 400 for o in outcomes)
    record("abuse", "line breaks in one-line fields", tried=len(outcomes), let_in=let_in)
    assert outcomes == [(where, 400, where) for _, where in ONE_LINE_FIELDS]


def test_it_lets_no_stored_credential_follow_a_url_to_another_origin(
    api: Api, alice: Persona, stores: Any
) -> None:
    """A write key never reads a job's password or secret headers; moving the URL elsewhere
    (another host, scheme or port, with auth switched off on the way) must not take them
    along."""
    moves = [
        [{"url": "https://attacker.test/"}],
        [{"url": "http://a.example/"}],
        [{"url": "https://a.example:8443/"}],
        [
            {"auth": {"enable": False}},
            {"url": "https://attacker.test/"},
            {"auth": {"enable": True}},
        ],
        [{"url": "https://attacker.test/", "auth": {"password": "********"}}],
    ]
    leaked = 0
    for steps in moves:
        job_id = body(
            api.put(
                "/jobs",
                alice,
                new_job(
                    url="https://a.example/",
                    auth={"enable": True, "user": "u", "password": "pw"},
                    extendedData={"headers": {"Authorization": "Bearer t"}, "body": ""},
                ),
            )
        )["jobId"]
        for step in steps:
            assert api.patch(f"/jobs/{job_id}", alice, {"job": step}).status_code == 200
        secrets = stores.jobs.get(alice.account, job_id).secrets
        leaked += bool(secrets.get("password")) + bool(secrets.get("headers"))
    record("secrets", "URL moved to another origin", tried=len(moves), leaked=leaked)
    assert leaked == 0
