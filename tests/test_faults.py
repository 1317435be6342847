"""Faults over the whole run path (tick -> claim -> execute -> record -> history), tried for real.

Target faults: the Dispatcher on the in-memory stores with a fake clock, against real loopback
servers that refuse, stay silent, trickle, reset, flood, loop, present a bad certificate or
answer 500/429/410; names resolve through an injected resolver, so the DNS failure sends nothing.
Each test reads the history item a user would see.

Storage faults: the Dispatcher on DynamoDB and S3 (moto) with errors injected at botocore's
`before-send` hook, so botocore's own retries (chalicelib/wiring.py) see them as they would see
AWS's. An injected error either stops the call before moto sees it, or lets it land and loses the
reply (an ambiguous write: the retry then meets its own first attempt).
"""

from __future__ import annotations

import datetime
import http.server
import json
import logging
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from chalicelib import executor, runs, wiring
from chalicelib.config import Settings
from chalicelib.dispatch import POOL_SIZE, Dispatcher
from chalicelib.errors import StoreError
from chalicelib.notify import Notifier
from chalicelib.service import Service
from chalicelib.store.base import JobRecord, RunRecord
from chalicelib.store.blobs import MemoryBlobs
from chalicelib.store.memory import memory_stores
from chalicelib.store.queue import MemoryQueue
from scripts.reliability import record
from tests.dispatch.support import Clock  # time that moves only when the dispatcher sleeps
from tests.executor_servers import (
    Reply,
    Server,
    SilentServer,
    free_port,
    make_certificate,
    resolver,
    trickle,
)

T0 = 1_795_435_200  # 2026-11-23 08:00:00 UTC, a whole minute
ACCOUNT = "acct-faults"


class Sink:
    """A loopback HTTP server that answers 200 at once and notes when each path was hit.

    Its listen backlog is large, so hundreds of concurrent connects never wait for a SYN retry.
    """

    def __init__(self, status: int = 200) -> None:
        hits: list[tuple[str, float]] = []
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _any(self) -> None:
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with lock:
                    hits.append((self.path, arrived))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Threaded(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.hits = hits
        self._server = Threaded(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> Counter[str]:
        return Counter(path for path, _ in self.hits)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class ResetServer:
    """Answers 200 with a Content-Length of 100 kB, sends 1 kB of it, then resets (RST)."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)

    def _serve(self) -> None:
        self._sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                seen = b""
                while b"\r\n\r\n" not in seen:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    seen += chunk
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
                self._stop.wait(0.05)
                # Linger 0: close() sends RST instead of FIN, as a crashing process's kernel does.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def __enter__(self) -> ResetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


# ---- target faults ---------------------------------------------------------------------------


@dataclass
class World:
    stores: Any
    settings: Settings
    queue: MemoryQueue
    blobs: Any
    clock: Clock
    dispatcher: Dispatcher
    service: Service
    names: dict[str, list[str]] = field(default_factory=dict)  # the injected resolver's table

    def job(self, **fields: Any) -> int:
        payload = {"enabled": True, "schedule": {"cron": "* * * * *"}, **fields}
        job, _ = self.service.create_job(ACCOUNT, payload)
        return job.job_id

    def get(self, job_id: int) -> JobRecord:
        job: JobRecord | None = self.stores.jobs.get(ACCOUNT, job_id)
        assert job is not None
        return job

    def history(self, job_id: int) -> list[dict[str, Any]]:
        """What GET /jobs/{id}/history lists, newest first."""
        page = self.service.job_history(ACCOUNT, job_id, 100, None)
        return [runs.history_item(r) for r in page.items]

    def work_queue(self) -> dict[str, int]:
        """Deliver what was queued, as SQS would once each delay passed."""
        total: Counter[str] = Counter()
        for _ in range(20):
            sent = self.queue.drain()
            if not sent:
                break
            for body, delay in sent:
                self.clock.sleep(delay)
                total.update(self.dispatcher.work([body], self.clock()))
        return dict(total)


def make_world(stores: Any, settings: Settings, blobs: Any) -> World:
    # The tick runs at T0+30 and its batch waits inline for T0+60, whatever inline_wait_s says.
    settings = replace(settings, inline_wait_s=125)
    clock = Clock(T0 + 30)
    queue = MemoryQueue()
    notifier = Notifier(stores, settings, clock=clock)
    dispatcher = Dispatcher(
        stores, settings, queue, blobs, notifier, clock=clock, sleep=clock.sleep
    )
    world = World(
        stores, settings, queue, blobs, clock, dispatcher, Service(stores, settings, clock)
    )

    def execute(request: executor.Request, policy: executor.Policy) -> executor.Result:
        # Names resolve through the table only: a name it lacks fails like an unknown name.
        return executor.execute(request, replace(policy, resolver=resolver(world.names)))

    dispatcher.execute = execute
    return world


@pytest.fixture
def world() -> World:
    settings = Settings(allow_private_targets=True, default_request_timeout=5, inline_max=50)
    return make_world(memory_stores(), settings, MemoryBlobs())


@dataclass(frozen=True)
class Fault:
    """A misbehaving target, and what its run's history item must say."""

    name: str
    start: Callable[[ExitStack], str]  # starts the target; returns the job's URL
    status: int
    reason: str
    text: Callable[[str], str]  # the expected statusText, given the URL
    fields: dict[str, Any] = field(default_factory=dict)


def _served(reply: Reply, path: str = "/hook", **kw: Any) -> Callable[[ExitStack], str]:
    def start(stack: ExitStack) -> str:
        server = stack.enter_context(Server({path: reply}, **kw))
        return server.url(path)

    return start


def _silent(stack: ExitStack) -> str:
    return f"http://127.0.0.1:{stack.enter_context(SilentServer()).port}/hook"


def _reset(stack: ExitStack) -> str:
    return f"http://127.0.0.1:{stack.enter_context(ResetServer()).port}/hook"


def _loop(stack: ExitStack) -> str:
    routes = {"/a": Reply(302, [("Location", "/b")]), "/b": Reply(302, [("Location", "/a")])}
    return stack.enter_context(Server(routes)).url("/a")


def _bad_certificate(stack: ExitStack) -> str:
    context = make_certificate(["127.0.0.1"]).server_context()  # self-signed
    return stack.enter_context(Server({"/hook": Reply(200)}, tls=context)).url("/hook")


FAULTS = [
    Fault(
        "refused",
        lambda stack: f"http://127.0.0.1:{free_port()}/hook",
        3,
        "connect_error",
        lambda url: "Could not connect to 127.0.0.1: Connection refused",
    ),
    Fault(
        "silent",
        _silent,
        5,
        "timeout",
        lambda url: "Timed out after 1 s for a response",
        {"requestTimeout": 1},
    ),
    Fault(
        "slow trickle",
        _served(
            Reply(write=trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n", b"x" * 60, 0.4))
        ),
        5,
        "timeout",
        lambda url: "Timed out after 1 s reading the response",
        {"requestTimeout": 1},
    ),
    Fault(
        "reset mid-body",
        _reset,
        4,
        "protocol_error",
        lambda url: "Connection broken: Connection reset by peer",
    ),
    Fault(
        "10 MB body",
        _served(Reply(body=b"x" * (10 * 1024 * 1024))),
        6,
        "too_much_data",
        lambda url: "The response body is larger than 4194304 bytes",
    ),
    Fault(
        "redirect loop",
        _loop,
        4,
        "redirect_loop",
        lambda url: f"Redirect loop at {url}",
    ),
    Fault(
        "bad certificate",
        _bad_certificate,
        3,
        "tls_error",
        lambda url: "TLS error: certificate verify failed: self-signed certificate",
    ),
    Fault(
        "DNS failure",
        lambda stack: "http://hooks.invalid/hook",
        2,
        "dns_error",
        lambda url: "DNS lookup of hooks.invalid failed: Name or service not known",
    ),
    Fault(
        "500",
        _served(Reply(500, body=b"boom")),
        4,
        "http_error",
        lambda url: "HTTP 500 Internal Server Error",
    ),
    Fault(
        "429 with Retry-After",
        _served(Reply(429, [("Retry-After", "120")])),
        4,
        "http_error",
        lambda url: "HTTP 429 Too Many Requests",
    ),
    Fault("410", _served(Reply(410)), 4, "http_error", lambda url: "HTTP 410 Gone"),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_it_shows_in_history_what_a_faulty_target_did(world: World, fault: Fault) -> None:
    with ExitStack() as stack:
        url = fault.start(stack)
        job_id = world.job(url=url, **fault.fields)
        world.dispatcher.tick(T0 + 30)
    items = world.history(job_id)
    seen = [(i["status"], i["reason"], i["statusText"], i["state"]) for i in items]
    expected = [(fault.status, fault.reason, fault.text(url), "done")]
    job = world.get(job_id)
    record("target_fault", fault.name, tried=1, wrong=int(seen != expected), lost=int(not items))
    assert seen == expected
    assert items[0]["datePlanned"] == T0 + 60 and items[0]["attempt"] == 1
    assert (job.last_status, job.failure_count, job.success_count) == (fault.status, 1, 0)
    assert job.running == 0 and world.queue.sent == []


def flaky(responses: list[Reply]) -> Callable[[Any], Reply]:
    """A route that gives each reply in turn, then keeps giving the last one."""
    given = {"n": 0}

    def route(seen: Any) -> Reply:
        given["n"] += 1
        return responses[min(given["n"], len(responses)) - 1]

    return route


def test_it_retries_a_429_no_sooner_than_its_retry_after_and_then_succeeds(world: World) -> None:
    route = flaky([Reply(429, [("Retry-After", "120")]), Reply(200)])
    with Server({"/hook": route}) as server:
        job_id = world.job(url=server.url("/hook"), retries=3, retryDelay=5)
        world.dispatcher.tick(T0 + 30)
        ((_, delay),) = world.queue.sent
        world.work_queue()
        assert len(server.seen) == 2
    newest, first = world.history(job_id)
    assert (first["statusText"], first["attempt"]) == ("HTTP 429 Too Many Requests", 1)
    assert (newest["statusText"], newest["attempt"], newest["runId"]) == ("OK", 2, first["runId"])
    assert 120 <= delay <= 900 and newest["date"] - first["date"] >= 120
    job = world.get(job_id)
    assert (job.success_count, job.failure_count, job.running) == (1, 0, 0)


def test_it_stops_retrying_a_500_after_the_jobs_retries(world: World) -> None:
    with Server({"/hook": Reply(500)}) as server:
        job_id = world.job(url=server.url("/hook"), retries=2, retryDelay=10)
        world.dispatcher.tick(T0 + 30)
        world.work_queue()
        assert len(server.seen) == 3
    items = world.history(job_id)
    assert [(i["attempt"], i["statusText"]) for i in items] == [
        (3, "HTTP 500 Internal Server Error"),
        (2, "HTTP 500 Internal Server Error"),
        (1, "HTTP 500 Internal Server Error"),
    ]
    assert world.queue.sent == []
    job = world.get(job_id)
    assert (job.failure_count, job.failure_streak, job.running) == (1, 1, 0)


def test_it_never_retries_a_410_and_disables_the_job(world: World) -> None:
    with Server({"/hook": Reply(410)}) as server:
        job_id = world.job(url=server.url("/hook"), retries=3)
        report = world.dispatcher.tick(T0 + 30)
        assert len(server.seen) == 1
    assert report.get("retried", 0) == 0 and world.queue.sent == []
    job = world.get(job_id)
    assert not job.enabled and job.next_run_at is None
    assert job.disabled_reason == "the target answered 410 Gone"


# ---- one tick, 200 healthy targets and 20 silent ones ---------------------------------------

HEALTHY, POISONED, POISON_TIMEOUT_S = 200, 20, 2
MARGIN_S = 1.5  # scheduling slack on a loaded 2-core machine


def crowd(
    stores: Any,
    settings: Settings,
    healthy: Sink,
    silent: SilentServer,
    sizes: tuple[int, int] = (HEALTHY, POISONED),
) -> float:
    """Create (healthy, silent) jobs due at the next whole second but one; returns that time.

    The silent jobs take the lowest ids of shard 0, so the tick reaches them first: the worst
    order for everyone behind them.
    """
    healthy_n, poisoned_n = sizes
    planned = int(time.time()) + 2
    at = datetime.datetime.fromtimestamp(planned, datetime.UTC).isoformat()
    template, _ = Service(stores, settings).create_job(
        ACCOUNT, {"url": healthy.url("/0"), "enabled": True, "schedule": {"at": at}}
    )
    assert template.next_run_at == planned
    shards = settings.due_shards
    poisoned = {shards * n for n in range(1, poisoned_n + 1)}
    healthy_ids = [i for i in range(1, 2 * (healthy_n + poisoned_n)) if i not in poisoned]
    assert stores.jobs.delete(ACCOUNT, template.job_id)
    for job_id in sorted(poisoned) + healthy_ids[:healthy_n]:
        spec = dict(template.spec)
        if job_id in poisoned:
            spec.update(
                url=f"http://127.0.0.1:{silent.port}/{job_id}", requestTimeout=POISON_TIMEOUT_S
            )
        else:
            spec.update(url=healthy.url(f"/{job_id}"))
        assert stores.jobs.create(replace(template, job_id=job_id, spec=spec))
    return planned


def one_inline_tick(sizes: tuple[int, int], inline_max: int) -> tuple[dict[str, int], list[float]]:
    """Run one tick (real clock) over the crowd; returns its report and the healthy delays."""
    settings = Settings(allow_private_targets=True, inline_max=inline_max)
    stores = memory_stores(settings.due_shards)
    dispatcher = Dispatcher(stores, settings, MemoryQueue(), MemoryBlobs())
    with Sink() as healthy, SilentServer() as silent:
        planned = crowd(stores, settings, healthy, silent, sizes)
        report = dispatcher.tick(time.time())
        late = sorted(arrived - planned for _, arrived in healthy.hits)
    assert report["inline"] == sum(sizes)
    return report, late


def note_crowd(kind: str, sizes: tuple[int, int], late: list[float]) -> list[float]:
    """Record the figures; returns the healthy delays beyond the silent timeout plus margin."""
    held_back = [d for d in late if d > POISON_TIMEOUT_S + MARGIN_S]
    record(
        "target_fault",
        kind,
        tried=sum(sizes),
        lost=sizes[0] - len(late),
        wrong=len(held_back),
        max_healthy_delay_ms=round(max(late, default=0) * 1000),
        median_healthy_delay_ms=round(late[len(late) // 2] * 1000) if late else 0,
    )
    return held_back


def test_it_delivers_200_healthy_jobs_on_time_beside_20_silent_ones_in_one_tick() -> None:
    # inline_max above the crowd: the tick itself runs all 220 on its pool, as the issue asks.
    sizes = (HEALTHY, POISONED)
    report, late = one_inline_tick(sizes, inline_max=sum(sizes))
    held_back = note_crowd("20 silent among 200 healthy (one tick, inline)", sizes, late)
    assert len(late) == HEALTHY and report["ok"] == HEALTHY and report["failed"] == POISONED
    assert held_back == [], f"{len(held_back)} healthy runs waited more than the silent timeout"


def test_it_delivers_healthy_jobs_on_time_when_silent_ones_outnumber_the_pool() -> None:
    sizes = (50 - 2 * POOL_SIZE, 2 * POOL_SIZE)  # the default inline_max, all in one tick
    report, late = one_inline_tick(sizes, inline_max=Settings().inline_max)
    held_back = note_crowd(
        f"{sizes[1]} silent among {sum(sizes)} (default inline_max)", sizes, late
    )
    assert len(late) == sizes[0] and report["failed"] == sizes[1]
    assert held_back == [], f"{len(held_back)} healthy runs waited more than the silent timeout"


def test_it_delivers_200_healthy_jobs_on_time_beside_20_silent_ones_through_sqs() -> None:
    # The default inline_max (50) sends this crowd to SQS; each batch of 10 is one worker
    # invocation, and Lambda runs the batches side by side.
    settings = Settings(allow_private_targets=True)
    stores = memory_stores(settings.due_shards)
    queue = MemoryQueue()
    dispatcher = Dispatcher(stores, settings, queue, MemoryBlobs())  # real clock
    with Sink() as healthy, SilentServer() as silent:
        planned = crowd(stores, settings, healthy, silent)
        report = dispatcher.tick(time.time())
        sent = queue.drain()
        batches = [sent[n : n + 10] for n in range(0, len(sent), 10)]

        def invoke(batch: list[tuple[str, int]]) -> None:
            time.sleep(max(0.0, max(delay for _, delay in batch) - 0.5))  # SQS's DelaySeconds
            dispatcher.work([body for body, _ in batch], time.time())

        workers = [threading.Thread(target=invoke, args=(b,)) for b in batches]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        late = sorted(arrived - planned for _, arrived in healthy.hits)
    assert report["queued"] == HEALTHY + POISONED
    held_back = note_crowd("20 silent among 200 healthy (SQS batches)", (HEALTHY, POISONED), late)
    assert len(late) == HEALTHY and held_back == []


# ---- storage faults (moto) -------------------------------------------------------------------


@dataclass
class Rule:
    """Fail matching calls: `times` of them (None: every one); `commit` lets the call land first."""

    operation: str  # e.g. "dynamodb.PutItem"
    code: str
    status: int
    match: Callable[[dict[str, Any], str], bool]  # (JSON body or {}, URL)
    times: int | None = 1
    commit: bool = False
    hits: int = 0


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.data


class Faults:
    """Injects AWS errors into boto3 clients at `before-send`, ahead of moto.

    botocore sends every `before-send` handler the request and takes the first response: an
    injected error wins over moto's answer. To fail a call without effect, the request's URL is
    pointed elsewhere first, so moto does not recognise it (nothing is ever sent: the injected
    response is the answer). With `commit`, moto applies the call and its reply is lost.
    """

    def __init__(self, *clients: Any) -> None:
        self.rules: list[Rule] = []
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()
        for client in clients:
            client.meta.events.register_first("before-send", self._send)

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def injected(self) -> int:
        return sum(rule.hits for rule in self.rules)

    def _send(self, request: Any, event_name: str, **kwargs: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        operation = event_name.split(".", 1)[1]
        try:
            payload = json.loads(request.body or b"{}") if operation.startswith("dynamodb") else {}
        except ValueError:
            payload = {}
        with self.lock:
            self.attempts[operation] += 1
            rule = next(
                (
                    r
                    for r in self.rules
                    if r.operation == operation
                    and (r.times is None or r.hits < r.times)
                    and r.match(payload, request.url)
                ),
                None,
            )
            if rule is None:
                return None
            rule.hits += 1
        if not rule.commit:
            request.url = "https://fault-injected.invalid/"
        if operation.startswith("dynamodb"):
            body = json.dumps(
                {"__type": f"com.amazonaws.dynamodb.v20120810#{rule.code}", "message": "injected"}
            ).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}
        else:
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{rule.code}</Code>"
                "<Message>injected</Message><RequestId>fault</RequestId></Error>"
            ).encode()
            headers = {"Content-Type": "application/xml"}
        return AWSResponse(request.url, rule.status, headers, _Raw(body))


def table(name: str) -> Callable[[dict[str, Any], str], bool]:
    return lambda body, url: body.get("TableName") == name


def claim_of(
    settings: Settings, job_id: int | None = None
) -> Callable[[dict[str, Any], str], bool]:
    """The claim: the conditional PutItem that creates a slot's run record."""

    def match(body: dict[str, Any], url: str) -> bool:
        item = body.get("Item", {})
        return (
            body.get("TableName") == settings.runs_table
            and "attribute_not_exists(run_id)" in body.get("ConditionExpression", "")
            and (job_id is None or item.get("job_id", {}).get("N") == str(job_id))
        )

    return match


def record_of(settings: Settings) -> Callable[[dict[str, Any], str], bool]:
    """The record: the UpdateItem that counts a finished run on its job."""
    return lambda body, url: (
        body.get("TableName") == settings.jobs_table
        and "_count" in body.get("UpdateExpression", "")
    )


def done_of(settings: Settings) -> Callable[[dict[str, Any], str], bool]:
    """The run's move from running to done."""
    return lambda body, url: (
        body.get("TableName") == settings.runs_table
        and body.get("Item", {}).get("state", {}).get("S") == "done"
    )


def notification_settings_read(settings: Settings) -> Callable[[dict[str, Any], str], bool]:
    return lambda body, url: (
        body.get("TableName") == settings.state_table
        and body.get("Key", {}).get("pk", {}).get("S", "").startswith("value#notifications#")
    )


@pytest.fixture
def cloud(stores: Any, settings: Any) -> Iterator[tuple[World, Faults]]:
    """A world on DynamoDB and S3 (moto), with the product's boto3 clients and retry config."""
    local = replace(settings, allow_private_targets=True)
    wiring.configure(settings=local, stores=stores)
    blobs = wiring.blobs()
    world = make_world(stores, local, blobs)
    faults = Faults(stores.jobs.table.meta.client, wiring.client("s3"))
    yield world, faults
    wiring.configure()


def one_run_per_slot(world: World, job_ids: list[int]) -> tuple[int, int]:
    """(lost, doubled): slots at T0+60 without a record, extra records of a slot."""
    lost = doubled = 0
    for job_id in job_ids:
        page = world.stores.runs.list_for_job(ACCOUNT, job_id, 100)
        slots = [r for r in page.items if r.data["datePlanned"] == T0 + 60]
        lost += not slots
        doubled += max(0, len(slots) - 1)
    return lost, doubled


@pytest.mark.backend("moto")
def test_it_claims_each_slot_once_through_throttled_claims(
    cloud: tuple[World, Faults], caplog: pytest.LogCaptureFixture
) -> None:
    world, faults = cloud
    caplog.set_level(logging.DEBUG, logger="botocore.retries")
    with Sink() as target:
        ids = [world.job(url=target.url(f"/{n}")) for n in range(3)]
        faults.add(
            Rule(
                "dynamodb.PutItem",
                "ProvisionedThroughputExceededException",
                400,
                claim_of(world.settings),
                times=2,
            )
        )
        report = world.dispatcher.tick(T0 + 30)
        executions = target.paths()
    lost, doubled = one_run_per_slot(world, ids)
    record("storage_fault", "throttled claim", tried=faults.injected(), lost=lost, doubled=doubled)
    assert faults.injected() == 2 and report["ok"] == 3
    assert (lost, doubled) == (0, 0) and sorted(executions.values()) == [1, 1, 1]
    assert "Retry needed, retrying request after delay of" in caplog.text


@pytest.mark.backend("moto")
def test_it_counts_each_run_once_through_transient_record_errors(
    cloud: tuple[World, Faults],
) -> None:
    world, faults = cloud
    with Sink() as target:
        job_id = world.job(url=target.url("/hook"))
        faults.add(
            Rule(
                "dynamodb.UpdateItem",
                "InternalServerError",
                500,
                record_of(world.settings),
                times=2,
            )
        )
        world.dispatcher.tick(T0 + 30)
    job = world.get(job_id)
    doubled = max(0, job.success_count - 1)
    record("storage_fault", "transient record error", tried=faults.injected(), doubled=doubled)
    assert faults.injected() == 2
    assert (job.success_count, job.failure_count, job.running) == (1, 0, 0)
    assert [i["status"] for i in world.history(job_id)] == [1]


@pytest.mark.backend("moto")
def test_it_notifies_once_through_a_throttled_notification_read(
    cloud: tuple[World, Faults],
) -> None:
    world, faults = cloud
    with Server({"/down": Reply(500), "/notify": Reply(200)}) as target:
        world.service.set_notification_settings(ACCOUNT, {"url": target.url("/notify")})
        job_id = world.job(url=target.url("/down"), notification={"onFailure": True})
        faults.add(
            Rule(
                "dynamodb.GetItem",
                "ProvisionedThroughputExceededException",
                400,
                notification_settings_read(world.settings),
            )
        )
        world.dispatcher.tick(T0 + 30)
        notices = [json.loads(s.body) for s in target.seen if s.path == "/notify"]
    record(
        "storage_fault",
        "throttled notification read",
        tried=faults.injected(),
        lost=int(len(notices) == 0),
        doubled=max(0, len(notices) - 1),
    )
    assert faults.injected() == 1
    assert [(n["type"], n["jobId"]) for n in notices] == [("job.failed", job_id)]


@pytest.mark.backend("moto")
def test_it_saves_a_response_once_through_a_transient_s3_error(
    cloud: tuple[World, Faults],
) -> None:
    world, faults = cloud
    with Server({"/hook": Reply(200, body=b"saved body")}) as target:
        job_id = world.job(url=target.url("/hook"), saveResponses=True)
        faults.add(Rule("s3.PutObject", "InternalError", 500, lambda body, url: True))
        world.dispatcher.tick(T0 + 30)
    (item,) = world.history(job_id)
    run = world.service.get_run(ACCOUNT, item["identifier"])
    saved = world.blobs.get(run.data["responseKey"])
    record(
        "storage_fault", "transient S3 put error", tried=faults.injected(), lost=int(saved is None)
    )
    assert faults.injected() == 1 and item["status"] == 1
    assert saved is not None and saved["body"] == "saved body"


@pytest.mark.backend("moto")
def test_it_gives_up_on_a_failing_store_call_after_a_bounded_number_of_attempts(
    cloud: tuple[World, Faults], caplog: pytest.LogCaptureFixture
) -> None:
    world, faults = cloud
    caplog.set_level(logging.DEBUG, logger="botocore.retries")
    clients = {
        "dynamodb": world.stores.jobs.table.meta.client,
        "s3": wiring.client("s3"),
        "sqs": wiring.client("sqs"),
    }
    for name, client in clients.items():
        retries = client.meta.config.retries
        assert retries["mode"] == "standard", name
        assert 2 <= retries["total_max_attempts"] <= 6, name
    faults.add(
        Rule(
            "dynamodb.PutItem",
            "InternalServerError",
            500,
            table(world.settings.runs_table),
            times=None,
        )
    )
    run = RunRecord(ACCOUNT, 1, runs.run_id(1, T0 + 60), "queued", {"datePlanned": T0 + 60})
    with pytest.raises(StoreError) as raised:
        world.stores.runs.create(run)
    allowed = clients["dynamodb"].meta.config.retries["total_max_attempts"]
    record("storage_fault", "persistent transient error", tried=faults.injected())
    assert raised.value.message == "DynamoDB call failed: InternalServerError"
    assert faults.attempts["dynamodb.PutItem"] == faults.injected() == allowed
    backoffs = [r for r in caplog.records if "retrying request after delay" in r.getMessage()]
    assert len(backoffs) == allowed - 1


@pytest.mark.backend("moto")
def test_it_runs_the_other_jobs_when_one_jobs_claim_keeps_failing(
    cloud: tuple[World, Faults], caplog: pytest.LogCaptureFixture
) -> None:
    world, faults = cloud
    with Sink() as target:
        ids = [world.job(url=target.url(f"/{n}")) for n in range(4)]
        broken = ids[1]
        faults.add(
            Rule(
                "dynamodb.PutItem",
                "InternalServerError",
                500,
                claim_of(world.settings, broken),
                times=None,
            )
        )
        try:
            world.dispatcher.tick(T0 + 30)
        finally:
            executions = target.paths()
            healthy = [i for i in ids if i != broken]
            lost, doubled = one_run_per_slot(world, healthy)
            record(
                "storage_fault",
                "claim failing for one job",
                tried=faults.injected(),
                lost=len(healthy) - len(executions),
                doubled=doubled,
            )
    assert len(executions) == 3 and (lost, doubled) == (0, 0)
    assert any(r.levelno >= logging.ERROR and str(broken) in r.getMessage() for r in caplog.records)


@pytest.mark.backend("moto")
def test_it_runs_a_slot_whose_claim_reply_was_lost(cloud: tuple[World, Faults]) -> None:
    world, faults = cloud
    with Sink() as target:
        job_id = world.job(url=target.url("/hook"))
        faults.add(
            Rule(
                "dynamodb.PutItem",
                "InternalServerError",
                500,
                claim_of(world.settings),
                commit=True,
            )
        )
        report = world.dispatcher.tick(T0 + 30)
        executions = target.paths()
    _, doubled = one_run_per_slot(world, [job_id])
    record(
        "storage_fault",
        "ambiguous claim (reply lost)",
        tried=faults.injected(),
        lost=int(sum(executions.values()) == 0),
        doubled=doubled,
    )
    assert faults.injected() == 1
    assert report.get("ok") == 1 and sum(executions.values()) == 1
    assert world.get(job_id).next_run_at == T0 + 120


@pytest.mark.backend("moto")
def test_it_counts_a_run_once_when_its_record_reply_was_lost(cloud: tuple[World, Faults]) -> None:
    world, faults = cloud
    with Sink() as target:
        job_id = world.job(url=target.url("/hook"))
        faults.add(
            Rule(
                "dynamodb.UpdateItem",
                "InternalServerError",
                500,
                record_of(world.settings),
                commit=True,
            )
        )
        world.dispatcher.tick(T0 + 30)
    job = world.get(job_id)
    record(
        "storage_fault",
        "ambiguous record (reply lost)",
        tried=faults.injected(),
        doubled=max(0, job.success_count - 1),
    )
    assert faults.injected() == 1
    assert (job.success_count, job.running) == (1, 0)


@pytest.mark.backend("moto")
def test_it_records_a_run_whose_response_could_not_be_saved(
    cloud: tuple[World, Faults], caplog: pytest.LogCaptureFixture
) -> None:
    world, faults = cloud
    with Server({"/hook": Reply(200, body=b"fine")}) as target:
        job_id = world.job(url=target.url("/hook"), saveResponses=True)
        faults.add(Rule("s3.PutObject", "AccessDenied", 403, lambda body, url: True, times=None))
        try:
            world.dispatcher.tick(T0 + 30)
        finally:
            items = world.history(job_id)
            record(
                "storage_fault",
                "S3 put refused",
                tried=faults.injected(),
                lost=int(not items or items[0]["state"] != "done"),
            )
    assert [(i["state"], i["status"]) for i in items] == [("done", 1)]
    assert world.get(job_id).success_count == 1
    assert any(r.levelno >= logging.WARNING and "S3" in r.getMessage() for r in caplog.records)


@pytest.mark.backend("moto")
def test_it_goes_on_when_the_notification_settings_cannot_be_read(
    cloud: tuple[World, Faults], caplog: pytest.LogCaptureFixture
) -> None:
    world, faults = cloud
    with Server({"/down": Reply(500), "/notify": Reply(200)}) as target:
        world.service.set_notification_settings(ACCOUNT, {"url": target.url("/notify")})
        job_id = world.job(url=target.url("/down"), notification={"onFailure": True})
        faults.add(
            Rule(
                "dynamodb.GetItem",
                "InternalServerError",
                500,
                notification_settings_read(world.settings),
                times=None,
            )
        )
        try:
            report = world.dispatcher.tick(T0 + 30)
        finally:
            record("storage_fault", "notification read failing", tried=faults.injected())
    assert report["failed"] == 1 and world.get(job_id).failure_count == 1
    assert any(
        r.levelno == logging.WARNING and "notification" in r.getMessage() for r in caplog.records
    )


@pytest.mark.backend("moto")
def test_it_records_the_result_when_a_run_record_write_fails_its_condition_for_nothing(
    cloud: tuple[World, Faults], caplog: pytest.LogCaptureFixture
) -> None:
    world, faults = cloud
    with Sink() as target:
        job_id = world.job(url=target.url("/hook"))
        faults.add(
            Rule(
                "dynamodb.PutItem", "ConditionalCheckFailedException", 400, done_of(world.settings)
            )
        )
        world.dispatcher.tick(T0 + 30)
    (item,) = world.history(job_id)
    record(
        "storage_fault",
        "conditional failure on the run record",
        tried=faults.injected(),
        lost=int(item["state"] != "done"),
    )
    assert faults.injected() == 1
    # The record still says what it said: the write is tried again, and the result kept.
    assert item["state"] == "done" and item["httpStatus"] == 200
