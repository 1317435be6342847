"""`make run` end to end: the real process on free loopback ports, driven over HTTP like a user.

Each stack gets its own CRONHOOK_HOME under pytest's tmp_path, so nothing here touches the
developer's .cronhook/ or the default ports.
"""

from __future__ import annotations

import calendar
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer

from chalicelib.store.sqlite import Received
from scripts.local import Ticker, next_boundary

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    home: Path
    api_port: int
    aws_port: int
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0
    backend: str = "sqlite"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def log(self) -> Path:
        return self.home / f"run-{self.runs}.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRONHOOK_"))}
        env.update(
            CRONHOOK_PORT=str(self.api_port),
            CRONHOOK_AWS_PORT=str(self.aws_port),
            CRONHOOK_HOME=str(self.home),
            CRONHOOK_BACKEND=self.backend,
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> str:
        """Start `python -m scripts.local` in a process group of its own; returns its banner
        once the API answers."""
        self.runs += 1
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scripts.local"],
                cwd=ROOT,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the stack exited early:\n{self.log.read_text()}")
            printed = self.log.read_text()
            try:
                answered = requests.get(f"{self.url}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                answered = False
            if answered and "Ctrl-C stops everything" in printed:
                return printed
            time.sleep(0.1)
        pytest.fail(f"the API did not answer within {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL to the stack's whole process group: nothing gets to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def run_once(self) -> subprocess.CompletedProcess[str]:
        """Start the stack expecting it to refuse: its exit and what it printed."""
        return subprocess.run(
            [sys.executable, "-m", "scripts.local"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    home = tmp_path / "cronhook-home"
    home.mkdir()
    running = Stack(home=home, api_port=free_port(), aws_port=free_port())
    yield running
    running.kill()


def call(stack: Stack, method: str, path: str, key: str, payload: Any = None) -> Any:
    response = requests.request(
        method,
        f"{stack.url}{path}",
        headers={"Authorization": f"Bearer {key}"},
        json=payload,
        timeout=10,
    )
    assert response.status_code < 300, response.text
    return response.json()


def admin(stack: Stack, *argv: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "scripts.admin", "--local", *argv],
        cwd=ROOT,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_it_keeps_jobs_and_keys_across_a_restart_on_moto(stack: Stack) -> None:
    stack.backend = "moto"
    printed = stack.start()
    admin_key = (stack.home / "admin-key").read_text().strip()
    assert stack.url in printed and admin_key in printed
    assert f"curl -s -H 'Authorization: Bearer {admin_key}' {stack.url}/jobs" in printed

    bot = call(
        stack, "POST", "/keys", admin_key, {"name": "deploy-bot", "scopes": ["read", "write"]}
    )
    job_id = call(
        stack,
        "PUT",
        "/jobs",
        bot["key"],
        {
            "job": {
                "url": "http://127.0.0.1:9/hook",
                "title": "nightly",
                "schedule": {"cron": "0 3 * * *"},
            }
        },
    )["jobId"]
    assert [j["title"] for j in call(stack, "GET", "/jobs", bot["key"])["jobs"]] == ["nightly"]
    keys = admin(stack, "list-keys", "--account", "local")["keys"]
    assert sorted(k["name"] for k in keys) == ["admin (make run)", "deploy-bot"]

    assert stack.stop() == 0
    assert (stack.home / "data.json").exists()
    assert not (stack.home / "local-env.json").exists()

    printed = stack.start()
    assert "restored jobs: 1, keys: 2" in printed
    (job,) = call(stack, "GET", "/jobs", bot["key"])["jobs"]
    assert (job["jobId"], job["title"], job["url"]) == (
        job_id,
        "nightly",
        "http://127.0.0.1:9/hook",
    )
    details = call(stack, "GET", f"/jobs/{job_id}", admin_key)["jobDetails"]
    assert details["schedule"]["cron"] == "0 3 * * *"
    assert stack.stop() == 0


@pytest.mark.slow
def test_it_fires_a_due_job_through_a_tick_run_by_hand(
    stack: Stack, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook").respond_with_data("done")
    stack.start()
    key = (stack.home / "admin-key").read_text().strip()
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4))
    job = {"url": httpserver.url_for("/hook"), "enabled": True, "schedule": {"at": at}}
    job_id = call(stack, "PUT", "/jobs", key, {"job": job})["jobId"]

    # The tick claims the slot and waits for its second. Should the stack's own ticker reach a
    # minute boundary first, it claims it instead: either way the job runs once.
    admin(stack, "tick", "--now", str(time.time()))
    deadline = time.monotonic() + 20
    history: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        history = call(stack, "GET", f"/jobs/{job_id}/history", key)["history"]
        if history and history[0]["httpStatus"] == 200:
            break
        time.sleep(0.2)
    assert [(h["httpStatus"], h["datePlanned"]) for h in history] == [
        (200, int(calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ"))))
    ]
    assert len(httpserver.log) == 1

    # A path the API does not have: 404 in the error shape, never the key quoted back.
    for headers in ({"Authorization": f"Bearer {key}"}, {}):
        missing = requests.get(f"{stack.url}/jobs/{job_id}/histories", headers=headers, timeout=10)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert key not in missing.text
    assert stack.stop() == 0


@pytest.mark.slow
def test_it_keeps_everything_it_answered_through_a_sigkill(
    stack: Stack, httpserver: HTTPServer
) -> None:
    calls: list[float] = []

    def stall(request: Any) -> Any:
        from werkzeug import Response

        calls.append(time.time())
        time.sleep(4)
        return Response("late")

    httpserver.expect_request("/stall").respond_with_handler(stall)
    stack.start()
    key = (stack.home / "admin-key").read_text().strip()
    bot = call(stack, "POST", "/keys", key, {"name": "bot", "scopes": ["read", "write", "run"]})
    made = [
        call(stack, "PUT", "/jobs", bot["key"], {"job": {"url": f"http://127.0.0.1:9/{n}"}})[
            "jobId"
        ]
        for n in range(5)
    ]
    stalling = {"url": httpserver.url_for("/stall"), "requestTimeout": 10}
    job_id = call(stack, "PUT", "/jobs", bot["key"], {"job": stalling})["jobId"]
    run_id = call(stack, "POST", f"/jobs/{job_id}/run", bot["key"])["runId"]
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert calls, "the run never reached its target"

    stack.kill()  # mid-call: the target is still answering
    printed = stack.start()
    assert "backend: sqlite" in printed
    listed = call(stack, "GET", "/jobs", bot["key"])["jobs"]
    assert sorted(j["jobId"] for j in listed) == sorted([*made, job_id])
    names = sorted(k["name"] for k in admin(stack, "list-keys", "--account", "local")["keys"])
    assert names == ["admin (make run)", "bot"]
    # The run in flight ends `lost` once its deadline has passed (a tick looks), never called
    # again: a tick an hour ahead plays that later tick.
    admin(stack, "tick", "--now", str(time.time() + 3600))
    state = call(stack, "GET", f"/runs/{run_id}", bot["key"])["run"]
    assert state["state"] in ("lost", "done"), state
    time.sleep(1)
    assert len(calls) == 1
    assert stack.stop() == 0


@pytest.mark.slow
def test_it_refuses_a_second_stack_on_the_same_home(stack: Stack) -> None:
    stack.start()
    pid = stack.process.pid if stack.process else 0
    second = Stack(home=stack.home, api_port=free_port(), aws_port=free_port()).run_once()
    assert second.returncode == 1
    assert f"a cronhook stack already runs on {stack.home}" in second.stderr
    assert f"pid {pid}, API {stack.url}" in second.stderr
    assert stack.stop() == 0


@pytest.mark.slow
def test_it_backs_up_while_running_and_starts_again_from_the_copy(stack: Stack) -> None:
    stack.start()
    key = (stack.home / "admin-key").read_text().strip()
    job = {"url": "http://127.0.0.1:9/kept", "title": "kept"}
    call(stack, "PUT", "/jobs", key, {"job": job})
    copy = admin(stack, "backup")["backup"]
    assert Path(copy).parent == stack.home / "backups"
    call(stack, "PUT", "/jobs", key, {"job": {**job, "title": "after the backup"}})
    assert stack.stop() == 0

    # Restore as README says: the copy over the database, without its WAL files.
    database = stack.home / "cronhook.db"
    for leftover in (stack.home / "cronhook.db-wal", stack.home / "cronhook.db-shm"):
        leftover.unlink(missing_ok=True)
    database.write_bytes(Path(copy).read_bytes())
    stack.start()
    titles = [j["title"] for j in call(stack, "GET", "/jobs", key)["jobs"]]
    assert titles == ["kept"]
    assert stack.stop() == 0


@pytest.mark.slow
def test_it_refuses_a_corrupt_database_naming_the_last_backup(stack: Stack) -> None:
    backups = stack.home / "backups"
    backups.mkdir()
    (backups / "cronhook-20261201-000000.db").write_bytes(b"")
    (stack.home / "cronhook.db").write_bytes(b"this is not a database" * 1000)
    refused = stack.run_once()
    assert refused.returncode == 1
    assert f"cannot use the database {stack.home / 'cronhook.db'}" in refused.stderr
    assert str(backups / "cronhook-20261201-000000.db") in refused.stderr


@pytest.mark.slow
def test_it_refuses_a_home_it_cannot_write(stack: Stack) -> None:
    blocker = stack.home / "a-file"
    blocker.write_text("")
    stack.home = blocker / "home"  # under a file: no directory can be made there (root or not)
    refused = stack.run_once()
    assert refused.returncode == 1
    assert f"cannot use {stack.home} as the stack's home: Not a directory" in refused.stderr


@pytest.mark.slow
def test_it_refuses_to_start_on_a_port_in_use(stack: Stack) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", stack.api_port))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "scripts.local"],
            cwd=ROOT,
            env=stack.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {stack.api_port} on 127.0.0.1 is in use" in result.stderr


# ---- the ticker's clock -----------------------------------------------------------------------


class FakeTime:
    """Time that moves only while the ticker waits; a long wait may end a little early."""

    def __init__(self, start: float, early: float = 0.0) -> None:
        self.now = start
        self.early = early

    def clock(self) -> float:
        return self.now


class FakeStop(threading.Event):
    def __init__(self, fake: FakeTime) -> None:
        super().__init__()
        self.fake = fake

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set() and timeout is not None:
            self.fake.now += timeout * (1 - self.fake.early) if timeout > 1 else timeout
        return self.is_set()


class RecordingTicker(Ticker):
    """Records when it would tick instead of ticking; stops after `count` ticks."""

    def __init__(self, fake: FakeTime, count: int) -> None:
        super().__init__(FakeStop(fake), fake.clock)
        self.fired: list[float] = []
        self.count = count

    def fire(self, now: float) -> threading.Thread:
        self.fired.append(now)
        if len(self.fired) >= self.count:
            self.stop.set()
        return threading.current_thread()


def test_it_ticks_at_start_and_then_at_every_minute_boundary() -> None:
    ticker = RecordingTicker(FakeTime(1_000.5), count=3)
    ticker.run()
    assert ticker.fired == [1_000.5, 1_020.0, 1_080.0]


def test_it_never_ticks_before_the_boundary_when_a_wait_ends_early() -> None:
    ticker = RecordingTicker(FakeTime(1_000.5, early=0.001), count=3)
    ticker.run()
    assert [round(t, 3) for t in ticker.fired[1:]] == [1_020.0, 1_080.0]
    assert ticker.fired[1] >= 1_020.0 and ticker.fired[2] >= 1_080.0


def test_the_next_boundary_is_strictly_after_now() -> None:
    assert next_boundary(1_019.999) == 1_020.0
    assert next_boundary(1_020.0) == 1_080.0


# ---- the worker's batches ---------------------------------------------------------------------


class FakeQueue:
    """Hands out `batches` one per receive, then nothing."""

    def __init__(self, batches: int) -> None:
        self.pending = [[Received(f"r{n}", f"m{n}")] for n in range(batches)]
        self.lock = threading.Lock()

    def receive(self, limit: int = 10) -> list[Received]:
        with self.lock:
            if self.pending:
                return self.pending.pop(0)
        return []

    def delete(self, receipts: Any) -> None:
        pass

    def wait(self, timeout: float) -> None:
        time.sleep(0.01)


def test_a_slow_batch_does_not_hold_the_messages_due_behind_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lambda's SQS integration works each batch in an invocation of its own: a run whose target
    # answers slowly must not delay (and so push into maxConcurrent skips) the next second's runs.
    import scripts.local as local

    started: list[str] = []
    release = threading.Event()
    both = threading.Event()

    def slow_work(source: Any, messages: list[Received], now: float) -> bool:
        started.append(messages[0].body)
        if len(started) == 2:
            both.set()
        release.wait(10)
        return True

    monkeypatch.setattr(local, "work_messages", slow_work)
    stop = threading.Event()
    worker = threading.Thread(target=local.run_worker, args=(stop, FakeQueue(3), 2))
    worker.start()
    try:
        assert both.wait(10), f"only {started} started while the first batch was in work"
        time.sleep(0.2)
        assert started == ["m0", "m1"]  # at most `concurrency` batches are received at once
        release.set()
        deadline = time.monotonic() + 10
        while len(started) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started == ["m0", "m1", "m2"]  # a freed place takes the next batch
    finally:
        release.set()
        stop.set()
        worker.join(10)
    assert not worker.is_alive()


def test_the_dispatch_queue_outlives_a_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs claimed ahead wait in the queue, delayed to their seconds; the stack saves them at a
    # stop and sends them again at the next start, still delayed to the same seconds.
    import boto3
    from moto import mock_aws

    import scripts.local as local

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="dispatch")["QueueUrl"]
        now = time.time()
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=40)
        sqs.send_message(QueueUrl=url, MessageBody="now")
        saved = json.loads(json.dumps(local.pending_messages("dispatch")))
        assert {m["body"]: round(m["deliverAt"] - now) for m in saved} == {"later": 40, "now": 0}
        sqs.purge_queue(QueueUrl=url)  # the stop: moto keeps nothing
        assert local.send_again(sqs, url, saved, now + 10) == 2
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        assert [m["Body"] for m in got] == ["now"]  # "later" is still delayed (30 s more)
        assert (
            sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
            == "1"
        )
