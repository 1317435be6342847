"""Executor calls per second and CPU per call against a loopback keep-alive server, next to a plain
urllib3 PoolManager loop on the same server in the same run; and the same two loops on a path
whose answer closes the connection (`new_connection.*`), so that every call opens its own.

    python bench/bench_executor.py

The server runs in a child process (threaded, Nagle off), so `time.process_time()` counts the
client's CPU only. `ratio_to_baseline` is the executor's time per call over urllib3's (1.0 = no
overhead); `cpu_ratio_to_baseline` the same for CPU. The last line printed is JSON.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

SECONDS = 5.0  # measured time per loop
ROUNDS = 10  # turns each loop takes, alternating
WARMUP_CALLS = 50
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
# For /close: the answer ends the connection, so that every call opens its own, as calls to
# distinct targets do.
CLOSING = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def run(seconds: float | None = None) -> dict[str, float]:
    """Start the server, measure both loops for `seconds` each (default SECONDS), and return the
    figures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import urllib3

    from bench.common import budget
    from chalicelib.executor import Policy, Request, execute

    if seconds is None:
        seconds = budget(SECONDS, 0.2)  # `python -m bench --smoke` only checks that it runs

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/ping"
        closing_url = f"http://127.0.0.1:{port}/close"
        policy = Policy(allow_private=True)
        request = Request(url, timeout=5.0)
        closing_request = Request(closing_url, timeout=5.0)

        def executor_call(call: Request = request) -> None:
            result = execute(call, policy)
            if not result.ok:
                raise RuntimeError(f"executor call failed: {result.status_text}")

        manager = urllib3.PoolManager()

        def baseline_call(target: str = url) -> None:
            response = manager.request("GET", target, timeout=5.0)
            if response.status != 200:
                raise RuntimeError(f"baseline call failed: HTTP {response.status}")

        (
            (executor_rate, executor_cpu),
            (baseline_rate, baseline_cpu),
            (new_rate, new_cpu),
            (new_baseline_rate, new_baseline_cpu),
        ) = _measure(
            [
                executor_call,
                baseline_call,
                lambda: executor_call(closing_request),
                lambda: baseline_call(closing_url),
            ],
            seconds,
        )
    finally:
        server.terminate()
        server.wait()
    return {
        "executor.calls_per_s": round(executor_rate, 1),
        "executor.cpu_ms_per_call": round(executor_cpu, 4),
        "executor.baseline_calls_per_s": round(baseline_rate, 1),
        "executor.baseline_cpu_ms_per_call": round(baseline_cpu, 4),
        "executor.ratio_to_baseline": round(baseline_rate / executor_rate, 3),
        "executor.cpu_ratio_to_baseline": round(executor_cpu / baseline_cpu, 3),
        "executor.new_connection.calls_per_s": round(new_rate, 1),
        "executor.new_connection.cpu_ms_per_call": round(new_cpu, 4),
        "executor.new_connection.baseline_calls_per_s": round(new_baseline_rate, 1),
        "executor.new_connection.baseline_cpu_ms_per_call": round(new_baseline_cpu, 4),
        "executor.new_connection.ratio_to_baseline": round(new_baseline_rate / new_rate, 3),
        "executor.new_connection.cpu_ratio_to_baseline": round(new_cpu / new_baseline_cpu, 3),
    }


def _measure(calls: list[Callable[[], None]], seconds: float) -> list[tuple[float, float]]:
    """(calls per second, CPU milliseconds per call) of each loop, run for `seconds` each.

    The loops take turns in short rounds, so a change of machine load during the run (other
    processes, CPU frequency) weighs on both alike instead of skewing the ratio.
    """
    for call in calls:
        for _ in range(WARMUP_CALLS):
            call()
    totals = [[0, 0.0, 0.0] for _ in calls]  # calls, wall seconds, CPU seconds
    for _ in range(ROUNDS):
        for call, total in zip(calls, totals, strict=True):
            count = 0
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            while time.perf_counter() - wall_start < seconds / ROUNDS:
                call()
                count += 1
            total[0] += count
            total[1] += time.perf_counter() - wall_start
            total[2] += time.process_time() - cpu_start
    return [(count / wall, cpu * 1000 / count) for count, wall, cpu in totals]


def _serve() -> None:
    """Answer every request on a kept-alive connection with a 2-byte body, until stdin closes."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=_accept, args=(listener,), daemon=True).start()
    sys.stdin.read()  # the parent closes our stdin (or terminates us) when it is done


def _accept(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        # Without TCP_NODELAY, delayed ACKs cap a kept-alive connection at ~25 calls/s.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_answer, args=(conn,), daemon=True).start()


def _answer(conn: socket.socket) -> None:
    pending = b""
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
            # The benchmark sends GETs without a body: a request ends at its blank line.
            while b"\r\n\r\n" in pending:
                head, pending = pending.split(b"\r\n\r\n", 1)
                if head.startswith(b"GET /close "):
                    conn.sendall(CLOSING)
                    return
                conn.sendall(RESPONSE)


def main() -> None:
    figures = run()
    print(
        f"executor: {figures['executor.calls_per_s']:.0f} calls/s, "
        f"{figures['executor.cpu_ms_per_call']:.3f} ms CPU per call"
    )
    print(
        f"urllib3:  {figures['executor.baseline_calls_per_s']:.0f} calls/s, "
        f"{figures['executor.baseline_cpu_ms_per_call']:.3f} ms CPU per call"
    )
    print(
        f"overhead: {figures['executor.ratio_to_baseline']:.2f}x time per call, "
        f"{figures['executor.cpu_ratio_to_baseline']:.2f}x CPU per call"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        _serve()
    else:
        main()
