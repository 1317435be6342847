"""API latency through the local stack (`make run`): `GET /jobs` and `PUT /jobs`, p50/p99 in ms.

    python bench/bench_api.py

Starts `python -m scripts.local` on free loopback ports with a temporary home, an admin key made
here and dummy AWS credentials; creates a benchmark key with a high rate limit (the default of
20 requests/s would throttle the loop) and JOBS jobs; then times bounded loops on one keep-alive
`requests.Session`: `GET /health` (the baseline: the HTTP server and routing, no key, no store),
`GET /jobs` and `PUT /jobs`. Each loop stops after REQUESTS requests or SECONDS seconds. The
stack is stopped with SIGTERM whatever happens. The last line printed is JSON.

The figures describe the local stack as `make run` starts it (SQLite behind every store call), not
DynamoDB; they are still comparable from run to run.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REQUESTS = 300  # per loop
SECONDS = 10.0  # per loop, whichever comes first
WARMUP = 10
JOBS = 20
READY = "Ctrl-C stops everything"  # the banner's last line: the stack is serving
STOP_TIMEOUT_S = 30.0  # the stack finishes a tick in progress and saves its data (to our temp dir)
START_TIMEOUT_S = 90.0
JOB = {
    "job": {
        # Disabled, so the stack's ticker has nothing to run while the loops are timed; and the
        # discard port on loopback, so that nothing would leave the machine if it did.
        "url": "http://127.0.0.1:9/cronhook-bench",
        "enabled": False,
        "title": "bench",
        "schedule": {
            "timezone": "UTC",
            "expiresAt": 0,
            "hours": [-1],
            "mdays": [-1],
            "minutes": [0, 15, 30, 45],
            "months": [-1],
            "wdays": [-1],
        },
    }
}


class LocalStack:
    """`python -m scripts.local` in a child process on free ports; a context manager.

    `url` is the API's base URL and `admin_key` an admin key made for this run.
    """

    def __init__(self, **env: str) -> None:
        self.url = ""
        self.admin_key = ""
        self.env = env  # more environment for the stack (CRONHOOK_BACKEND, rate limits, ...)
        self._proc: subprocess.Popen[bytes] | None = None
        self._home = ""

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the local stack is not running")
        return self._proc.pid

    def __enter__(self) -> LocalStack:
        from chalicelib import auth

        self._home = tempfile.mkdtemp(prefix="cronhook-bench-")
        self.admin_key = auth.mint()[0]
        try:
            # A port found free can be taken before the child binds it: try fresh ports again.
            for attempt in range(3):
                if self._start(Path(self._home) / f"stack-{attempt}.log"):
                    return self
            raise RuntimeError("the local stack did not start in three attempts")
        except BaseException:
            self.__exit__()
            raise

    def _start(self, log_path: Path) -> bool:
        from bench.common import ROOT, child_env, free_port

        api_port = free_port()
        aws_port = free_port()
        while aws_port == api_port:
            aws_port = free_port()
        env = child_env(
            CRONHOOK_PORT=str(api_port),
            CRONHOOK_AWS_PORT=str(aws_port),
            CRONHOOK_ADMIN_KEY=self.admin_key,
            CRONHOOK_HOME=self._home,
            PYTHONUNBUFFERED="1",
            **self.env,
        )
        with log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "scripts.local"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if READY in log_path.read_text(errors="replace"):
                self.url = f"http://127.0.0.1:{api_port}"
                return True
            if self._proc.poll() is not None:
                self._proc = None
                tail = log_path.read_text(errors="replace")[-1500:]
                print(f"local stack exited during start-up:\n{tail}", file=sys.stderr)
                return False
            time.sleep(0.05)
        tail = log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"local stack not ready after {START_TIMEOUT_S:.0f} s:\n{tail}")

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = ""


def _session(key: str) -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: loopback traffic stays loopback
    session.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    return session


def _check(response: Any, status: int, what: str) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


def _timed(call: Callable[[], None], requests: int, seconds: float) -> list[float]:
    """Milliseconds of each call, for `requests` calls or `seconds`, whichever ends first."""
    for _ in range(WARMUP):
        call()
    samples: list[float] = []
    began = time.perf_counter()
    while len(samples) < requests and time.perf_counter() - began < seconds:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def run() -> dict[str, float]:
    """Start the stack, time the three loops, stop the stack; p50/p95/p99/max of each in ms."""
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench.common import budget, summary

    requests = int(budget(REQUESTS, 10))
    seconds = budget(SECONDS, 1.0)
    with LocalStack() as stack:
        admin = _session(stack.admin_key)
        created = _check(
            admin.post(
                f"{stack.url}/keys",
                json={
                    "name": "bench",
                    "scopes": ["read", "write"],
                    "rateLimit": 10_000,
                    "rateLimitBurst": 10_000,
                },
                timeout=30,
            ),
            201,
            "POST /keys",
        )
        session = _session(created["key"])
        for _ in range(JOBS):
            _check(session.put(f"{stack.url}/jobs", json=JOB, timeout=30), 200, "PUT /jobs")
        listed = _check(session.get(f"{stack.url}/jobs", timeout=30), 200, "GET /jobs")
        if len(listed["jobs"]) != JOBS:
            raise RuntimeError(f"GET /jobs listed {len(listed['jobs'])} jobs, expected {JOBS}")

        def health() -> None:
            _check(session.get(f"{stack.url}/health", timeout=30), 200, "GET /health")

        def list_jobs() -> None:
            _check(session.get(f"{stack.url}/jobs", timeout=30), 200, "GET /jobs")

        def create_job() -> None:
            _check(session.put(f"{stack.url}/jobs", json=JOB, timeout=30), 200, "PUT /jobs")

        health_ms = summary(_timed(health, requests, seconds))
        get_samples = _timed(list_jobs, requests, seconds)  # before the PUT loop adds jobs
        put_samples = _timed(create_job, requests, seconds)
    get_ms, put_ms = summary(get_samples), summary(put_samples)
    figures = {
        "api.p50_ms": get_ms["p50"],
        "api.p95_ms": get_ms["p95"],
        "api.p99_ms": get_ms["p99"],
        "api.max_ms": get_ms["max"],
        "api.put_p50_ms": put_ms["p50"],
        "api.put_p95_ms": put_ms["p95"],
        "api.put_p99_ms": put_ms["p99"],
        "api.put_max_ms": put_ms["max"],
        "api.health_p50_ms": health_ms["p50"],
        "api.health_p99_ms": health_ms["p99"],
        "api.jobs_listed": float(JOBS),
        "api.get_requests": float(len(get_samples)),
        "api.put_requests": float(len(put_samples)),
    }
    return {key: round(value, 3) for key, value in figures.items()}


def main() -> None:
    figures = run()
    for name, prefix in (
        ("GET /health", "api.health_"),
        ("GET /jobs", "api."),
        ("PUT /jobs", "api.put_"),
    ):
        print(
            f"{name:<12} p50 {figures[prefix + 'p50_ms']:7.2f} ms   "
            f"p99 {figures[prefix + 'p99_ms']:7.2f} ms"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
